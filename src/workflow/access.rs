//! The access page's workflow: a ticket number and an address that takes part in it get a
//! short-lived link by mail (`access_link`); anything else gets nothing. The web page answers the
//! same either way, so it never tells whether a ticket or an address exists.

use super::Workflows;
use crate::auth::token::Participant;
use crate::core::address::EmailAddress;
use crate::core::ids::TicketId;
use crate::core::notify::{Audience, Event, Planned};
use crate::core::ticket::TicketNumber;
use crate::core::trace::Trace;
use crate::ingest::notify::Outgoing;
use crate::ingest::{IngestError, Pipeline};
use crate::outbox::context::Queued;
use crate::store::{self, Tx, links as link_store, tickets as ticket_store, web as web_store};

impl Workflows {
    /// Queues the access link when `email` is a customer-side participant of ticket `number`.
    /// Returns whether a mail was queued (for tests and logs; never shown to the asker).
    pub async fn request_access(&self, number: &str, email: &str) -> Result<bool, IngestError> {
        let Some(email) = EmailAddress::parse(email.trim()) else { return Ok(false) };
        let Some(number) = TicketNumber::parse(number) else { return Ok(false) };
        let pipeline = self.ingestor.pipeline();
        Ok(self.app().store().write(move |tx| pipeline.request_access(tx, &number, &email)).await?)
    }
}

impl Workflows {
    /// Mails a fresh link to the customer-side `participant` of `ticket` (their expired or revoked
    /// link was opened). Returns whether a mail was queued.
    pub async fn renew_link(&self, ticket: TicketId, participant: Participant) -> Result<bool, IngestError> {
        let pipeline = self.ingestor.pipeline();
        Ok(self
            .app()
            .store()
            .write(move |tx| {
                let ticket = crate::store::merge::current_ticket(tx, ticket)?;
                let Some(state) = ticket_store::find_ticket_state(tx, ticket)? else { return Ok(false) };
                let Some((email, _)) = web_store::reader(tx, ticket, participant)? else { return Ok(false) };
                let Some(email) = EmailAddress::parse(&email) else { return Ok(false) };
                pipeline.request_access(tx, &state.number, &email)
            })
            .await?)
    }
}

impl Pipeline {
    fn request_access(
        &self,
        tx: &mut Tx<'_>,
        number: &TicketNumber,
        email: &EmailAddress,
    ) -> store::Result<bool> {
        let Some(state) = ticket_store::find_ticket_state_by_number(tx, number)? else { return Ok(false) };
        // A merged ticket's number leads to the ticket it was merged into, where its people are.
        let state = crate::store::merge::follow(tx, state)?;
        // Agents reach tickets through their alerts and the console, not through this page.
        let Some((Participant::User(_), _)) = link_store::recipient(tx, state.id, email)? else {
            return Ok(false);
        };
        let audience = Audience { customer: Some(email.clone()), ..Audience::default() };
        let outgoing = Outgoing { event: Event::AccessRequested, is_normal: true, ticket: Some(state.id) };
        let mut trace = Trace::default();
        let context = |mail: &Planned| Queued::on_ticket(mail, &state);
        let queued = self.enqueue_planned(tx, &outgoing, &audience, false, &mut trace, context)? > 0;
        if !queued {
            tracing::info!(trace = %trace, "access link not sent");
        }
        Ok(queued)
    }
}
