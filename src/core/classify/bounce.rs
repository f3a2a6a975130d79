//! Recognises delivery failure reports (RFC 3464 DSNs and the common vendor NDRs) and reads what
//! they say: the returned original's Message-IDs and the recipients that failed. Pure text rules
//! over an `InboundEmail`; the other classes (loop, auto-reply, list) are the parent module's.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use super::BounceInfo;
use crate::core::address::{EmailAddress, MessageId};
use crate::core::email::InboundEmail;

/// `Some((reason, info))` when `email` is a bounce. `own_addresses` are never reported as failed
/// recipients (they are the sender of the returned original).
pub fn detect_bounce(email: &InboundEmail, own_addresses: &[EmailAddress]) -> Option<(String, BounceInfo)> {
    let reason = bounce_reason(email)?;
    let info = BounceInfo {
        original_message_ids: original_message_ids(email),
        failed_recipients: failed_recipients(email, own_addresses),
    };
    Some((reason, info))
}

fn bounce_reason(email: &InboundEmail) -> Option<String> {
    let delivery_status = email.report.as_ref().and_then(|r| r.delivery_status.as_ref());
    if email.content_type == "multipart/report" {
        match email.report_type.as_deref() {
            Some("delivery-status") => {
                return Some("multipart/report; report-type=delivery-status".to_string());
            }
            None if delivery_status.is_some() => {
                return Some("multipart/report with a message/delivery-status part".to_string());
            }
            _ => {}
        }
    } else if delivery_status.is_some() {
        let top_level = matches!(
            email.content_type.as_str(),
            "message/delivery-status" | "message/global-delivery-status"
        );
        return Some(if top_level {
            format!("top-level {} (no multipart/report around it)", email.content_type)
        } else {
            "message/delivery-status part".to_string()
        });
    }
    if let Some(value) = email.header("x-failed-recipients") {
        return Some(format!("X-Failed-Recipients: {value}"));
    }
    if let Some(sender) = daemon_sender(email) {
        return Some(format!("mail system sender {sender}"));
    }
    let is_forward_or_reply = is_forward_or_reply_subject(&email.subject);
    let head = text_head(&email.text);
    if !is_forward_or_reply && let Some(found) = find_phrase(head, NDR_SIGNATURES) {
        return Some(format!("NDR text \"{}\"", found.trim()));
    }
    let null_path = email.return_path.as_deref() == Some("");
    let postmaster = email.from.as_ref().filter(|m| m.email.local_part() == "postmaster");
    // The second sign first: most mail has none, and then the subject regex (Unicode,
    // case-insensitive, nine languages: ~0.4 ms to compile) is never built in a `pipe` process.
    let support = if is_forward_or_reply {
        None
    } else if null_path {
        Some("null Return-Path".to_string())
    } else if let Some(from) = postmaster {
        Some(format!("sender {}", from.email))
    } else if has_returned_original(email) {
        Some("the returned message attached".to_string())
    } else {
        email.header("auto-submitted").map(|v| format!("Auto-Submitted: {v}"))
    };
    if let Some(support) = support
        && let Some(subject) = NDR_SUBJECT.find(&email.subject)
    {
        return Some(format!("NDR subject \"{}\" with {support}", subject.as_str().trim()));
    }
    match postmaster {
        Some(from) if null_path => Some(format!("sender {} with null Return-Path", from.email)),
        _ => None,
    }
}

/// A MAILER-DAEMON-style sender: From local part, the null-path MTA's Return-Path, or the display
/// names sendmail, Postfix and Exim give their reports.
fn daemon_sender(email: &InboundEmail) -> Option<String> {
    if let Some(from) = &email.from
        && (is_daemon_local_part(from.email.local_part()) || from.name.as_deref().is_some_and(is_daemon_name))
    {
        return Some(from.email.to_string());
    }
    // No readable From address (e.g. `From: MAILER-DAEMON <>`): look at the raw header.
    if email.from.is_none()
        && let Some(raw_from) = email.header("from")
        && is_daemon_name(raw_from.trim().trim_end_matches("<>").trim())
    {
        return Some(raw_from.to_string());
    }
    let path = email.return_path.as_deref()?;
    let local = path.rsplit_once('@').map_or(path, |(local, _)| local);
    is_daemon_local_part(local).then(|| format!("Return-Path <{path}>"))
}

