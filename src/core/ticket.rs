//! Ticket vocabulary: statuses, participant roles, and the ticket number format (minting and the
//! strict subject-tag pattern derived from it). Randomness comes in as an argument.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    /// Waiting on the customer.
    Pending,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Open, Status::Pending, Status::Resolved, Status::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The status a ticket takes when its customer writes again (closed tickets follow the reopen policy
    /// in `thread`, not this).
    pub fn after_customer_reply(self) -> Status {
        match self {
            Status::Pending | Status::Resolved => Status::Open,
            other => other,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so width and alignment apply (`{:<9}` in listings).
        f.pad(self.as_str())
    }
}

/// How a user takes part in a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Owner,
    /// A collaborator added from To/Cc or by an agent.
    Cc,
    /// A primary contact of the ticket's organization.
    PrimaryContact,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Cc => "cc",
            Role::PrimaryContact => "primary_contact",
        }
    }
}

/// A ticket's number as people see it (`000123`, `HD-4821`), without the `#` written before it.
/// Parsed once where people type it (command line, forms, URLs); read from the database and
/// minted as it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TicketNumber(String);

impl TicketNumber {
    /// Longer than any number a format can make that people would use.
    pub const MAX_LEN: usize = 64;

    /// What a person typed: surrounding space and one leading `#` are dropped, letters are
    /// upper-cased (formats use `A-Z`); the rest must be letters, digits and `-`. Anything else
    /// names no ticket, and never reaches a query, a URL or a header.
    pub fn parse(text: &str) -> Option<TicketNumber> {
        let text = text.trim();
        let text = text.strip_prefix('#').unwrap_or(text);
        let plausible = !text.is_empty()
            && text.len() <= Self::MAX_LEN
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        plausible.then(|| TicketNumber(text.to_ascii_uppercase()))
    }

    /// A number from the database (or just minted): trusted as it is.
    pub fn from_stored(number: String) -> TicketNumber {
        TicketNumber(number)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl PartialEq<str> for TicketNumber {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TicketNumber {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::str::FromStr for TicketNumber {
    type Err = String;

    fn from_str(text: &str) -> Result<TicketNumber, String> {
        TicketNumber::parse(text)
            .ok_or_else(|| format!("{text:?} is not a ticket number (letters, digits and '-', e.g. 004217)"))
    }
}

/// A ticket number format: each `#` is a random digit, every other character is literal
/// (config validation allows only `[A-Z0-9-]` literals).
#[derive(Clone, Debug)]
pub struct NumberFormat {
    format: String,
}

impl NumberFormat {
    pub fn new(format: &str) -> NumberFormat {
        NumberFormat { format: format.to_string() }
    }

    /// A fresh number; `digit` yields random digits 0-9.
    pub fn mint(&self, mut digit: impl FnMut() -> u8) -> TicketNumber {
        TicketNumber(
            self.format.chars().map(|c| if c == '#' { char::from(b'0' + digit() % 10) } else { c }).collect(),
        )
    }

    /// Every ticket number tagged `[#NUMBER]` in `subject`, first first. Strict: exactly our
    /// format between `[#` and `]`; anything else in brackets is not a tag. (Plain matching, not
    /// a regex: compiling one cost every `pipe` process ~0.2 ms.)
    pub fn tags_in(&self, subject: &str) -> Vec<TicketNumber> {
        let format = self.format.as_bytes();
        let mut tags = Vec::new();
        let mut rest = subject;
        while let Some(start) = rest.find("[#") {
            let candidate = &rest.as_bytes()[start + 2..];
            let fits = candidate.len() > format.len()
                && candidate[format.len()] == b']'
                && format
                    .iter()
                    .zip(candidate)
                    .all(|(f, c)| if *f == b'#' { c.is_ascii_digit() } else { f == c });
            if fits {
                // The format is ASCII, so the number ends on a character boundary.
                let number = &rest[start + 2..start + 2 + format.len()];
                tags.push(TicketNumber(number.to_string()));
                rest = &rest[start + 3 + format.len()..];
            } else {
                rest = &rest[start + 1..];
            }
        }
        tags
    }

    /// The tag as it goes into outgoing subjects.
    pub fn tag(number: &TicketNumber) -> String {
        format!("[#{number}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_parsed_once_as_people_type_them() {
        for typed in ["004217", "#004217", "  #004217 ", "\t004217\n"] {
            assert_eq!(
                TicketNumber::parse(typed).map(|n| n.to_string()),
                Some("004217".to_string()),
                "{typed:?}"
            );
        }
        assert_eq!(TicketNumber::parse("#hd-12").unwrap().as_str(), "HD-12");
        for bad in ["", "#", "##12", "12 34", "12/34", "1\r\n2", "<b>", "١٢٣", &"9".repeat(65)] {
            assert_eq!(TicketNumber::parse(bad), None, "{bad:?}");
        }
        assert!("x y".parse::<TicketNumber>().unwrap_err().contains("not a ticket number"));
    }

    #[test]
    fn words_fill_listing_columns() {
        assert_eq!(format!("[{:<9}]", Status::Open), "[open     ]");
        assert_eq!(format!("[{:<8}]", TicketNumber::from_stored("000123".into())), "[000123  ]");
    }

    #[test]
    fn status_round_trips() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("bogus"), None);
    }

    #[test]
    fn customer_reply_reopens_waiting_tickets_only() {
        assert_eq!(Status::Pending.after_customer_reply(), Status::Open);
        assert_eq!(Status::Resolved.after_customer_reply(), Status::Open);
        assert_eq!(Status::Open.after_customer_reply(), Status::Open);
        assert_eq!(Status::Closed.after_customer_reply(), Status::Closed);
    }

    #[test]
    fn mints_numbers_in_format() {
        let mut digits = [1u8, 2, 3, 4, 5, 6, 7].into_iter();
        let f = NumberFormat::new("HD-####");
        assert_eq!(f.mint(|| digits.next().unwrap()), "HD-1234");
    }

    #[test]
    fn finds_strict_tags_through_reply_chains() {
        let f = NumberFormat::new("######");
        assert_eq!(f.tags_in("RE: AW: WG: Fwd: [#123456] Printer on fire"), ["123456"]);
        assert_eq!(f.tags_in("Re: printer [#123456]"), ["123456"]);
        assert!(f.tags_in("[#12345] too short").is_empty());
        assert!(f.tags_in("[#1234567] too long").is_empty());
        assert!(f.tags_in("#123456 no brackets").is_empty());
        assert!(f.tags_in("[# 123456] space").is_empty());
        let g = NumberFormat::new("HD-####");
        assert_eq!(g.tags_in("Re: [#HD-0042] x"), ["HD-0042"]);
        assert!(g.tags_in("Re: [#HD-004a] x").is_empty());
        assert!(g.tags_in("Re: [#hd-0042] lower case is not our format").is_empty());
        assert_eq!(f.tags_in("[#[#123456] [#654321][#111111]"), ["123456", "654321", "111111"]);
        assert_eq!(f.tags_in("Ré: «[#123456]» 済み [#12345６]"), ["123456"]);
        assert!(f.tags_in("[#123456").is_empty());
        assert!(f.tags_in("[#").is_empty());
    }
}
