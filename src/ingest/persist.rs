//! The writing half of the workflow: identify users, open or update tickets, and store the entry
//! with its attachments and Message-ID. Runs inside the caller's transaction.

use rand::RngExt;
use sha2::{Digest, Sha256};

use super::notify::Notice;
use super::routing::Refusal;
use super::{Incoming, Outcome, Pipeline};
use crate::core::address::EmailAddress;
use crate::core::authres;
use crate::core::customer_lines::{self, Handler};
use crate::core::email::{InboundEmail, Mailbox};
use crate::core::identify::{self, ManagerTarget};
use crate::core::ids::{AgentId, EntryId, OrgId, TeamId, TicketId, UserId};
use crate::core::notify::Event;
use crate::core::quote;
use crate::core::subject::clean_subject;
use crate::core::thread::TicketState;
use crate::core::ticket::{Role, Status, TicketNumber};
use crate::core::trace::Trace;
use crate::store::inbound::Source;
use crate::store::lifecycle::Assignee;
use crate::store::tickets::{
    self as ticket_store, Direction, EntryClass, EntryKind, NewAttachment, NewEntry, NewTicket,
};
use crate::store::users::UserStatus;
use crate::store::{self, StoreError, Tx, directory as directory_store, users as user_store};

/// Who an entry is by.
#[derive(Clone, Copy, Debug)]
pub(super) enum Author {
    User(UserId),
    Agent(AgentId),
    /// Not attributed: held mail, whose sender could not be authenticated.
    Unknown,
}

/// Attempts at minting an unused ticket number before giving up (a nearly full number space).
const MINT_ATTEMPTS: usize = 50;

