//! The attribution a client writes above the quote, in the languages we know: "On <date>, <name>
//! wrote:" in English, "Am ... schrieb ...:" in German, and French, Spanish, Dutch, Portuguese and
//! Italian, optionally behind Yahoo's "--- ". Matched on one line or up to three joined lines.
//!
//! Matched by hand: each language's shape is a word at the start, a verb at the end (or, in German
//! and Dutch, anywhere after it) and a colon. As regexes (`(?i)^\s*(?:-+\s*)?on\b.*\b(?:wrote|
//! writes)\s*:\s*$` and so on) a reply compiled its language's pattern for 45-80 us (Unicode `\s`,
//! `\b` and case folding; the regex crate's lightest engine alone still took 45 us) and ran it on a
//! PikeVM: 0.7 M of a reply's 10 M instructions. The matcher below keeps the patterns' meaning:
//! simple case folding, Unicode white space, a word boundary as a change between a word character
//! (a Unicode letter or digit, or `_`) and anything else. A test holds it to the regexes.

/// One language's attribution.
pub(super) struct Language {
    /// The first word, after optional white space and dashes ("on", "am", "le", ...).
    opening: &'static str,
    /// The verb's forms, each as its words, which white space separates ("a écrit").
    verbs: &'static [&'static [&'static str]],
    /// German and Dutch put the name after the verb ("Am ... schrieb Support <s@x>:"); the others
    /// end with the verb.
    text_after_verb: bool,
}

pub(super) const LANGUAGES: [Language; 7] = [
    Language { opening: "on", verbs: &[&["wrote"], &["writes"]], text_after_verb: false },
    Language { opening: "am", verbs: &[&["schrieb"]], text_after_verb: true },
    Language { opening: "le", verbs: &[&["a", "écrit"]], text_after_verb: false },
    Language { opening: "el", verbs: &[&["escribió"]], text_after_verb: false },
    Language { opening: "op", verbs: &[&["schreef"]], text_after_verb: true },
    Language { opening: "em", verbs: &[&["escreveu"]], text_after_verb: false },
    Language { opening: "il", verbs: &[&["ha", "scritto"]], text_after_verb: false },
];

/// Whether `text` is an attribution in one of [`LANGUAGES`].
pub(super) fn is_known(text: &str) -> bool {
    let text = Folded::new(text);
    LANGUAGES.iter().any(|language| language.matches_folded(&text))
}

impl Language {
    #[cfg(test)]
    pub(super) fn matches(&self, text: &str) -> bool {
        self.matches_folded(&Folded::new(text))
    }

    fn matches_folded(&self, text: &Folded) -> bool {
        let t = &text.0;
        let Some(colon) = text.final_colon() else { return false };
        // `^\s*(?:-+\s*)?` then the opening word and a boundary.
        let mut at = skip_space(t, 0);
        if t.get(at) == Some(&'-') {
            at = skip_space(t, skip(t, at, |c| c == '-'));
        }
        let Some(body) = word_at(t, at, self.opening) else { return false };
        self.verbs.iter().any(|verb| {
            if self.text_after_verb {
                // `\bverb\b.*\s*:`: the verb as a whole word anywhere before the colon.
                (body..colon).any(|start| {
                    boundary_before(t, start)
                        && verb_at(t, start, verb).is_some_and(|end| !is_word_at(t, end))
                })
            } else {
                // `\bverb\s*:`: the verb ends where the white space before the colon starts.
                let end = skip_space_back(t, colon);
                (body..end).any(|start| boundary_before(t, start) && verb_at(t, start, verb) == Some(end))
            }
        })
    }
}

/// Text in simple case folding: what `(?i)` compares.
struct Folded(Vec<char>);

impl Folded {
    fn new(text: &str) -> Folded {
        Folded(text.chars().map(fold).collect())
    }

