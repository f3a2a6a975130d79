//! Reply stripping: the part of a reply its author newly wrote, without the quoted history. It is
//! for display only (the full text is always kept), so when in doubt it keeps text rather than lose it.

use std::sync::LazyLock;

use regex::Regex;

/// The marker line our outgoing mail puts above the quoted history.
pub const REPLY_MARKER: &str = "##- Please type your reply above this line -##";

/// The marker's words, found even when a client re-wraps or quotes the line.
const MARKER_WORDS: &str = "please type your reply above this line";

/// "On <date>, <name> wrote:" in English, German, French, Spanish, Dutch, Portuguese and Italian.
/// Matched against one line or up to three joined lines (clients wrap long attributions).
static ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*(?:
            on\b.*\b(?:wrote|writes)
          | am\b.*\bschrieb\b.*
          | le\b.*\ba\s+écrit
          | el\b.*\bescribió
          | op\b.*\bschreef\b.*
          | em\b.*\bescreveu
          | il\b.*\bha\s+scritto
        )\s*:\s*$",
    )
    .expect("static regex")
});

/// The bare "<name> <address> wrote:" form; only ever matched against a single line.
/// (No bounded repetitions such as `.{0,300}` in these patterns: in Unicode mode each copy is a
/// full UTF-8 automaton and compiling them dominated `pipe` start-up. Lengths are checked in code.)
static ATTRIBUTION_BARE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*.+\b(?:wrote|schrieb|a\s+écrit|escribió|schreef|escreveu|ha\s+scritto)\s*:\s*$")
        .expect("static regex")
});

/// Outlook's "-----Original Message-----" and its translations.
static ORIGINAL_MESSAGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original|oorspronkelijk bericht|mensagem original|messaggio originale)\s*-{2,}\s*$",
    )
    .expect("static regex")
});

/// Header lines of an Outlook quote block, possibly bold-marked (`*From:*`).
static HEADER_FROM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*\*?(?:from|von|de|van|da)\s*:\*?\s").expect("static regex"));
static HEADER_SENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(?:sent|date|gesendet|datum|envoyé|enviado|enviada|fecha|data|verzonden|inviato)\s*:\*?\s")
        .expect("static regex")
});
static HEADER_OTHER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(?:to|an|à|a|para|aan|cc|subject|betreff|objet|asunto|onderwerp|assunto|oggetto)\s*:\*?\s")
        .expect("static regex")
});

/// A forward's content is the content: nothing after these is ever cut.
static FORWARD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|doorgestuurd bericht|mensagem encaminhada|messaggio inoltrato)|begin forwarded message:)")
        .expect("static regex")
});

/// Mobile signatures that sit directly above a quote.
static MOBILE_SIGNATURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(?:sent from my|von meinem|envoyé de mon|enviado desde mi|enviado do meu|verzonden (?:vanaf|met) mijn|inviato da|get outlook for)\b.*$",
    )
    .expect("static regex")
});

/// HTML quote containers of Gmail, Apple Mail, Thunderbird, Outlook and Yahoo.
static HTML_QUOTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)<(?:div|blockquote)\b[^>]*(?:gmail_quote|type\s*=\s*["']?cite|appendonsend|divRplyFwdMsg|moz-cite-prefix|yahoo_quoted|border-top\s*:\s*solid\s+#(?:E1E1E1|B5C4DF))"#,
    )
    .expect("static regex")
});

/// The new part of a plain-text reply. Returns the whole text (trimmed) when no quote boundary is
/// found, or when cutting would leave nothing.
pub fn strip_quoted_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(cut) = quote_boundary(&lines) else { return text.trim().to_string() };
    let mut kept = &lines[..cut];
    while let Some((last, rest)) = kept.split_last() {
        let mobile_signature = last.len() <= 80 && MOBILE_SIGNATURE.is_match(last);
        if last.trim().is_empty() || mobile_signature || is_separator(last) {
            kept = rest;
        } else {
            break;
        }
    }
    if kept.is_empty() {
        return answer_below_quote(&lines[cut..]).unwrap_or_else(|| text.trim().to_string());
    }
    kept.join("\n").trim().to_string()
}