impl Pipeline {
    /// Opens a new ticket for `email` (optionally linked to a closed predecessor).
    pub(super) fn open_ticket(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        linked: Option<TicketId>,
        trace: &mut Trace,
    ) -> store::Result<Outcome> {
        let (email, sender) = (msg.email, msg.sender);
        let now = self.clock.now_ms();
        if let Some(outcome) = self.require_registration(tx, msg, trace)? {
            return Ok(outcome);
        }
        let (org_match, refused) = self.sender_org(msg);
        let placement = self.place(tx, msg, org_match.as_ref().map(|m| m.org), trace)?;
        match &placement.refusal {
            Some(Refusal::Reject { rule, reason }) => {
                self.tell_refused(tx, email, msg.class == EntryClass::Normal, reason, trace)?;
                return Ok(super::quarantined(trace, &format!("rejected by rule {rule:?}: {reason}")));
            }
            Some(Refusal::Discard { rule }) => {
                return Ok(super::quarantined(
                    trace,
                    &format!("discarded by rule {rule:?}: nobody was told"),
                ));
            }
            None => {}
        }
        let (owner, org) = self.identify_with_org(tx, msg.sender, org_match, refused, trace)?;
        let Some(number) = self.mint_number(tx)? else {
            return Ok(super::quarantined(trace, "no free ticket number: widen tickets.number_format"));
        };
        let tags = self.settings.number_format.tags_in(&email.subject);
        let subject = clean_subject(&email.subject, &tags);

        let mut manager = org.and_then(|org| self.directory.orgs.get(&org)).and_then(|policy| policy.manager);
        let (mut assignee, mut alert) = ((None, None), (None, None));
        if let Some(found) = manager {
            let target = split_target(found.target);
            if !found.assign {
                alert = target;
            } else if placement.assignee.is_some() {
                // The topic says what the work is; it outranks the customer's account manager.
                trace.record("org", "manager-skipped", "the topic assigns this ticket");
                manager = None;
            } else {
                assignee = target;
            }
        }
        match placement.assignee {
            Some(Assignee::Agent(agent)) => assignee = (Some(agent), None),
            Some(Assignee::Team(team)) => assignee = (None, Some(team)),
            None => {}
        }
        let fields =
            msg.delivery.ticket_fields.as_ref().map_or_else(|| "{}".to_string(), ToString::to_string);
        let ticket = ticket_store::insert_ticket(
            tx,
            &NewTicket {
                number: &number,
                subject: &subject,
                user: owner,
                org,
                assignee_agent: assignee.0,
                assignee_team: assignee.1,
                alert_agent: alert.0,
                alert_team: alert.1,
                mailbox: msg.delivery.mailbox.as_deref(),
                linked_ticket: linked,
                topic: placement.topic.as_deref(),
                reply_from: placement.reply_from.as_ref().map(EmailAddress::as_str),
                priority: placement.priority.as_str(),
                custom: &fields,
                now_ms: now,
            },
        )?;
        trace.record(
            "ticket",
            "created",
            format!(
                "#{number} \"{subject}\"{}",
                linked.map_or(String::new(), |l| format!(", linked to ticket {l}"))
            ),
        );
        ticket_store::add_participant(tx, ticket, owner, Role::Owner, now)?;
        let mut new_collaborators = Vec::new();
        if msg.class == EntryClass::Normal {
            new_collaborators = self.add_collaborators(tx, ticket, email, sender, trace)?;
        }
        for address in &placement.add_collaborators {
            let mailbox = Mailbox { name: None, email: address.clone() };
            let (user, _) = self.identify(tx, &mailbox, trace)?;
            if ticket_store::add_participant(tx, ticket, user, Role::Cc, now)? {
                trace.record("collaborators", "added", format!("{address} (by rule)"));
                let seen = customer_lines::copied(address.as_str(), true);
                self.system_entry(
                    tx,
                    ticket,
                    &format!("Collaborator {address} added by rule"),
                    Some(&seen),
                    now,
                )?;
                new_collaborators.push(address.clone());
            }
        }
        new_collaborators.extend(self.add_primary_contacts(tx, ticket, org, now, trace)?);
        let entry = self.store_entry(tx, msg, owner, ticket, now)?;
        for (note, seen) in &placement.notes {
            self.system_entry(tx, ticket, note, seen.as_deref(), now)?;
        }
        if let Some(manager) = manager {
            let name = self.target_name(tx, manager.target)?;
            let (decision, text) = if manager.assign {
                ("assigned", format!("Assigned to {name} by rule (account manager of the organization)"))
            } else {
                ("alert", format!("Account manager {name} to be alerted"))
            };
            trace.record("org", decision, text.clone());
            let seen = if manager.assign { self.customer_handler_line(tx, manager.target)? } else { None };
            self.system_entry(tx, ticket, &text, seen.as_deref(), now)?;
        }
        self.start_due(tx, ticket, placement.topic.as_deref(), trace)?;
        let mut status = Status::Open;
        if let Some(set) = placement.status.filter(|set| *set != Status::Open) {
            ticket_store::update_ticket_activity(tx, ticket, set, now)?;
            let text = format!("Status open -> {set} by rule");
            trace.record("status", set.as_str(), text.clone());
            let seen = customer_lines::status_changed(Status::Open, set);
            self.system_entry(tx, ticket, &text, seen.as_deref(), now)?;
            status = set;
        }
        let state = TicketState { id: ticket, number, subject, status, closed_at: None };
        let notice = Notice {
            event: Event::NewTicket,
            ticket: &state,
            entry: Some(entry),
            new_collaborators,
            bounce: None,
            auto_response: placement.auto_response.clone(),
            ..Notice::new(&state)
        };
        self.notify(tx, msg, notice, trace)?;
        Ok(Outcome::Created { ticket, number: state.number, entry })
    }

