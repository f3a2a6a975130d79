//! Cheap, exact pre-tests for the reply-stripping patterns: a line that cannot match a pattern is
//! told apart without running it, so ordinary mail never compiles the patterns at all (compiling
//! one costs 0.5-2 million instructions, most of a `pipe`'s budget for its regexes). Each test is
//! a necessary condition of its pattern, never a guess: a line it rejects the pattern rejects too.

/// Whether `text` contains one of `words` (ASCII, lower case) the way the patterns' `(?i)` would
/// find it: ASCII letters in any case, and the two other letters whose simple case folding is
/// ASCII (KELVIN SIGN for k, LONG S for s). Other non-ASCII letters are compared as they are, so
/// the words are chosen to be ASCII parts of the patterns' literals.
pub(super) fn contains_any(text: &str, words: &[&str]) -> bool {
    // Folded once, then searched word by word with the standard library's substring search.
    let folded: String = text
        .chars()
        .map(|c| match c {
            '\u{212A}' => 'k',
            '\u{17F}' => 's',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    words.iter().any(|word| folded.contains(word))
}

/// The first character of `line` after leading whitespace (`\s*` in the patterns), ASCII lower case.
pub(super) fn first_letter(line: &str) -> Option<char> {
    line.trim_start().chars().next().map(|c| c.to_ascii_lowercase())
}

/// Parts of every forward header `FORWARD` knows ("-- Forwarded message", "Begin forwarded
/// message:", "Début du message réexpédié", ...).
pub(super) const FORWARD: &[&str] = &[
    "forwarded message",
    "weitergeleitete nachricht",
    "message transf",
    "mensaje reenviado",
    "doorgestuurd bericht",
    "mensagem encaminhada",
    "messaggio inoltrato",
    "anfang der weitergeleiteten nachricht",
    "but du message r",
];

/// Parts of every separator `ORIGINAL_MESSAGE` knows ("-----Original Message-----", ...).
pub(super) const ORIGINAL_MESSAGE: &[&str] = &[
    "original message",
    "ngliche nachricht",
    "message d'origine",
    "mensaje original",
    "oorspronkelijk bericht",
    "mensagem original",
    "messaggio originale",
];

/// The verbs of the attributions (`attribution::LANGUAGES`, `ATTRIBUTION_BARE`): "wrote", "a écrit", ...
pub(super) const ATTRIBUTION_VERBS: &[&str] =
    &["wrote", "writes", "schrieb", "crit", "escribi", "schreef", "escreveu", "scritto"];

/// Parts of every mobile signature `MOBILE_SIGNATURE` knows ("Sent from my iPhone", ...).
pub(super) const MOBILE_SIGNATURE: &[&str] = &[
    "sent from",
    "get outlook for",
    "von meinem",
    "de mon",
    "enviado desde mi",
    "enviado do meu",
    "verzonden",
    "inviato da",
];

/// The class names and attributes `HTML_QUOTE` looks for in a container tag.
pub(super) const HTML_QUOTE: &[&str] = &[
    "gmail_quote",
    "gmail_attr",
    "cite",
    "appendonsend",
    "divrplyfwdmsg",
    "yahoo_quoted",
    "zwchr",
    "border-top",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_in_any_case_and_with_the_letters_that_fold_to_ascii() {
        assert!(contains_any("---------- FORWARDED Message ---------", FORWARD));
        assert!(contains_any("Début du message réexpédié :", FORWARD));
        assert!(contains_any("DÉBUT DU MESSAGE RÉEXPÉDIÉ :", FORWARD));
        assert!(contains_any("-----Ursprüngliche Nachricht-----", ORIGINAL_MESSAGE));
        assert!(contains_any("Am Montag \u{17F}chrieb Support:", ATTRIBUTION_VERBS));
        assert!(!contains_any("Paragraph 3: the printer stalls again.", FORWARD));
        assert!(!contains_any("Grüße aus München", ATTRIBUTION_VERBS));
        assert_eq!(first_letter("  \u{a0}*From:"), Some('*'));
        assert_eq!(first_letter(" \t"), None);
    }
}
