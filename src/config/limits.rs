//! `[limits]`: hard limits the parser applies to inbound mail, so a hostile message is refused with
//! a reason instead of exhausting memory.

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::check_positive;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_headers: usize,
    pub max_header_bytes: usize,
    pub max_mime_depth: usize,
    pub max_mime_parts: usize,
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "a [limits] table")]
pub(super) struct RawLimits {
    /// Largest accepted message, raw bytes. Default: `26214400` (25 MiB).
    pub max_message_bytes: usize,
    /// Most header fields in one message or part. Default: `1000`.
    pub max_headers: usize,
    /// Largest header block in bytes. Default: `262144` (256 KiB).
    pub max_header_bytes: usize,
    /// Deepest nesting of MIME parts. Default: `20`.
    pub max_mime_depth: usize,
    /// Most MIME parts in one message. Default: `500`.
    pub max_mime_parts: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 26_214_400,
            max_headers: 1000,
            max_header_bytes: 262_144,
            max_mime_depth: 20,
            max_mime_parts: 500,
        }
    }
}

pub(super) fn validate_limits(raw: &RawLimits, problems: &mut Problems<'_, '_>) -> Limits {
    let path = KeyPath::top("limits");
    let checked = [
        ("max_message_bytes", raw.max_message_bytes),
        ("max_headers", raw.max_headers),
        ("max_header_bytes", raw.max_header_bytes),
        ("max_mime_depth", raw.max_mime_depth),
        ("max_mime_parts", raw.max_mime_parts),
    ];
    for (key, value) in checked {
        check_positive(u64::try_from(value).unwrap_or(u64::MAX), &path.key(key), problems);
    }
    Limits {
        max_message_bytes: raw.max_message_bytes,
        max_headers: raw.max_headers,
        max_header_bytes: raw.max_header_bytes,
        max_mime_depth: raw.max_mime_depth,
        max_mime_parts: raw.max_mime_parts,
    }
}
