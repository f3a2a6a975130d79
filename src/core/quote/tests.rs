//! Reply-stripping tests with fixtures written for them.

use super::*;

fn strip(text: &str) -> String {
    strip_quoted_text(text)
}

#[test]
fn english_attribution() {
    let text = "Thanks, works now.\n\nOn Mon, Nov 23, 2026 at 10:00 AM Support <support@example.com> wrote:\n> Try again.\n";
    assert_eq!(strip(text), "Thanks, works now.");
}

#[test]
fn attributions_in_seven_languages() {
    for attribution in [
        "On 23/11/2026 10:00, Support wrote:",
        "Am 23.11.2026 um 10:00 schrieb Support <support@example.com>:",
        "Am Mo., 23. Nov. 2026 um 10:00 Uhr schrieb Support <support@example.com>:",
        "Le lun. 23 nov. 2026 à 10:00, Support <support@example.com> a écrit :",
        "Le 23/11/2026 à 10:00, Support a\u{a0}écrit\u{a0}:",
        "El lun, 23 nov 2026 a las 10:00, Support (<support@example.com>) escribió:",
        "Op ma 23 nov. 2026 om 10:00 schreef Support <support@example.com>:",
        "Em seg., 23 de nov. de 2026 às 10:00, Support <support@example.com> escreveu:",
        "Il giorno lun 23 nov 2026 alle ore 10:00 Support <support@example.com> ha scritto:",
        "Support <support@example.com> wrote:",
        "--- On Mon, 23/11/26, Support <support@example.com> wrote:",
    ] {
        let text = format!("New text.\n\n{attribution}\n> old text\n");
        assert_eq!(strip(&text), "New text.", "{attribution}");
    }
}

#[test]
fn wrapped_attributions() {
    let two = "Got it.\n\nOn Mon, Nov 23, 2026 at 10:00 AM Very Long Support Team Name <\nsupport@example.com> wrote:\n\n> quoted\n";
    assert_eq!(strip(two), "Got it.");
    let dangling = "Thanks\n\nOn Mon, 23 Nov 2026 at 10:00, Support <support@example.com> wrote:\n";
    assert_eq!(strip(dangling), "Thanks");
    let three = "Danke.\n\nAm Mo., 23. Nov. 2026 um 10:00 Uhr schrieb\nSehr Langer Name Des Supports\n<support@example.com>:\n> alt\n";
    assert_eq!(strip(three), "Danke.");
    let unknown =
        "Hello\n02.04.2012 14:20 пользователь \"bob@example.org\" <\nbob@example.org> написал:\n> Hi\n>";
    assert_eq!(strip(unknown), "Hello");
}

#[test]
fn prose_above_an_attribution_stays() {
    let text = "On my side all is fine.\nOn Mon, 23 Nov 2026, Support <support@example.com> wrote:\n> old";
    assert_eq!(strip(text), "On my side all is fine.");
}

#[test]
fn unmistakable_attribution_cuts_without_quote_marks() {
    let text = "Fine.\n\nOn Mon, 23 Nov 2026 at 10:00, Support <support@example.com> wrote:\n\nOld text, not marked.";
    assert_eq!(strip(text), "Fine.");
    let prose = "On Monday the board wrote:\nWe will move.";
    assert_eq!(strip(prose), prose);
}

#[test]
fn outlook_blocks_in_two_languages() {
    let en = "Please close it.\n\n________________________________\nFrom: Support <support@example.com>\nSent: Monday, November 23, 2026 10:00\nTo: Jane\nSubject: RE: Printer\n\nOld text";
    assert_eq!(strip(en), "Please close it.");
    let de = "Danke!\n\n-----Ursprüngliche Nachricht-----\nVon: Support\nGesendet: Montag\nAn: Jane\nBetreff: Drucker\n\nAlt";
    assert_eq!(strip(de), "Danke!");
    let fr = "Merci.\n\nDe : Support\nEnvoyé : lundi 23 novembre 2026 10:00\nÀ : Jane\nObjet : Imprimante\n\nAncien";
    assert_eq!(strip(fr), "Merci.");
    let es = "Gracias.\n\nDe: Support\nEnviado el: lunes, 23 de noviembre de 2026 10:00\nPara: Jane\nAsunto: Impresora";
    assert_eq!(strip(es), "Gracias.");
    let bold = "Yes.\n\n*From:* Support\n*Sent:* Monday\n*To:* Jane\n\nold";
    assert_eq!(strip(bold), "Yes.");
    let separator = "Ok.\n\n----- Original Message -----\nFrom: x\n\nold";
    assert_eq!(strip(separator), "Ok.");
}

