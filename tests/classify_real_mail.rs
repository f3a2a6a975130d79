//! Classification of mail as real systems write it, through the parser: out-of-office notes of
//! Exchange/Outlook in many languages, Gmail, Zimbra, Lotus Notes, iCloud, UNIX vacation and
//! procmail, challenge-response systems (Boxbe, Spam Arrest, TMDA, "please verify"), read receipts,
//! ARF reports and DSNs (RFC 3834, RFC 3464, RFC 5965 and the vendors' documented headers), next to
//! mail people write that mentions the same words. Each case states its expected class; the test
//! prints recall and precision of auto-reply and bounce detection over the set.

use mailgate::core::address::EmailAddress;
use mailgate::core::classify::{ClassifyContext, classify};
use mailgate::ingest::LOOP_HEADER;
use mailgate::parse::{Limits, parse_email};
use mailgate::store::tickets::EntryClass;

/// One message: header lines, then the body (LF line ends, turned into CRLF).
fn mail(headers: &[&str], body: &str) -> Vec<u8> {
    let mut text = String::new();
    for line in headers {
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.push_str(&body.replace('\n', "\r\n"));
    text.into_bytes()
}

/// Headers every Exchange out-of-office note carries (sisimai's rfc3834-02/-04 show the set).
const EXCHANGE_OOF: &[&str] = &[
    "Return-Path: <>",
    "X-Auto-Response-Suppress: All",
    "X-MS-Exchange-Inbox-Rules-Loop: jane@customer.example",
    "X-MS-TNEF-Correlator:",
    "Thread-Topic: Printer on fire",
    "MIME-Version: 1.0",
];

fn exchange_oof(subject: &str, body: &str) -> Vec<u8> {
    let mut headers = vec!["From: Jane Doe <jane@customer.example>", "To: support@example.com"];
    let subject = format!("Subject: {subject}");
    headers.push(&subject);
    headers.extend_from_slice(EXCHANGE_OOF);
    headers.push("Content-Type: text/plain; charset=\"utf-8\"");
    mail(&headers, body)
}

fn cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let plain = |from: &str, subject: &str, extra: &[&str], body: &str| {
        let from = format!("From: {from}");
        let subject = format!("Subject: {subject}");
        let mut headers = vec![from.as_str(), "To: Support <support@example.com>", subject.as_str()];
        if !extra.iter().any(|h| h.starts_with("Message-ID:")) {
            headers.push("Message-ID: <m1@customer.example>");
        }
        headers.extend_from_slice(extra);
        headers.push("Content-Type: text/plain; charset=utf-8");
        mail(&headers, body)
    };
    let jane = "Jane Doe <jane@customer.example>";
    vec![
        // --- auto-replies: Exchange/Outlook out of office, localised subjects, no Auto-Submitted.
        (
            "exchange en",
            exchange_oof("Automatic reply: Printer on fire", "I am out of the office."),
            "auto-reply",
        ),
        (
            "exchange de",
            exchange_oof("Automatische Antwort: AW: Drucker", "Ich bin bis Montag nicht im Büro."),
            "auto-reply",
        ),
        ("outlook de", exchange_oof("Abwesenheitsnotiz: Drucker", "Ich bin nicht da."), "auto-reply"),
        (
            "exchange fr",
            exchange_oof("=?utf-8?Q?R=C3=A9ponse_automatique=C2=A0:_Imprimante?=", "Je suis absent."),
            "auto-reply",
        ),
        (
            "exchange es",
            exchange_oof("=?utf-8?Q?Respuesta_autom=C3=A1tica:_Impresora?=", "Estoy fuera de la oficina."),
            "auto-reply",
        ),
        ("exchange it", exchange_oof("Risposta automatica: Stampante", "Sono fuori ufficio."), "auto-reply"),
        ("exchange nl", exchange_oof("Automatisch antwoord: Printer", "Ik ben afwezig."), "auto-reply"),
        (
            "exchange pt",
            exchange_oof("=?utf-8?Q?Resposta_autom=C3=A1tica:_Impressora?=", "Estou ausente."),
            "auto-reply",
        ),
        (
            "exchange pl",
            exchange_oof("=?utf-8?Q?Automatyczna_odpowied=C5=BA:_Drukarka?=", "Jestem poza biurem."),
            "auto-reply",
        ),
        ("exchange sv", exchange_oof("Automatiskt svar: Skrivare", "Jag är ledig."), "auto-reply"),
        (
            "exchange ja",
            exchange_oof("=?iso-2022-jp?B?GyRCPCtGMDF+RXobKEI=?=: printer", "不在にしております。"),
            "auto-reply",
        ),
        (
            "exchange zh",
            exchange_oof("=?utf-8?B?6Ieq5Yqo562U5aSNOiDmiZPljbDmnLo=?=", "我正在休假。"),
            "auto-reply",
        ),
        (
            "exchange ru",
            exchange_oof(
                "=?utf-8?B?0JDQstGC0L7QvNCw0YLQuNGH0LXRgdC60LjQuSDQvtGC0LLQtdGCOiDQn9GA0LjQvdGC0LXRgA==?=",
                "Я в отпуске.",
            ),
            "auto-reply",
        ),
        // Exchange in a language without a table entry: the headers decide together.
        ("exchange unknown language", exchange_oof("Vastaus: Tulostin", "..."), "auto-reply"),
        ("gateway tag first", exchange_oof("[EXTERNAL] Automatic reply: Printer", "Out."), "auto-reply"),
        // --- auto-replies: other vendors.
        (
            "gmail vacation",
            plain(
                jane,
                "Away until Monday",
                &["Auto-Submitted: auto-replied", "In-Reply-To: <q@example.com>"],
                "I am away.",
            ),
            "auto-reply",
        ),
        (
            "zimbra",
            plain(jane, "Re: Printer on fire", &["Auto-Submitted: auto-replied (zimbra; vacation)"], "Away."),
            "auto-reply",
        ),
        (
            "lotus notes",
            plain(
                jane,
                "AUTO: Jane Doe is out of the office (returning 02.12.2026)",
                &["X-Mailer: Lotus Notes Release 8.5.3"],
                "I will be out of the office.",
            ),
            "auto-reply",
        ),
        (
            "icloud",
            plain(
                jane,
                "Re: Printer on fire",
                &["X-Apple-Action: VACATION", "X-Apple-Criteria: {kind=VACATION}"],
                "Away.",
            ),
            "auto-reply",
        ),
        (
            "unix vacation",
            plain(
                jane,
                "away from my mail",
                &["Precedence: junk"],
                "I will not be reading my mail for a while.",
            ),
            "auto-reply",
        ),
        (
            "procmail",
            plain(
                jane,
                "Re: Printer on fire",
                &["X-Loop: jane@customer.example", "Precedence: junk"],
                "This is an automated reply: I am on holiday.",
            ),
            "auto-reply",
        ),
        ("rfc 3834 Auto:", plain(jane, "Auto: Printer on fire", &[], "Away."), "auto-reply"),
        ("yahoo", plain(jane, "Auto Response", &[], "Thanks for writing."), "auto-reply"),
        (
            "request tracker",
            plain(
                "RT <rt@vendor.example>",
                "[vendor.example #4711] AutoReply: Printer on fire",
                &["Precedence: bulk", "RT-Ticket: vendor.example #4711"],
                "Greetings, this message has been automatically generated.",
            ),
            "auto-reply",
        ),
        ("ja subject", plain(jane, "【自動返信】プリンター", &[], "不在です"), "auto-reply"),
        (
            "zh-tw subject",
            plain(jane, "=?utf-8?B?6Ieq5YuV5Zue6KaGOiDljbDooajmqZ8=?=", &[], "..."),
            "auto-reply",
        ),
        ("ko subject", plain(jane, "=?utf-8?B?7J6Q64+ZIO2ajOyLoDog7ZSE66aw7YSw?=", &[], "..."), "auto-reply"),
        (
            "company acknowledgement",
            plain(
                "ACME Sales <sales@acme.example>",
                "Re: Printer on fire",
                &["In-Reply-To: <q@example.com>"],
                "Thank you for contacting ACME.\nThis is an automated response to confirm that we received your message.",
            ),
            "auto-reply",
        ),
        // --- auto-replies: challenge-response.
        (
            "boxbe",
            plain(
                "Boxbe <notify@boxbe.com>",
                "Jane Doe (jane@customer.example) is not on my Guest List",
                &[],
                "Request to join my Guest List.",
            ),
            "auto-reply",
        ),
        (
            "spam arrest",
            plain(
                jane,
                "Re: Printer on fire",
                &["Message-ID: <a1b2@mail3.spamarrest.com>"],
                "I use Spam Arrest.",
            ),
            "auto-reply",
        ),
        (
            "tmda",
            plain(
                jane,
                "Re: Printer on fire",
                &["X-Delivery-Agent: TMDA/1.1.12 (Macallan)"],
                "Please confirm.",
            ),
            "auto-reply",
        ),
        (
            "please verify",
            plain(
                jane,
                "Please verify your email address",
                &["Return-Path: <>"],
                "Your message is being held until you verify it. The sender not pre-approved.",
            ),
            "auto-reply",
        ),
        // --- auto-replies: read receipt.
        (
            "read receipt",
            mail(
                &[
                    "From: jane@customer.example",
                    "To: support@example.com",
                    "Subject: Read: Printer on fire",
                    "MIME-Version: 1.0",
                    "Content-Type: multipart/report; report-type=disposition-notification; boundary=\"R\"",
                ],
                "--R\nContent-Type: text/plain\n\nYour message was read.\n--R\nContent-Type: message/disposition-notification\n\nFinal-Recipient: rfc822; jane@customer.example\nDisposition: manual-action/MDN-sent-manually; displayed\n--R--\n",
            ),
            "auto-reply",
        ),
        // --- people writing the same words: never auto-replies.
        (
            "re: out of office",
            plain(
                jane,
                "Re: Out of office",
                &["In-Reply-To: <x@example.com>"],
                "Thanks, I was out of office last week. Is it fixed?",
            ),
            "normal",
        ),
        (
            "was out of office",
            plain(
                jane,
                "I was out of office last week",
                &[],
                "Hello, I am out of the office until Monday, can you wait?",
            ),
            "normal",
        ),
        (
            "reply to an oof",
            plain(
                jane,
                "RE: Automatic reply: Printer",
                &["In-Reply-To: <oof@customer.example>"],
                "Who else can help?",
            ),
            "normal",
        ),
        ("forwarded oof", plain(jane, "FW: Automatische Antwort: Drucker", &[], "See below."), "normal"),
        (
            "about auto replies",
            plain(jane, "Automatic replies are not working", &[], "Outlook no longer sends them."),
            "normal",
        ),
        ("about autoresponders", plain(jane, "Autoresponder setup question", &[], "How?"), "normal"),
        (
            "on vacation request",
            plain(jane, "On vacation - please hold my order", &[], "I am on vacation until May."),
            "normal",
        ),
        (
            "verification trouble",
            plain(
                jane,
                "Please verify your email address - link broken",
                &[],
                "The verification process fails for me.",
            ),
            "normal",
        ),
        ("japanese question", plain(jane, "Re: 自動返信の設定について", &[], "教えてください"), "normal"),
        (
            "contact form",
            plain(
                "Website <noreply@shop.example>",
                "New contact form submission",
                &["Reply-To: jane@customer.example"],
                "Name: Jane\nMessage: my printer is on fire",
            ),
            "normal",
        ),
        (
            "outlook person",
            plain(
                jane,
                "Printer on fire",
                &[
                    "Thread-Topic: Printer on fire",
                    "Thread-Index: AQHa",
                    "X-MS-Has-Attach:",
                    "X-MS-Exchange-Organization-SCL: -1",
                ],
                "Please help.",
            ),
            "normal",
        ),
        (
            "app with suppress header",
            plain(jane, "Printer on fire", &["X-Auto-Response-Suppress: All"], "Sent from our portal."),
            "normal",
        ),
        (
            "newsletter",
            plain(
                "Shop <noreply@shop.example>",
                "Our autumn offers",
                &["Precedence: bulk", "List-Unsubscribe: <mailto:u@shop.example>"],
                "Deals.",
            ),
            "list",
        ),
        (
            "bulk without list headers",
            plain("Shop <news@shop.example>", "Our autumn offers", &["Precedence: bulk"], "Deals."),
            "list",
        ),
        (
            "arf",
            mail(
                &[
                    "From: abuse@isp.example",
                    "To: support@example.com",
                    "Subject: FW: Printer on fire",
                    "MIME-Version: 1.0",
                    "Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"",
                ],
                "--F\nContent-Type: text/plain\n\nThis is an email abuse report.\n--F\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: SomeGenerator/1.0\nVersion: 1\n--F\nContent-Type: text/rfc822-headers\n\nFrom: support@example.com\nMessage-ID: <x@example.com>\n--F--\n",
            ),
            "abuse-report",
        ),
        // --- bounces.
        (
            "top-level delivery-status",
            mail(
                &[
                    "From: MAILER-DAEMON@mx.customer.example",
                    "To: support@example.com",
                    "Subject: Delivery Status Notification",
                    "MIME-Version: 1.0",
                    "Content-Type: message/delivery-status",
                ],
                "Reporting-MTA: dns; mx.customer.example\n\nFinal-Recipient: rfc822; gone@customer.example\nAction: failed\nStatus: 5.1.1\n",
            ),
            "bounce",
        ),
        (
            "top-level delivery-status, any sender",
            mail(
                &[
                    "From: relay@mx.customer.example",
                    "To: support@example.com",
                    "Subject: Report",
                    "MIME-Version: 1.0",
                    "Content-Type: message/delivery-status",
                ],
                "Reporting-MTA: dns; mx.customer.example\n\nFinal-Recipient: rfc822; gone@customer.example\nAction: failed\nStatus: 5.1.1\n",
            ),
            "bounce",
        ),
        (
            "postfix dsn",
            mail(
                &[
                    "From: MAILER-DAEMON (Mail Delivery System)",
                    "To: support@example.com",
                    "Subject: Undelivered Mail Returned to Sender",
                    "Auto-Submitted: auto-replied",
                    "MIME-Version: 1.0",
                    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"D\"",
                ],
                "--D\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.\n--D\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; gone@customer.example\nAction: failed\nStatus: 5.1.1\n--D--\n",
            ),
            "bounce",
        ),
    ]
}