    /// The colon that ends the text (`:\s*$`).
    fn final_colon(&self) -> Option<usize> {
        let end = skip_space_back(&self.0, self.0.len());
        (end > 0 && self.0[end - 1] == ':').then(|| end - 1)
    }
}

/// A character's simple case folding for the letters the attributions use: lower case where that
/// is one character (U+0130, whose lower case is two, folds to nothing else), and LONG S, already
/// lower case, folds to `s`.
fn fold(c: char) -> char {
    if c == '\u{17F}' {
        return 's';
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_word_at(t: &[char], at: usize) -> bool {
    t.get(at).is_some_and(|&c| is_word(c))
}

/// `\b` in front of a word character at `at`.
fn boundary_before(t: &[char], at: usize) -> bool {
    at == 0 || !is_word(t[at - 1])
}

fn skip(t: &[char], mut at: usize, what: impl Fn(char) -> bool) -> usize {
    while t.get(at).is_some_and(|&c| what(c)) {
        at += 1;
    }
    at
}

fn skip_space(t: &[char], at: usize) -> usize {
    skip(t, at, char::is_whitespace)
}

fn skip_space_back(t: &[char], mut end: usize) -> usize {
    while end > 0 && t[end - 1].is_whitespace() {
        end -= 1;
    }
    end
}

/// Where `word` ends when it starts at `at`.
fn literal_at(t: &[char], at: usize, word: &str) -> Option<usize> {
    let mut end = at;
    for c in word.chars() {
        if t.get(end) != Some(&c) {
            return None;
        }
        end += 1;
    }
    Some(end)
}

/// Where the word `word` ends when it starts at `at` and a boundary follows it.
fn word_at(t: &[char], at: usize, word: &str) -> Option<usize> {
    literal_at(t, at, word).filter(|&end| !is_word_at(t, end))
}

/// Where a verb of several words (`a\s+écrit`) ends when it starts at `at`.
fn verb_at(t: &[char], at: usize, words: &[&str]) -> Option<usize> {
    let mut end = at;
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            let spaced = skip_space(t, end);
            if spaced == end {
                return None;
            }
            end = spaced;
        }
        end = literal_at(t, end, word)?;
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regexes the matcher replaced, one per language in the order of [`LANGUAGES`].
    const PATTERNS: [&str; 7] = [
        r"on\b.*\b(?:wrote|writes)",
        r"am\b.*\bschrieb\b.*",
        r"le\b.*\ba\s+écrit",
        r"el\b.*\bescribió",
        r"op\b.*\bschreef\b.*",
        r"em\b.*\bescreveu",
        r"il\b.*\bha\s+scritto",
    ];

    #[test]
    fn the_matcher_agrees_with_the_regexes_it_replaced() {
        let lines = [
            "On Mon, 23 Nov 2026 at 10:00, Support <support@example.com> wrote:",
            "ON MON, SUPPORT WROTE:",
            "--- On Mon, 23/11/26, Support writes:",
            "  -- On Mon, Support wrote :  ",
            "On wrote:",
            "Onwards, Support wrote:",
            "On Mon, Support rewrote:",
            "On Mon, Support wrote_:",
            "On Mon, Support wrote",
            "On Mon, Support wrote: thanks",
            "On the phone they said the printer wrote nothing.",
            "Am 23.11.2026 um 10:00 schrieb Support <support@example.com>:",
            "Am Mo., 23. Nov. 2026 um 10:00 Uhr schrieb Support:",
            "Am Montag schriebt er:",
            "Am Montag schrieb:",
            "Amsel schrieb Support:",
            "Le 23/11/2026 à 10:00, Support a\u{a0}écrit\u{a0}:",
            "LE 23/11/2026, SUPPORT A ÉCRIT :",
            "Le lundi, Support a  écrit:",
            "Le lundi, Support aécrit:",
            "Le lundi, Support la écrit:",
            "El lun, 23 nov 2026, Support escribió:",
            "EL LUN, SUPPORT ESCRIBIÓ:",
            "El lun, Support escribio:",
            "Op ma 23 nov. 2026 schreef Support <s@example.com>:",
            "Op ma 23 nov. 2026 schreef:",
            "Em seg., 23 de nov. de 2026, Support escreveu:",
            "Il giorno lun 23 nov 2026 Support ha scritto:",
            "Il giorno lun, Support ha\tscritto:",
            "Il giorno lun, Support ha scritto ieri:",
            "On Mon, Support writeſ:",
            "\u{212A}",
            "On Mon, İ wrote:",
            "",
            ":",
            "On",
            "On:",
            "-",
        ];
        for (language, pattern) in LANGUAGES.iter().zip(PATTERNS) {
            let regex = regex::Regex::new(&format!(r"(?i)^\s*(?:-+\s*)?{pattern}\s*:\s*$")).unwrap();
            for line in lines {
                assert_eq!(language.matches(line), regex.is_match(line), "{pattern} on {line:?}");
            }
        }
        assert!(lines.iter().filter(|line| is_known(line)).count() >= 15, "the lines test both outcomes");
    }
}