#[test]
fn original_message_lines_in_each_language() {
    for separator in [
        "-----Original Message-----",
        "-----Ursprüngliche Nachricht-----",
        "-----Message d'origine-----",
        "-----Mensaje original-----",
        "-----Oorspronkelijk bericht-----",
        "-----Mensagem original-----",
        "-----Messaggio originale-----",
    ] {
        let text = format!("New.\n\n{separator}\nold");
        assert_eq!(strip(&text), "New.", "{separator}");
    }
    let nl = "Bedankt.\n\nVan: Support\nVerzonden: maandag\nAan: Jan\nOnderwerp: Printer";
    assert_eq!(strip(nl), "Bedankt.");
    let it = "Grazie.\n\nDa: Support\nInviato: lunedì\nA: Gianni\nOggetto: Stampante";
    assert_eq!(strip(it), "Grazie.");
}

#[test]
fn a_lone_from_in_prose_does_not_cut() {
    let text = "From: the third floor we hear noise.\nPlease check.\nTo: whom it may concern.";
    assert_eq!(strip(text), text);
}

#[test]
fn our_marker_quoted_unquoted_or_wrapped() {
    let plain = format!("Answer here.\n\n{REPLY_MARKER}\nTicket history");
    assert_eq!(strip(&plain), "Answer here.");
    let quoted = format!("Answer here.\n\nOn Mon, Support wrote:\n> {REPLY_MARKER}\n> history");
    assert_eq!(strip(&quoted), "Answer here.");
    let rewrapped = "Answer.\n\n##- Please type your reply\nabove this line -##\nTicket #123 history";
    assert_eq!(strip(rewrapped), "Answer.");
    let split = "Answer.\n\n> ##-\n> Please type your reply above this line\n> -##\n> history\nmore history";
    assert_eq!(strip(split), "Answer.");
    let narrow = "Ok.\n> ##- Please type your reply above this\n> line -##\n> history";
    assert_eq!(strip(narrow), "Ok.");
    let recased = "Answer.\n##- PLEASE TYPE YOUR REPLY ABOVE THIS LINE -##";
    assert_eq!(strip(recased), "Answer.");
}

#[test]
fn the_marker_pre_test_agrees_with_the_marker_text() {
    let lines = [
        "",
        "  >  > ##- Please   type your\treply above this line -##",
        "ünïcödé\u{a0} words   here",
        "> a",
        ">>>",
    ];
    for line in lines {
        assert_eq!(marker_len(line), marker_text(line).len(), "{line:?}");
    }
    let long =
        "Thanks, see below; our tool put this in:   PLEASE TYPE   your reply Above this line -## and more";
    assert!(is_marker_at(&[long], 0), "a long line holding the whole marker");
    let prose = "A long line of prose that has nothing to do with any marker at all, really, or above.";
    assert!(
        !is_marker_at(&[prose, "Please type your reply above this line"], 0),
        "long lines do not start one"
    );
}

#[test]
fn trailing_quote_block() {
    let text =
        "Merci.\n\nDen 23.11.2026 kl. 10:00 skrev Support <support@example.com>:\n> gammel tekst\n> mer";
    assert_eq!(strip(text), "Merci.");
    assert_eq!(strip("Sure.\n> quoted\n>\n> more"), "Sure.");
    // Not an attribution: no date, no address.
    assert_eq!(strip("I have two questions:\n> quoted"), "I have two questions:");
}

