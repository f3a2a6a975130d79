//! Reply stripping: the part of a reply its author newly wrote, without the quoted history, from plain
//! text or HTML. It is for display only (the full text is always kept elsewhere), so when in doubt it
//! keeps text rather than lose it; it never cuts a forward, whose content is the content.

use std::sync::LazyLock;

use regex::Regex;

/// The marker line our outgoing mail puts above the quoted history.
pub const REPLY_MARKER: &str = "##- Please type your reply above this line -##";

/// The marker's words, found even when a client quotes, re-wraps or re-cases the line.
const MARKER_WORDS: &str = "please type your reply above this line";

/// Attributions, header lines and signatures are short; longer lines are never matched against the
/// patterns below, which keeps them free of bounded repetitions (`.{0,300}` is costly to compile in
/// Unicode mode) and keeps a 1 MB line cheap.
const MAX_ATTRIBUTION_BYTES: usize = 600;
const MAX_SIGNATURE_BYTES: usize = 80;

/// "On <date>, <name> wrote:" in English, German, French, Spanish, Dutch, Portuguese and Italian,
/// optionally behind Yahoo's "--- ". Matched against one line or up to three joined lines.
static ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*(?:-+\s*)?(?:
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

/// The bare "<name> <address> wrote:" form; only trusted when a quote follows.
static ATTRIBUTION_BARE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*.+\b(?:wrote|schrieb|a\s+écrit|escribió|schreef|escreveu|ha\s+scritto)\s*:\s*$")
        .expect("static regex")
});

/// A date, a time or a year: what a client-written attribution in any language contains.
static DATE_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?-u:[0-9]{1,2}:[0-9]{2}|\b[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{2,4}\b|\b(?:19|20)[0-9]{2}\b)",
    )
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
    LazyLock::new(|| Regex::new(r"(?i)^\s*\*?(?:from|von|de|van|da)\s*:\*?(?:\s|$)").expect("static regex"));
static HEADER_SENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*\*?(?:sent|date|gesendet|datum|envoyé|enviado|enviada|fecha|data|verzonden|inviato)(?:\s+(?:el|em|le))?\s*:\*?(?:\s|$)",
    )
    .expect("static regex")
});
static HEADER_OTHER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*\*?(?:to|an|à|a|para|aan|cc|bcc|kopie|cci|subject|betreff|objet|asunto|onderwerp|assunto|oggetto)\s*:\*?(?:\s|$)",
    )
    .expect("static regex")
});

/// A forward's content is the content: nothing at or after these is ever cut.
static FORWARD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|doorgestuurd bericht|mensagem encaminhada|messaggio inoltrato)|begin forwarded message:|anfang der weitergeleiteten nachricht:|début du message réexpédié)")
        .expect("static regex")
});

/// Mobile signatures, removed only when they sit directly above the quote.
static MOBILE_SIGNATURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(?:sent from my\b|sent from (?:outlook|mail for)\b|get outlook for\b|von meinem\b.*\bgesendet|gesendet von meinem\b|envoyé de mon\b|enviado desde mi\b|enviado do meu\b|verzonden (?:vanaf|met) mijn\b|inviato da(?:l mio)?\b)",
    )
    .expect("static regex")
});

/// HTML quote containers of Gmail, Apple Mail, Thunderbird, Outlook, Yahoo and Zimbra.
static HTML_QUOTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)<(?:div|blockquote|hr)\b[^>]*(?:gmail_quote|gmail_attr|type\s*=\s*["']?cite|appendonsend|divRplyFwdMsg|moz-cite-prefix|yahoo_quoted|zwchr|border-top\s*:\s*solid\s+#(?:E1E1E1|B5C4DF))"#,
    )
    .expect("static regex")
});

/// The new part of a plain-text reply: everything above the first quote boundary, trailing blank
/// lines and trailing attribution lines removed. Returns the input (trimmed) when no boundary is
/// found or when cutting would leave nothing. When the answer sits below the quote (bottom-posting)
/// it is returned alone; answers interleaved with quotes are kept together with their quotes.
pub fn strip_quoted_text(text: &str) -> String {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    new_text(&lines).unwrap_or_else(|| text.trim().to_string())
}