/// Whether the message carries the original it is returning.
fn has_returned_original(email: &InboundEmail) -> bool {
    email.report.as_ref().is_some_and(|r| r.original_headers.is_some())
        || email.attachments.iter().any(|a| is_returned_message(&a.content_type))
}

fn is_returned_message(content_type: &str) -> bool {
    matches!(content_type, "message/rfc822" | "message/global" | "text/rfc822-headers")
}

/// The first part of the body, where a report states what it is; a person forwarding a bounce
/// puts their own words first.
fn text_head(text: &str) -> &str {
    let mut end = text.len().min(2000);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Message-IDs of the returned original: from the report's header block, an attached message, or
/// `Message-ID:` lines in the body of a vendor NDR; never the bounce's own id.
fn original_message_ids(email: &InboundEmail) -> Vec<MessageId> {
    let report_headers = email.report.as_ref().and_then(|r| r.original_headers.as_deref());
    let attached_headers = email
        .attachments
        .iter()
        .filter(|a| is_returned_message(&a.content_type))
        .map(|a| Cow::Owned(header_block(&String::from_utf8_lossy(&a.data))));
    let sources = report_headers
        .map(Cow::Borrowed)
        .into_iter()
        .chain(attached_headers)
        .chain([Cow::Borrowed(email.text.as_str())]);
    let mut ids: Vec<MessageId> = Vec::new();
    for source in sources {
        for id in MESSAGE_ID_LINE.captures_iter(&source).filter_map(|c| MessageId::parse(&c[1])) {
            if Some(&id) != email.message_id.as_ref() && !ids.contains(&id) {
                ids.push(id);
            }
        }
        if !ids.is_empty() {
            break;
        }
    }
    ids
}

/// The header block of a message's text: everything before the first blank line.
fn header_block(text: &str) -> String {
    let text = text.trim_start_matches(['\r', '\n']);
    text.split_inclusive('\n').take_while(|line| !line.trim().is_empty()).collect()
}

/// Recipients the report marks failed; falls back to X-Failed-Recipients, DSN fields in the text
/// and then to the vendor NDR text patterns.
fn failed_recipients(email: &InboundEmail, own_addresses: &[EmailAddress]) -> Vec<EmailAddress> {
    let not_us = |address: &EmailAddress| {
        !own_addresses.contains(address)
            && !is_daemon_local_part(address.local_part())
            && address.local_part() != "postmaster"
            && email.from.as_ref().is_none_or(|f| &f.email != address)
    };
    let from_status = email
        .report
        .as_ref()
        .and_then(|r| r.delivery_status.as_deref())
        .map(dsn_failed_recipients)
        .unwrap_or_default();
    let from_header: Vec<EmailAddress> = email
        .header_values("x-failed-recipients")
        .flat_map(|v| v.split(','))
        .filter_map(EmailAddress::parse)
        .collect();
    // A report whose MIME structure could not be split still has its DSN fields in the text.
    let from_text_fields = dsn_failed_recipients(&email.text);
    let candidates = [from_status, from_header, from_text_fields, ndr_text_recipients(&email.text)];
    let mut found: Vec<EmailAddress> = Vec::new();
    for candidate in candidates {
        for address in candidate.into_iter().filter(not_us) {
            if !found.contains(&address) {
                found.push(address);
            }
        }
        if !found.is_empty() {
            break;
        }
    }
    found
}

/// One per-recipient block of a `message/delivery-status` body.
#[derive(Default)]
struct RecipientFields {
    final_recipient: Option<String>,
    original_recipient: Option<String>,
    action: Option<String>,
    status: Option<String>,
}

impl RecipientFields {
    fn failed_address(&self) -> Option<EmailAddress> {
        let action = self.action.as_deref().map(|a| first_word(a).to_ascii_lowercase());
        let status = self.status.as_deref().unwrap_or_default();
        let failed = match action.as_deref() {
            Some("failed") => true,
            Some(_) => false,
            None => !status.starts_with('2') && !status.starts_with('4'),
        };
        if !failed {
            return None;
        }
        // The address we sent to (Original-Recipient) beats the one it was rewritten to.
        // `rfc822; user@host` -> `user@host`
        [&self.original_recipient, &self.final_recipient]
            .into_iter()
            .flatten()
            .filter_map(|r| EmailAddress::parse(r.rsplit_once(';').map_or(r.as_str(), |(_, a)| a)))
            .next()
    }
}

/// Final-Recipient / Original-Recipient of every block with `Action: failed` or a 5.x.x status.
/// Blocks are split at blank lines and also where a field repeats, because some MTAs leave out
/// the blank lines.
fn dsn_failed_recipients(status: &str) -> Vec<EmailAddress> {
    let mut blocks = vec![RecipientFields::default()];
    for line in unfold(status) {
        let Some(current) = blocks.last_mut() else { break };
        let Some((name, value)) = line.split_once(':') else {
            let has_recipient = current.final_recipient.is_some() || current.original_recipient.is_some();
            if line.trim().is_empty() && has_recipient {
                blocks.push(RecipientFields::default());
            }
            continue;
        };
        let value = Some(value.trim().to_string());
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "final-recipient" => &mut current.final_recipient,
            "original-recipient" => &mut current.original_recipient,
            "action" => &mut current.action,
            "status" => &mut current.status,
            _ => continue,
        };
        if slot.is_some() {
            blocks.push(RecipientFields::default());
            let Some(fresh) = blocks.last_mut() else { break };
            match name.trim().to_ascii_lowercase().as_str() {
                "final-recipient" => fresh.final_recipient = value,
                "original-recipient" => fresh.original_recipient = value,
                "action" => fresh.action = value,
                _ => fresh.status = value,
            }
        } else {
            *slot = value;
        }
    }
    blocks.iter().filter_map(RecipientFields::failed_address).collect()
}

