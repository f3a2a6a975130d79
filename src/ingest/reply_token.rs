//! Threading rule (a): a reply address we signed, found among the message's recipients, names the
//! ticket and the participant it was sent to. It threads before any header rule; whether the
//! message speaks *as* that participant depends on its From (recorded in the trace either way).

use super::{Delivery, Pipeline};
use crate::auth::token::Purpose;
use crate::core::address::EmailAddress;
use crate::core::email::InboundEmail;
use crate::core::identify::own_address_tag;
use crate::core::thread::TicketState;
use crate::core::trace::Trace;
use crate::store::{self, Tx, links as link_store, tickets as ticket_store};

/// Recipient addresses looked at, at most: each costs a MAC, and a real reply has one or two.
const MAX_RECIPIENTS: usize = 50;

impl Pipeline {
    /// The ticket of the first recipient that carries a valid, current reply token of ours.
    pub(super) fn find_reply_token(
        &self,
        tx: &mut Tx<'_>,
        email: &InboundEmail,
        delivery: &Delivery,
        from: &EmailAddress,
        trace: &mut Trace,
    ) -> store::Result<Option<TicketState>> {
        let headers = email.to.iter().chain(&email.cc).map(|m| &m.email);
        let recipients = headers.chain(&email.delivered_to).chain(&delivery.recipients).take(MAX_RECIPIENTS);
        let now = self.clock.now_ms();
        for address in recipients {
            let Some(tag) = own_address_tag(address, &self.settings.own_addresses) else { continue };
            let claims = match self.settings.keyring.verify_address_token(tag, Purpose::Reply, now) {
                Ok(claims) => claims,
                Err(error) => {
                    trace.record("token", "refused", format!("{address}: {error}"));
                    continue;
                }
            };
            let (participant, ticket) = (claims.participant, claims.ticket);
            let Some((epoch, trusted)) = link_store::holder(tx, ticket, participant, from)? else {
                trace.record("token", "refused", format!("{address}: {participant} no longer takes part"));
                continue;
            };
            if !claims.is_current(epoch) {
                trace.record(
                    "token",
                    "refused",
                    format!("{address}: revoked (links of {participant} renewed)"),
                );
                continue;
            }
            let Some(state) = ticket_store::find_ticket_state(tx, ticket)? else { continue };
            if trusted {
                trace.record(
                    "token",
                    "verified",
                    format!("reply address of {participant} on #{}", state.number),
                );
            } else {
                trace.record(
                    "token",
                    "untrusted",
                    format!(
                        "reply address of {participant} on #{}, but From {from} is not theirs: \
                         threaded, not trusted as them",
                        state.number
                    ),
                );
            }
            return Ok(Some(state));
        }
        Ok(None)
    }
}
