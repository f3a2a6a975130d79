//! Reply stripping: the part of a reply its author newly wrote, without the quoted history, from plain
//! text or HTML. It is for display only (the full text is always kept elsewhere), so when in doubt it
//! keeps text rather than lose it; it never cuts a forward, whose content is the content.

use std::sync::LazyLock;

use regex::Regex;

mod attribution;
mod words;

/// The marker line our outgoing mail puts above the quoted history.
pub const REPLY_MARKER: &str = "##- Please type your reply above this line -##";

/// The marker's words, found even when a client quotes, re-wraps or re-cases the line.
const MARKER_WORDS: &str = "please type your reply above this line";

/// Attributions, header lines and signatures are short; longer lines are never matched against the
/// patterns below, which keeps them free of bounded repetitions (`.{0,300}` is costly to compile in
/// Unicode mode) and keeps a 1 MB line cheap.
const MAX_ATTRIBUTION_BYTES: usize = 600;
const MAX_SIGNATURE_BYTES: usize = 80;

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
    let forward = lines.iter().position(|l| is_forward(l));
    // A container whose first visible line comes after a forward header holds the forward.
    let container = html_quote_at(html).filter(|&at| {
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
        None if lines.iter().any(|l| is_forward(l)) => return None,
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
        if is_forward(line) {
            return None;
        }
        if is_marker_at(lines, i) || is_original_message(line) || is_header_block(&lines[i..]) {
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
        let mobile_signature = is_mobile_signature(last);
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
        if trimmed == "--" || is_original_message(line) || is_forward(line) {
            return false;
        }
        let mobile_signature = is_mobile_signature(line);
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
    if is_forward(first_quoted.trim_start_matches(|c: char| c == '>' || c.is_whitespace())) {
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
    let names_time = has_digit(&joined) && DATE_LIKE.find_iter(&joined).any(|m| m.as_str().contains(':'));
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
    let matched = has_attribution_verb(line) && ATTRIBUTION_BARE.is_match(line)
        || generic && is_generic_attribution(line);
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
            && (first.contains('@') || is_date_like(first))
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
        let plausible = start == end || joined.contains('@') || is_date_like(&joined);
        if plausible && attribution::is_known(&joined) {
            return Some(start);
        }
    }
    None
}

/// A line ending in ':' that names a date or an address: an attribution in a language we don't know.
fn is_generic_attribution(line: &str) -> bool {
    let line = line.trim();
    line.ends_with(':') && (line.contains('@') || is_date_like(line))
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
    if first.len() >= MAX_ATTRIBUTION_BYTES || !may_be_header_from(first) || !HEADER_FROM.is_match(first) {
        return false;
    }
    let window = &lines[1..lines.len().min(6)];
    let is_header = |re: &Regex, l: &&str| l.len() < MAX_ATTRIBUTION_BYTES && re.is_match(l);
    window.iter().any(|l| is_header(&HEADER_SENT, l)) && window.iter().any(|l| is_header(&HEADER_OTHER, l))
}

/// Our marker at line `i`, also when quoted, re-cased or wrapped over up to three lines.
fn is_marker_at(lines: &[&str], i: usize) -> bool {
    // Every line of every reply comes here: a long line can only hold the whole marker, and then
    // it holds "above". Told without building the line's marker text (three allocations and a
    // substring searcher per line were 4% of in-process ingest).
    let short = marker_len(lines[i]) <= MARKER_WORDS.len() + 8;
    if !short && !contains_ignoring_ascii_case(lines[i], "above") {
        return false;
    }
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
    unquoted(line).split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase()
}

/// The length of [`marker_text`], without building it.
fn marker_len(line: &str) -> usize {
    let (words, bytes) =
        unquoted(line).split_whitespace().fold((0usize, 0), |(n, len), word| (n + 1, len + word.len()));
    bytes + words.saturating_sub(1)
}

fn unquoted(line: &str) -> &str {
    line.trim_start_matches(|c: char| c == '>' || c.is_whitespace())
}

fn contains_ignoring_ascii_case(text: &str, word: &str) -> bool {
    text.as_bytes().windows(word.len()).any(|window| window.eq_ignore_ascii_case(word.as_bytes()))
}

// Each pattern behind its pre-test (`words`): ordinary lines never compile the pattern.

/// `FORWARD` starts with dashes, "begin", "anfang" or "début".
fn is_forward(line: &str) -> bool {
    matches!(words::first_letter(line), Some('-' | 'b' | 'a' | 'd'))
        && words::contains_any(line, words::FORWARD)
        && FORWARD.is_match(line)
}

fn is_original_message(line: &str) -> bool {
    line.trim_start().starts_with("--")
        && words::contains_any(line, words::ORIGINAL_MESSAGE)
        && ORIGINAL_MESSAGE.is_match(line)
}

fn is_mobile_signature(line: &str) -> bool {
    line.len() <= MAX_SIGNATURE_BYTES
        && words::contains_any(line, words::MOBILE_SIGNATURE)
        && MOBILE_SIGNATURE.is_match(line)
}

fn has_attribution_verb(text: &str) -> bool {
    words::contains_any(text, words::ATTRIBUTION_VERBS)
}

/// `DATE_LIKE` needs a digit.
fn has_digit(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_digit())
}

fn is_date_like(text: &str) -> bool {
    has_digit(text) && DATE_LIKE.is_match(text)
}

/// `HEADER_FROM` needs "from", "von", "de", "van" or "da" (behind an optional `*`) and a colon.
fn may_be_header_from(line: &str) -> bool {
    let line = line.trim_start();
    let line = line.strip_prefix('*').unwrap_or(line);
    matches!(words::first_letter(line), Some('f' | 'v' | 'd')) && line.contains(':')
}

/// Where the first HTML quote container starts.
fn html_quote_at(html: &str) -> Option<usize> {
    if !words::contains_any(html, words::HTML_QUOTE) {
        return None;
    }
    HTML_QUOTE.find(html).map(|m| m.start())
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
mod tests;
