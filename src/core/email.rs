//! The parsed form of one inbound message: plain owned data with no parser types in it, so every
//! decision in `core` can be tested with hand-built values. `parse.rs` is the only producer.

use super::address::{EmailAddress, MessageId};

/// One message as the pipeline sees it. Header values are decoded (RFC 2047, charsets) and unfolded.
#[derive(Clone, Debug, Default)]
pub struct InboundEmail {
    pub message_id: Option<MessageId>,
    pub in_reply_to: Vec<MessageId>,
    /// In header order: oldest ancestor first.
    pub references: Vec<MessageId>,
    pub from: Option<Mailbox>,
    pub sender: Option<Mailbox>,
    pub reply_to: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// To/Cc entries that name no usable address, as written: an empty group
    /// (`Undisclosed-Recipients:;`), a source route, an empty or space-holding local part.
    /// Kept so the refusal to make them collaborators is in the trace.
    pub unreadable_recipients: Vec<String>,
    /// Envelope hints that survive into the stored copy: Delivered-To, X-Original-To, Envelope-To.
    pub delivered_to: Vec<EmailAddress>,
    /// `Some("")` for the null reverse path `<>`; `None` when there is no Return-Path header.
    pub return_path: Option<String>,
    pub subject: String,
    /// Date header as unix milliseconds, when present and valid.
    pub date: Option<i64>,
    /// Every top-level header, name lower-cased, value decoded and unfolded, in order.
    pub headers: Vec<RawHeader>,
    /// Top-level `type/subtype`, lower-cased (`text/plain` when absent).
    pub content_type: String,
    /// The `report-type` parameter of a top-level `multipart/report`, lower-cased.
    pub report_type: Option<String>,
    /// The body as plain text: the text part, or the HTML part converted when there is no text part.
    pub text: String,
    /// The HTML body, when the message has one.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Machine-readable parts of a delivery report, when the message carries any.
    pub report: Option<ReportParts>,
    /// Size of the raw message in bytes.
    pub size: usize,
}

/// A display name with its address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub email: EmailAddress,
    pub name: Option<String>,
}

/// The longest display name kept, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A display name as we keep it, from a header or a form: control characters (CR, LF, tab, NUL...)
/// become spaces, runs of white space one space, at most [`MAX_NAME_CHARS`]; `None` when nothing is
/// left. Every name we store passes here once, so no header we write from one can break.
pub fn clean_display_name(raw: &str) -> Option<String> {
    let spaced: String = raw.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let name: String =
        spaced.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(MAX_NAME_CHARS).collect();
    let name = name.trim_end().to_string();
    (!name.is_empty()).then_some(name)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawHeader {
    pub name: String,
    pub value: String,
}

/// A file carried by the message; inline parts (images referenced by `cid:`) included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub filename: Option<String>,
    /// `type/subtype`, lower-cased.
    pub content_type: String,
    /// Without angle brackets.
    pub content_id: Option<String>,
    pub inline: bool,
    pub data: Vec<u8>,
}

/// The parts of a delivery status notification (RFC 3464) or of a vendor NDR that say what failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportParts {
    /// Text of `message/delivery-status` parts (per-message and per-recipient field blocks).
    pub delivery_status: Option<String>,
    /// Header block of the returned original (`message/rfc822` or `text/rfc822-headers` part).
    pub original_headers: Option<String>,
}

impl InboundEmail {
    /// Values of every header called `name` (give it lower-case), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |h| h.name == name).map(|h| h.value.as_str())
    }

    /// The first value of header `name` (lower-case), if any.
    pub fn header<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.header_values(name).next()
    }

    /// Every recipient address the message names: To, Cc and the envelope hints, de-duplicated.
    pub fn recipient_addresses(&self) -> Vec<&EmailAddress> {
        let mut all: Vec<&EmailAddress> =
            self.to.iter().chain(&self.cc).map(|m| &m.email).chain(&self.delivered_to).collect();
        all.sort();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod name_tests {
    use super::clean_display_name;

    #[test]
    fn names_lose_control_characters_and_length() {
        assert_eq!(clean_display_name("Eve\r\nBcc: all@x.com").as_deref(), Some("Eve Bcc: all@x.com"));
        assert_eq!(clean_display_name(" Ann \t Smith\u{0}").as_deref(), Some("Ann Smith"));
        assert_eq!(clean_display_name("\r\n\t "), None);
        assert_eq!(clean_display_name(&"x".repeat(500)).map(|n| n.chars().count()), Some(100));
    }
}