    /// Adds a customer message to an existing ticket, moving its status as a customer reply does.
    pub(super) fn add_to_ticket(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        ticket: TicketId,
        reopen: bool,
        trace: &mut Trace,
    ) -> store::Result<Outcome> {
        let (email, sender) = (msg.email, msg.sender);
        let now = self.clock.now_ms();
        let state = ticket_store::find_ticket_state(tx, ticket)?.ok_or(StoreError::NotFound)?;
        let (user, _) = self.identify_sender(tx, msg, trace)?;
        // Whoever threads into a ticket (someone's reply address, a known Message-ID) without
        // taking part is not made a collaborator: their mail is kept for agents, who add them.
        let outsider = !ticket_store::is_customer_participant(tx, ticket, &sender.email)?;
        let marked;
        let msg = if outsider {
            trace.record(
                "collaborators",
                EntryClass::NonParticipant.as_str(),
                format!(
                    "{} does not take part in this ticket: kept for agents, not made a collaborator \
                     (an agent adds them with #cc)",
                    sender.email
                ),
            );
            marked = Incoming { class: EntryClass::NonParticipant, ..*msg };
            &marked
        } else {
            msg
        };
        if msg.class == EntryClass::Normal {
            self.add_collaborators(tx, ticket, email, sender, trace)?;
        }
        let entry = self.store_entry(tx, msg, user, ticket, now)?;
        let status = if outsider {
            state.status
        } else if reopen {
            Status::Open
        } else {
            state.status.after_customer_reply()
        };
        ticket_store::update_ticket_activity(tx, ticket, status, now)?;
        if status == Status::Open && state.status != Status::Open {
            self.restart_due(tx, ticket, state.status, trace)?;
        }
        if status != state.status {
            let text = format!("Status {} -> {} by customer reply", state.status, status);
            trace.record("status", status.as_str(), text.clone());
            let seen = customer_lines::status_changed(state.status, status);
            self.system_entry(tx, ticket, &text, seen.as_deref(), now)?;
        }
        let notice = Notice {
            event: Event::Reply,
            ticket: &state,
            entry: Some(entry),
            new_collaborators: Vec::new(),
            bounce: None,
            ..Notice::new(&state)
        };
        self.notify(tx, msg, notice, trace)?;
        Ok(Outcome::Added { ticket, number: state.number, entry, held: false })
    }

    /// Stores an automatic message on a ticket without touching its status or participants.
    pub(super) fn add_entry_only(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        ticket: TicketId,
        trace: &mut Trace,
    ) -> store::Result<Outcome> {
        let now = self.clock.now_ms();
        let state = ticket_store::find_ticket_state(tx, ticket)?.ok_or(StoreError::NotFound)?;
        let (user, _) = self.identify_sender(tx, msg, trace)?;
        let entry = self.store_entry(tx, msg, user, ticket, now)?;
        trace.record("status", "unchanged", format!("{} mail never changes a ticket", msg.class));
        Ok(Outcome::Added { ticket, number: state.number, entry, held: false })
    }

    /// Stores a bounce report on the ticket of the message it returns, with a system note naming
    /// the failed recipients.
    pub(super) fn add_bounce(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        ticket: TicketId,
        failed: &[EmailAddress],
        trace: &mut Trace,
    ) -> store::Result<Outcome> {
        let outcome = self.add_entry_only(tx, msg, ticket, trace)?;
        let failed: Vec<String> = match failed {
            [] => vec!["(recipient not stated)".to_string()],
            failed => failed.iter().map(EmailAddress::to_string).collect(),
        };
        let note = format!("Delivery failed for: {}", failed.join(", "));
        self.system_entry(tx, ticket, &note, None, self.clock.now_ms())?;
        let Some(state) = ticket_store::find_ticket_state(tx, ticket)? else { return Ok(outcome) };
        let notice = Notice {
            event: Event::Bounce,
            ticket: &state,
            entry: None,
            new_collaborators: Vec::new(),
            bounce: Some((failed, note.to_string())),
            ..Notice::new(&state)
        };
        self.notify(tx, msg, notice, trace)?;
        Ok(outcome)
    }

    /// Adds the primary contacts of `org` to `ticket` (each found or created); those added.
    pub(super) fn add_primary_contacts(
        &self,
        tx: &mut Tx<'_>,
        ticket: TicketId,
        org: Option<OrgId>,
        now: i64,
        trace: &mut Trace,
    ) -> store::Result<Vec<EmailAddress>> {
        let mut added = Vec::new();
        let Some(policy) = org.and_then(|org| self.directory.orgs.get(&org)) else { return Ok(added) };
        for contact in &policy.primary_contacts {
            let (user, _) = user_store::ensure_user(tx, contact, None, org, now)?;
            if ticket_store::add_participant(tx, ticket, user, Role::PrimaryContact, now)? {
                trace.record(
                    "org",
                    "primary-contact",
                    format!("{contact} added (primary contact of {})", policy.key),
                );
                added.push(contact.clone());
            }
        }
        Ok(added)
    }

