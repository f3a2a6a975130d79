//! `[[canned]]`: saved replies (`canned::Canned`), each with its text in
//! `templates.dir/canned/KEY.tera`, read and checked here so that every problem is reported with
//! the configuration's.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::{check_directory_key, earlier_claim, required};
use crate::canned::{self, Canned};

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a [[canned]] table")]
pub(super) struct RawCanned {
    /// Unique key, `[a-z0-9_.-]`, used by `#canned KEY`; the text is `canned/KEY.tera` in
    /// `templates.dir`. Required.
    pub key: Option<String>,
    /// Shown in the console's list. Default: the key.
    pub title: Option<String>,
}

/// The longest canned text read, in bytes.
const MAX_TEXT_BYTES: u64 = 64 * 1024;

pub(super) fn validate_canned(
    raw: &[RawCanned],
    dir: Option<&Path>,
    problems: &mut Problems<'_, '_>,
) -> Vec<Canned> {
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut book = Vec::new();
    for (index, entry) in raw.iter().enumerate() {
        let path = KeyPath::top("canned").at(index);
        let key = required(&entry.key, &path.key("key"), problems).to_string();
        if entry.key.is_none() {
            continue;
        }
        check_directory_key(&key, &path.key("key"), problems);
        if let Some(first) = earlier_claim(&mut keys, key.clone(), index) {
            problems.report(&path.key("key"), format!("{key:?} is already the key of canned[{first}]"));
        }
        let Some(dir) = dir else {
            problems.report(
                &path.key("key"),
                format!("needs templates.dir, with the text in canned/{key}.tera there"),
            );
            continue;
        };
        let file = dir.join("canned").join(format!("{key}.tera"));
        let text = match std::fs::metadata(&file) {
            Ok(meta) if meta.len() > MAX_TEXT_BYTES => {
                problems.report(&path.key("key"), format!("{} is larger than 64 KiB", file.display()));
                continue;
            }
            Ok(_) => std::fs::read_to_string(&file),
            Err(error) => Err(error),
        };
        let text = match text {
            Ok(text) => text,
            Err(error) => {
                problems
                    .report(&path.key("key"), format!("cannot read its text {}: {error}", file.display()));
                continue;
            }
        };
        if let Err(error) = canned::render(&text, &canned::Context::sample()) {
            problems.report(&path.key("key"), format!("{}: {error}", file.display()));
            continue;
        }
        let title = entry.title.clone().unwrap_or_else(|| key.clone());
        book.push(Canned { key, title, text });
    }
    book
}
