//! Parser tests with small hand-written messages.

use super::*;
use crate::core::address::{EmailAddress, MessageId};
use crate::core::email::Mailbox;

fn parse(raw: &str) -> InboundEmail {
    parse_email(raw.as_bytes(), &Limits::default()).expect("parses")
}

fn addresses(mailboxes: &[Mailbox]) -> Vec<&str> {
    mailboxes.iter().map(|m| m.email.as_str()).collect()
}

#[test]
fn headers_are_decoded_unfolded_lower_cased_and_in_order() {
    let email = parse(concat!(
        "Return-Path: <>\r\n",
        "Delivered-To: Support+abc@Help.Example\r\n",
        "X-Original-To: support@help.example\r\n",
        "Envelope-To: support@help.example, other@help.example\r\n",
        "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <Joerg@Example.COM>\r\n",
        "Sender: list-bounces@lists.example\r\n",
        "Reply-To: replies@example.com\r\n",
        "To: Team: a@example.com, \"B\" <b@example.com>;, not an address\r\n",
        "To: c@example.com\r\n",
        "Cc: d@example.com\r\n",
        "Subject: a long subject\r\n",
        "  folded over two lines\r\n",
        "Message-ID: <Abc.1@Mail.Example>\r\n",
        "In-Reply-To: <parent@mail.example> (comment)\r\n",
        "References: <one@x.example> <two@x.example>\r\n\t<three@x.example>\r\n",
        "Date: Thu, 01 Jan 2015 00:00:01 +0000\r\n",
        "X-Custom-Header: Value\r\n",
        "\r\n",
        "Body\r\n",
    ));
    let names: Vec<&str> = email.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names[..5], ["return-path", "delivered-to", "x-original-to", "envelope-to", "from"]);
    assert_eq!(names.last(), Some(&"x-custom-header"));
    assert_eq!(email.header("x-custom-header"), Some("Value"));
    assert_eq!(email.header("from"), Some("Jörg Müller <Joerg@Example.COM>"));
    assert_eq!(email.subject, "a long subject folded over two lines");
    let from = email.from.as_ref().unwrap();
    assert_eq!((from.email.as_str(), from.name.as_deref()), ("joerg@example.com", Some("Jörg Müller")));
    assert_eq!(email.sender.as_ref().unwrap().email.as_str(), "list-bounces@lists.example");
    assert_eq!(addresses(&email.reply_to), ["replies@example.com"]);
    assert_eq!(addresses(&email.to), ["a@example.com", "b@example.com", "c@example.com"]);
    assert_eq!(addresses(&email.cc), ["d@example.com"]);
    let delivered: Vec<&str> = email.delivered_to.iter().map(EmailAddress::as_str).collect();
    assert_eq!(delivered, ["support+abc@help.example", "support@help.example", "other@help.example"]);
    assert_eq!(email.return_path.as_deref(), Some(""));
    assert_eq!(email.message_id, MessageId::parse("Abc.1@Mail.Example"));
    assert_eq!(email.in_reply_to, [MessageId::parse("parent@mail.example").unwrap()]);
    let references: Vec<&str> = email.references.iter().map(MessageId::as_str).collect();
    assert_eq!(references, ["one@x.example", "two@x.example", "three@x.example"]);
    assert_eq!(email.date, Some(1_420_070_401_000));
    assert_eq!(email.content_type, "text/plain");
    assert_eq!(email.text, "Body\n");
    assert_eq!(email.html, None);
    assert!(email.size > 600);
}

