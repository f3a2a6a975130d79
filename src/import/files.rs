//! Messages one per file: a Maildir (`cur/` and `new/`; `tmp/` holds deliveries in progress and is
//! skipped) or a directory tree of `.eml` files. Only names, sizes and header blocks are read here.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::parse::{self, Limits};

/// One message file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageFile {
    pub path: PathBuf,
    pub size: u64,
    /// The Date header, else the file's modification time (ms since the epoch).
    pub date: Option<i64>,
}

/// Whether `dir` is a Maildir: it has a `cur/` or a `new/` folder.
pub fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// The messages of the Maildir `dir` (`cur/` then `new/`, each by name). Maildir++ subfolders
/// (`.Sent`, ...) are mailboxes of their own: import them by naming them.
pub fn maildir(dir: &Path, limits: &Limits) -> io::Result<Vec<MessageFile>> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        let folder = dir.join(sub);
        if !folder.is_dir() {
            continue;
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(&folder).map_err(|e| within(&folder, e))? {
            let entry = entry.map_err(|e| within(&folder, e))?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && entry.file_type().map_err(|e| within(&folder, e))?.is_file() {
                names.push(entry.path());
            }
        }
        names.sort();
        for path in names {
            files.push(describe(path, limits)?);
        }
    }
    Ok(files)
}

/// Every `*.eml` file (any case) under `dir`, at any depth, by path. Symbolic links are not followed
/// (a link to a parent would otherwise never end); hidden files and folders are skipped.
pub fn eml_tree(dir: &Path, limits: &Limits) -> io::Result<Vec<MessageFile>> {
    let mut paths = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder).map_err(|e| within(&folder, e))? {
            let entry = entry.map_err(|e| within(&folder, e))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let kind = entry.file_type().map_err(|e| within(&folder, e))?;
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("eml")) {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths.into_iter().map(|path| describe(path, limits)).collect()
}

/// A single message file (`mailgate import message.eml`).
pub fn single(path: &Path, limits: &Limits) -> io::Result<Vec<MessageFile>> {
    Ok(vec![describe(path.to_path_buf(), limits)?])
}

/// Reads the message at `path`, or `None` when it has grown over `limit` bytes since it was listed.
pub fn read(path: &Path, limit: usize) -> io::Result<Option<Vec<u8>>> {
    let file = File::open(path)?;
    let mut raw = Vec::new();
    file.take(limit as u64 + 1).read_to_end(&mut raw)?;
    Ok((raw.len() <= limit).then_some(raw))
}

fn describe(path: PathBuf, limits: &Limits) -> io::Result<MessageFile> {
    let file = File::open(&path).map_err(|e| within(&path, e))?;
    let meta = file.metadata().map_err(|e| within(&path, e))?;
    let mut head = Vec::new();
    file.take(limits.max_header_bytes as u64 + 4).read_to_end(&mut head).map_err(|e| within(&path, e))?;
    let date = parse::parse_header_block(&head, limits).ok().and_then(|email| email.date).or_else(|| {
        let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
        i64::try_from(modified.as_millis()).ok()
    });
    Ok(MessageFile { path, size: meta.len(), date })
}

/// `err` with the path it concerns, for the message the admin sees.
fn within(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_eml_files_at_any_depth_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("2024/june")).unwrap();
        fs::create_dir_all(dir.path().join(".trash")).unwrap();
        for name in ["a.eml", "2024/b.EML", "2024/june/c.eml", "notes.txt", ".trash/d.eml", ".e.eml"] {
            fs::write(dir.path().join(name), "Date: Thu, 1 Jan 2015 00:00:01 +0000\n\nx\n").unwrap();
        }
        let found = eml_tree(dir.path(), &Limits::default()).unwrap();
        let names: Vec<String> =
            found.iter().map(|f| f.path.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
        assert_eq!(names, ["2024/b.EML", "2024/june/c.eml", "a.eml"]);
        assert!(found.iter().all(|f| f.date == Some(1_420_070_401_000)));
    }

    #[test]
    fn a_maildir_is_cur_and_new_without_tmp() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
            fs::write(dir.path().join(sub).join(format!("1.{sub}")), "Subject: x\n\nno date\n").unwrap();
        }
        assert!(is_maildir(dir.path()));
        let found = maildir(dir.path(), &Limits::default()).unwrap();
        assert_eq!(found.len(), 2);
        assert!(found[0].date.is_some(), "the modification time stands in for a missing Date");
    }
}
