//! Agents working by email. A reply to the reply address of an alert, from one of that agent's
//! addresses, is a **response** relayed to the customer side; a reply to the note address is an
//! internal **note**. Anything that claims to be an agent and cannot prove it — another agent's
//! token, a From that is not the token's agent, a refused token, an agent's address writing to a
//! ticket without a token, an auto-reply — is **held**: stored for agents only, never relayed, and
//! the agent concerned is told why.

use super::lifecycle::{Actor, Change};
use super::notify::Notice;
use super::persist::{As, Author, EntryText, stripped_text};
use super::reply_token::{TokenMatch, TokenScan};
use super::{Incoming, Outcome, Pipeline};
use crate::auth::token::{Participant, Purpose};
use crate::core::address::{EmailAddress, MessageId};
use crate::core::authres;
use crate::core::command::{self, Command};
use crate::core::email::InboundEmail;
use crate::core::ids::AgentId;
use crate::core::notify::Event;
use crate::core::thread::{Decision, TicketState};
use crate::core::trace::Trace;
use crate::store::lifecycle as lifecycle_store;
use crate::store::tickets::{self as ticket_store, Direction, EntryKind};
use crate::store::{self, StoreError, Tx};

/// What mail from, or in the name of, an agent becomes.
#[derive(Clone, Debug)]
pub(super) enum AgentMail {
    /// Authenticated: a response or a note by `agent`.
    Authenticated { agent: AgentId, purpose: Purpose, state: TicketState },
    /// Not authenticated: held on the ticket (`None`: the one the headers thread to), `notify` told
    /// why. `tokenless`: no reply address at all, so the agent may be writing as a customer.
    Held { state: Option<TicketState>, notify: AgentId, reason: String, tokenless: bool },
}

/// Decides from the reply-address scan, the sender's agent identity (if its address is an agent's),
/// whether the mail is automatic, and `verified`: the trusted MTA's verdict on the sender (always
/// `Ok` without `[auth]`). `None`: not agent mail; the customer path takes it.
pub(super) fn classify_agent_mail(
    scan: &TokenScan,
    from_agent: Option<AgentId>,
    automatic: bool,
    verified: Result<(), String>,
) -> Option<AgentMail> {
    match scan {
        TokenScan::Valid(TokenMatch { state, participant: Participant::Agent(agent), purpose, trusted }) => {
            let (agent, state) = (*agent, state.clone());
            if !trusted {
                let reason = match from_agent {
                    Some(_) => "it carries the reply address of another agent".to_string(),
                    None => "its From is not one of the addresses of the agent the reply address belongs to"
                        .to_string(),
                };
                return Some(AgentMail::Held { state: Some(state), notify: agent, reason, tokenless: false });
            }
            if automatic {
                let reason = "it is automatic mail (an auto-reply from the agent's mailbox)".to_string();
                return Some(AgentMail::Held { state: Some(state), notify: agent, reason, tokenless: false });
            }
            if let Err(why) = verified {
                let reason = format!("its sender is not authenticated: {why}");
                return Some(AgentMail::Held { state: Some(state), notify: agent, reason, tokenless: false });
            }
            Some(AgentMail::Authenticated { agent, purpose: *purpose, state })
        }
        TokenScan::Valid(_) => None,
        TokenScan::Refused { reason, names } => {
            let from = from_agent?;
            let notify = match names {
                Some(Participant::Agent(named)) => *named,
                _ => from,
            };
            let reason = format!("its reply address was refused: {reason}");
            Some(AgentMail::Held { state: None, notify, reason, tokenless: false })
        }
        TokenScan::None => from_agent.map(|agent| AgentMail::Held {
            state: None,
            notify: agent,
            reason: "it came from an agent's address without the reply address of an alert".to_string(),
            tokenless: true,
        }),
    }
}

impl Pipeline {
    /// The trusted MTA's verdict on the sender, when `[auth]` names one and the mail concerns an
    /// agent; recorded in the trace.
    pub(super) fn sender_verified(
        &self,
        email: &InboundEmail,
        delivery: &super::Delivery,
        from: &EmailAddress,
        concerns_agent: bool,
        trace: &mut Trace,
    ) -> Result<(), String> {
        let Some(authserv_id) = self.settings.trusted_authserv_id.as_deref() else { return Ok(()) };
        if !concerns_agent {
            return Ok(());
        }
        if let Some(how) = delivery.authenticated {
            trace.record("auth", "pass", how);
            return Ok(());
        }
        match authres::verify(&email.headers, authserv_id, from.domain()) {
            Ok(why) => {
                trace.record("auth", "pass", why);
                Ok(())
            }
            Err(why) => {
                trace.record("auth", "fail", why.clone());
                Err(why)
            }
        }
    }

