//! Newtypes for the protocol values the pipeline compares: e-mail addresses and Message-IDs.
//! Each constructor normalises once, so equality on the newtype is the comparison the rules need.

use std::fmt;

/// An e-mail address, trimmed and lower-cased (`local@domain`). Never empty, always has one `@`
/// with something on both sides.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Normalises `raw` (trims, strips angle brackets, lower-cases); `None` when it is not an address.
    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim().trim_start_matches('<').trim_end_matches('>').trim();
        let (local, domain) = trimmed.rsplit_once('@')?;
        let valid = !local.is_empty()
            && !domain.is_empty()
            && !local.contains('@')
            && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control());
        valid.then(|| Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(local, _)| local)
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Message-ID without its angle brackets, case preserved (RFC 5322 ids are compared exactly).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// `None` for an empty or whitespace-only id; strips one pair of angle brackets.
    pub fn parse(raw: &str) -> Option<Self> {
        let id = raw.trim().trim_start_matches('<').trim_end_matches('>').trim();
        (!id.is_empty() && !id.chars().any(|c| c.is_whitespace() || c.is_control()))
            .then(|| Self(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the last `@`, lower-cased; empty when there is none.
    pub fn domain(&self) -> String {
        self.0.rsplit_once('@').map_or(String::new(), |(_, d)| d.to_lowercase())
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalised() {
        let a = EmailAddress::parse(" <Jane.Doe@Example.COM> ").unwrap();
        assert_eq!(a.as_str(), "jane.doe@example.com");
        assert_eq!(a.local_part(), "jane.doe");
        assert_eq!(a.domain(), "example.com");
    }

    #[test]
    fn non_addresses_are_refused() {
        for raw in ["", "@", "a@", "@b", "no at sign", "a b@c.d", "a@b@c"] {
            assert_eq!(EmailAddress::parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn message_ids_keep_case_and_drop_brackets() {
        let id = MessageId::parse(" <AbC.1@Host.Example> ").unwrap();
        assert_eq!(id.as_str(), "AbC.1@Host.Example");
        assert_eq!(id.domain(), "host.example");
        assert_eq!(id.to_string(), "<AbC.1@Host.Example>");
        assert_eq!(MessageId::parse("<>"), None);
    }
}