/// Bottom-posting: the message opens with an attribution and a `>` block and the answer follows.
fn answer_below_quote(lines: &[&str]) -> Option<String> {
    let first_quote = lines.iter().position(|l| l.trim_start().starts_with('>'))?;
    let header = &lines[..first_quote];
    if !header.iter().all(|l| l.trim().is_empty() || ATTRIBUTION.is_match(l) || ATTRIBUTION_BARE.is_match(l))
    {
        return None;
    }
    let after = lines[first_quote..].iter().position(|l| {
        let l = l.trim_start();
        !l.is_empty() && !l.starts_with('>')
    })?;
    let rest = &lines[first_quote + after..];
    // Only when what follows is the answer, not more quoting interleaved with it.
    if rest.iter().any(|l| l.trim_start().starts_with('>')) {
        return None;
    }
    Some(rest.join("\n").trim().to_string())
}

/// HTML with the quoted history removed: everything from the first quote container (or our marker)
/// on. The result may be unbalanced HTML; the sanitizer that renders it closes what is open.
pub fn strip_quoted_html(html: &str) -> String {
    let container = HTML_QUOTE.find(html).map(|m| m.start());
    let marker =
        find_case_insensitive(html, MARKER_WORDS).map(|at| html[..at].rfind('>').map_or(at, |gt| gt + 1));
    match container.into_iter().chain(marker).min() {
        Some(cut) if !html[..cut].trim().is_empty() => html[..cut].to_string(),
        _ => html.to_string(),
    }
}

/// The index of the first line of quoted history, if any.
fn quote_boundary(lines: &[&str]) -> Option<usize> {
    for (i, line) in lines.iter().enumerate() {
        if FORWARD.is_match(line) {
            return None;
        }
        if is_marker(line) || ORIGINAL_MESSAGE.is_match(line) || is_outlook_header_block(&lines[i..]) {
            return Some(attribution_above(lines, i).unwrap_or(i));
        }
        if let Some(start) = attribution_at(lines, i) {
            return Some(start);
        }
    }
    trailing_quote_block(lines)
}

/// `______` or `-----` lines that Outlook and others put above the quote header.
fn is_separator(line: &str) -> bool {
    let line = line.trim();
    line.len() >= 5 && line.chars().all(|c| matches!(c, '_' | '-' | '='))
}

fn is_marker(line: &str) -> bool {
    find_case_insensitive(line, MARKER_WORDS).is_some()
}

/// `i` starts an attribution (alone or wrapped over up to three lines) that is followed by quoted
/// text or a marker, or ends the message: then `Some(i)`.
fn attribution_at(lines: &[&str], i: usize) -> Option<usize> {
    let line = lines[i].trim();
    if line.is_empty() || line.starts_with('>') {
        return None;
    }
    let mut joined = String::from(line);
    for span in 1..=3 {
        if i + span > lines.len() {
            break;
        }
        if span > 1 {
            let continuation = lines[i + span - 1].trim();
            if continuation.is_empty() || continuation.starts_with('>') {
                break;
            }
            joined.push(' ');
            joined.push_str(continuation);
        }
        let matched = joined.len() < MAX_ATTRIBUTION_BYTES
            && (ATTRIBUTION.is_match(&joined) || (span == 1 && ATTRIBUTION_BARE.is_match(&joined)));
        if matched {
            let next = lines[i + span..].iter().find(|l| !l.trim().is_empty());
            let quotes_follow = next.is_none_or(|l| l.trim_start().starts_with('>') || is_marker(l));
            return quotes_follow.then_some(i);
        }
    }
    None
}

/// Attributions are short; the length check keeps the patterns free of bounded repetitions.
const MAX_ATTRIBUTION_BYTES: usize = 600;

fn is_single_line_attribution(line: &str) -> bool {
    line.len() < MAX_ATTRIBUTION_BYTES && (ATTRIBUTION.is_match(line) || ATTRIBUTION_BARE.is_match(line))
}

/// An attribution line right above the boundary at `i` (blank lines between allowed).
fn attribution_above(lines: &[&str], i: usize) -> Option<usize> {
    let above = lines[..i].iter().rposition(|l| !l.trim().is_empty())?;
    if is_single_line_attribution(lines[above]) {
        return Some(above);
    }
    let start = above.saturating_sub(2);
    (start..=above).find(|&s| {
        let span = &lines[s..=above];
        let joined = span.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        span.iter().all(|l| !l.trim().is_empty())
            && joined.len() < MAX_ATTRIBUTION_BYTES
            && ATTRIBUTION.is_match(&joined)
    })
}