#[test]
fn bottom_posted_answers_are_found() {
    assert_eq!(strip("On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi \nHello"), "Hello");
    assert_eq!(strip("> Is it fixed?\n\nYes, since Monday."), "Yes, since Monday.");
    let signed = "On Mon, Support wrote:\n> Hi\n\nHello\n-- \nJane";
    assert_eq!(strip(signed), "Hello\n-- \nJane");
}

#[test]
fn inline_answers_are_kept() {
    let text = "> Which model?\nThe X200.\n> Which floor?\nThird.\n";
    assert_eq!(strip(text), text.trim());
    let with_intro = "See inline.\n\nOn Mon, 23 Nov 2026, Support <support@example.com> wrote:\n> Which model?\nThe X200.\n> Which floor?\nThird.\n> Thanks, Support";
    assert_eq!(
        strip(with_intro),
        "See inline.\n\nOn Mon, 23 Nov 2026, Support <support@example.com> wrote:\n> Which model?\nThe X200.\n> Which floor?\nThird."
    );
}

#[test]
fn signature_below_the_quote_is_not_an_answer() {
    let text = "Done.\n\nOn Mon, Support wrote:\n> Please check.\n\n-- \nJane Doe";
    assert_eq!(strip(text), "Done.");
}

#[test]
fn forwards_are_content() {
    let text = "FYI\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\nDate: Mon\nSubject: Outage\nTo: Jane\n\nThe server is down.";
    assert_eq!(strip(text), text);
    let apple = "See below.\n\nBegin forwarded message:\n\nFrom: Bob\nDate: Mon\nTo: Jane\n\n> Hi";
    assert_eq!(strip(apple), apple);
    let quoted = "Please see this.\n\n> ------ Forwarded Message\n> From: Bob\n> Subject: Outage\n>\n> Down.";
    assert_eq!(strip(quoted), quoted);
}

#[test]
fn mobile_signature_above_quote_goes_ordinary_signature_stays() {
    let text = "Ok!\n\nSent from my iPhone\n\nOn 23 Nov 2026, at 10:00, Support <support@example.com> wrote:\n> text";
    assert_eq!(strip(text), "Ok!");
    let german = "Ok!\n\nVon meinem iPhone gesendet\n\n> text";
    assert_eq!(strip(german), "Ok!");
    let signed =
        "Ok!\n\nJane Doe\nACME Corp\n\nOn Mon, 23 Nov 2026, Support <support@example.com> wrote:\n> text";
    assert_eq!(strip(signed), "Ok!\n\nJane Doe\nACME Corp");
}

#[test]
fn nothing_to_strip_or_nothing_left() {
    assert_eq!(strip("Just a question.\nSecond line.\n\n"), "Just a question.\nSecond line.");
    assert_eq!(strip(""), "");
    assert_eq!(strip("   \n\n"), "");
    let only_quote = "On Mon, Support wrote:\n> everything quoted";
    assert_eq!(strip(only_quote), only_quote);
    assert_eq!(strip(">\n>\n>"), ">\n>\n>");
    let marker_first = format!("{REPLY_MARKER}\nhistory");
    assert_eq!(strip(&marker_first), marker_first);
    // Unchanged input comes back byte for byte (trimmed), line endings included.
    assert_eq!(strip("a\r\nb\r\n"), "a\r\nb");
}

#[test]
fn line_endings() {
    assert_eq!(strip("Hi\r\n\r\nOn Mon, X wrote:\r\n> old\r\n"), "Hi");
    assert_eq!(strip("Hi\r\rOn Mon, X wrote:\r> old\r"), "Hi");
}

