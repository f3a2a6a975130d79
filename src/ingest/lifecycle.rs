//! The ticket lifecycle: status changes, assignment, priority and collaborators, applied by an
//! agent's email commands, the admin command line or the janitor. Each change is a system entry
//! naming its actor; closing tells the owner and assigning alerts the new assignee, through the
//! outbox in the same transaction.

use super::Pipeline;
use super::notify::Outgoing;
use crate::core::address::EmailAddress;
use crate::core::command::{Command, CommandError, Line};
use crate::core::customer_lines::{self, Handler};
use crate::core::email::Mailbox;
use crate::core::ids::{AgentId, EntryId, TicketId};
use crate::core::notify::{Audience, Event, Planned};
use crate::core::thread::TicketState;
use crate::core::ticket::Status;
use crate::core::trace::Trace;
use crate::outbox::context::Queued;
use crate::store::lifecycle::{self as lifecycle_store, Assignee};
use crate::store::outbox as outbox_store;
use crate::store::tickets as ticket_store;
use crate::store::{self, Tx, directory as directory_store, users as user_store};

/// Who changed a ticket, as system entries name them.
#[derive(Clone, Debug)]
pub enum Actor {
    Agent {
        id: AgentId,
        key: String,
    },
    /// The command line (`mailgate ticket ...`).
    Admin,
    /// Autoclose of resolved tickets.
    Janitor,
    /// The ticket's owner, on the web page.
    Customer(String),
}

impl Actor {
    pub fn name(&self) -> String {
        match self {
            Actor::Agent { key, .. } => format!("agent {key}"),
            Actor::Admin => "an admin".to_string(),
            Actor::Janitor => "the janitor".to_string(),
            Actor::Customer(email) => format!("customer {email}"),
        }
    }