/// "From: ... / Sent: ... / To: ..." within the first lines: Outlook's quote header. A lone
/// "From:" in prose does not count.
fn is_outlook_header_block(lines: &[&str]) -> bool {
    let Some(first) = lines.first() else { return false };
    if !HEADER_FROM.is_match(first) {
        return false;
    }
    let window = &lines[1..lines.len().min(6)];
    window.iter().any(|l| HEADER_SENT.is_match(l)) && window.iter().any(|l| HEADER_OTHER.is_match(l))
}

/// The start of a block of `>` lines (blank lines allowed) that runs to the end of the message,
/// with the attribution line above it, when there is unquoted text before it.
fn trailing_quote_block(lines: &[&str]) -> Option<usize> {
    let last = lines.iter().rposition(|l| !l.trim().is_empty())?;
    if !lines[last].trim_start().starts_with('>') {
        return None;
    }
    let mut start = last;
    while start > 0 {
        let previous = lines[start - 1].trim_start();
        if previous.starts_with('>') || previous.is_empty() {
            start -= 1;
        } else {
            break;
        }
    }
    if start == 0 {
        return None;
    }
    // "<someone> <date or address> ...:" right above the quote is an attribution in any language.
    let above = start - 1;
    let line = lines[above].trim();
    let looks_like_attribution =
        line.ends_with(':') && (line.contains('@') || line.chars().any(|c| c.is_ascii_digit()));
    let is_attribution =
        looks_like_attribution || ATTRIBUTION.is_match(line) || ATTRIBUTION_BARE.is_match(line);
    if !is_attribution {
        return Some(start);
    }
    // A wrapped attribution: its first half sits directly above, with a date or an address in it.
    let wrapped = above > 0 && {
        let first = lines[above - 1].trim();
        !first.is_empty()
            && !first.ends_with(['.', '!', '?', ':'])
            && (first.contains('@') || first.chars().filter(char::is_ascii_digit).count() >= 4)
    };
    Some(if wrapped { above - 1 } else { above })
}

fn find_case_insensitive(haystack: &str, needle_lower: &str) -> Option<usize> {
    if haystack.len() < needle_lower.len() {
        return None;
    }
    // ASCII lower-casing keeps byte offsets, so the index is valid in `haystack`.
    haystack.to_ascii_lowercase().find(needle_lower)
}

