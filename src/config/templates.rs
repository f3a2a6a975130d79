//! `[templates]`: where admins override the embedded mail templates and web pages, file by file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Templates {
    pub dir: Option<PathBuf>,
    pub web_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a [templates] table")]
pub(super) struct RawTemplates {
    /// A directory of `<name>.{subject,txt,html}.tera` files overriding the embedded defaults.
    /// Default: none (the embedded templates).
    pub dir: Option<PathBuf>,
    /// A directory of web page files (`ticket.html.tera`, `layout.html.tera`, ...; the names under
    /// `templates/web/`) overriding the embedded pages. Default: none.
    pub web_dir: Option<PathBuf>,
}

pub(super) fn validate_templates(raw: &RawTemplates, problems: &mut Problems<'_, '_>) -> Templates {
    for (key, dir) in [("dir", &raw.dir), ("web_dir", &raw.web_dir)] {
        if let Some(dir) = dir
            && !dir.is_dir()
        {
            problems
                .report(&KeyPath::top("templates").key(key), format!("{} is not a directory", dir.display()));
        }
    }
    Templates { dir: raw.dir.clone(), web_dir: raw.web_dir.clone() }
}
