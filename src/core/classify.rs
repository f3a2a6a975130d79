//! Classifies one parsed message as normal, auto-reply, abuse report, list, bounce or loop, with
//! the rule that fired (RFC 3834, RFC 3464, RFC 5965 and vendor practice). Pure: no I/O, no clock;
//! it decides only what kind of mail this is, never what to do with it. The auto-reply rules are in
//! `auto_reply` (their phrase tables in `phrases`), the bounce rules in `bounce`.

mod auto_reply;
mod bounce;
mod phrases;

use std::sync::LazyLock;

use regex::Regex;

use self::auto_reply::auto_reply_reason;
use self::bounce::detect_bounce;
use super::address::{EmailAddress, MessageId};
use super::email::InboundEmail;

/// What the classifier needs to know about us.
#[derive(Clone, Copy, Debug)]
pub struct ClassifyContext<'a> {
    /// Our support addresses.
    pub own_addresses: &'a [EmailAddress],
    /// The lower-case header name we put on all our mail, e.g. `x-mailgate-loop`.
    pub loop_header: &'a str,
    /// The value our loop header carries (our Message-ID domain, lower-case).
    pub loop_header_value: &'a str,
    /// Whether the message's Message-ID is one we minted: the ingest found it among the ids of
    /// mail we sent (`message_ids`, direction out). A Message-ID in our domain is not enough: mail
    /// clients and MTAs mint ids in the sender's domain, which may be ours.
    pub message_id_is_ours: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Class {
    Normal,
    /// Machine-generated (vacation, auto-responder, challenge-response, read receipt): store,
    /// never answer.
    AutoReply,
    /// An abuse feedback report (ARF, RFC 5965): someone flagged mail as spam. Store, never answer.
    AbuseReport,
    /// Mailing-list traffic.
    List,
    /// A delivery failure report about a message we (or someone) sent.
    Bounce(BounceInfo),
    /// Our own mail came back.
    Loop,
}

/// What a bounce says about the failed delivery, as far as it could be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BounceInfo {
    /// Message-IDs of the returned original (never the bounce's own id).
    pub original_message_ids: Vec<MessageId>,
    pub failed_recipients: Vec<EmailAddress>,
}

/// The class and the rule that decided it, e.g. `Auto-Submitted: auto-replied`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    pub class: Class,
    pub reason: String,
}

/// Classifies `email`. Rules are tried in order loop > bounce > abuse report > auto-reply > list >
/// normal; the first that fires decides. Exception: `Precedence: bulk|junk` and `X-Loop` on a message that
/// also carries list marks are read as the list's, so that message is `List`.
pub fn classify(email: &InboundEmail, ctx: &ClassifyContext) -> Classification {
    let decided = |class, reason: String| Classification { class, reason };
    if let Some(reason) = loop_reason(email, ctx) {
        return decided(Class::Loop, reason);
    }
    if let Some((reason, info)) = detect_bounce(email, ctx.own_addresses) {
        return decided(Class::Bounce(info), reason);
    }
    if let Some(reason) = abuse_report_reason(email) {
        return decided(Class::AbuseReport, reason);
    }
    let list = list_reason(email);
    if let Some(reason) = auto_reply_reason(email, list.is_some()) {
        return decided(Class::AutoReply, reason);
    }
    if let Some(reason) = list.or_else(|| bulk_mail_reason(email)) {
        return decided(Class::List, reason);
    }
    decided(Class::Normal, "no rule matched".to_string())
}

