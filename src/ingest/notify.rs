//! The outgoing half of an ingest: the automatic mails an event causes, checked by the governor and
//! written to the outbox in the same transaction, each with a Message-ID minted now and recorded in
//! `message_ids` (so replies to it thread, and bounces of it are recognised as ours).

use serde_json::json;

use super::{Incoming, Pipeline};
use crate::core::address::{EmailAddress, MessageId};
use crate::core::identify::is_own_address;
use crate::core::ids::{EntryId, TicketId};
use crate::core::notify::{self, Audience, Event, History, Mail, Planned};
use crate::core::thread::TicketState;
use crate::core::trace::Trace;
use crate::store::outbox::{self as outbox_store, NewOutbound};
use crate::store::tickets::{self as ticket_store, Direction};
use crate::store::{self, Tx};

const HOUR_MS: i64 = 60 * 60 * 1000;

/// What the notification step needs to know beyond the message itself.
pub(super) struct Notice<'a> {
    pub event: Event,
    pub ticket: &'a TicketState,
    /// The entry of the message: the worker quotes its text (it is immutable, so referencing it
    /// fixes the content as well as copying would, without writing the text again).
    pub entry: Option<EntryId>,
    pub new_collaborators: Vec<EmailAddress>,
    /// Failed recipients and the diagnostic, for bounce alerts.
    pub bounce: Option<(Vec<String>, String)>,
}

impl Pipeline {
    /// Plans, governs and enqueues the automatic mails of `notice`.
    pub(super) fn notify(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        notice: Notice<'_>,
        trace: &mut Trace,
    ) -> store::Result<()> {
        let policy = &self.settings.notifications;
        if notice.event == Event::AutomaticReply {
            trace.record("notify", "none", "automatic mail is never answered");
            return Ok(());
        }
        let sender = &msg.sender.email;
        let customer = (!self.directory.agents_by_email.contains_key(sender)
            && !is_own_address(sender, &self.settings.own_addresses))
        .then(|| sender.clone());
        let audience = Audience {
            customer,
            new_collaborators: notice.new_collaborators.clone(),
            agents: outbox_store::alert_recipients(tx, notice.ticket.id, policy.alert_all_when_unassigned)?,
        };
        let (planned, suppressed) = notify::plan(notice.event, msg.class == "normal", &audience, policy);
        for held in suppressed {
            trace.record(
                "notify",
                "suppressed",
                format!("{} to {}: {}", held.mail.template(), held.to, held.reason),
            );
        }
        let now = self.clock.now_ms();
        for mail in planned {
            let history = self.history(tx, &mail, notice.ticket.id, notice.event == Event::NewTicket, now)?;
            if let Err(reason) = notify::govern(&mail, history, policy) {
                trace.record(
                    "notify",
                    "governed",
                    format!("{} to {}: {reason}", mail.mail.template(), mail.to),
                );
                continue;
            }
            let message_id = self.mint_message_id();
            let context = context(msg, &notice, &mail).to_string();
            outbox_store::enqueue(
                tx,
                &NewOutbound {
                    message_id: &message_id,
                    ticket: Some(notice.ticket.id),
                    recipient: &mail.to,
                    template: mail.mail.template(),
                    context_json: &context,
                    now_ms: now,
                },
            )?;
            ticket_store::insert_message_id(tx, &message_id, notice.ticket.id, None, Direction::Out)?;
            trace.record(
                "notify",
                "queued",
                format!("{} to {} as {message_id}", mail.mail.template(), mail.to),
            );
        }
        Ok(())
    }

    /// The governor's counts; only mail that answers customers is counted.
    fn history(
        &self,
        tx: &mut Tx<'_>,
        mail: &Planned,
        ticket: TicketId,
        new_ticket: bool,
        now: i64,
    ) -> store::Result<History> {
        if !mail.mail.answers_customer() {
            return Ok(History::default());
        }
        let recent = outbox_store::count_answers_to_since(tx, &mail.to, now - HOUR_MS)?;
        // A ticket opened in this transaction has no earlier auto-response: no need to count.
        let auto_responses = if mail.mail == Mail::NewTicketAutoResponse && !new_ticket {
            outbox_store::count_on_ticket(tx, ticket, mail.mail.template())?
        } else {
            0
        };
        Ok(History {
            automatic_to_address_last_hour: u32::try_from(recent).unwrap_or(u32::MAX),
            auto_responses_on_ticket: u32::try_from(auto_responses).unwrap_or(u32::MAX),
        })
    }

    /// `<32 random hex digits@our Message-ID domain>`: unguessable, and recognisably ours.
    fn mint_message_id(&self) -> MessageId {
        let id = format!("{:032x}@{}", rand::random::<u128>(), self.settings.message_id_domain);
        MessageId::parse(&id).expect("a hex local part and a configured domain form a valid Message-ID")
    }
}

/// The template context, fixed at enqueue time (what was true when the event happened). The worker
/// adds what is minted at send time: links and reply addresses.
fn context(msg: &Incoming<'_>, notice: &Notice<'_>, mail: &Planned) -> serde_json::Value {
    let author_name = msg.sender.name.clone().unwrap_or_default();
    json!({
        "mail": mail.mail.template(),
        "recipient": { "email": mail.to.as_str() },
        "ticket": {
            "id": notice.ticket.id.0,
            "number": notice.ticket.number,
            "subject": notice.ticket.subject,
            "status": notice.ticket.status.as_str(),
        },
        "message": {
            "entry_id": notice.entry.map(|e| e.0),
            "author_name": author_name,
            "author_email": msg.sender.email.as_str(),
        },
        "owner": { "name": author_name, "email": msg.sender.email.as_str() },
        "in_reply_to": msg.email.message_id.as_ref().map(MessageId::as_str),
        "bounce": notice.bounce.as_ref().map(|(recipients, diagnostic)| json!({
            "recipients": recipients,
            "diagnostic": diagnostic,
        })),
    })
}