    /// Whether the sender is a locked user (`mailgate user lock`, the console): recorded in the trace.
    pub(super) fn sender_locked(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        trace: &mut Trace,
    ) -> store::Result<bool> {
        let status =
            crate::store::accounts::user_login(tx, msg.sender.email.as_str())?.map(|user| user.status);
        let locked = status == Some(UserStatus::Disabled);
        if locked {
            trace.record("sender", "locked", format!("{} is a locked user", msg.sender.email));
        }
        Ok(locked)
    }

    /// Marks a locked user's message for the agents: a system line after it (customers never see it).
    pub(super) fn mark_locked(
        &self,
        tx: &mut Tx<'_>,
        outcome: &Outcome,
        trace: &mut Trace,
    ) -> store::Result<()> {
        let (Outcome::Created { ticket, .. } | Outcome::Added { ticket, .. }) = outcome else {
            return Ok(());
        };
        let text =
            "The message above is from a locked user (they cannot sign in; unlock them on their record)";
        self.system_entry(tx, *ticket, text, None, self.clock.now_ms())?;
        trace.record("sender", "marked", "a system line tells the agents the sender is locked");
        Ok(())
    }

    /// `registration.reject_unregistered_email`: a new ticket mailed by someone without an account
    /// is quarantined and its sender told how to get one. Web and console tickets are the portal's
    /// and the agents' business.
    fn require_registration(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        trace: &mut Trace,
    ) -> store::Result<Option<Outcome>> {
        let Some(hint) = &self.settings.registration_required else { return Ok(None) };
        if !matches!(msg.delivery.source, Source::Pipe | Source::Imap) {
            return Ok(None);
        }
        let status =
            crate::store::accounts::user_login(tx, msg.sender.email.as_str())?.map(|user| user.status);
        if status == Some(UserStatus::Registered) {
            trace.record("registration", "registered", msg.sender.email.to_string());
            return Ok(None);
        }
        trace.record("registration", "required", format!("{} has no account", msg.sender.email));
        self.tell_refused(tx, msg.email, msg.class == EntryClass::Normal, hint, trace)?;
        Ok(Some(super::quarantined(trace, "registration required: the sender has no account")))
    }

    /// Finds or creates `sender` (an address an agent named); a new user gets the organization of
    /// its domain.
    pub(super) fn identify(
        &self,
        tx: &mut Tx<'_>,
        sender: &Mailbox,
        trace: &mut Trace,
    ) -> store::Result<(UserId, Option<OrgId>)> {
        let org_match = identify::match_org(&sender.email, &self.directory.org_by_domain);
        self.identify_with_org(tx, sender, org_match, None, trace)
    }

    /// Finds or creates the sender of `msg`. With `[auth]`, a sender whose domain an organization
    /// claims joins it (and brings its primary contacts and manager) only when the trusted MTA
    /// authenticated the mail, or we wrote it for someone we authenticated: anyone can put an
    /// organization's domain in a From.
    fn identify_sender(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        trace: &mut Trace,
    ) -> store::Result<(UserId, Option<OrgId>)> {
        let (org_match, refused) = self.sender_org(msg);
        self.identify_with_org(tx, msg.sender, org_match, refused, trace)
    }

    /// The organization the sender of `msg` joins, or why a claimed one is refused (see
    /// [`Pipeline::identify_sender`]). Writes nothing.
    fn sender_org(&self, msg: &Incoming<'_>) -> (Option<identify::OrgMatch>, Option<String>) {
        let found = identify::match_org(&msg.sender.email, &self.directory.org_by_domain);
        let (org_match, refused) = match (found, self.settings.trusted_authserv_id.as_deref()) {
            (Some(found), Some(authserv_id)) if msg.delivery.authenticated.is_none() => {
                match authres::verify(&msg.email.headers, authserv_id, msg.sender.email.domain()) {
                    Ok(_) => (Some(found), None),
                    Err(why) => {
                        let key = self.directory.orgs.get(&found.org).map_or("?", |p| p.key.as_str());
                        let reason = format!(
                            "none: {} claims {key} by domain {}, but the sender is not authenticated ({why}); \
                             not joined, no primary contacts, no account manager",
                            msg.sender.email, found.domain
                        );
                        (None, Some(reason))
                    }
                }
            }
            (found, _) => (found, None),
        };
        (org_match, refused)
    }

