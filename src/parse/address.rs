//! Address headers (From, To, Cc, ...) read by our own small RFC 5322 tokenizer, because the
//! display name needs care that a general parser does not take: comments (nested, with escaped
//! parentheses) are not part of a name, an encoded word inside quotes stays as written (RFC 2047
//! section 5), and an entry that is not a plain `local@domain` (an empty group such as
//! `Undisclosed-Recipients:;`, a source route, an empty local part) is kept as unreadable text so
//! the pipeline can say why it was not used. Charset fallback is the caller's (it hands us text).

use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

/// One entry of an address list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum AddressEntry {
    /// `name <addr-spec>` or a bare addr-spec; `address` is the addr-spec as written.
    Mailbox { address: String, name: Option<String> },
    /// Text that names no usable address, as written (trimmed).
    Unreadable(String),
}

/// The entries of one address header value (unfolded text).
pub(super) fn parse_address_list(value: &str) -> Vec<AddressEntry> {
    let mut entries = Vec::new();
    let mut current = Pending::default();
    let mut group: Option<(String, usize)> = None;
    let mut chars = value.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                let text = read_quoted(&mut chars);
                current.words.push(Word { text, quoted: true, joined: current.adjacent(at) });
                current.last_end = chars.peek().map_or(value.len(), |(i, _)| *i);
            }
            '(' => current.comments.push(read_comment(&mut chars)),
            '<' => {
                let mut inner = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                    inner.push(c);
                }
                current.angle = Some(inner.trim().to_string());
            }
            ',' => {
                let start = current.start.unwrap_or(at);
                if let Some(entry) = current.finish(&value[start..at]) {
                    if let Some((_, members)) = group.as_mut() {
                        *members += 1;
                    }
                    entries.push(entry);
                }
                current = Pending::default();
                continue;
            }
            ':' if group.is_none() && current.angle.is_none() => {
                let start = current.start.unwrap_or(at);
                group = Some((value[start..=at].trim().to_string(), 0));
                current = Pending::default();
                continue;
            }
            ';' if group.is_some() => {
                let start = current.start.unwrap_or(at);
                let finished = current.finish(&value[start..at]);
                let (name, mut members) = group.take().unwrap_or_default();
                if let Some(entry) = finished {
                    members += 1;
                    entries.push(entry);
                }
                if members == 0 {
                    entries.push(AddressEntry::Unreadable(format!("{name};")));
                }
                current = Pending::default();
                continue;
            }
            c if c.is_whitespace() => {}
            _ => {
                let mut text = String::new();
                let mut next = Some(c);
                while let Some(c) = next {
                    if c == '\\' {
                        if let Some((_, escaped)) = chars.next() {
                            text.push(escaped);
                        }
                    } else {
                        text.push(c);
                    }
                    // Inside an encoded word, specials are its text (senders put raw `,` there).
                    let in_encoded_word = text.starts_with("=?") && !(text.len() > 4 && text.ends_with("?="));
                    next = chars
                        .next_if(|(_, c)| !c.is_whitespace() && (in_encoded_word || !"\"(<>,;:".contains(*c)))
                        .map(|(_, c)| c);
                }
                current.words.push(Word { text, quoted: false, joined: current.adjacent(at) });
                current.last_end = chars.peek().map_or(value.len(), |(i, _)| *i);
            }
        }
        current.start.get_or_insert(at);
    }
    let rest = value.get(current.start.unwrap_or(value.len())..).unwrap_or_default();
    if let Some(entry) = current.finish(rest) {
        if let Some((_, members)) = group.as_mut() {
            *members += 1;
        }
        entries.push(entry);
    }
    if let Some((name, 0)) = group {
        entries.push(AddressEntry::Unreadable(name));
    }
    entries
}

/// One word of a phrase: an atom (may hold encoded words) or a quoted string (unescaped).
#[derive(Debug)]
struct Word {
    text: String,
    quoted: bool,
    /// Written right after the previous word, with no space (`"john doe"@example.com`).
    joined: bool,
}