#[test]
fn weird_input_does_not_panic() {
    let huge = "x".repeat(1_000_000);
    assert_eq!(strip(&huge).len(), 1_000_000);
    let long_line = format!("Hi\n{}wrote:\n> q", "é".repeat(500_000));
    assert!(strip(&long_line).starts_with("Hi"));
    let many = "> q\n".repeat(100_000);
    assert_eq!(strip(&many), many.trim());
    let colons = ":\n".repeat(50_000);
    assert_eq!(strip(&colons), colons.trim());
    for odd in ["\u{feff}", "\r", ">", "On", ":", "##-", "<", "&", "\0", "ä\r\n>\r\n"] {
        let _ = strip(odd);
        let _ = strip_quoted_html(odd);
    }
    let _ = strip_quoted_html(&"<div>".repeat(200_000));
    let _ = strip_quoted_html(&format!("<p>{}</p><blockquote type=\"cite\">q", "ü".repeat(1_000_000)));
}

#[test]
fn html_containers_of_each_client() {
    for container in [
        r#"<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon wrote:</div><blockquote>old</blockquote></div>"#,
        r#"<div dir="ltr" class="gmail_attr">On Mon, X wrote:<br></div><blockquote class="gmail_quote">old</blockquote>"#,
        r#"<blockquote type="cite">old</blockquote>"#,
        r#"<div id="appendonsend"></div><hr><div id="divRplyFwdMsg">From: Support</div>"#,
        r#"<div id="divRplyFwdMsg" dir="ltr"><b>From:</b> Support</div>"#,
        r#"<div class="moz-cite-prefix">On Mon, Support wrote:</div><blockquote type=cite>old</blockquote>"#,
        r#"<div class="yahoo_quoted" id="yahoo_quoted_123">old</div>"#,
        r#"<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in"><p>From: Support</p></div>"#,
        r#"<div style='border:none;border-top:solid #B5C4DF 1.0pt'><p>From: Support</p></div>"#,
        r#"<hr id="zwchr"><b>From: </b>Support"#,
    ] {
        let html = format!("<div>New reply</div>{container}");
        assert_eq!(strip_quoted_html(&html), "<div>New reply</div>", "{container}");
    }
}

#[test]
fn html_attribution_above_the_container_goes_too() {
    let apple = r#"<div>Thanks</div><div><br><div>On 23 Nov 2026, at 10:00, Support &lt;support@example.com&gt; wrote:</div><br><blockquote type="cite"><div>old</div></blockquote></div>"#;
    assert_eq!(strip_quoted_html(apple), "<div>Thanks</div><div><br>");
}

#[test]
fn html_text_boundaries() {
    let marker = format!("<p>Answer</p><p>{REPLY_MARKER}</p><p>history</p>");
    assert_eq!(strip_quoted_html(&marker), "<p>Answer</p>");
    let wrapped = "<p>Answer</p><p>##- Please type your\n   reply above this line -##</p>";
    assert_eq!(strip_quoted_html(wrapped), "<p>Answer</p>");
    let original = "Hello<br><br><div>-----Original Message-----<br>From: bob</div>";
    assert_eq!(strip_quoted_html(original), "Hello<br><br>");
    let outlook = "<p>Hi</p><p><b>From:</b> Bob<br><b>Sent:</b> Monday<br><b>To:</b> Jane</p>";
    assert_eq!(strip_quoted_html(outlook), "<p>Hi</p>");
    let plain =
        "<div>Ok</div><div>On Mon, Bob &lt;bob@example.com&gt; wrote:</div><blockquote>old</blockquote>";
    assert_eq!(strip_quoted_html(plain), "<div>Ok</div>");
}

#[test]
fn html_without_quote_or_with_nothing_above_is_unchanged() {
    assert_eq!(strip_quoted_html("<p>no quote</p>"), "<p>no quote</p>");
    assert_eq!(strip_quoted_html(""), "");
    let only = r#"<html><head><style>p { color: red }</style></head><body><br><blockquote type="cite">old</blockquote>"#;
    assert_eq!(strip_quoted_html(only), only);
    let user_quote = "<p>The docs say:</p><blockquote>Restart it.</blockquote><p>Did that.</p>";
    assert_eq!(strip_quoted_html(user_quote), user_quote);
}