    fn agent(&self) -> Option<AgentId> {
        match self {
            Actor::Agent { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// How agents name `assignee` (`agent alice`, `team billing`, from its `key`) and what its
/// customer reads ("Alice Agent is looking into this").
pub(super) fn assignee_lines(
    tx: &mut Tx<'_>,
    assignee: Assignee,
    key: &str,
) -> store::Result<(String, Option<String>)> {
    Ok(match assignee {
        Assignee::Agent(agent) => (
            format!("agent {key}"),
            customer_lines::assigned(Handler::Agent(&directory_store::agent_name(tx, agent)?)),
        ),
        Assignee::Team(team) => (
            format!("team {key}"),
            customer_lines::assigned(Handler::Team(&directory_store::team_name(tx, team)?)),
        ),
    })
}

/// A command resolved against the database: ready to apply.
#[derive(Clone, Debug)]
pub enum Change {
    Status(Status),
    Assign {
        to: Assignee,
        key: String,
    },
    Priority(&'static str),
    Cc(EmailAddress),
    Uncc(EmailAddress),
    /// A `[[topics]]` key.
    Topic(String),
    /// Merge into this ticket (checked); always the last change.
    Merge(TicketState),
}

impl Pipeline {
    /// Resolves command lines (keys, addresses) for `ticket`: all of them, or the first that fails.
    /// `#note` is not a change; the caller reads it.
    pub(crate) fn resolve_commands(
        &self,
        tx: &mut Tx<'_>,
        ticket: TicketId,
        lines: &[Line],
    ) -> store::Result<Result<Vec<Change>, CommandError>> {
        let mut changes = Vec::new();
        for (index, (line, command)) in lines.iter().enumerate() {
            let fail = |reason: String| Err(CommandError { line: *line, reason });
            match command {
                Command::Status(status) => changes.push(Change::Status(*status)),
                Command::Assign(key) => match lifecycle_store::find_assignee(tx, key)? {
                    Some(to) => changes.push(Change::Assign { to, key: key.clone() }),
                    None => return Ok(fail(format!("no active agent or team has the key {key:?}"))),
                },
                Command::Priority(priority) => changes.push(Change::Priority(priority.as_str())),
                Command::Cc(address) => changes.push(Change::Cc(address.clone())),
                Command::Uncc(address) => {
                    if !ticket_store::is_customer_participant(tx, ticket, address)? {
                        return Ok(fail(format!("{address} is not a collaborator of this ticket")));
                    }
                    changes.push(Change::Uncc(address.clone()));
                }
                Command::Topic(key) => match self.settings.topics.get(key) {
                    Some(topic) => changes.push(Change::Topic(topic.key.clone())),
                    None => return Ok(fail(format!("no [[topics]] entry has the key {key:?}"))),
                },
                Command::Canned(key) => {
                    if !self.settings.canned.iter().any(|canned| canned.key == *key) {
                        return Ok(fail(format!("no canned response has the key {key:?}")));
                    }
                }
                Command::Merge(_) if index + 1 < lines.len() => {
                    return Ok(fail("#merge must be the last command".to_string()));
                }
                Command::Merge(into) => {
                    let source =
                        ticket_store::find_ticket_state(tx, ticket)?.ok_or(store::StoreError::NotFound)?;
                    match self.check_merge(tx, &source, into, false)? {
                        Ok(target) => changes.push(Change::Merge(target)),
                        Err(why) => return Ok(fail(why)),
                    }
                }
                Command::Note => {}
            }
        }
        Ok(Ok(changes))
    }

    /// Applies `changes` in order: the ticket's state after them, and the last system entry written.
    pub(crate) fn apply_changes(
        &self,
        tx: &mut Tx<'_>,
        state: &TicketState,
        actor: &Actor,
        changes: &[Change],
        trace: &mut Trace,
    ) -> store::Result<(TicketState, Option<EntryId>)> {
        let now = self.clock.now_ms();
        let mut state = state.clone();
        let mut last = None;
        for change in changes {
            let (text, seen) = match change {
                Change::Merge(target) => {
                    let (after, entry) = self.merge(tx, &state, target, actor, trace)?;
                    (state, last) = (after, Some(entry));
                    continue;
                }
                Change::Status(to) => {
                    if *to == state.status {
                        continue;
                    }
                    let text = format!("Status {} -> {to} by {}", state.status, actor.name());
                    let seen = customer_lines::status_changed(state.status, *to);
                    ticket_store::update_ticket_activity(tx, state.id, *to, now)?;
                    match to {
                        Status::Open => self.restart_due(tx, state.id, state.status, trace)?,
                        Status::Pending => self.pause_due(tx, state.id, trace)?,
                        _ => {}
                    }
                    state.status = *to;
                    if *to == Status::Closed {
                        self.tell(tx, &state, Event::Closed, actor, "", trace)?;
                    }
                    (text, seen)
                }
                Change::Assign { to, key } => {
                    lifecycle_store::assign(tx, state.id, *to, now)?;
                    let (assignee, seen) = assignee_lines(tx, *to, key)?;
                    self.tell(tx, &state, Event::Assigned, actor, &assignee, trace)?;
                    (format!("Assigned to {assignee} by {}", actor.name()), seen)
                }
                Change::Priority(priority) => {
                    lifecycle_store::set_priority(tx, state.id, priority, now)?;
                    (format!("Priority set to {priority} by {}", actor.name()), None)
                }
                Change::Cc(address) => {
                    let mailbox = Mailbox { name: None, email: address.clone() };
                    let (user, _) = self.identify(tx, &mailbox, trace)?;
                    if !ticket_store::add_participant(tx, state.id, user, crate::core::ticket::Role::Cc, now)?
                    {
                        continue;
                    }
                    let seen = customer_lines::copied(address.as_str(), true);
                    (format!("Collaborator {address} added by {}", actor.name()), Some(seen))
                }
                Change::Topic(key) => {
                    let Some(from) = lifecycle_store::set_topic(tx, state.id, key, now)? else { continue };
                    let name = self.settings.topics.get(key).map_or(key.as_str(), |t| t.name.as_str());
                    let from = from.unwrap_or_else(|| "none".to_string());
                    (format!("Topic {from} -> {key} ({name}) by {}", actor.name()), None)
                }
                Change::Uncc(address) => {
                    let Some(user) = user_store::find_user_id(tx, address)? else { continue };
                    if !lifecycle_store::remove_collaborator(tx, state.id, user)? {
                        continue;
                    }
                    let seen = customer_lines::copied(address.as_str(), false);
                    (format!("Collaborator {address} removed by {}", actor.name()), Some(seen))
                }
            };
            trace.record("command", "applied", text.clone());
            last = Some(self.system_entry(tx, state.id, &text, seen.as_deref(), now)?);
        }
        Ok((state, last))
    }

    /// The janitor's round: see [`crate::workflow::Workflows::autoclose`].
    pub(crate) fn autoclose(&self, tx: &mut Tx<'_>) -> store::Result<usize> {
        const DAY_MS: i64 = 24 * 60 * 60 * 1000;
        const PER_ROUND: i64 = 500;
        let before = self.clock.now_ms() - i64::from(self.settings.autoclose_days) * DAY_MS;
        let due = lifecycle_store::resolved_before(tx, before, PER_ROUND)?;
        for &ticket in &due {
            let Some(state) = ticket_store::find_ticket_state(tx, ticket)? else { continue };
            let mut trace = Trace::default();
            self.apply_changes(tx, &state, &Actor::Janitor, &[Change::Status(Status::Closed)], &mut trace)?;
        }
        Ok(due.len())
    }

    /// The mails a lifecycle event causes: the closed notice to the owner, or the assignment alert
    /// to the new assignee (not to the agent who assigned themselves).
    fn tell(
        &self,
        tx: &mut Tx<'_>,
        state: &TicketState,
        event: Event,
        actor: &Actor,
        assignee: &str,
        trace: &mut Trace,
    ) -> store::Result<()> {
        let audience = match event {
            Event::Closed => Audience {
                customer: ticket_store::customer_emails(tx, state.id)?.into_iter().next(),
                ..Audience::default()
            },
            _ => {
                let mut agents = outbox_store::alert_recipients(tx, state.id, false)?;
                if let Some(agent) = actor.agent() {
                    let own = directory_store::agent_emails(tx, agent)?;
                    agents.retain(|a| !own.contains(a));
                }
                Audience { agents, ..Audience::default() }
            }
        };
        let outgoing = Outgoing { event, is_normal: true, ticket: Some(state.id) };
        let context = |mail: &Planned| Queued {
            assignee: Some(assignee.to_string()),
            actor: Some(actor.name()),
            ..Queued::on_ticket(mail, state)
        };
        self.enqueue_planned(tx, &outgoing, &audience, false, trace, context)?;
        Ok(())
    }
}
