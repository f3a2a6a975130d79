//! Threading: which ticket a message belongs to. The ingest looks the candidates up; this module
//! applies the rules in order (first hit wins) and the closed-ticket policy, and says why.

use super::address::MessageId;
use super::ids::TicketId;
use super::ticket::{Status, TicketNumber};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The rule that threaded a message, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A signed reply token in a recipient address (minted by the outgoing-mail module).
    ReplyToken,
    InReplyTo,
    References,
    /// `[#NUMBER]` in the subject, and the sender takes part in that ticket.
    SubjectTag,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ReplyToken => "reply-token",
            Rule::InReplyTo => "in-reply-to",
            Rule::References => "references",
            Rule::SubjectTag => "subject-tag",
        }
    }
}

/// What the ingest needs to know about a candidate ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketState {
    pub id: TicketId,
    pub number: TicketNumber,
    pub subject: String,
    pub status: Status,
    pub closed_at: Option<i64>,
}

/// The candidates the ingest found, one per rule. Empty rules are `None`.
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    /// The slot for rule (a): a verified reply token's ticket. Filled once reply tokens exist.
    pub reply_token: Option<TicketState>,
    /// The first In-Reply-To id found in `message_ids`, with its ticket.
    pub in_reply_to: Option<(MessageId, TicketState)>,
    /// The newest References id found in `message_ids`, with its ticket.
    pub references: Option<(MessageId, TicketState)>,
    /// A subject tag naming an existing ticket, and whether the sender takes part in it.
    pub subject_tag: Option<(TicketState, bool)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Add to this ticket; `reopen` when it was closed and is within `reopen_days`.
    Existing {
        ticket: TicketId,
        rule: Rule,
        reopen: bool,
    },
    /// The matched ticket is closed for too long: open a new ticket linked to it.
    NewLinked {
        previous: TicketId,
        rule: Rule,
    },
    New,
}

/// Applies the rules in order; returns the decision and a one-line reason for the trace.
pub fn decide(candidates: &Candidates, now_ms: i64, reopen_days: u32) -> (Decision, String) {
    let hit = candidates
        .reply_token
        .as_ref()
        .map(|t| (t, Rule::ReplyToken, String::from("reply token")))
        .or_else(|| {
            candidates.in_reply_to.as_ref().map(|(id, t)| (t, Rule::InReplyTo, format!("In-Reply-To {id}")))
        })
        .or_else(|| {
            candidates.references.as_ref().map(|(id, t)| (t, Rule::References, format!("References {id}")))
        })
        .or_else(|| match &candidates.subject_tag {
            Some((t, true)) => {
                Some((t, Rule::SubjectTag, format!("subject tag [#{}] from a participant", t.number)))
            }
            _ => None,
        });

    let Some((ticket, rule, why)) = hit else {
        let reason = match &candidates.subject_tag {
            Some((t, false)) => {
                format!("new ticket: subject tag [#{}] but the sender takes no part in it", t.number)
            }
            _ => "new ticket: no rule matched".to_string(),
        };
        return (Decision::New, reason);
    };

    if ticket.status != Status::Closed {
        let reason = format!("ticket #{} by {why}", ticket.number);
        return (Decision::Existing { ticket: ticket.id, rule, reopen: false }, reason);
    }
    let closed_at = ticket.closed_at.unwrap_or(now_ms);
    let window = i64::from(reopen_days) * DAY_MS;
    if reopen_days > 0 && now_ms - closed_at <= window {
        let reason =
            format!("ticket #{} by {why}; closed within {reopen_days} days: reopened", ticket.number);
        (Decision::Existing { ticket: ticket.id, rule, reopen: true }, reason)
    } else {
        let reason = format!(
            "ticket #{} by {why}; closed more than {reopen_days} days ago: new linked ticket",
            ticket.number
        );
        (Decision::NewLinked { previous: ticket.id, rule }, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: i64, status: Status, closed_at: Option<i64>) -> TicketState {
        TicketState {
            id: TicketId(id),
            number: TicketNumber::from_stored(format!("{id:06}")),
            subject: String::new(),
            status,
            closed_at,
        }
    }

    fn mid(s: &str) -> MessageId {
        MessageId::parse(s).unwrap()
    }

    #[test]
    fn first_rule_wins() {
        let c = Candidates {
            reply_token: None,
            in_reply_to: Some((mid("a@x"), ticket(1, Status::Open, None))),
            references: Some((mid("b@x"), ticket(2, Status::Open, None))),
            subject_tag: Some((ticket(3, Status::Open, None), true)),
        };
        let (d, why) = decide(&c, 0, 14);
        assert_eq!(d, Decision::Existing { ticket: TicketId(1), rule: Rule::InReplyTo, reopen: false });
        assert!(why.contains("In-Reply-To <a@x>"), "{why}");

        let token_first = Candidates { reply_token: Some(ticket(9, Status::Open, None)), ..c.clone() };
        assert_eq!(
            decide(&token_first, 0, 14).0,
            Decision::Existing { ticket: TicketId(9), rule: Rule::ReplyToken, reopen: false }
        );

        let refs_only = Candidates { in_reply_to: None, ..c.clone() };
        assert_eq!(
            decide(&refs_only, 0, 14).0,
            Decision::Existing { ticket: TicketId(2), rule: Rule::References, reopen: false }
        );
    }

    #[test]
    fn subject_tag_needs_a_participant() {
        let from_participant =
            Candidates { subject_tag: Some((ticket(3, Status::Pending, None), true)), ..Default::default() };
        assert_eq!(
            decide(&from_participant, 0, 14).0,
            Decision::Existing { ticket: TicketId(3), rule: Rule::SubjectTag, reopen: false }
        );

        let from_stranger =
            Candidates { subject_tag: Some((ticket(3, Status::Open, None), false)), ..Default::default() };
        let (d, why) = decide(&from_stranger, 0, 14);
        assert_eq!(d, Decision::New);
        assert!(why.contains("takes no part"), "{why}");
    }

    #[test]
    fn closed_tickets_reopen_within_the_window_only() {
        let now = 100 * DAY_MS;
        let recent = Candidates {
            in_reply_to: Some((mid("a@x"), ticket(1, Status::Closed, Some(now - 14 * DAY_MS)))),
            ..Default::default()
        };
        assert_eq!(
            decide(&recent, now, 14).0,
            Decision::Existing { ticket: TicketId(1), rule: Rule::InReplyTo, reopen: true }
        );

        let old = Candidates {
            in_reply_to: Some((mid("a@x"), ticket(1, Status::Closed, Some(now - 15 * DAY_MS)))),
            ..Default::default()
        };
        assert_eq!(
            decide(&old, now, 14).0,
            Decision::NewLinked { previous: TicketId(1), rule: Rule::InReplyTo }
        );

        assert_eq!(
            decide(&recent, now, 0).0,
            Decision::NewLinked { previous: TicketId(1), rule: Rule::InReplyTo }
        );
    }

    #[test]
    fn nothing_matched_is_a_new_ticket() {
        assert_eq!(decide(&Candidates::default(), 0, 14).0, Decision::New);
    }
}