/// The entry being read.
#[derive(Debug, Default)]
struct Pending {
    start: Option<usize>,
    words: Vec<Word>,
    comments: Vec<String>,
    angle: Option<String>,
    last_end: usize,
}

impl Pending {
    fn adjacent(&self, at: usize) -> bool {
        !self.words.is_empty() && self.last_end == at
    }

    /// The entry, or `None` when nothing was written (`a@x,,b@x`).
    fn finish(self, written: &str) -> Option<AddressEntry> {
        let written = written.trim();
        if let Some(angle) = self.angle {
            // A source route (`<@relay:jane@x>`) is refused, not silently stripped.
            if angle.starts_with('@') || angle.is_empty() {
                return Some(AddressEntry::Unreadable(written.to_string()));
            }
            let name = phrase(&self.words).or_else(|| comment_name(&self.comments));
            return Some(AddressEntry::Mailbox { address: angle, name });
        }
        if self.words.is_empty() {
            return (!written.is_empty()).then(|| AddressEntry::Unreadable(written.to_string()));
        }
        // A bare addr-spec: its words joined as written; a quoted local part keeps its quotes.
        let mut spec: Vec<String> = Vec::new();
        for word in &self.words {
            let text = if word.quoted { format!("\"{}\"", word.text) } else { word.text.clone() };
            match spec.last_mut() {
                Some(last) if word.joined => last.push_str(&text),
                _ => spec.push(text),
            }
        }
        match spec.iter().rposition(|s| s.contains('@')) {
            Some(at) if spec.len() == 1 => {
                let address = spec.swap_remove(at);
                Some(AddressEntry::Mailbox { address, name: comment_name(&self.comments) })
            }
            // `John Doe john@example.com`: the last word with an `@` is the address.
            Some(at) if !spec[at].starts_with('"') => {
                let address = spec[at].clone();
                let name_words: Vec<Word> =
                    self.words.into_iter().filter(|w| !w.text.contains('@')).collect();
                let name = phrase(&name_words).or_else(|| comment_name(&self.comments));
                Some(AddressEntry::Mailbox { address, name })
            }
            _ => Some(AddressEntry::Unreadable(written.to_string())),
        }
    }
}

/// The display name: runs of atoms RFC 2047-decoded (adjacent encoded words joined), quoted
/// strings as written.
fn phrase(words: &[Word]) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut atoms: Vec<&str> = Vec::new();
    let flush = |atoms: &mut Vec<&str>, parts: &mut Vec<String>| {
        if !atoms.is_empty() {
            parts.push(decode_words(&atoms.join(" ")));
            atoms.clear();
        }
    };
    for word in words {
        if word.quoted {
            flush(&mut atoms, &mut parts);
            parts.push(word.text.clone());
        } else {
            atoms.push(&word.text);
        }
    }
    flush(&mut atoms, &mut parts);
    let name = parts.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then_some(name)
}

/// The comment of `jane@example.com (Jane Doe)`, the old way of naming a bare address.
fn comment_name(comments: &[String]) -> Option<String> {
    let text = comments.join(" ");
    let name = decode_words(&text).split_whitespace().collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then_some(name)
}

fn decode_words(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(b'\n');
    match MessageStream::new(&bytes).parse_unstructured() {
        HeaderValue::Text(decoded) => decoded.trim().to_string(),
        _ => text.trim().to_string(),
    }
}

/// The rest of a quoted string (after its opening quote), escapes removed.
fn read_quoted(chars: &mut impl Iterator<Item = (usize, char)>) -> String {
    let mut text = String::new();
    while let Some((_, c)) = chars.next() {
        match c {
            '"' => break,
            '\\' => text.extend(chars.next().map(|(_, c)| c)),
            _ => text.push(c),
        }
    }
    text
}

