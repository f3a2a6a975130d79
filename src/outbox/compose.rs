//! One outgoing mail as bytes on the wire: addresses, the rendered text and HTML, and the headers
//! that make mail clients thread it and keep auto-responders from answering it.

use base64::Engine;
use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use sha2::{Digest, Sha256};

use crate::core::address::EmailAddress;

/// Our loop header; its value is our Message-ID domain (the inbound classifier looks for it).
pub const LOOP_HEADER: &str = "X-Mailgate-Loop";

/// What kind of automatic mail this is (RFC 3834 `Auto-Submitted`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Automatic {
    /// Answers a message (auto-responses, confirmations, notices).
    Replied,
    /// Caused by an event, to agents (alerts).
    Generated,
    /// Written by a person (an agent's relayed response): no `Auto-Submitted`.
    No,
}

/// Everything about one mail except its rendered text.
#[derive(Clone, Debug)]
pub struct Addressing<'a> {
    pub from_name: &'a str,
    pub from: &'a EmailAddress,
    pub to: &'a EmailAddress,
    /// Where replies go: the recipient's signed reply address once tokens exist, else our address.
    pub reply_to: &'a EmailAddress,
    /// Without angle brackets.
    pub message_id: &'a str,
    /// The message this one answers, without angle brackets.
    pub in_reply_to: Option<&'a str>,
    /// The ticket's chain, oldest first, without angle brackets.
    pub references: Vec<&'a str>,
    /// The ticket's subject, for Outlook's Thread-Topic.
    pub thread_topic: &'a str,
    /// Stable per ticket: all its mails share one Thread-Index root.
    pub thread_key: &'a str,
    pub loop_domain: &'a str,
    pub automatic: Automatic,
}

/// A file sent with the mail (an agent's attachment, relayed).
#[derive(Clone, Debug)]
pub struct File {
    pub name: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the mail: {0}")]
pub struct ComposeError(String);

/// The mail as lettre's `Message` (its envelope is From -> To).
pub fn compose(
    a: &Addressing<'_>,
    subject: &str,
    text: &str,
    html: &str,
    files: &[File],
) -> Result<lettre::Message, ComposeError> {
    let mailbox = |name: Option<&str>, address: &EmailAddress| {
        address
            .as_str()
            .parse()
            .map(|addr| Mailbox::new(name.map(str::to_string), addr))
            .map_err(|e| ComposeError(format!("{address}: {e}")))
    };
    let mut builder = lettre::Message::builder()
        .from(mailbox(Some(a.from_name), a.from)?)
        .to(mailbox(None, a.to)?)
        .reply_to(mailbox(Some(a.from_name), a.reply_to)?)
        .subject(header_text(subject))
        .message_id(Some(format!("<{}>", a.message_id)));
    // An id that is not plain ASCII would be written as an encoded word, which no client matches.
    let in_reply_to = a.in_reply_to.filter(|id| is_plain_message_id(id));
    if let Some(parent) = in_reply_to {
        builder = builder.in_reply_to(format!("<{parent}>"));
    }
    let mut references: Vec<&str> = Vec::new();
    for id in a.references.iter().copied().filter(|id| is_plain_message_id(id)).chain(in_reply_to) {
        if !references.contains(&id) {
            references.push(id);
        }
    }
    if !references.is_empty() {
        let chain: Vec<String> = references.iter().map(|id| format!("<{id}>")).collect();
        builder = builder.references(chain.join(" "));
    }
    let auto_submitted = match a.automatic {
        Automatic::Replied => Some("auto-replied"),
        Automatic::Generated => Some("auto-generated"),
        Automatic::No => None,
    };
    if let Some(value) = auto_submitted {
        builder = builder
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), value.into()));
    }
    for (name, value) in [
        // Out-of-office replies to our mail would only come back to the ticket.
        ("X-Auto-Response-Suppress", "All".to_string()),
        (LOOP_HEADER, a.loop_domain.to_string()),
        ("Thread-Topic", header_text(a.thread_topic)),
        ("Thread-Index", thread_index(a.thread_key)),
    ] {
        let name = HeaderName::new_from_ascii(name.to_string()).map_err(|e| ComposeError(e.to_string()))?;
        builder = builder.raw_header(HeaderValue::new(name, value));
    }
    let body = MultiPart::alternative_plain_html(text.to_string(), html.to_string());
    let body = files.iter().fold(
        if files.is_empty() { body } else { MultiPart::mixed().multipart(body) },
        |mixed, file| {
            // An unparseable stored type is sent as what it surely is: bytes.
            let content_type = ContentType::parse(&file.content_type)
                .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("a valid type"));
            mixed.singlepart(Attachment::new(file.name.clone()).body(file.content.clone(), content_type))
        },
    );
    builder.multipart(body).map_err(|e| ComposeError(e.to_string()))
}

/// Longest subject and topic we write, in characters. A header line may not pass 998 octets
/// (RFC 5322 2.1.1) and a word cannot be folded: a customer's 1,200-letter subject word made the
/// SMTP server refuse every alert about the ticket ("500 Line too long").
const MAX_HEADER_CHARS: usize = 200;