    fn identify_with_org(
        &self,
        tx: &mut Tx<'_>,
        sender: &Mailbox,
        org_match: Option<identify::OrgMatch>,
        refused: Option<String>,
        trace: &mut Trace,
    ) -> store::Result<(UserId, Option<OrgId>)> {
        let now = self.clock.now_ms();
        let org = org_match.as_ref().map(|m| m.org);
        let (user, created) = user_store::ensure_user(tx, &sender.email, sender.name.as_deref(), org, now)?;
        if !created && let Some(name) = &sender.name {
            user_store::fill_user_name(tx, user, name, now)?;
        }
        trace.record("identify", if created { "new-user" } else { "known-user" }, sender.email.to_string());
        let org_reason = match &org_match {
            None if refused.is_some() => refused.unwrap_or_default(),
            Some(m) => format!(
                "{} by domain {}",
                self.directory.orgs.get(&m.org).map_or("?", |p| p.key.as_str()),
                m.domain
            ),
            None if crate::core::freemail::is_free_mail(sender.email.domain()) => {
                format!("none: {} is a free-mail domain", sender.email.domain())
            }
            None => format!("none: no organization claims {}", sender.email.domain()),
        };
        trace.record("org", if org.is_some() { "matched" } else { "none" }, org_reason);
        Ok((user, org))
    }

    fn add_collaborators(
        &self,
        tx: &mut Tx<'_>,
        ticket: TicketId,
        email: &InboundEmail,
        sender: &Mailbox,
        trace: &mut Trace,
    ) -> store::Result<Vec<EmailAddress>> {
        let now = self.clock.now_ms();
        let found = identify::collaborators(
            email,
            &sender.email,
            &self.settings.own_addresses,
            &self.directory,
            self.settings.max_collaborators,
        );
        for mailbox in &found.added {
            let org = identify::match_org(&mailbox.email, &self.directory.org_by_domain).map(|m| m.org);
            let (user, _) = user_store::ensure_user(tx, &mailbox.email, mailbox.name.as_deref(), org, now)?;
            if ticket_store::add_participant(tx, ticket, user, Role::Cc, now)? {
                trace.record("collaborators", "added", mailbox.email.to_string());
            }
        }
        for (address, why) in &found.skipped {
            if *why != identify::Skip::OwnAddress && *why != identify::Skip::Sender {
                trace.record("collaborators", "skipped", format!("{address}: {}", why.as_str()));
            }
        }
        Ok(found.added.into_iter().map(|m| m.email).collect())
    }

    /// A customer's message as an entry: see [`Pipeline::store_message`].
    fn store_entry(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        author: UserId,
        ticket: TicketId,
        now: i64,
    ) -> store::Result<EntryId> {
        self.store_message(
            tx,
            msg,
            ticket,
            As { kind: EntryKind::Message, author: Author::User(author), text: None },
            now,
        )
    }

    /// The entry for the message itself, its attachments (de-duplicated) and its Message-ID.
    pub(super) fn store_message(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        ticket: TicketId,
        entered: As<'_>,
        now: i64,
    ) -> store::Result<EntryId> {
        let As { kind, author, text } = entered;
        let email = msg.email;
        let stripped = match text {
            Some(text) => text.stripped.clone(),
            None => stripped_text(email),
        };
        let body = text.map_or(email.text.as_str(), |t| t.body.as_str());
        let entry = ticket_store::insert_entry(
            tx,
            &NewEntry {
                ticket,
                kind,
                author_user: match author {
                    Author::User(user) => Some(user),
                    _ => None,
                },
                author_agent: match author {
                    Author::Agent(agent) => Some(agent),
                    _ => None,
                },
                class: msg.class,
                subject: &email.subject,
                body_text: body,
                body_html: email.html.as_deref(),
                stripped_text: (stripped != body).then_some(stripped.as_str()),
                source: msg.delivery.source.as_str(),
                customer_text: None,
                inbound: Some(msg.inbound),
                now_ms: now,
            },
        )?;
        for attachment in &email.attachments {
            let sha = hex::encode(Sha256::digest(&attachment.data));
            let blob = ticket_store::ensure_blob(tx, &sha, &attachment.data)?;
            ticket_store::insert_attachment(
                tx,
                &NewAttachment {
                    entry,
                    blob,
                    filename: attachment.filename.as_deref(),
                    content_type: &attachment.content_type,
                    content_id: attachment.content_id.as_deref(),
                    inline: attachment.inline,
                },
            )?;
        }
        if let Some(id) = &email.message_id {
            ticket_store::insert_message_id(tx, id, ticket, Some(entry), Direction::In)?;
        }
        Ok(entry)
    }

