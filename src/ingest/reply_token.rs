//! Threading rule (a): a reply address we signed, found among the message's recipients, names the
//! ticket and the participant it was sent to. It threads before any header rule; whether the
//! message speaks *as* that participant depends on its From (recorded in the trace either way).

use super::{Delivery, Pipeline};
use crate::auth::token::{Participant, Purpose, TokenError};
use crate::core::address::EmailAddress;
use crate::core::email::InboundEmail;
use crate::core::identify::own_address_tag;
use crate::core::thread::TicketState;
use crate::core::trace::Trace;
use crate::store::{self, Tx, links as link_store, merge as merge_store, tickets as ticket_store};

/// Recipient addresses looked at, at most: each costs a MAC, and a real reply has one or two.
const MAX_RECIPIENTS: usize = 50;

/// What the recipients' reply addresses say.
#[derive(Clone, Debug)]
pub(super) enum TokenScan {
    /// No reply address of ours among the recipients.
    None,
    /// A valid, current token.
    Valid(TokenMatch),
    /// A reply address that looks like ours but does not verify (forged, altered, expired,
    /// revoked): why, and whom it names when its signature held (expired or revoked tokens).
    Refused { reason: String, names: Option<Participant> },
}

#[derive(Clone, Debug)]
pub(super) struct TokenMatch {
    pub state: TicketState,
    pub participant: Participant,
    pub purpose: Purpose,
    /// The From address is one of the participant's.
    pub trusted: bool,
}

impl TokenScan {
    /// A valid token issued to an agent.
    pub(super) fn names_agent(&self) -> bool {
        matches!(self, TokenScan::Valid(TokenMatch { participant: Participant::Agent(_), .. }))
    }

    pub(super) fn ticket(&self) -> Option<TicketState> {
        match self {
            TokenScan::Valid(found) => Some(found.state.clone()),
            _ => None,
        }
    }
}

impl Pipeline {
    /// The first recipient that carries a valid, current reply (or note) token of ours.
    pub(super) fn find_reply_token(
        &self,
        tx: &mut Tx<'_>,
        email: &InboundEmail,
        delivery: &Delivery,
        from: &EmailAddress,
        trace: &mut Trace,
    ) -> store::Result<TokenScan> {
        let headers = email.to.iter().chain(&email.cc).map(|m| &m.email);
        let recipients = headers.chain(&email.delivered_to).chain(&delivery.recipients).take(MAX_RECIPIENTS);
        let now = self.clock.now_ms();
        let mut refused = None;
        for address in recipients {
            let Some(tag) = own_address_tag(address, &self.settings.own_addresses) else { continue };
            let keys = &self.settings.keyring;
            let verified = match keys.verify_address_token(tag, Purpose::Reply, now) {
                Err(TokenError::WrongPurpose(_)) => keys.verify_address_token(tag, Purpose::Note, now),
                other => other,
            };
            let claims = match verified {
                Ok(claims) => claims,
                Err(TokenError::Malformed) => {
                    trace.record(
                        "token",
                        "ignored",
                        format!("{address}: a sub-address, not a token of ours"),
                    );
                    continue;
                }
                Err(error) => {
                    trace.record("token", "refused", format!("{address}: {error}"));
                    refused.get_or_insert(TokenScan::Refused { reason: error.to_string(), names: None });
                    continue;
                }
            };
            // A merged ticket's reply addresses lead to the ticket it was merged into, where its
            // participants now are (with their epochs).
            let (participant, ticket) = (claims.participant, merge_store::current_ticket(tx, claims.ticket)?);
            if ticket != claims.ticket {
                trace.record(
                    "token",
                    "merged",
                    format!("{address}: its ticket was merged into ticket {ticket}"),
                );
            }
            let Some((epoch, trusted)) = link_store::holder(tx, ticket, participant, from)? else {
                let reason = format!("{participant} no longer takes part");
                trace.record("token", "refused", format!("{address}: {reason}"));
                refused.get_or_insert(TokenScan::Refused { reason, names: Some(participant) });
                continue;
            };
            if !claims.is_current(epoch) {
                let reason = format!("revoked (links of {participant} renewed)");
                trace.record("token", "refused", format!("{address}: {reason}"));
                refused.get_or_insert(TokenScan::Refused { reason, names: Some(participant) });
                continue;
            }
            let Some(state) = ticket_store::find_ticket_state(tx, ticket)? else { continue };
            let what = match claims.purpose {
                Purpose::Note => "note address",
                _ => "reply address",
            };
            if trusted {
                trace.record("token", "verified", format!("{what} of {participant} on #{}", state.number));
            } else {
                trace.record(
                    "token",
                    "untrusted",
                    format!(
                        "{what} of {participant} on #{}, but From {from} is not theirs: threaded, not trusted as them",
                        state.number
                    ),
                );
            }
            return Ok(TokenScan::Valid(TokenMatch { state, participant, purpose: claims.purpose, trusted }));
        }
        Ok(refused.unwrap_or(TokenScan::None))
    }
}