#[test]
fn malformed_ids_and_return_paths_are_read_leniently() {
    let email = parse(concat!(
        "From: a@example.com\n",
        "Return-Path: Bounce@Example.com\n",
        "Message-ID: bare-id@example.com\n",
        "References: <a@x.example>,<b@x.example> junk <c@x.example\n",
        "In-Reply-To: x@y.example y@z.example\n",
        "Date: not a date\n",
        "\n",
        "Body\n",
    ));
    assert_eq!(email.return_path.as_deref(), Some("Bounce@Example.com"));
    assert_eq!(email.message_id, MessageId::parse("bare-id@example.com"));
    let references: Vec<&str> = email.references.iter().map(MessageId::as_str).collect();
    assert_eq!(references, ["a@x.example", "b@x.example"]);
    assert_eq!(email.in_reply_to.len(), 2);
    assert_eq!(email.date, None);
}

#[test]
fn encoded_words_are_decoded_and_adjacent_ones_joined() {
    let email = parse(concat!(
        "From: a@example.com\n",
        "Subject: =?ISO-8859-1?Q?Caf=E9?= =?UTF-8?B?IOKCrDU=?= and =?utf-8?q?more?=\n",
        "\n",
        "x\n",
    ));
    assert_eq!(email.subject, "Café €5 and more");
}

#[test]
fn raw_eight_bit_in_an_unknown_charset_degrades_without_panicking() {
    let mut raw = b"From: a@example.com\nSubject: Caf".to_vec();
    raw.extend_from_slice(&[0xE9, 0xFF, 0x80]);
    raw.extend_from_slice(b"\nContent-Type: text/plain; charset=x-unknown\n\nbody \xE9\xFF\n");
    let email = parse_email(&raw, &Limits::default()).unwrap();
    assert!(email.subject.starts_with("Café"), "{}", email.subject);
    assert!(email.text.starts_with("body"), "{}", email.text);
}

#[test]
fn a_message_without_from_or_message_id_still_parses() {
    let email = parse("Subject: anonymous\n\nhello\n");
    assert_eq!(email.from, None);
    assert_eq!(email.message_id, None);
    assert_eq!(email.subject, "anonymous");
    assert_eq!(email.text, "hello\n");
}

#[test]
fn empty_and_headerless_input_is_malformed() {
    assert_eq!(parse_email(b"", &Limits::default()).unwrap_err(), Malformed::Empty);
    assert_eq!(parse_email(b" \r\n\n", &Limits::default()).unwrap_err(), Malformed::Empty);
    let err = parse_email(b"just some text without any header\n", &Limits::default());
    assert!(matches!(err, Err(Malformed::Unparseable(_))), "{err:?}");
}

#[test]
fn garbage_bytes_never_panic() {
    // A fixed xorshift sequence, so a failure is reproducible.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"ab:-<>@=?\r\n \t\"boundary;Content-Type:multipart/mixed;message/rfc822\xFF\x00";
    for round in 0..300 {
        let len = (next() % 3000) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let n = next();
                if round % 2 == 0 { n as u8 } else { alphabet[(n as usize) % alphabet.len()] }
            })
            .collect();
        let _ = parse_email(&bytes, &Limits::default());
    }
}

#[test]
fn each_limit_is_enforced_with_a_precise_reason() {
    let small = Limits { max_message_bytes: 100, ..Limits::default() };
    let err = parse_email(&[b'x'; 101], &small).unwrap_err();
    assert_eq!(err, Malformed::TooLarge { size: 101, limit: 100 });
    assert_eq!(err.to_string(), "message is 101 bytes, over limits.max_message_bytes (100)");

    let many: String = (0..5).map(|i| format!("X-H{i}: v\n")).collect::<String>() + "\nbody";
    let err = parse_email(many.as_bytes(), &Limits { max_headers: 4, ..Limits::default() });
    assert_eq!(err.unwrap_err().to_string(), "header block has 5 fields, over limits.max_headers (4)");

    let big = format!("Subject: {}\n\nbody", "x".repeat(100));
    let err = parse_email(big.as_bytes(), &Limits { max_header_bytes: 50, ..Limits::default() });
    assert_eq!(err.unwrap_err(), Malformed::HeaderBlockTooLarge { size: 110, limit: 50 });

    let err =
        parse_email(nested_multiparts(5).as_bytes(), &Limits { max_mime_depth: 4, ..Limits::default() });
    assert_eq!(err.unwrap_err().to_string(), "MIME structure nests deeper than limits.max_mime_depth (4)");
    assert!(
        parse_email(nested_multiparts(4).as_bytes(), &Limits { max_mime_depth: 5, ..Limits::default() })
            .is_ok()
    );

    let parts = format!(
        "Content-Type: multipart/mixed; boundary=b\n\n{}--b--\n",
        "--b\nContent-Type: text/plain\n\nx\n".repeat(10)
    );
    let err = parse_email(parts.as_bytes(), &Limits { max_mime_parts: 10, ..Limits::default() });
    assert_eq!(err.unwrap_err(), Malformed::TooManyParts { limit: 10 });
    assert!(parse_email(parts.as_bytes(), &Limits { max_mime_parts: 11, ..Limits::default() }).is_ok());
}