    pub(super) fn system_entry(
        &self,
        tx: &mut Tx<'_>,
        ticket: TicketId,
        text: &str,
        customer_text: Option<&str>,
        now: i64,
    ) -> store::Result<EntryId> {
        ticket_store::insert_entry(
            tx,
            &NewEntry {
                ticket,
                kind: EntryKind::System,
                author_user: None,
                author_agent: None,
                class: EntryClass::Normal,
                subject: "",
                body_text: text,
                body_html: None,
                stripped_text: None,
                source: "rule",
                inbound: None,
                customer_text,
                now_ms: now,
            },
        )
    }

    /// A ticket number not in use yet, or `None` after `MINT_ATTEMPTS` collisions.
    pub(super) fn mint_number(&self, tx: &mut Tx<'_>) -> store::Result<Option<TicketNumber>> {
        let mut rng = crate::app::system_rng();
        for _ in 0..MINT_ATTEMPTS {
            let number = self.settings.number_format.mint(|| rng.random_range(0..10u8));
            if !ticket_store::ticket_number_exists(tx, &number)? {
                return Ok(Some(number));
            }
        }
        Ok(None)
    }

    /// What the customer reads when the ticket is given to `target`.
    fn customer_handler_line(&self, tx: &mut Tx<'_>, target: ManagerTarget) -> store::Result<Option<String>> {
        Ok(match target {
            ManagerTarget::Agent(agent) => {
                customer_lines::assigned(Handler::Agent(&directory_store::agent_name(tx, agent)?))
            }
            ManagerTarget::Team(team) => {
                customer_lines::assigned(Handler::Team(&directory_store::team_name(tx, team)?))
            }
        })
    }

    fn target_name(&self, tx: &mut Tx<'_>, target: ManagerTarget) -> store::Result<String> {
        match target {
            ManagerTarget::Agent(agent) => Ok(format!("agent {}", directory_store::agent_key(tx, agent)?)),
            ManagerTarget::Team(team) => Ok(format!("team {}", directory_store::team_key(tx, team)?)),
        }
    }
}

/// The reply without its quoted history. Plain-text rules first; when they find nothing but the
/// HTML has a quote container (Gmail, Apple Mail, Outlook...), the text of the HTML above it.
/// What a message is stored as: the kind of entry, its author, and its texts when they differ from
/// the message's.
#[derive(Clone, Copy)]
pub(super) struct As<'a> {
    pub kind: EntryKind,
    pub author: Author,
    pub text: Option<&'a EntryText>,
}

/// An entry's texts when they differ from the message's (an agent's commands removed).
pub(super) struct EntryText {
    pub body: String,
    pub stripped: String,
}

pub(super) fn stripped_text(email: &InboundEmail) -> String {
    let stripped = quote::strip_quoted_text(&email.text);
    if stripped != email.text.trim() {
        return stripped;
    }
    let Some(html) = &email.html else { return stripped };
    let above_quote = quote::strip_quoted_html(html);
    if above_quote.len() == html.len() {
        return stripped;
    }
    let text = crate::parse::html_to_text(&above_quote);
    if text.trim().is_empty() { stripped } else { quote::strip_quoted_text(&text) }
}

fn split_target(target: ManagerTarget) -> (Option<AgentId>, Option<TeamId>) {
    match target {
        ManagerTarget::Agent(agent) => (Some(agent), None),
        ManagerTarget::Team(team) => (None, Some(team)),
    }
}