/// `failed (permanent)` -> `failed`.
fn first_word(value: &str) -> &str {
    value.split([' ', '\t', '(', ';']).next().unwrap_or_default()
}

/// Header-style lines with continuation lines joined; blank lines kept as "".
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let continues = line.starts_with([' ', '\t']) && !line.trim().is_empty();
        match lines.last_mut() {
            Some(last) if continues && !last.is_empty() => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => lines.push(line.trim_end().to_string()),
        }
    }
    lines
}

/// Failed recipients in the human-readable part of a vendor NDR: qmail/OpenSMTPD `<addr>:` lines,
/// sendmail `<addr>... reason`, and the addresses on the lines right after an
/// "...the following recipients..." sentence. Stops where the returned message starts.
fn ndr_text_recipients(text: &str) -> Vec<EmailAddress> {
    let report = RETURNED_MESSAGE_START.find(text).map_or(text, |m| &text[..m.start()]);
    let mut found: Vec<EmailAddress> = RECIPIENT_LINE
        .captures_iter(report)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)))
        .filter_map(|m| EmailAddress::parse(m.as_str()))
        .collect();
    let lines: Vec<&str> = report.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if !RECIPIENT_LIST_INTRO.is_match(line) {
            continue;
        }
        let mut seen_address = false;
        for next in lines.iter().skip(index).take(8) {
            let addresses: Vec<EmailAddress> =
                ADDRESS.find_iter(next).filter_map(|m| EmailAddress::parse(m.as_str())).collect();
            if addresses.is_empty() && seen_address && next.trim().is_empty() {
                break;
            }
            seen_address |= !addresses.is_empty();
            found.extend(addresses);
        }
    }
    found
}

// The rules every message meets are plain string matching: a regex would be compiled again in
// every `pipe` process (the four these replace took ~0.8 ms of its CPU).

/// `mailer-daemon`, `MAILER_DAEMON`, `mail.daemon`, `maildaemon`, `mdaemon` (any case).
fn is_daemon_local_part(local: &str) -> bool {
    let local = local.to_ascii_lowercase();
    let rest = local.strip_prefix("mailer").or_else(|| local.strip_prefix("mail"));
    local == "mdaemon" || rest.is_some_and(|r| r.strip_prefix(['-', '_', '.']).unwrap_or(r) == "daemon")
}

