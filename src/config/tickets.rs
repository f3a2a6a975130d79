//! `[tickets]`: the shape of ticket numbers, when a reply reopens a closed ticket, how many Cc
//! recipients one message may add, and when resolved tickets close by themselves.

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tickets {
    pub number_format: String,
    pub reopen_days: u32,
    pub max_collaborators: usize,
    pub autoclose_days: u32,
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "a [tickets] table")]
pub(super) struct RawTickets {
    /// Ticket number pattern: each `#` a random digit, `A-Z`, `0-9` and `-` literal; at least four
    /// `#`. Default: `"######"`.
    pub number_format: String,
    /// Days after closing during which a reply reopens the ticket; 0 = a reply to a closed ticket
    /// always opens a new linked ticket. Default: `14`.
    pub reopen_days: u32,
    /// Cap on Cc recipients added as collaborators per message; 0 = never add any. Default: `10`.
    pub max_collaborators: usize,
    /// Days a resolved ticket stays resolved without activity before `serve` closes it (and tells
    /// its owner); 0 = never. Default: `7`.
    pub autoclose_days: u32,
}

impl Default for RawTickets {
    fn default() -> Self {
        Self {
            number_format: "######".to_string(),
            reopen_days: 14,
            max_collaborators: 10,
            autoclose_days: 7,
        }
    }
}

/// Fewer random digits than this would make ticket numbers guessable.
const MIN_RANDOM_DIGITS: usize = 4;

pub(super) fn validate_tickets(raw: &RawTickets, problems: &mut Problems<'_, '_>) -> Tickets {
    let path = KeyPath::top("tickets").key("number_format");
    let format = &raw.number_format;
    let stray: String = format.chars().filter(|c| !matches!(c, '#' | 'A'..='Z' | '0'..='9' | '-')).collect();
    if !stray.is_empty() {
        problems.report(
            &path,
            format!(
                "{format:?} contains {stray:?}; only '#' and the literals A-Z, 0-9 and '-' are \
                 allowed, so the [#NUMBER] subject tag stays a strict pattern"
            ),
        );
    }
    let digits = format.chars().filter(|c| *c == '#').count();
    if digits < MIN_RANDOM_DIGITS {
        problems.report(
            &path,
            format!(
                "{format:?} has {digits} '#'; at least {MIN_RANDOM_DIGITS} are needed so ticket \
                 numbers in subject tags are hard to guess"
            ),
        );
    }
    Tickets {
        number_format: format.clone(),
        reopen_days: raw.reopen_days,
        max_collaborators: raw.max_collaborators,
        autoclose_days: raw.autoclose_days,
    }
}