    /// Takes agent mail: an authenticated response or note, or held mail. `Ok(None)` hands it to the
    /// customer path (an agent writing without a token to no ticket, or to a ticket of their own).
    pub(super) fn route_agent_mail(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        mail: AgentMail,
        threaded: impl FnOnce(&mut Tx<'_>) -> store::Result<Decision>,
        trace: &mut Trace,
    ) -> store::Result<Option<Outcome>> {
        match mail {
            AgentMail::Authenticated { agent, purpose, state } => {
                self.agent_entry(tx, msg, agent, purpose, &state, trace).map(Some)
            }
            AgentMail::Held { state: Some(state), notify, reason, .. } => {
                self.hold(tx, msg, &state, notify, &reason, trace).map(Some)
            }
            AgentMail::Held { state: None, notify, reason, tokenless } => {
                let ticket = match threaded(tx)? {
                    Decision::Existing { ticket, .. } | Decision::NewLinked { previous: ticket, .. } => {
                        ticket
                    }
                    // Writing from their own mailbox to no ticket: an agent can be a customer too.
                    Decision::New if tokenless => return Ok(None),
                    Decision::New => {
                        return Ok(Some(super::quarantined(
                            trace,
                            &format!("agent mail held but it threads to no ticket: {reason}"),
                        )));
                    }
                };
                if tokenless && ticket_store::is_customer_participant(tx, ticket, &msg.sender.email)? {
                    trace.record("agent", "as-customer", "the agent takes part in this ticket as a customer");
                    return Ok(None);
                }
                let state = ticket_store::find_ticket_state(tx, ticket)?.ok_or(StoreError::NotFound)?;
                self.hold(tx, msg, &state, notify, &reason, trace).map(Some)
            }
        }
    }

    /// A response (relayed to owner and collaborators) or an internal note (alerting the other
    /// agents), after the commands on its leading lines, which apply all or not at all.
    fn agent_entry(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        agent: AgentId,
        purpose: Purpose,
        state: &TicketState,
        trace: &mut Trace,
    ) -> store::Result<Outcome> {
        let now = self.clock.now_ms();
        let new_text = stripped_text(msg.email);
        let parsed = match command::parse(&new_text) {
            Ok((lines, rest)) => {
                self.resolve_commands(tx, state.id, &lines)?.map(|changes| (lines, rest, changes))
            }
            Err(error) => Err(error),
        };
        let (lines, rest, changes) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                let reason = format!(
                    "line {} of its commands is invalid ({}); no command was applied",
                    error.line, error.reason
                );
                return self.hold(tx, msg, state, agent, &reason, trace);
            }
        };
        let with_canned = match self.add_canned(tx, state, agent, &lines, &rest)? {
            Ok(text) => text,
            Err(reason) => return self.hold(tx, msg, state, agent, &reason, trace),
        };
        let note = purpose == Purpose::Note || lines.iter().any(|(_, c)| *c == Command::Note);
        let (kind, event) = if note {
            (EntryKind::Note, Event::AgentNote)
        } else {
            (EntryKind::Response, Event::AgentResponse)
        };
        let actor = Actor::Agent { id: agent, key: lifecycle_store::agent_key(tx, agent)? };
        // Who is on the ticket changes before the response goes out (a `#cc` gets it); the status
        // after (a closed notice follows the response, not the other way round), and a merge last
        // (the response moves with the rest of the ticket).
        let (statuses, others): (Vec<Change>, Vec<Change>) =
            changes.into_iter().partition(|change| matches!(change, Change::Status(_) | Change::Merge(_)));
        let (state, mut system) = self.apply_changes(tx, state, &actor, &others, trace)?;
        let state = &state;
        let mut last = None;
        // A file alone is a message too (a log sent for the record, a signed form).
        let has_files = !msg.email.attachments.is_empty();
        if !rest.trim().is_empty() || with_canned.is_some() || has_files {
            // The commands leave the stored text as well as the relayed one; canned responses
            // join the new text (and then are all of it: the quoted history is not kept).
            let text = match with_canned {
                Some(text) => Some(EntryText { body: text.clone(), stripped: text }),
                None => (!lines.is_empty()).then(|| EntryText {
                    body: command::parse(&msg.email.text)
                        .map_or_else(|_| msg.email.text.clone(), |(_, body)| body),
                    stripped: rest.clone(),
                }),
            };
            let entry = self.store_message(
                tx,
                msg,
                state.id,
                As { kind, author: Author::Agent(agent), text: text.as_ref() },
                now,
            )?;
            ticket_store::update_ticket_activity(tx, state.id, state.status, now)?;
            trace.record("agent", kind.as_str(), format!("by {} on #{}", actor.name(), state.number));
            let in_reply_to = match event {
                Event::AgentResponse => answered_message_id(tx, state)?,
                _ => None,
            };
            let notice =
                Notice { event, entry: Some(entry), in_reply_to, author: Some(agent), ..Notice::new(state) };
            self.notify(tx, msg, notice, trace)?;
            last = Some(entry);
        } else if let Some(id) = &msg.email.message_id {
            // Commands alone: the mail is recorded by its inbound row; its Message-ID still threads.
            ticket_store::insert_message_id(tx, id, state.id, None, Direction::In)?;
        }
        let (after, status_entry) = self.apply_changes(tx, state, &actor, &statuses, trace)?;
        system = status_entry.or(system);
        let Some(entry) = last.or(system) else {
            trace.record("agent", "nothing", "no text and no change");
            return Ok(super::quarantined(
                trace,
                "agent mail with neither text nor a command that changes anything",
            ));
        };
        Ok(Outcome::Added { ticket: after.id, number: after.number, entry, held: false })
    }

    /// The new text `rest` followed by the `#canned` responses of `lines`, each filled for this
    /// ticket and agent; `None` without any; the reason to hold the mail if one cannot be filled.
    fn add_canned(
        &self,
        tx: &mut Tx<'_>,
        state: &TicketState,
        agent: AgentId,
        lines: &[command::Line],
        rest: &str,
    ) -> store::Result<Result<Option<String>, String>> {
        let keys: Vec<&str> = lines
            .iter()
            .filter_map(|(_, command)| match command {
                Command::Canned(key) => Some(key.as_str()),
                _ => None,
            })
            .collect();
        if keys.is_empty() {
            return Ok(Ok(None));
        }
        let instance = &self.settings.instance_name;
        let Some(context) = crate::store::console::canned_context(tx, state.id, agent, instance)? else {
            return Err(StoreError::NotFound);
        };
        let mut parts: Vec<String> = Vec::new();
        if !rest.trim().is_empty() {
            parts.push(rest.trim_end().to_string());
        }
        for key in keys {
            match crate::canned::fill(&self.settings.canned, key, &context) {
                Ok(text) => parts.push(text),
                Err(error) => return Ok(Err(format!("{error}; no command was applied"))),
            }
        }
        Ok(Ok(Some(parts.join("\n\n"))))
    }

    /// Keeps the mail on the ticket for agents only and tells `notify` why.
    fn hold(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        state: &TicketState,
        notify: AgentId,
        reason: &str,
        trace: &mut Trace,
    ) -> store::Result<Outcome> {
        let now = self.clock.now_ms();
        let entry = self.store_message(
            tx,
            msg,
            state.id,
            As { kind: EntryKind::Held, author: Author::Unknown, text: None },
            now,
        )?;
        trace.record("agent", "held", format!("not relayed: {reason}"));
        let notice = Notice {
            event: Event::Held,
            entry: Some(entry),
            held: Some((notify, reason.to_string())),
            ..Notice::new(state)
        };
        self.notify(tx, msg, notice, trace)?;
        Ok(Outcome::Added { ticket: state.id, number: state.number.clone(), entry, held: true })
    }
}

/// What a relayed response answers in the customers' mail clients: the newest Message-ID they have
/// seen, theirs or ours, that is real (not the `.invalid` id we give mail written on a web page or in
/// the console, which no client has) and plain enough to be written into In-Reply-To.
fn answered_message_id(tx: &mut Tx<'_>, state: &TicketState) -> store::Result<Option<MessageId>> {
    let seen = crate::store::web::customer_side_message_ids(tx, state.id, 20)?;
    Ok(seen
        .iter()
        .filter(|id| crate::outbox::compose::is_plain_message_id(id))
        .filter(|id| !id.to_ascii_lowercase().ends_with(".invalid"))
        .find_map(|id| MessageId::parse(id)))
}