/// Our loop header with our value, a Message-ID we minted, or mail from one of our addresses.
/// The Message-ID's domain alone never decides: an agent's Thunderbird or an employee's Postfix
/// mints ids in the support address's domain too.
fn loop_reason(email: &InboundEmail, ctx: &ClassifyContext) -> Option<String> {
    if !ctx.loop_header.is_empty() && !ctx.loop_header_value.is_empty() {
        let ours = email
            .header_values(ctx.loop_header)
            .find(|value| value.trim().eq_ignore_ascii_case(ctx.loop_header_value));
        if let Some(value) = ours {
            return Some(format!("{}: {}", ctx.loop_header, value.trim()));
        }
    }
    if let Some(id) = &email.message_id
        && ctx.message_id_is_ours
    {
        return Some(format!("Message-ID {id} is one we sent"));
    }
    if let Some(from) = &email.from
        && ctx.own_addresses.contains(&from.email)
    {
        return Some(format!("From is our own address {}", from.email));
    }
    email
        .header_values("x-loop")
        .filter_map(EmailAddress::parse)
        .find(|address| ctx.own_addresses.contains(address))
        .map(|address| format!("X-Loop names our own address {address}"))
}

/// An ARF report (RFC 5965): `multipart/report; report-type=feedback-report`, or a
/// `message/feedback-report` part anywhere (some reporters leave out the report-type).
fn abuse_report_reason(email: &InboundEmail) -> Option<String> {
    if email.report_type.as_deref() == Some("feedback-report") {
        return Some(
            "abuse feedback report (ARF): multipart/report; report-type=feedback-report".to_string(),
        );
    }
    let part = email.content_type == "message/feedback-report"
        || email.attachments.iter().any(|a| a.content_type == "message/feedback-report");
    part.then(|| "abuse feedback report (ARF): message/feedback-report part".to_string())
}

/// RFC 2369/2919 list headers, `Precedence: list`, or a list-server Sender (`owner-x`,
/// `x-request`, `x-admin`, ...) together with `Precedence: bulk`, `X-Loop` or a Mailman header:
/// Majordomo and old Mailman mark their posts and digests only that way.
fn list_reason(email: &InboundEmail) -> Option<String> {
    for name in ["list-id", "list-unsubscribe", "list-post", "mailing-list", "x-mailing-list"] {
        if email.header(name).is_some() {
            return Some(header_label(name));
        }
    }
    let precedence = email.header("precedence").map(|v| first_word(v).to_ascii_lowercase());
    if precedence.as_deref() == Some("list") {
        return Some("Precedence: list".to_string());
    }
    let list_sender = email.sender.as_ref().filter(|s| LIST_SENDER_LOCAL_PART.is_match(s.email.local_part()));
    let list_marked = matches!(precedence.as_deref(), Some("bulk" | "junk"))
        || ["x-loop", "x-beenthere", "x-mailman-version"].iter().any(|n| email.header(n).is_some());
    match list_sender {
        Some(sender) if list_marked => Some(format!("list server Sender {}", sender.email)),
        _ => None,
    }
}

/// Mail its author marked `Precedence: bulk|junk` without any list header: newsletters and
/// notifications. Kept with the list traffic (stored, never answered), not with the auto-replies.
fn bulk_mail_reason(email: &InboundEmail) -> Option<String> {
    auto_reply::bulk_precedence(email).map(|p| format!("bulk mail: {p}, no list headers"))
}