/// The display names sendmail, Postfix and Exim give their reports: `Mailer-Daemon`, `MAILER
/// DAEMON`, `Mail Delivery Subsystem|System|Service`.
fn is_daemon_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if let Some(rest) = name.strip_prefix("mailer") {
        return rest.strip_prefix(['-', '_', ' ']).unwrap_or(rest) == "daemon";
    }
    matches!(name.as_str(), "mail delivery subsystem" | "mail delivery system" | "mail delivery service")
}

/// `Re:`, `Fwd :`, `AW:` and the other reply and forward prefixes at the start of a subject.
fn is_forward_or_reply_subject(subject: &str) -> bool {
    const PREFIXES: [&str; 11] = ["fwd", "fw", "re", "aw", "wg", "tr", "sv", "vs", "antw", "rif", "enc"];
    let subject = subject.trim_start();
    let end = subject.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(subject.len());
    let (word, rest) = subject.split_at(end);
    PREFIXES.contains(&word.to_ascii_lowercase().as_str()) && rest.trim_start().starts_with(':')
}

/// Sentences mail systems open their reports with; distinctive enough to decide alone when they
/// are near the top of a message that is not a reply or forward. Lower case; matched ignoring
/// ASCII case.
const NDR_SIGNATURES: &[&str] = &[
    "this is the qmail-send program",
    "this message was created automatically by mail delivery software",
    "delivery has failed to these recipients",
    "your message did not reach some or all of the intended recipients",
    "did not reach the following recipient",
    "the following addresses had permanent fatal errors",
    "transcript of session follows",
    "this is the mail system at host",
    "an error has occurred while attempting to deliver a message",
    "there was an error delivering your mail to",
    "i'm sorry to have to inform you that your message could not",
    "this is an automatically generated delivery status notification",
    "delivery to the following recipient failed",
    "delivery to the following recipients failed",
    "delivery to the following recipient has failed",
    "delivery to the following recipients has failed",
    "unsent message follows",
];

/// The leftmost of `phrases` in `text` ignoring ASCII case (the first listed on a tie), as
/// written in `text`.
fn find_phrase<'t>(text: &'t str, phrases: &[&str]) -> Option<&'t str> {
    let lower = text.to_ascii_lowercase();
    let (start, len) = phrases
        .iter()
        .filter_map(|phrase| lower.find(phrase).map(|at| (at, phrase.len())))
        .min_by_key(|(at, _)| *at)?;
    // ASCII lower-casing keeps every byte where it was, so the span is the same in `text`.
    text.get(start..start + len)
}

/// Subjects of delivery failure reports (EN, DE, FR, ES, NL, PT, IT, RU, JA).
static NDR_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
            undeliver(?:able|ed)
          | returned\ mail
          | mail\ delivery\ failed
          | delivery\ (?:status\ notification|notification|failure|has\ failed)
          | failure\ notice
          | non-?delivery
          | could\ not\ be\ delivered
          | mail\ system\ error
          | bounce\ notification
          | unzustellbar | nicht\ zustellbar
          | non\ remis | non\ distribu
          | no\ se\ puede\ entregar | no\ entregado
          | onbestelbaar
          | n[ãa]o\ (?:foi\ )?entregue
          | non\ recapitabile | mancato\ recapito
          | не\ доставлено | недоставленное
          | 配信できません | メールエラー | 配信エラー | 未配達
        ",
    )
    .expect("valid regex")
});

static MESSAGE_ID_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?im)^[ \t>]*message-id:[ \t]*(?:\r?\n[ \t]+)?<?([^\s<>]+@[^\s<>]+?)>?\s*$")
        .expect("valid regex")
});

/// Where a vendor NDR starts quoting the returned message.
static RETURNED_MESSAGE_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)^.*(?:below\ this\ line\ is\ a\ copy\ of\ the\ message|returned\ message|unsent\ message\ follows|original\ message|message\ headers\ follow|copy\ of\ the\ original\ message).*$",
    )
    .expect("valid regex")
});