#[test]
fn html_forwards_are_content() {
    let gmail = r#"<div>FYI</div><div class="gmail_quote"><div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>From: Bob</div><div>The server is down.</div></div>"#;
    assert_eq!(strip_quoted_html(gmail), gmail);
    let apple = r#"<div>FYI</div><div><div>Begin forwarded message:</div><br><blockquote type="cite"><div>From: Bob</div></blockquote></div>"#;
    assert_eq!(strip_quoted_html(apple), apple);
}

/// A pattern, its pre-test and lines the pattern matches.
type Case = (&'static Regex, fn(&str) -> bool, &'static [&'static str]);

/// The pre-tests (`words`) are necessary conditions: every line a pattern matches passes its test,
/// in every language and case the patterns know.
#[test]
fn every_line_a_pattern_matches_passes_its_pre_test() {
    let cases: [Case; 5] = [
        (
            &FORWARD,
            is_forward,
            &[
                "---------- Forwarded message ---------",
                "  -- WEITERGELEITETE NACHRICHT --",
                "---- Message transféré ----",
                "-- Mensaje reenviado --",
                "-- Doorgestuurd bericht --",
                "-- Mensagem encaminhada --",
                "-- Messaggio inoltrato --",
                "Begin forwarded message:",
                "Anfang der weitergeleiteten Nachricht:",
                "DÉBUT DU MESSAGE RÉEXPÉDIÉ :",
            ],
        ),
        (
            &ORIGINAL_MESSAGE,
            is_original_message,
            &[
                "-----Original Message-----",
                "----- Ursprüngliche Nachricht -----",
                "-----Message d'origine-----",
                "-----Mensaje original-----",
                "-----Oorspronkelijk bericht-----",
                "-----Mensagem original-----",
                "-----MESSAGGIO ORIGINALE-----",
            ],
        ),
        (
            &MOBILE_SIGNATURE,
            is_mobile_signature,
            &[
                "Sent from my iPhone",
                "Sent from Outlook for Android",
                "Get Outlook for iOS",
                "Von meinem iPhone gesendet",
                "Gesendet von meinem Handy",
                "Envoyé de mon iPad",
                "Enviado desde mi iPhone",
                "Enviado do meu celular",
                "Verzonden met mijn iPhone",
                "Inviato dal mio iPhone",
            ],
        ),
        (&HEADER_FROM, may_be_header_from, &["From: Bob", "*Von:* Bob", " de : Bob", "Van: Bob", "DA: Bob"]),
        (&DATE_LIKE, has_digit, &["10:00", "23.11.2026", "2026"]),
    ];
    for (pattern, pre_test, lines) in cases {
        for line in lines {
            assert!(pattern.is_match(line), "the pattern matches {line:?}");
            assert!(pre_test(line), "the pre-test lets {line:?} through");
        }
    }
    // Each language's attribution is known, and by its own language.
    let attributions = [
        (0, "On Mon, 23 Nov 2026 at 10:00, Support <support@example.com> wrote:"),
        (0, "ON MON, SUPPORT WROTE:"),
        (0, "--- On Mon, 23/11/26, Support writes:"),
        (1, "Am 23.11.2026 um 10:00 schrieb Support:"),
        (2, "Le 23/11/2026 à 10:00, Support a\u{a0}écrit\u{a0}:"),
        (3, "El lun, 23 nov 2026, Support escribió:"),
        (4, "Op ma 23 nov. 2026 schreef Support:"),
        (5, "Em seg., 23 de nov. de 2026, Support escreveu:"),
        (6, "Il giorno lun 23 nov 2026 Support ha scritto:"),
    ];
    for (language, line) in attributions {
        assert!(attribution::LANGUAGES[language].matches(line), "its language matches {line:?}");
        assert!(has_attribution_verb(line) && attribution::is_known(line), "{line:?}");
    }
    assert!(
        !attribution::is_known("On the phone they said the printer wrote nothing."),
        "no colon at the end"
    );
    let html = r#"<div class="GMAIL_QUOTE"><blockquote type="cite">old</blockquote></div>"#;
    assert_eq!(html_quote_at(html), HTML_QUOTE.find(html).map(|m| m.start()));
    assert_eq!(html_quote_at("<p>Hello, no quote here</p>"), None);
}