/// HTML with the quoted history removed: everything from the first quote container, our marker, an
/// "-----Original Message-----" or Outlook header block, or an attribution right above a
/// `<blockquote>`. The result may be unbalanced HTML; the sanitizer that renders it closes what is
/// open. Input without a quote, or with nothing visible above it, is returned unchanged.
pub fn strip_quoted_html(html: &str) -> String {
    let view = html_lines(html);
    let lines: Vec<&str> = view.iter().map(|l| l.text.as_str()).collect();
    let forward = lines.iter().position(|l| FORWARD.is_match(l));
    // A container whose first visible line comes after a forward header holds the forward.
    let container = HTML_QUOTE.find(html).map(|m| m.start()).filter(|&at| {
        let first_inside = view.iter().position(|l| l.text_start > at).unwrap_or(view.len());
        forward.is_none_or(|f| f > first_inside)
    });
    // A text boundary inside the container is the container's own attribution: cut at the container.
    let text_boundary = first_boundary(&lines)
        .map(|b| &view[b.line])
        .filter(|l| container.is_none_or(|at| l.text_start < at))
        .map(|l| l.markup_start);
    match container.into_iter().chain(text_boundary).min() {
        Some(cut) if view.iter().any(|l| l.text_start < cut) => html[..cut].to_string(),
        _ => html.to_string(),
    }
}

/// What kind of boundary cut the text; only an attribution above `>` lines can be inline posting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Attribution,
    Header,
}

#[derive(Debug, Clone, Copy)]
struct Boundary {
    line: usize,
    kind: Kind,
}

/// `None` when there is nothing to strip or stripping would leave nothing.
fn new_text(lines: &[&str]) -> Option<String> {
    match first_boundary(lines) {
        Some(boundary) => {
            let inline = boundary.kind == Kind::Attribution && has_answers_below(&lines[boundary.line..]);
            if !inline {
                return non_empty(text_above(&lines[..boundary.line]));
            }
        }
        None if lines.iter().any(|l| FORWARD.is_match(l)) => return None,
        None => {}
    }
    let end = trailing_quote_block(lines).unwrap_or(lines.len());
    if let Some(answer) = bottom_posted_answer(&lines[..end]) {
        return Some(answer);
    }
    if end < lines.len() { non_empty(text_above(&lines[..end])) } else { None }
}

/// The first marker, Outlook header or attribution line, searched only above any forward.
fn first_boundary(lines: &[&str]) -> Option<Boundary> {
    for (i, line) in lines.iter().enumerate() {
        if FORWARD.is_match(line) {
            return None;
        }
        if is_marker_at(lines, i) || ORIGINAL_MESSAGE.is_match(line) || is_header_block(&lines[i..]) {
            let line = attribution_above(lines, i).unwrap_or(i);
            return Some(Boundary { line, kind: Kind::Header });
        }
        if let Some(line) = attribution_ending_at(lines, i) {
            return Some(Boundary { line, kind: Kind::Attribution });
        }
    }
    None
}