fn nested_multiparts(depth: usize) -> String {
    let mut raw = String::from("From: a@example.com\n");
    for i in 0..depth {
        raw.push_str(&format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"));
    }
    raw.push_str("Content-Type: text/plain\n\ndeep\n");
    for i in (0..depth).rev() {
        raw.push_str(&format!("--b{i}--\n"));
    }
    raw
}

#[test]
fn deeply_nested_messages_are_refused_before_they_can_overflow_the_stack() {
    // mail-parser drops a chain of 100k nested message/rfc822 parts recursively and overflows
    // the stack; the shape check must refuse it first.
    let mut raw = String::from("From: a@example.com\n");
    raw.push_str(&"Content-Type: message/rfc822\n\n".repeat(100_000));
    raw.push_str("Content-Type: text/plain\n\ndeep\n");
    let err = parse_email(raw.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(err, Malformed::TooDeep { limit: 20 });
}

#[test]
fn nesting_hidden_in_base64_encoded_messages_is_counted() {
    let inner = "Content-Type: message/rfc822\n\n".repeat(30) + "Subject: x\n\nbody\n";
    let encoded = base64(inner.as_bytes());
    let raw = format!(
        "From: a@example.com\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n{encoded}\n"
    );
    let err = parse_email(raw.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(err, Malformed::TooDeep { limit: 20 });
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            let c = if i <= chunk.len() { TABLE[(n >> (18 - 6 * i) & 63) as usize] } else { b'=' };
            out.push(c as char);
        }
        if out.len().is_multiple_of(76) {
            out.push('\n');
        }
    }
    out
}

#[test]
fn a_delivery_report_yields_its_status_and_the_returned_headers() {
    let email = parse(concat!(
        "From: MAILER-DAEMON@mx.example (Mail Delivery System)\n",
        "Subject: Undelivered Mail Returned to Sender\n",
        "Content-Type: multipart/report; report-type=Delivery-Status; boundary=\"r\"\n",
        "\n",
        "--r\n",
        "Content-Type: text/plain\n",
        "\n",
        "I'm sorry to have to inform you that your message could not be delivered.\n",
        "--r\n",
        "Content-Type: message/delivery-status\n",
        "\n",
        "Reporting-MTA: dns; mx.example\n",
        "\n",
        "Final-Recipient: rfc822; gone@customer.example\n",
        "Action: failed\n",
        "Status: 5.1.1\n",
        "--r\n",
        "Content-Type: message/rfc822\n",
        "\n",
        "Message-ID: <orig@help.example>\n",
        "From: support@help.example\n",
        "\n",
        "Original body\n",
        "--r--\n",
    ));
    assert_eq!(email.content_type, "multipart/report");
    assert_eq!(email.report_type.as_deref(), Some("delivery-status"));
    assert!(email.text.starts_with("I'm sorry"), "{}", email.text);
    let report = email.report.expect("report parts");
    let status = report.delivery_status.unwrap();
    assert!(status.starts_with("Reporting-MTA") && status.ends_with("Status: 5.1.1"), "{status}");
    assert_eq!(
        report.original_headers.as_deref(),
        Some("Message-ID: <orig@help.example>\nFrom: support@help.example")
    );
    // The status went into `report`; the returned message stays an attachment, raw.
    assert_eq!(email.attachments.len(), 1);
    let returned = &email.attachments[0];
    assert_eq!(returned.content_type, "message/rfc822");
    assert!(returned.data.starts_with(b"Message-ID: <orig@help.example>\n"));
    assert!(returned.data.ends_with(b"Original body"));
}

#[test]
fn html_only_mail_has_html_and_converted_text() {
    let email = parse(concat!(
        "From: a@example.com\n",
        "Content-Type: text/html; charset=utf-8\n",
        "\n",
        "<html><body><p>Hello <b>world</b></p></body></html>\n",
    ));
    assert!(email.html.as_deref().unwrap().contains("<b>world</b>"));
    assert!(email.text.contains("Hello world"), "{}", email.text);
    assert!(!email.text.contains('<'), "{}", email.text);
}

#[test]
fn text_only_mail_has_no_synthesized_html() {
    let email = parse(concat!(
        "From: a@example.com\n",
        "Content-Type: multipart/alternative; boundary=a\n",
        "\n",
        "--a\n",
        "Content-Type: text/plain\n",
        "\n",
        "only text\n",
        "--a--\n",
    ));
    assert_eq!(email.html, None);
    assert_eq!(email.text, "only text");
}

#[test]
fn inline_images_are_attachments_with_bare_content_ids() {
    let email = parse(concat!(
        "From: a@example.com\n",
        "Content-Type: multipart/related; boundary=rel\n",
        "\n",
        "--rel\n",
        "Content-Type: text/html\n",
        "\n",
        "<p>Logo: <img src=\"cid:logo@x\"></p>\n",
        "--rel\n",
        "Content-Type: image/png; name=logo.png\n",
        "Content-ID: <logo@x>\n",
        "Content-Transfer-Encoding: base64\n",
        "\n",
        "iVBORw0KGgo=\n",
        "--rel\n",
        "Content-Type: application/pdf\n",
        "Content-Disposition: attachment; filename=\"Rechnung =?UTF-8?Q?M=C3=A4rz?=.pdf\"\n",
        "\n",
        "%PDF\n",
        "--rel--\n",
    ));
    assert!(email.html.is_some());
    let [logo, pdf] = &email.attachments[..] else { panic!("{:?}", email.attachments) };
    assert_eq!(logo.content_type, "image/png");
    assert_eq!(logo.content_id.as_deref(), Some("logo@x"));
    assert_eq!(logo.filename.as_deref(), Some("logo.png"));
    assert!(logo.inline);
    assert_eq!(logo.data, b"\x89PNG\r\n\x1a\n");
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(!pdf.inline);
    assert_eq!(pdf.data, b"%PDF");
}

#[test]
fn a_multipart_without_a_boundary_is_read_as_text() {
    let email = parse("From: a@example.com\nContent-Type: multipart/mixed\n\nplain words\n");
    assert_eq!(email.content_type, "multipart/mixed");
    assert!(email.text.contains("plain words"), "{:?}", email.text);
    assert!(email.attachments.is_empty());
}

#[test]
fn byte_order_marks_and_cr_only_line_ends_are_tolerated() {
    let email = parse("\u{feff}From: a@example.com\rSubject: old mac\r\rbody\r");
    assert_eq!(email.headers[0].name, "from");
    assert_eq!(email.subject, "old mac");
    assert_eq!(email.text, "body\n");
}

#[test]
fn blank_or_whitespace_first_lines_do_not_hide_the_header_block() {
    for raw in [
        "\nFrom: a@example.com\nSubject: blank first\n\nbody\n",
        "   \r\n\t\r\nFrom: a@example.com\r\nSubject: blank first\r\n\r\nbody\r\n",
    ] {
        let email = parse(raw);
        assert_eq!(email.from.as_ref().map(|m| m.email.as_str()), Some("a@example.com"), "{raw:?}");
        assert_eq!(email.subject, "blank first");
        assert_eq!(email.text.trim(), "body");
    }
}

#[test]
fn a_header_block_after_a_blank_line_is_read_alone_too() {
    let email =
        parse_header_block(b"\r\nFrom: a@example.com\r\nSubject: big\r\n\r\nbody", &Limits::default())
            .unwrap();
    assert_eq!(email.from.map(|m| m.email.to_string()).as_deref(), Some("a@example.com"));
    assert_eq!(email.subject, "big");
}

#[test]
fn a_top_level_delivery_status_is_read_as_the_report() {
    let email = parse(concat!(
        "From: MAILER-DAEMON@mx.example\n",
        "Subject: Delivery Status Notification\n",
        "Content-Type: message/delivery-status\n",
        "\n",
        "Reporting-MTA: dns; mx.example\n",
        "\n",
        "Final-Recipient: rfc822; gone@customer.example\n",
        "Action: failed\n",
        "Status: 5.1.1\n",
    ));
    assert_eq!(email.content_type, "message/delivery-status");
    let status = email.report.as_ref().and_then(|r| r.delivery_status.as_deref()).unwrap_or_default();
    assert!(status.contains("Final-Recipient: rfc822; gone@customer.example"), "{status:?}");
    assert!(email.text.contains("Action: failed"), "{:?}", email.text);
    assert!(email.attachments.is_empty());
}

#[test]
fn an_alternative_of_two_plain_parts_shows_one_body() {
    for (first, second) in [
        ("Hello plain", "<html><body><p>Hello html</p></body></html>"),
        ("<html><body><p>Hello html</p></body></html>", "Hello plain"),
    ] {
        let email = parse(&format!(
            "From: a@example.com\nSubject: alt\nContent-Type: multipart/alternative; boundary=B\n\n\
             --B\nContent-Type: text/plain\n\n{first}\n--B\nContent-Type: text/plain\n\n{second}\n--B--\n"
        ));
        assert_eq!(email.text.trim(), "Hello plain", "{first:?} then {second:?}");
    }
    // Two plain parts of a multipart/mixed are both the body.
    let mixed = parse(
        "From: a@example.com\nSubject: mixed\nContent-Type: multipart/mixed; boundary=B\n\n\
         --B\nContent-Type: text/plain\n\none\n--B\nContent-Type: text/plain\n\ntwo\n--B--\n",
    );
    assert!(mixed.text.contains("one") && mixed.text.contains("two"), "{:?}", mixed.text);
}

#[test]
fn display_names_use_the_charset_fallback_and_keep_comments_out() {
    let mut raw = b"From: J".to_vec();
    raw.extend_from_slice(&[0xF6]);
    raw.extend_from_slice(b"rg M");
    raw.extend_from_slice(&[0xFC]);
    raw.extend_from_slice(
        b"ller (Vertrieb) <joerg@example.com>\nTo: \"=?utf-8?q?Literal?=\" <lit@example.com>, ",
    );
    raw.extend_from_slice(b"Undisclosed-Recipients:;\nCc: <@relay.example:x@example.com>, j\xc3\xb6rg@example.com\nSubject: x\n\nbody\n");
    let email = parse_email(&raw, &Limits::default()).unwrap();
    let from = email.from.as_ref().unwrap();
    assert_eq!((from.email.as_str(), from.name.as_deref()), ("joerg@example.com", Some("Jörg Müller")));
    assert_eq!(email.to[0].name.as_deref(), Some("=?utf-8?q?Literal?="));
    assert_eq!(addresses(&email.to), ["lit@example.com"]);
    assert_eq!(addresses(&email.cc), ["jörg@example.com"]);
    assert_eq!(email.unreadable_recipients, ["Undisclosed-Recipients:;", "<@relay.example:x@example.com>"]);
}