/// The rest of a comment (after its opening parenthesis): nested comments and escaped
/// parentheses stay inside it.
fn read_comment(chars: &mut impl Iterator<Item = (usize, char)>) -> String {
    let mut text = String::new();
    let mut depth = 1;
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' => text.extend(chars.next().map(|(_, c)| c)),
            '(' => {
                depth += 1;
                text.push(c);
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
                text.push(c);
            }
            _ => text.push(c),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(address: &str, name: Option<&str>) -> AddressEntry {
        AddressEntry::Mailbox { address: address.to_string(), name: name.map(str::to_string) }
    }

    fn unreadable(text: &str) -> AddressEntry {
        AddressEntry::Unreadable(text.to_string())
    }

    #[test]
    fn names_addresses_and_lists() {
        assert_eq!(
            parse_address_list(
                "Jane Doe <jane@example.com>, bob@example.com, \"Doe, John\" <john@example.com>"
            ),
            [
                mailbox("jane@example.com", Some("Jane Doe")),
                mailbox("bob@example.com", None),
                mailbox("john@example.com", Some("Doe, John")),
            ]
        );
    }

    #[test]
    fn comments_never_leak_into_names() {
        assert_eq!(
            parse_address_list("John Doe (Sales dept) <john@example.com>"),
            [mailbox("john@example.com", Some("John Doe"))]
        );
        assert_eq!(
            parse_address_list("Jane (her \\) (nested) comment) Doe <jane@example.com>"),
            [mailbox("jane@example.com", Some("Jane Doe"))]
        );
        assert_eq!(
            parse_address_list("\"Doe \\(Jr\\)\" <jr@example.com>"),
            [mailbox("jr@example.com", Some("Doe (Jr)"))]
        );
        // The old style: a bare address named by its comment.
        assert_eq!(
            parse_address_list("bob@example.com (Bob Smith)"),
            [mailbox("bob@example.com", Some("Bob Smith"))]
        );
    }

    #[test]
    fn encoded_words_are_decoded_only_outside_quotes() {
        assert_eq!(
            parse_address_list("=?utf-8?q?J=C3=B6rg?= =?utf-8?q?_M=C3=BCller?= <j@example.com>"),
            [mailbox("j@example.com", Some("Jörg Müller"))]
        );
        assert_eq!(
            parse_address_list("=?utf-8?q?Doe,_John?= <john@example.com>, b@example.com"),
            [mailbox("john@example.com", Some("Doe, John")), mailbox("b@example.com", None)]
        );
        assert_eq!(
            parse_address_list("\"=?utf-8?q?Encoded?=\" <enc@example.com>"),
            [mailbox("enc@example.com", Some("=?utf-8?q?Encoded?="))]
        );
    }

    #[test]
    fn groups_routes_and_empty_local_parts_are_unreadable() {
        assert_eq!(parse_address_list("Undisclosed-Recipients:;"), [unreadable("Undisclosed-Recipients:;")]);
        assert_eq!(parse_address_list("undisclosed-recipients:"), [unreadable("undisclosed-recipients:")]);
        assert_eq!(
            parse_address_list("Team: a@example.com, \"B\" <b@example.com>;, c@example.com"),
            [
                mailbox("a@example.com", None),
                mailbox("b@example.com", Some("B")),
                mailbox("c@example.com", None)
            ]
        );
        assert_eq!(
            parse_address_list("<@relay.example,@r2.example:jane@c.example>, <@example.com>"),
            [unreadable("<@relay.example,@r2.example:jane@c.example>"), unreadable("<@example.com>")]
        );
        assert_eq!(
            parse_address_list("\"john doe\"@example.com, not an address"),
            [mailbox("\"john doe\"@example.com", None), unreadable("not an address")]
        );
    }

    #[test]
    fn sloppy_lists_are_read_leniently() {
        assert_eq!(
            parse_address_list("John Doe john@example.com,, <x@example.com"),
            [mailbox("john@example.com", Some("John Doe")), mailbox("x@example.com", None)]
        );
        assert_eq!(parse_address_list(""), []);
        // An unterminated quote swallows the rest: never a usable `a@example.com`.
        let swallowed = parse_address_list("\"unterminated <a@example.com>");
        assert!(!swallowed.contains(&mailbox("a@example.com", None)), "{swallowed:?}");
    }
}