/// qmail `<addr>:`, OpenSMTPD `addr: 550 ...`, sendmail `<addr>... User unknown`.
static RECIPIENT_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^\s*<?([^\s<>@:]+@[A-Za-z0-9.-]+)>?:(?:\s|$)|<([^\s<>@]+@[A-Za-z0-9.-]+)>\.\.\.")
        .expect("valid regex")
});

/// Sentences after which vendor NDRs list the failed recipients.
static RECIPIENT_LIST_INTRO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
            following\ (?:addresses|recipients?|recipient\(s\)|list\ of\ recipients)
          | these\ recipients
          | permanent\ fatal\ errors
          | one\ or\ more\ of\ its\ recipients
          | failure\ reasons
          | error\ delivering\ your\ mail\ to
          | could\ not\ be\ delivered\ to
          | (?:target|recipient|failed)\ (?:e-?mail\ |mail\ )?address(?:es)?\ ?:
        ",
    )
    .expect("valid regex")
});

static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+=/!#$&'*?^`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+").expect("valid regex")
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::email::{Attachment, Mailbox, RawHeader, ReportParts};

    const OWN: &str = "support@help.example";

    fn email(from: &str, subject: &str, text: &str) -> InboundEmail {
        InboundEmail {
            from: EmailAddress::parse(from).map(|email| Mailbox { email, name: None }),
            subject: subject.to_string(),
            content_type: "text/plain".to_string(),
            text: text.to_string(),
            message_id: MessageId::parse("<bounce-own-id@mx.example>"),
            ..InboundEmail::default()
        }
    }

    fn with_header(mut email: InboundEmail, name: &str, value: &str) -> InboundEmail {
        email.headers.push(RawHeader { name: name.to_string(), value: value.to_string() });
        email
    }

    fn dsn(status: &str, original_headers: Option<&str>) -> InboundEmail {
        let mut email = email("mailer-daemon@mx.example", "Undelivered Mail", "Sorry.");
        email.content_type = "multipart/report".to_string();
        email.report_type = Some("delivery-status".to_string());
        email.report = Some(ReportParts {
            delivery_status: Some(status.to_string()),
            original_headers: original_headers.map(str::to_string),
        });
        email
    }

    fn detect(email: &InboundEmail) -> Option<(String, BounceInfo)> {
        detect_bounce(email, &[EmailAddress::parse(OWN).unwrap()])
    }

    fn reason(email: &InboundEmail) -> Option<String> {
        detect(email).map(|(reason, _)| reason)
    }

    fn ids(info: &BounceInfo) -> Vec<&str> {
        info.original_message_ids.iter().map(MessageId::as_str).collect()
    }

    fn recipients(info: &BounceInfo) -> Vec<&str> {
        info.failed_recipients.iter().map(EmailAddress::as_str).collect()
    }

    #[test]
    fn a_delivery_status_report_is_a_bounce_with_its_original_and_failed_recipients() {
        let email = dsn(
            "Reporting-MTA: dns; mx.example\n\n\
             Final-Recipient: rfc822; gone@customer.example\nAction: failed\nStatus: 5.1.1\n\n\
             Final-Recipient: rfc822; slow@customer.example\nAction: delayed\nStatus: 4.4.1\n\n\
             Final-Recipient: rfc822; fine@customer.example\nAction: delivered\nStatus: 2.0.0\n",
            Some("From: support@help.example\nMessage-ID: <orig.1@help.example>\nSubject: Re: [#42]"),
        );
        let (reason, info) = detect(&email).unwrap();
        assert_eq!(reason, "multipart/report; report-type=delivery-status");
        assert_eq!(ids(&info), ["orig.1@help.example"]);
        assert_eq!(recipients(&info), ["gone@customer.example"]);
    }

    #[test]
    fn dsn_blocks_without_blank_lines_and_original_recipients_are_read() {
        let email = dsn(
            "Reporting-MTA: dns; mx.example\n\
             Original-Recipient: rfc822;alias@customer.example\n\
             Final-Recipient: rfc822;real@mbox.customer.example\nAction: failed (permanent)\n\
             Final-Recipient: rfc822;second@customer.example\nStatus: 5.2.2\n",
            None,
        );
        let (_, info) = detect(&email).unwrap();
        assert_eq!(recipients(&info), ["alias@customer.example", "second@customer.example"]);
    }

    #[test]
    fn a_delivery_status_part_without_report_type_is_a_bounce() {
        let mut email = dsn("Final-Recipient: rfc822; x@y.example\nAction: failed\n", None);
        email.report_type = None;
        assert_eq!(reason(&email).unwrap(), "multipart/report with a message/delivery-status part");
        email.content_type = "multipart/mixed".to_string();
        assert_eq!(reason(&email).unwrap(), "message/delivery-status part");
    }

    #[test]
    fn x_failed_recipients_is_a_bounce() {
        let email = with_header(
            email("someone@mx.example", "Mail delivery failed", ""),
            "x-failed-recipients",
            "a@customer.example, b@customer.example",
        );
        let (reason, info) = detect(&email).unwrap();
        assert_eq!(reason, "X-Failed-Recipients: a@customer.example, b@customer.example");
        assert_eq!(recipients(&info), ["a@customer.example", "b@customer.example"]);
    }

    #[test]
    fn mailer_daemon_senders_are_bounces() {
        assert_eq!(
            reason(&email("MAILER-DAEMON@mx.example", "anything", "")).unwrap(),
            "mail system sender mailer-daemon@mx.example"
        );
        let mut named = email("root@mx.example", "anything", "");
        if let Some(from) = named.from.as_mut() {
            from.name = Some("Mail Delivery Subsystem".to_string());
        }
        assert!(reason(&named).is_some());
        // `From: MAILER-DAEMON <>` has no readable address.
        let raw_from = with_header(email("", "Mail delivery failed", ""), "from", "MAILER-DAEMON <>");
        assert_eq!(reason(&raw_from).unwrap(), "mail system sender MAILER-DAEMON <>");
        let mut by_path = email("postmaster@corp.example", "x", "");
        by_path.return_path = Some("MAILER-DAEMON".to_string());
        assert_eq!(reason(&by_path).unwrap(), "mail system sender Return-Path <MAILER-DAEMON>");
    }

    #[test]
    fn vendor_ndr_texts_are_bounces_with_their_recipients_and_original() {
        let qmail = email(
            "alerts@mx.example",
            "failure notice",
            "Hi. This is the qmail-send program at mx.example.\n\
             I'm afraid I wasn't able to deliver your message to the following addresses.\n\n\
             <gone@customer.example>:\nSorry, no mailbox here by that name.\n\n\
             --- Below this line is a copy of the message.\n\n\
             Message-ID: <orig.2@help.example>\nTo: gone@customer.example\n",
        );
        let (reason, info) = detect(&qmail).unwrap();
        assert_eq!(reason, "NDR text \"This is the qmail-send program\"");
        assert_eq!(recipients(&info), ["gone@customer.example"]);
        assert_eq!(ids(&info), ["orig.2@help.example"]);

        let exchange = email(
            "relay@corp.example",
            "Undeliverable: Printer",
            "Delivery has failed to these recipients or groups:\n\n\
             Jane Gone <jane@corp.example>\nThe email address couldn't be found.\n",
        );
        let (_, info) = detect(&exchange).unwrap();
        assert_eq!(recipients(&info), ["jane@corp.example"]);

        let sendmail = email(
            "relay@corp.example",
            "Returned mail",
            "   ----- Transcript of session follows -----\n550 5.1.1 <nobody@corp.example>... User unknown\n",
        );
        let (_, info) = detect(&sendmail).unwrap();
        assert_eq!(recipients(&info), ["nobody@corp.example"]);
    }

    #[test]
    fn a_forwarded_bounce_is_not_a_bounce() {
        let text = "Why did this bounce?\n\n-----Original Message-----\n\
                    Delivery has failed to these recipients or groups:\n\njane@corp.example\n";
        assert_eq!(reason(&email("jane@customer.example", "Fwd: Undeliverable: Printer", text)), None);
    }

    #[test]
    fn an_ndr_subject_needs_a_second_sign() {
        let mut mail = email("jane@customer.example", "Undeliverable: Printer", "my printer");
        assert_eq!(reason(&mail), None);
        mail.return_path = Some(String::new());
        assert_eq!(reason(&mail).unwrap(), "NDR subject \"Undeliverable\" with null Return-Path");
        let mut attached = email("jane@customer.example", "Returned mail: see transcript", "");
        attached.attachments.push(Attachment {
            filename: None,
            content_type: "message/rfc822".to_string(),
            content_id: None,
            inline: false,
            data: b"Message-ID: <orig.3@help.example>\nSubject: x\n\nbody Message-ID: <no@x>\n".to_vec(),
        });
        let (why, info) = detect(&attached).unwrap();
        assert_eq!(why, "NDR subject \"Returned mail\" with the returned message attached");
        assert_eq!(ids(&info), ["orig.3@help.example"]);
        let from_postmaster = email("postmaster@corp.example", "Unzustellbar: Drucker", "");
        assert!(reason(&from_postmaster).is_some());
    }

    #[test]
    fn postmaster_with_null_return_path_is_a_bounce() {
        let mut mail = email("postmaster@corp.example", "email notification", "");
        assert_eq!(reason(&mail), None);
        mail.return_path = Some(String::new());
        assert_eq!(reason(&mail).unwrap(), "sender postmaster@corp.example with null Return-Path");
    }

    #[test]
    fn the_bounces_own_id_and_our_addresses_are_never_extracted() {
        let mail = email(
            "mailer-daemon@mx.example",
            "Mail delivery failed",
            "This message was created automatically by mail delivery software.\n\
             A message that you sent could not be delivered to one or more of its recipients.\n\n  \
             support@help.example\n  gone@customer.example\n\n\
             Message-ID: <bounce-own-id@mx.example>\n",
        );
        let (_, info) = detect(&mail).unwrap();
        assert!(info.original_message_ids.is_empty(), "{info:?}");
        assert_eq!(recipients(&info), ["gone@customer.example"]);
    }

    #[test]
    fn plain_matchers_read_as_the_patterns_they_replace() {
        for yes in ["MAILER-DAEMON", "mailer_daemon", "Mail.Daemon", "maildaemon", "mdaemon", "MailerDaemon"]
        {
            assert!(is_daemon_local_part(yes), "{yes}");
        }
        for no in ["mailer--daemon", "daemon", "mailer", "mailerdaemons", "xmailer-daemon", ""] {
            assert!(!is_daemon_local_part(no), "{no}");
        }
        for yes in ["Mailer-Daemon", "MAILER DAEMON", "Mail Delivery Subsystem", "mail delivery system"] {
            assert!(is_daemon_name(yes), "{yes}");
        }
        for no in ["Mail Delivery", "Mailer Daemon Team", "The Mail Delivery System"] {
            assert!(!is_daemon_name(no), "{no}");
        }
        for yes in ["Re: x", "  FWD : x", "Fw:x", "AW: WG: x", "antw: x", "\tenc:"] {
            assert!(is_forward_or_reply_subject(yes), "{yes}");
        }
        for no in ["Returned mail", "Re x: y", "Fwdx: y", "Undeliverable: x", "", "ré: x"] {
            assert!(!is_forward_or_reply_subject(no), "{no}");
        }
        let text = "Hello.\r\nTHIS IS THE MAIL SYSTEM AT HOST mx.example.org. Transcript of session follows";
        assert_eq!(find_phrase(text, NDR_SIGNATURES), Some("THIS IS THE MAIL SYSTEM AT HOST"));
        assert_eq!(find_phrase("Grüße, nothing here", NDR_SIGNATURES), None);
    }

    #[test]
    fn ordinary_mail_is_not_a_bounce() {
        let mail = email(
            "jane@customer.example",
            "My parcel could not be delivered",
            "Hello, the parcel could not be delivered to my address. Message-ID: <x@y>",
        );
        assert_eq!(reason(&mail), None);
    }
}
