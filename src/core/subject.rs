//! Subject lines: the clean ticket subject (reply/forward prefixes and our tag removed).

use super::ticket::TicketNumber;
use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// Reply and forward prefixes of many clients and languages, repeated (`RE: AW: WG: Fwd:`),
/// with optional counters (`Re[2]:`, `RE^3:`) and bracketed tags such as `[EXTERNAL]`.
static PREFIXES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:\s*(?:re|aw|wg|fw|fwd|tr|rv|res|enc|sv|vs|vl|antw|odp|ynt|r|rif|i|doorst|bls|atb|ats|ref|回复|回覆|答复|转发|轉寄)\s*(?:\[\d+\]|\^\d+|\(\d+\))?\s*[:：]|\s*\[(?:external|ext|extern|spam|ext\.)\]\s*)+",
    )
    .expect("static regex")
});

/// The subject a new ticket is stored under: prefixes and the given ticket tags removed,
/// whitespace collapsed. Never empty: falls back to "(no subject)".
pub fn clean_subject(subject: &str, tags: &[TicketNumber]) -> String {
    let mut s = without_prefixes(subject).into_owned();
    for tag in tags {
        s = s.replace(&format!("[#{tag}]"), " ");
        s = without_prefixes(s.trim_start()).into_owned();
    }
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.is_empty() { "(no subject)".to_string() } else { s }
}

/// `subject` without its leading prefixes. Every prefix ends in a colon or a closing bracket: a
/// subject with neither (most new tickets') has none, and the pattern is not even compiled.
fn without_prefixes(subject: &str) -> Cow<'_, str> {
    if !subject.contains([':', '：', ']']) {
        return Cow::Borrowed(subject);
    }
    PREFIXES.replace(subject, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_reply_chains_and_tags() {
        assert_eq!(
            clean_subject("RE: AW: WG: Fwd: [#123456] Printer  on fire", &["123456".parse().unwrap()]),
            "Printer on fire"
        );
        assert_eq!(clean_subject("Re[2]: hello", &[]), "hello");
        assert_eq!(clean_subject("SV: VS: Offert", &[]), "Offert");
        assert_eq!(clean_subject("[EXTERNAL] Re: Invoice", &[]), "Invoice");
        assert_eq!(clean_subject("Reply needed", &[]), "Reply needed");
        assert_eq!(clean_subject("   ", &[]), "(no subject)");
        assert_eq!(clean_subject("Re:", &[]), "(no subject)");
        assert_eq!(clean_subject("回复：发票", &[]), "发票");
        assert_eq!(clean_subject("  Printer   on fire ", &[]), "Printer on fire");
    }
}