/// `text` fit for a header: control characters as spaces, at most [`MAX_HEADER_CHARS`] (cut
/// with "...", ASCII, so a plain subject stays unencoded; the ticket tag leads our subjects, so
/// it stays).
fn header_text(text: &str) -> String {
    let mut clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if let Some((cut, _)) = clean.char_indices().nth(MAX_HEADER_CHARS) {
        clean.truncate(cut);
        clean.push_str("...");
    }
    clean
}

/// Whether a Message-ID (without brackets) can be written into In-Reply-To or References as it
/// is: printable ASCII, no brackets, no white space.
pub fn is_plain_message_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

/// Outlook's Thread-Index root: 22 bytes (a reserved byte, 5 time bytes, a 16-byte GUID), here all
/// derived from the ticket so every mail of the ticket carries the same root.
fn thread_index(key: &str) -> String {
    let digest = Sha256::digest(format!("mailgate-thread:{key}").as_bytes());
    let mut bytes = [0u8; 22];
    bytes.copy_from_slice(&digest[..22]);
    bytes[0] = 0x01;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    /// An automatic reply on ticket 7 answering `q1@client.test`.
    fn sample<'a>(from: &'a EmailAddress, to: &'a EmailAddress) -> Addressing<'a> {
        Addressing {
            from_name: "ACME Support",
            from,
            to,
            reply_to: from,
            message_id: "abc@mg.example.com",
            in_reply_to: Some("q1@client.test"),
            references: vec!["q0@client.test", "q1@client.test"],
            thread_topic: "Printer\r\non fire",
            thread_key: "ticket-7",
            loop_domain: "mg.example.com",
            automatic: Automatic::Replied,
        }
    }

    #[test]
    fn carries_threading_and_loop_headers() {
        let (from, to) = (addr("support@example.com"), addr("jane@example.org"));
        let a = sample(&from, &to);
        let bytes = compose(&a, "[#123456] Printer on fire", "text", "<p>html</p>", &[]).unwrap().formatted();
        let text = String::from_utf8(bytes).unwrap();
        for expected in [
            "Message-ID: <abc@mg.example.com>",
            "In-Reply-To: <q1@client.test>",
            "References: <q0@client.test> <q1@client.test>",
            "Reply-To: \"ACME Support\" <support@example.com>",
            "Auto-Submitted: auto-replied",
            "X-Auto-Response-Suppress: All",
            "X-Mailgate-Loop: mg.example.com",
            "Thread-Topic: Printer  on fire",
            "Thread-Index: ",
            "Subject: [#123456] Printer on fire",
            "multipart/alternative",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert_eq!(thread_index("ticket-7"), thread_index("ticket-7"));
        assert_ne!(thread_index("ticket-7"), thread_index("ticket-8"));
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(thread_index("x")).unwrap().len(), 22);
    }

    #[test]
    fn ids_that_need_encoded_words_and_control_characters_stay_out() {
        let (from, to) = (addr("support@example.com"), addr("jane@example.org"));
        let a = Addressing {
            in_reply_to: Some("ünï@client.test"),
            references: vec!["q0@client.test", "ünï@client.test"],
            thread_topic: "Printer\u{7}\ton fire",
            ..sample(&from, &to)
        };
        let text = String::from_utf8(compose(&a, "s", "t", "h", &[]).unwrap().formatted()).unwrap();
        assert!(!text.contains("In-Reply-To"), "{text}");
        assert!(text.contains("References: <q0@client.test>\r\n"), "{text}");
        assert!(text.contains("Thread-Topic: Printer  on fire\r\n"), "{text}");
        assert!(!is_plain_message_id("a b@x") && !is_plain_message_id("") && is_plain_message_id("a.b@x"));
    }

    #[test]
    fn a_subject_of_one_endless_word_keeps_every_line_within_998_octets() {
        let (from, to) = (addr("support@example.com"), addr("jane@example.org"));
        let word = "B".repeat(200_000);
        let a = Addressing { thread_topic: &word, ..sample(&from, &to) };
        let subject = format!("[#123456] {word}");
        let text = String::from_utf8(compose(&a, &subject, "t", "h", &[]).unwrap().formatted()).unwrap();
        let longest = text.split("\r\n").map(str::len).max().unwrap();
        assert!(longest <= 998, "a line of {longest} octets");
        assert!(text.contains("Subject: [#123456]"), "the tag stays: {}", &text[..600.min(text.len())]);
        assert_eq!(header_text(&"é".repeat(300)).chars().count(), MAX_HEADER_CHARS + 3);
        assert_eq!(header_text("short\r\nline"), "short  line");
    }

    #[test]
    fn a_relayed_response_is_not_marked_automatic() {
        let (from, to) = (addr("support@example.com"), addr("jane@example.org"));
        let a = Addressing { automatic: Automatic::No, ..sample(&from, &to) };
        let log = File {
            name: "printer.log".into(),
            content_type: "text/plain".into(),
            content: b"E0042".to_vec(),
        };
        let mail = compose(&a, "Re: Printer", "t", "<p>h</p>", &[log]).unwrap();
        let text = String::from_utf8(mail.formatted()).unwrap();
        assert!(!text.contains("Auto-Submitted"), "{text}");
        assert!(
            text.contains("multipart/mixed") && text.contains("printer.log"),
            "the file goes along: {text}"
        );
        assert!(text.contains("X-Mailgate-Loop: mg.example.com"), "our mail all the same: {text}");
    }
}