#[cfg(test)]
mod tests {
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
            "Le lun. 23 nov. 2026 à 10:00, Support <support@example.com> a écrit :",
            "El lun, 23 nov 2026 a las 10:00, Support (<support@example.com>) escribió:",
            "Op ma 23 nov. 2026 om 10:00 schreef Support <support@example.com>:",
            "Em seg., 23 de nov. de 2026 às 10:00, Support <support@example.com> escreveu:",
            "Il giorno lun 23 nov 2026 alle ore 10:00 Support <support@example.com> ha scritto:",
            "Support <support@example.com> wrote:",
        ] {
            let text = format!("New text.\n\n{attribution}\n> old text\n");
            assert_eq!(strip(&text), "New text.", "{attribution}");
        }
    }

    #[test]
    fn wrapped_attribution() {
        let text = "Got it.\n\nOn Mon, Nov 23, 2026 at 10:00 AM Very Long Support Team Name <\nsupport@example.com> wrote:\n\n> quoted\n";
        assert_eq!(strip(text), "Got it.");
    }

    #[test]
    fn outlook_blocks_in_two_languages() {
        let en = "Please close it.\n\n________________________________\nFrom: Support <support@example.com>\nSent: Monday, November 23, 2026 10:00\nTo: Jane\nSubject: RE: Printer\n\nOld text";
        assert_eq!(strip(en), "Please close it.");
        let de = "Danke!\n\n-----Ursprüngliche Nachricht-----\nVon: Support\nGesendet: Montag\nAn: Jane\nBetreff: Drucker\n\nAlt";
        assert_eq!(strip(de), "Danke!");
        let bold = "Yes.\n\n*From:* Support\n*Sent:* Monday\n*To:* Jane\n\nold";
        assert_eq!(strip(bold), "Yes.");
    }

    #[test]
    fn a_lone_from_in_prose_does_not_cut() {
        let text = "From: the third floor we hear noise.\nPlease check.";
        assert_eq!(strip(text), text);
    }

    #[test]
    fn our_marker_quoted_or_not() {
        let plain = format!("Answer here.\n\n{REPLY_MARKER}\nTicket history");
        assert_eq!(strip(&plain), "Answer here.");
        let quoted = format!("Answer here.\n\nOn Mon, Support wrote:\n> {REPLY_MARKER}\n> history");
        assert_eq!(strip(&quoted), "Answer here.");
        let rewrapped = "Answer.\n> ##- Please type your reply\n> above this line -##";
        assert_eq!(strip(rewrapped), "Answer.");
    }

    #[test]
    fn trailing_quote_block_with_unknown_attribution() {
        let text =
            "Merci.\n\nDen 23.11.2026 kl. 10:00 skrev Support <support@example.com>:\n> gammel tekst\n> mer";
        assert_eq!(strip(text), "Merci.");
        let plain = "Sure.\n> quoted\n>\n> more";
        assert_eq!(strip(plain), "Sure.");
    }

    #[test]
    fn bottom_posted_answer_is_found() {
        let text = "On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi\nHello";
        assert_eq!(strip(text), "Hello");
    }

    #[test]
    fn wrapped_attribution_in_unknown_language() {
        let text =
            "Hello\n02.04.2012 14:20 пользователь \"bob@example.org\" <\nbob@example.org> написал:\n> Hi\n>";
        assert_eq!(strip(text), "Hello");
    }

    #[test]
    fn inline_answers_are_kept() {
        let text = "> Which model?\nThe X200.\n> Which floor?\nThird.\n";
        assert_eq!(strip(text), text.trim());
    }

    #[test]
    fn forwards_are_content() {
        let text = "FYI\n\n---------- Forwarded message ---------\nFrom: Bob <bob@example.com>\nDate: Mon\nSubject: Outage\nTo: Jane\n\nThe server is down.";
        assert_eq!(strip(text), text);
        let apple = "See below.\n\nBegin forwarded message:\n\nFrom: Bob\nDate: Mon\nTo: Jane\n\nHi";
        assert_eq!(strip(apple), apple);
    }

    #[test]
    fn mobile_signature_above_quote_goes() {
        let text = "Ok!\n\nSent from my iPhone\n\nOn 23 Nov 2026, at 10:00, Support <support@example.com> wrote:\n> text";
        assert_eq!(strip(text), "Ok!");
    }

    #[test]
    fn no_quote_and_edge_cases() {
        assert_eq!(strip("Just a question.\nSecond line.\n\n"), "Just a question.\nSecond line.");
        assert_eq!(strip(""), "");
        let only_quote = "On Mon, Support wrote:\n> everything quoted";
        assert_eq!(strip(only_quote), only_quote);
        assert_eq!(strip("Hi\r\n\r\nOn Mon, X wrote:\r\n> old\r\n"), "Hi");
        let huge = "x".repeat(1_000_000);
        assert_eq!(strip(&huge).len(), 1_000_000);
        assert_eq!(strip(">\n>\n>"), ">\n>\n>");
    }

    #[test]
    fn html_containers_of_each_client() {
        for container in [
            r#"<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon wrote:</div><blockquote>old</blockquote></div>"#,
            r#"<blockquote type="cite">old</blockquote>"#,
            r#"<div id="appendonsend"></div><hr><div id="divRplyFwdMsg">From: Support</div>"#,
            r#"<div class="moz-cite-prefix">On Mon, Support wrote:</div><blockquote type="cite">old</blockquote>"#,
            r#"<div class="yahoo_quoted">old</div>"#,
            r#"<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in"><p>From: Support</p></div>"#,
        ] {
            let html = format!("<div>New reply</div>{container}");
            assert_eq!(strip_quoted_html(&html), "<div>New reply</div>", "{container}");
        }
        let marker = format!("<p>Answer</p><p>{REPLY_MARKER}</p><p>history</p>");
        assert_eq!(strip_quoted_html(&marker), "<p>Answer</p><p>");
        assert_eq!(strip_quoted_html("<p>no quote</p>"), "<p>no quote</p>");
        let only = r#"<blockquote type="cite">old</blockquote>"#;
        assert_eq!(strip_quoted_html(only), only);
    }
}