#[test]
fn real_mail_is_classified_as_its_kind() {
    let own = [EmailAddress::parse("support@example.com").unwrap()];
    let context = ClassifyContext {
        own_addresses: &own,
        loop_header: LOOP_HEADER,
        loop_header_value: "example.com",
        message_id_is_ours: false,
    };
    let mut wrong = Vec::new();
    let mut counts = std::collections::BTreeMap::<(&str, bool, bool), usize>::new();
    let cases = cases();
    assert!(cases.len() > 40, "the set is the point of this test");
    for (name, raw, expected) in &cases {
        let email = parse_email(raw, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let decided = classify(&email, &context);
        let got = EntryClass::of(&decided.class).as_str();
        if got != *expected {
            wrong.push(format!("{name}: expected {expected}, got {got} ({})", decided.reason));
        }
        for kind in ["auto-reply", "bounce"] {
            *counts.entry((kind, *expected == kind, got == kind)).or_default() += 1;
        }
    }
    for kind in ["auto-reply", "bounce"] {
        let n = |expected, got| counts.get(&(kind, expected, got)).copied().unwrap_or(0);
        let (tp, fp, miss) = (n(true, true), n(false, true), n(true, false));
        println!("{kind}: recall {tp}/{} precision {tp}/{}", tp + miss, tp + fp);
    }
    assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
}
