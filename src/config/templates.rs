//! `[templates]`: where admins override the embedded mail templates, file by file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Templates {
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a [templates] table")]
pub(super) struct RawTemplates {
    /// A directory of `<name>.{subject,txt,html}.tera` files overriding the embedded defaults.
    /// Default: none (the embedded templates).
    pub dir: Option<PathBuf>,
}

pub(super) fn validate_templates(raw: &RawTemplates, problems: &mut Problems<'_, '_>) -> Templates {
    if let Some(dir) = &raw.dir
        && !dir.is_dir()
    {
        problems
            .report(&KeyPath::top("templates").key("dir"), format!("{} is not a directory", dir.display()));
    }
    Templates { dir: raw.dir.clone() }
}