/// `list-id` -> `List-Id`, for reasons that read like the header they quote.
pub(super) fn header_label(name: &str) -> String {
    name.split('-')
        .map(|word| match word {
            "id" => "Id".to_string(),
            _ => {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The value up to the first space, `;` or `(`: `auto-generated (failure)` -> `auto-generated`.
pub(super) fn first_word(value: &str) -> &str {
    value.trim().split([' ', '\t', ';', '(']).next().unwrap_or_default()
}

static LIST_SENDER_LOCAL_PART: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:owner-.+|.+-(?:owner|request|bounces?|admin))$").expect("valid regex")
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::email::{Attachment, Mailbox, RawHeader, ReportParts};

    const OWN: &str = "support@help.example";
    /// The one Message-ID the tests' ingest "found" among the mail we sent.
    const OURS: &str = "a1b2c3.1@help.example";

    fn email(headers: &[(&str, &str)]) -> InboundEmail {
        InboundEmail {
            from: Some(mailbox("jane@customer.example")),
            subject: "Printer is on fire".to_string(),
            content_type: "text/plain".to_string(),
            text: "Hello, my printer is on fire.".to_string(),
            headers: headers
                .iter()
                .map(|(name, value)| RawHeader { name: name.to_string(), value: value.to_string() })
                .collect(),
            ..InboundEmail::default()
        }
    }

    fn mailbox(address: &str) -> Mailbox {
        Mailbox { email: EmailAddress::parse(address).unwrap(), name: None }
    }

    fn run(email: &InboundEmail) -> Classification {
        let own = [EmailAddress::parse(OWN).unwrap()];
        let ctx = ClassifyContext {
            own_addresses: &own,
            loop_header: "x-mailgate-loop",
            loop_header_value: "help.example",
            message_id_is_ours: email.message_id.as_ref().is_some_and(|id| id.as_str() == OURS),
        };
        classify(email, &ctx)
    }

    fn class(email: &InboundEmail) -> Class {
        run(email).class
    }

    #[test]
    fn plain_mail_is_normal() {
        let got = run(&email(&[("auto-submitted", "no"), ("x-auto-response-suppress", "DR")]));
        assert_eq!(got.class, Class::Normal);
        assert_eq!(got.reason, "no rule matched");
    }

    #[test]
    fn our_loop_header_is_a_loop() {
        let got = run(&email(&[("x-mailgate-loop", "help.example")]));
        assert_eq!(got.class, Class::Loop);
        assert_eq!(got.reason, "x-mailgate-loop: help.example");
        // Someone else's installation is not our loop.
        assert_eq!(class(&email(&[("x-mailgate-loop", "other.example")])), Class::Normal);
    }

    #[test]
    fn a_message_id_we_sent_coming_back_is_a_loop() {
        let mut mail = email(&[]);
        mail.message_id = MessageId::parse(&format!("<{OURS}>"));
        let got = run(&mail);
        assert_eq!(got.class, Class::Loop);
        assert_eq!(got.reason, format!("Message-ID <{OURS}> is one we sent"));
    }

    #[test]
    fn a_message_id_in_our_domain_is_not_enough_for_a_loop() {
        // Thunderbird, Apple Mail and Postfix mint ids in the sender's domain: an agent or an
        // employee at the support domain writes mail whose id looks like ours.
        for id in
            ["<5f1e7a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b@help.example>", "<20261123100000.ABC12@Help.Example>"]
        {
            let mut mail = email(&[]);
            mail.from = Some(mailbox("agent@help.example"));
            mail.message_id = MessageId::parse(id);
            assert_eq!(run(&mail).class, Class::Normal, "{id}");
        }
    }

    #[test]
    fn mail_from_ourselves_is_a_loop() {
        let mut mail = email(&[]);
        mail.from = Some(mailbox(OWN));
        assert_eq!(class(&mail), Class::Loop);
        let got = run(&email(&[("x-loop", OWN)]));
        assert_eq!(
            (got.class, got.reason.as_str()),
            (Class::Loop, "X-Loop names our own address support@help.example")
        );
    }

    #[test]
    fn loop_wins_over_bounce() {
        let mut mail = email(&[("x-mailgate-loop", "help.example")]);
        mail.content_type = "multipart/report".to_string();
        mail.report_type = Some("delivery-status".to_string());
        assert_eq!(class(&mail), Class::Loop);
    }

    #[test]
    fn auto_submitted_is_an_auto_reply() {
        let got = run(&email(&[("auto-submitted", "auto-replied")]));
        assert_eq!((got.class, got.reason.as_str()), (Class::AutoReply, "Auto-Submitted: auto-replied"));
        let got = run(&email(&[("auto-submitted", "auto-generated (vacation)")]));
        assert_eq!(got.class, Class::AutoReply);
    }

    #[test]
    fn list_headers_make_a_list() {
        for (name, label) in [
            ("list-id", "List-Id"),
            ("list-unsubscribe", "List-Unsubscribe"),
            ("list-post", "List-Post"),
            ("mailing-list", "Mailing-List"),
        ] {
            let got = run(&email(&[(name, "<x.lists.example>")]));
            assert_eq!((got.class, got.reason.as_str()), (Class::List, label));
        }
        let got = run(&email(&[("precedence", "list")]));
        assert_eq!((got.class, got.reason.as_str()), (Class::List, "Precedence: list"));
    }

    #[test]
    fn arf_reports_are_abuse_reports_not_auto_replies() {
        let mut mail = email(&[]);
        mail.content_type = "multipart/report".to_string();
        mail.report_type = Some("feedback-report".to_string());
        mail.report = Some(ReportParts::default());
        let got = run(&mail);
        assert_eq!(
            (got.class, got.reason.as_str()),
            (
                Class::AbuseReport,
                "abuse feedback report (ARF): multipart/report; report-type=feedback-report"
            )
        );
        let mut mixed = email(&[]);
        mixed.content_type = "multipart/mixed".to_string();
        mixed.attachments.push(Attachment {
            filename: None,
            content_type: "message/feedback-report".to_string(),
            content_id: None,
            inline: false,
            data: b"Feedback-Type: abuse\n".to_vec(),
        });
        assert_eq!(class(&mixed), Class::AbuseReport);
    }

    #[test]
    fn bulk_precedence_without_list_headers_is_bulk_mail_not_an_auto_reply() {
        for value in ["bulk", "junk", "Bulk "] {
            let got = run(&email(&[("precedence", value)]));
            assert_eq!(got.class, Class::List, "{value}");
            assert!(got.reason.starts_with("bulk mail: Precedence: "), "{}", got.reason);
        }
    }

    #[test]
    fn list_precedence_bulk_stays_a_list() {
        let got = run(&email(&[("precedence", "bulk"), ("list-id", "<x.lists.example>")]));
        assert_eq!(got.class, Class::List);
        let mut mail = email(&[("precedence", "bulk"), ("x-loop", "FreeBSD.org")]);
        mail.sender = Some(mailbox("owner-freebsd-isp@freebsd.org"));
        let got = run(&mail);
        assert_eq!(got.class, Class::List);
        assert_eq!(got.reason, "list server Sender owner-freebsd-isp@freebsd.org");
        let mut digest = email(&[("x-mailman-version", "2.0.4")]);
        digest.sender = Some(mailbox("ppp-admin@lists.example"));
        assert_eq!(class(&digest), Class::List);
        // A list-style Sender alone is not enough.
        let mut mail = email(&[]);
        mail.sender = Some(mailbox("sales-admin@shop.example"));
        assert_eq!(class(&mail), Class::Normal);
    }

    #[test]
    fn auto_reply_wins_over_list() {
        let got = run(&email(&[("list-id", "<x.lists.example>"), ("auto-submitted", "auto-generated")]));
        assert_eq!(got.class, Class::AutoReply);
    }

    #[test]
    fn bounce_wins_over_auto_reply() {
        let mut mail =
            email(&[("auto-submitted", "auto-replied"), ("x-failed-recipients", "gone@customer.example")]);
        mail.subject = "Mail delivery failed: returning message to sender".to_string();
        let got = run(&mail);
        let Class::Bounce(info) = got.class else { panic!("{got:?}") };
        assert_eq!(info.failed_recipients, [EmailAddress::parse("gone@customer.example").unwrap()]);
    }

    #[test]
    fn header_labels_read_like_headers() {
        assert_eq!(header_label("list-id"), "List-Id");
        assert_eq!(header_label("x-autoreply-from"), "X-Autoreply-From");
    }
}