/// The lines joined, without the trailing blank lines, separators and mobile signature that sit
/// between a reply and its quote.
fn text_above(lines: &[&str]) -> String {
    let mut kept = lines;
    while let Some((last, rest)) = kept.split_last() {
        let mobile_signature = last.len() <= MAX_SIGNATURE_BYTES && MOBILE_SIGNATURE.is_match(last);
        if last.trim().is_empty() || mobile_signature || is_separator(last) {
            kept = rest;
        } else {
            break;
        }
    }
    kept.join("\n").trim().to_string()
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Unquoted text below the first `>` line of the quote starting at `quote[0]`, other than a
/// signature: the author answered below or between the quotes.
fn has_answers_below(quote: &[&str]) -> bool {
    let Some(first_quoted) = quote.iter().position(|l| is_quoted(l)) else { return false };
    for line in &quote[first_quoted..] {
        let trimmed = line.trim();
        if trimmed == "--" || ORIGINAL_MESSAGE.is_match(line) || FORWARD.is_match(line) {
            return false;
        }
        let mobile_signature = line.len() <= MAX_SIGNATURE_BYTES && MOBILE_SIGNATURE.is_match(line);
        if !trimmed.is_empty() && !is_quoted(line) && !mobile_signature && !trimmed.ends_with(':') {
            return true;
        }
    }
    false
}

/// Bottom-posting: an optional attribution, one `>` block, then only the answer.
fn bottom_posted_answer(lines: &[&str]) -> Option<String> {
    let first_quoted = lines.iter().position(|l| is_quoted(l))?;
    if let Some(last) = lines[..first_quoted].iter().rposition(|l| !l.trim().is_empty()) {
        let start = attribution_start(lines, last, true)?;
        if lines[..start].iter().any(|l| !l.trim().is_empty()) {
            return None;
        }
    }
    let block_end = lines[first_quoted..]
        .iter()
        .position(|l| !l.trim().is_empty() && !is_quoted(l))
        .map(|after| first_quoted + after)?;
    let answer = &lines[block_end..];
    if answer.iter().any(|l| is_quoted(l)) {
        return None;
    }
    non_empty(answer.join("\n").trim().to_string())
}

/// The start of a block of `>` lines (blank lines allowed) running to the end of the message, with the
/// attribution above it in any language, when there is unquoted text before it.
fn trailing_quote_block(lines: &[&str]) -> Option<usize> {
    let last = lines.iter().rposition(|l| !l.trim().is_empty())?;
    if !is_quoted(lines[last]) {
        return None;
    }
    let start = lines[..last].iter().rposition(|l| !l.trim().is_empty() && !is_quoted(l))? + 1;
    // A quoted forward is what the author sends on, not history.
    let first_quoted = lines[start..].iter().find(|l| is_quoted(l))?;
    if FORWARD.is_match(first_quoted.trim_start_matches(|c: char| c == '>' || c.is_whitespace())) {
        return None;
    }
    Some(attribution_start(lines, start - 1, true).unwrap_or(start))
}

/// `i` ends an attribution that is followed by a quote or our marker, or that is unmistakable (it
/// names a time or an address): the index of the attribution's first line.
fn attribution_ending_at(lines: &[&str], i: usize) -> Option<usize> {
    let line = lines[i].trim();
    if !line.ends_with(':') || is_quoted(line) || line.len() >= MAX_ATTRIBUTION_BYTES {
        return None;
    }
    let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
    if next.is_none_or(|l| is_quoted(l) || is_marker_at(&[*l], 0)) {
        return attribution_start(lines, i, false);
    }
    let start = known_attribution_start(lines, i)?;
    let joined = lines[start..=i].join(" ");
    let names_time = DATE_LIKE.find_iter(&joined).any(|m| m.as_str().contains(':'));
    (joined.contains('@') || names_time).then_some(start)
}

/// The first line of the attribution ending at line `end`, if `end` ends one: a known language
/// (wrapped over up to three lines), the bare "<name> wrote:" form, or with `generic` any line ending
/// in ':' that names a date or an address.
fn attribution_start(lines: &[&str], end: usize, generic: bool) -> Option<usize> {
    if let Some(start) = known_attribution_start(lines, end) {
        return Some(start);
    }
    let line = lines[end].trim();
    if line.len() >= MAX_ATTRIBUTION_BYTES || is_quoted(line) {
        return None;
    }
    let matched = ATTRIBUTION_BARE.is_match(line) || generic && is_generic_attribution(line);
    if !matched {
        return None;
    }
    // A wrapped attribution: its first half sits directly above, with a date or an address in it.
    let wrapped = end > 0 && {
        let first = lines[end - 1].trim();
        !first.is_empty()
            && !is_quoted(first)
            && !first.ends_with(['.', '!', '?', ':'])
            && first.len() < MAX_ATTRIBUTION_BYTES
            && (first.contains('@') || DATE_LIKE.is_match(first))
    };
    Some(if wrapped { end - 1 } else { end })
}

/// A known-language attribution ending at `end`, on one line or wrapped over two or three.
fn known_attribution_start(lines: &[&str], end: usize) -> Option<usize> {
    let mut joined = String::new();
    for start in (end.saturating_sub(2)..=end).rev() {
        let line = lines[start].trim();
        let wraps = start == end || !line.ends_with(['.', '!', '?', ':']);
        if line.is_empty() || is_quoted(line) || !wraps || joined.len() + line.len() >= MAX_ATTRIBUTION_BYTES
        {
            return None;
        }
        joined = if joined.is_empty() { line.to_string() } else { format!("{line} {joined}") };
        // Wrapped attributions are long because of an address or a date; prose is not.
        let plausible = start == end || joined.contains('@') || DATE_LIKE.is_match(&joined);
        if plausible && ATTRIBUTION.is_match(&joined) {
            return Some(start);
        }
    }
    None
}

/// A line ending in ':' that names a date or an address: an attribution in a language we don't know.
fn is_generic_attribution(line: &str) -> bool {
    let line = line.trim();
    line.ends_with(':') && (line.contains('@') || DATE_LIKE.is_match(line))
}

/// An attribution line above the boundary at `i` (blank lines between allowed).
fn attribution_above(lines: &[&str], i: usize) -> Option<usize> {
    let above = lines[..i].iter().rposition(|l| !l.trim().is_empty())?;
    attribution_start(lines, above, false)
}

/// "From: ... / Sent: ... / To: ..." at `lines[0]`: Outlook's quote header. A lone "From:" in prose
/// does not count.
fn is_header_block(lines: &[&str]) -> bool {
    let Some(first) = lines.first() else { return false };
    if first.len() >= MAX_ATTRIBUTION_BYTES || !HEADER_FROM.is_match(first) {
        return false;
    }
    let window = &lines[1..lines.len().min(6)];
    let is_header = |re: &Regex, l: &&str| l.len() < MAX_ATTRIBUTION_BYTES && re.is_match(l);
    window.iter().any(|l| is_header(&HEADER_SENT, l)) && window.iter().any(|l| is_header(&HEADER_OTHER, l))
}

/// Our marker at line `i`, also when quoted, re-cased or wrapped over up to three lines.
fn is_marker_at(lines: &[&str], i: usize) -> bool {
    let first = marker_text(lines[i]);
    if first.contains(MARKER_WORDS) {
        return true;
    }
    if first.is_empty() || first.len() > MARKER_WORDS.len() + 8 {
        return false;
    }
    let mut joined = first.clone();
    for next in lines.iter().skip(i + 1).take(2) {
        let next = marker_text(next);
        if next.is_empty() || next.len() > MARKER_WORDS.len() + 8 {
            return false;
        }
        joined.push(' ');
        joined.push_str(&next);
        if let Some(at) = joined.find(MARKER_WORDS) {
            return at < first.len() || first.chars().all(|c| matches!(c, '#' | '-'));
        }
    }
    false
}

/// A line without its quote prefix, ASCII-lower-cased, whitespace collapsed.
fn marker_text(line: &str) -> String {
    let unquoted = line.trim_start_matches(|c: char| c == '>' || c.is_whitespace());
    unquoted.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase()
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// `______` or `-----` lines that Outlook and others put above the quote header.
fn is_separator(line: &str) -> bool {
    let line = line.trim();
    line.len() >= 5 && line.chars().all(|c| matches!(c, '_' | '-' | '='))
}

/// One line of the visible text of an HTML document.
struct HtmlLine {
    /// Where the markup that opens the line starts (its last block tag, else the first tag after the
    /// previous text): cutting here drops the line.
    markup_start: usize,
    /// Where the line's first visible character is.
    text_start: usize,
    /// The text, whitespace collapsed, with `> ` in front when inside a `<blockquote>`.
    text: String,
}

/// The visible lines of `html` (text in `<style>`, `<script>`, `<title>` and comments is not visible),
/// so the plain-text rules can find boundaries in HTML that has no quote container.
fn html_lines(html: &str) -> Vec<HtmlLine> {
    const ENTITIES: [(&str, char); 9] = [
        ("&nbsp;", ' '),
        ("&#160;", ' '),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&amp;", '&'),
        ("&quot;", '"'),
        ("&#39;", '\''),
        ("&apos;", '\''),
        ("&#xa0;", ' '),
    ];
    let mut lines = Vec::new();
    let mut current: Option<HtmlLine> = None;
    // The tags since the last visible character: where the run starts and its last opening block tag.
    let (mut markup_start, mut block_start) = (None::<usize>, None::<usize>);
    let (mut quote_depth, mut hidden_until) = (0usize, None::<&'static str>);
    let mut i = 0;
    while let Some(c) = html[i..].chars().next() {
        let rest = &html[i..];
        if c == '<' && rest[1..].starts_with(|n: char| n.is_ascii_alphabetic() || n == '/' || n == '!') {
            markup_start.get_or_insert(i);
            let end = if rest.starts_with("<!--") {
                rest.find("-->").map(|e| e + 3)
            } else {
                rest.find('>').map(|e| e + 1)
            };
            let end = end.unwrap_or(rest.len());
            let tag = &rest[1..end];
            let closing = tag.starts_with('/');
            let name =
                tag.trim_start_matches('/').split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("");
            let name = name.to_ascii_lowercase();
            match hidden_until {
                Some(hidden) if closing && name == hidden => hidden_until = None,
                Some(_) => {}
                None if !closing
                    && !tag.ends_with("/>")
                    && matches!(name.as_str(), "style" | "script" | "title") =>
                {
                    hidden_until = ["style", "script", "title"].into_iter().find(|h| *h == name);
                }
                None if is_block_tag(&name) => {
                    lines.extend(current.take());
                    if !closing {
                        block_start = Some(i);
                    }
                    if name == "blockquote" {
                        quote_depth = if closing { quote_depth.saturating_sub(1) } else { quote_depth + 1 };
                    }
                }
                None => {}
            }
            i += end;
            continue;
        }
        let entity = if c == '&' { ENTITIES.iter().find(|(e, _)| rest.starts_with(e)) } else { None };
        let (ch, len) = entity.map_or((c, c.len_utf8()), |(e, ch)| (*ch, e.len()));
        if hidden_until.is_none() {
            if ch.is_whitespace() {
                if let Some(line) = current.as_mut().filter(|l| !l.text.ends_with(' ')) {
                    line.text.push(' ');
                }
            } else {
                let line = current.get_or_insert_with(|| HtmlLine {
                    markup_start: block_start.or(markup_start).unwrap_or(i),
                    text_start: i,
                    text: String::from(if quote_depth > 0 { "> " } else { "" }),
                });
                line.text.push(ch);
                (markup_start, block_start) = (None, None);
            }
        }
        i += len;
    }
    lines.extend(current);
    lines
}

fn is_block_tag(name: &str) -> bool {
    matches!(
        name,
        "br" | "p"
            | "div"
            | "blockquote"
            | "hr"
            | "tr"
            | "td"
            | "th"
            | "li"
            | "ul"
            | "ol"
            | "table"
            | "pre"
            | "center"
            | "dl"
            | "dt"
            | "dd"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "section"
            | "article"
            | "header"
            | "footer"
    )
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
        let text =
            "On my side all is fine.\nOn Mon, 23 Nov 2026, Support <support@example.com> wrote:\n> old";
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
        let split =
            "Answer.\n\n> ##-\n> Please type your reply above this line\n> -##\n> history\nmore history";
        assert_eq!(strip(split), "Answer.");
        let narrow = "Ok.\n> ##- Please type your reply above this\n> line -##\n> history";
        assert_eq!(strip(narrow), "Ok.");
        let recased = "Answer.\n##- PLEASE TYPE YOUR REPLY ABOVE THIS LINE -##";
        assert_eq!(strip(recased), "Answer.");
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
        let quoted =
            "Please see this.\n\n> ------ Forwarded Message\n> From: Bob\n> Subject: Outage\n>\n> Down.";
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
}
