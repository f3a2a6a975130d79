//! Raw message bytes -> `core::email::InboundEmail`, with mail-parser under hard limits.
//! It owns every limit check and every mail-parser type; it never panics and makes no decision
//! about the message beyond "can it be read" (a refusal is a `Malformed` value with its reason).

mod address;
mod extract;
mod shape;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::MessageParser;

use crate::core::email::InboundEmail;
use extract::inbound_email;
use shape::check_mime_shape;

/// Hard limits checked before mail-parser sees the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted raw message.
    pub max_message_bytes: usize,
    /// Most header fields in the top-level header block.
    pub max_headers: usize,
    /// Largest top-level header block, in bytes.
    pub max_header_bytes: usize,
    /// Deepest MIME nesting (the top-level entity is depth 0, its children depth 1, ...).
    pub max_mime_depth: usize,
    /// Most MIME entities, containers and nested messages' parts included.
    pub max_mime_parts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 25 * 1024 * 1024,
            max_headers: 1000,
            max_header_bytes: 256 * 1024,
            max_mime_depth: 20,
            max_mime_parts: 500,
        }
    }
}

/// Why a message could not be read. Each `Display` is a reason fit for the quarantine record.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Malformed {
    #[error("message is empty")]
    Empty,
    #[error("message is {size} bytes, over limits.max_message_bytes ({limit})")]
    TooLarge { size: usize, limit: usize },
    #[error("header block has {count} fields, over limits.max_headers ({limit})")]
    TooManyHeaders { count: usize, limit: usize },
    #[error("header block is {size} bytes, over limits.max_header_bytes ({limit})")]
    HeaderBlockTooLarge { size: usize, limit: usize },
    #[error("MIME structure nests deeper than limits.max_mime_depth ({limit})")]
    TooDeep { limit: usize },
    #[error("message has more than limits.max_mime_parts ({limit}) MIME parts")]
    TooManyParts { limit: usize },
    #[error("message is unparseable: {0}")]
    Unparseable(String),
}

/// Parses `raw` into an `InboundEmail`. Lenient about content (missing From or Message-ID, odd
/// structure, bad charsets all parse); strict only about `limits` and about bytes with no header.
pub fn parse_email(raw: &[u8], limits: &Limits) -> Result<InboundEmail, Malformed> {
    if raw.len() > limits.max_message_bytes {
        return Err(Malformed::TooLarge { size: raw.len(), limit: limits.max_message_bytes });
    }
    let size = raw.len();
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(Malformed::Empty);
    }
    let raw = normalize_line_ends(strip_bom(raw));
    let raw = strip_leading_blank_lines(raw.as_ref());
    check_header_block(raw, limits)?;
    // mail-parser is documented not to panic, but a panic in it (or in us) must not take the
    // intake down with it: it becomes a quarantine reason like any other.
    catch_unwind(AssertUnwindSafe(|| {
        check_mime_shape(raw, limits)?;
        let message = MessageParser::default()
            .parse(raw)
            .ok_or_else(|| Malformed::Unparseable("no header field found".to_string()))?;
        Ok(InboundEmail { size, ..inbound_email(&message, raw) })
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Malformed::Unparseable(format!("the MIME parser panicked: {what}")))
    })
}

/// Plain text of an HTML fragment, as mail-parser renders HTML-only bodies.
pub fn html_to_text(html: &str) -> String {
    mail_parser::decoders::html::html_to_text(html)
}

/// Parses only the top-level header block of `raw` (the body is never read), within `limits`:
/// for answering a message refused for its body's size or structure.
pub fn parse_header_block(raw: &[u8], limits: &Limits) -> Result<InboundEmail, Malformed> {
    let raw = strip_leading_blank_lines(raw);
    let window = &raw[..raw.len().min(limits.max_header_bytes + 4)];
    let lf = window.windows(2).position(|pair| pair == b"\n\n").map(|at| at + 1);
    let crlf = window.windows(4).position(|quad| quad == b"\r\n\r\n").map(|at| at + 2);
    let end = lf
        .into_iter()
        .chain(crlf)
        .min()
        .ok_or(Malformed::HeaderBlockTooLarge { size: raw.len(), limit: limits.max_header_bytes })?;
    parse_email(&raw[..end], limits)
}

/// A UTF-8 byte order mark before the first header would become part of its name.
fn strip_bom(raw: &[u8]) -> &[u8] {
    raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
}

/// Blank or whitespace-only lines before the first header (an mbox or transport artefact) would
/// read as an empty header block, and the real headers as body text.
fn strip_leading_blank_lines(mut raw: &[u8]) -> &[u8] {
    while let Some(end) = raw.iter().position(|&b| b == b'\n') {
        let line = &raw[..end];
        if !line.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r')) {
            break;
        }
        raw = &raw[end + 1..];
    }
    raw
}

/// mail-parser only knows LF and CRLF; a message with classic Mac CR-only line ends (no LF at
/// all) would otherwise be one long header line.
fn normalize_line_ends(raw: &[u8]) -> Cow<'_, [u8]> {
    if raw.contains(&b'\r') && !raw.contains(&b'\n') {
        Cow::Owned(raw.iter().map(|&b| if b == b'\r' { b'\n' } else { b }).collect())
    } else {
        Cow::Borrowed(raw)
    }
}

/// Counts the fields and bytes of the top-level header block (up to the first blank line).
fn check_header_block(raw: &[u8], limits: &Limits) -> Result<(), Malformed> {
    let mut fields = 0;
    let mut offset = 0;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            break;
        }
        offset += line.len();
        if !matches!(line[0], b' ' | b'\t') {
            fields += 1;
        }
    }
    if offset > limits.max_header_bytes {
        return Err(Malformed::HeaderBlockTooLarge { size: offset, limit: limits.max_header_bytes });
    }
    if fields > limits.max_headers {
        return Err(Malformed::TooManyHeaders { count: fields, limit: limits.max_headers });
    }
    Ok(())
}
