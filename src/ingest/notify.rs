//! The outgoing half of an ingest: the automatic mails an event causes, checked by the governor and
//! written to the outbox in the same transaction, each with a Message-ID minted now and recorded in
//! `message_ids` (so replies to it thread, and bounces of it are recognised as ours).

use super::{Incoming, Pipeline};
use crate::core::address::{EmailAddress, MessageId};
use crate::core::classify::Class;
use crate::core::email::InboundEmail;
use crate::core::identify::is_own_address;
use crate::core::ids::{AgentId, EntryId, TicketId};
use crate::core::notify::{self, Audience, AutoResponse, Event, History, Mail, Planned};
use crate::core::thread::TicketState;
use crate::core::trace::Trace;
use crate::outbox::context::{BounceReport, MessageKind, Person, Queued, QueuedMessage, QueuedTicket};
use crate::parse::{self, Limits, Malformed};
use crate::store::outbox::{self as outbox_store, NewOutbound};
use crate::store::tickets::{self as ticket_store, Direction, EntryClass};
use crate::store::{self, Tx, directory as directory_store};

const HOUR_MS: i64 = 60 * 60 * 1000;

/// The event behind a batch of automatic mails and what the governor and outbox need about it.
pub(crate) struct Outgoing {
    pub event: Event,
    pub is_normal: bool,
    pub ticket: Option<TicketId>,
}

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
    /// What the mail answers in its recipients' clients, when not the incoming message itself.
    pub in_reply_to: Option<MessageId>,
    /// The agent who wrote a response or note (not alerted about their own note).
    pub author: Option<AgentId>,
    /// For held mail: the agent to tell, and why it was held.
    pub held: Option<(AgentId, String)>,
    /// For a new ticket: which auto-response its topic and rules chose.
    pub auto_response: AutoResponse,
}

impl<'a> Notice<'a> {
    pub fn new(ticket: &'a TicketState) -> Notice<'a> {
        Notice {
            event: Event::Reply,
            ticket,
            entry: None,
            new_collaborators: Vec::new(),
            bounce: None,
            in_reply_to: None,
            author: None,
            held: None,
            auto_response: AutoResponse::Usual,
        }
    }
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
        let audience = match notice.event {
            Event::AgentResponse => Audience {
                customers: ticket_store::customer_emails(tx, notice.ticket.id)?,
                ..Audience::default()
            },
            Event::AgentNote => {
                let author = match notice.author {
                    Some(agent) => directory_store::agent_emails(tx, agent)?,
                    None => Vec::new(),
                };
                let mut agents = outbox_store::alert_recipients(tx, notice.ticket.id, false)?;
                agents.retain(|agent| !author.contains(agent));
                Audience { agents, ..Audience::default() }
            }
            Event::Held => {
                let agents = match &notice.held {
                    Some((agent, _)) => directory_store::agent_email(tx, *agent)?.into_iter().collect(),
                    None => Vec::new(),
                };
                Audience { agents, ..Audience::default() }
            }
            _ => Audience {
                customer: (!self.directory.agents_by_email.contains_key(sender)
                    && !is_own_address(sender, &self.settings.own_addresses))
                .then(|| sender.clone()),
                new_collaborators: notice.new_collaborators.clone(),
                agents: outbox_store::alert_recipients(
                    tx,
                    notice.ticket.id,
                    policy.alert_all_when_unassigned,
                )?,
                customers: Vec::new(),
            },
        };
        let new_ticket = notice.event == Event::NewTicket;
        let mut audience = audience;
        if new_ticket && notice.auto_response == AutoResponse::Skip && audience.customer.take().is_some() {
            trace.record("notify", "skipped", "no auto-response: the topic or a rule said so");
        }
        let outgoing = Outgoing {
            event: notice.event,
            is_normal: msg.class == EntryClass::Normal,
            ticket: Some(notice.ticket.id),
        };
        self.enqueue_planned(tx, &outgoing, &audience, new_ticket, trace, |mail| {
            context(msg, &notice, mail)
        })?;
        Ok(())
    }

    /// Tells the sender of a message refused over a limit, when its headers show a person wrote it.
    /// Only the header block is read: the refused body is never parsed.
    pub(super) fn notify_rejection(
        &self,
        tx: &mut Tx<'_>,
        raw: &[u8],
        refused: &Malformed,
        trace: &mut Trace,
    ) -> store::Result<()> {
        let limits = &self.settings.limits;
        let Some(reason) = rejection_reason(refused, limits) else {
            trace.record("notify", "none", "a malformed header block is never answered");
            return Ok(());
        };
        let Ok(email) = parse::parse_header_block(raw, limits) else {
            trace.record("notify", "none", "the header block is unreadable too");
            return Ok(());
        };
        let class = self.classify(tx, &email)?.class;
        self.tell_refused(tx, &email, class == Class::Normal, &reason, trace)
    }

    /// Sends `rejection_notice` with `reason` to the person who wrote `email` (never to a machine,
    /// an agent or ourselves; the governor counts it like every answer to a customer).
    pub(super) fn tell_refused(
        &self,
        tx: &mut Tx<'_>,
        email: &InboundEmail,
        is_normal: bool,
        reason: &str,
        trace: &mut Trace,
    ) -> store::Result<()> {
        let Some(sender) = email.from.as_ref().or(email.sender.as_ref()) else {
            trace.record("notify", "none", "no sender address to tell");
            return Ok(());
        };
        let customer = (!self.directory.agents_by_email.contains_key(&sender.email)
            && !is_own_address(&sender.email, &self.settings.own_addresses))
        .then(|| sender.email.clone());
        let audience = Audience { customer, ..Audience::default() };
        let outgoing = Outgoing { event: Event::Rejected, is_normal, ticket: None };
        self.enqueue_planned(tx, &outgoing, &audience, false, trace, |mail| {
            let name = sender.name.clone().unwrap_or_default();
            Queued {
                reason: Some(reason.to_string()),
                in_reply_to: email.message_id.as_ref().map(|id| id.as_str().to_string()),
                ..Queued::to(mail.mail, &mail.to).named(name)
            }
        })?;
        Ok(())
    }

    /// Plans, governs and enqueues the mails `outgoing` causes for `audience`.
    pub(crate) fn enqueue_planned(
        &self,
        tx: &mut Tx<'_>,
        outgoing: &Outgoing,
        audience: &Audience,
        new_ticket: bool,
        trace: &mut Trace,
        context: impl Fn(&Planned) -> Queued,
    ) -> store::Result<usize> {
        let policy = &self.settings.notifications;
        let (planned, suppressed) = notify::plan(outgoing.event, outgoing.is_normal, audience, policy);
        for held in suppressed {
            trace.record(
                "notify",
                "suppressed",
                format!("{} to {}: {}", held.mail.template(), held.to, held.reason),
            );
        }
        let now = self.clock.now_ms();
        let mut queued = 0;
        for mail in planned {
            if !self.sends_mail {
                let why = "imported without --notify";
                trace.record(
                    "notify",
                    "suppressed",
                    format!("{} to {}: {why}", mail.mail.template(), mail.to),
                );
                continue;
            }
            let history = self.history(tx, &mail, outgoing.ticket, new_ticket, now)?;
            if let Err(reason) = notify::govern(&mail, history, policy) {
                trace.record(
                    "notify",
                    "governed",
                    format!("{} to {}: {reason}", mail.mail.template(), mail.to),
                );
                continue;
            }
            let message_id = self.mint_message_id();
            let context = context(&mail).to_json();
            outbox_store::enqueue(
                tx,
                &NewOutbound {
                    message_id: &message_id,
                    ticket: outgoing.ticket,
                    recipient: &mail.to,
                    template: mail.mail.template(),
                    context_json: &context,
                    now_ms: now,
                },
            )?;
            if let Some(ticket) = outgoing.ticket {
                ticket_store::insert_message_id(tx, &message_id, ticket, None, Direction::Out)?;
            }
            trace.record(
                "notify",
                "queued",
                format!("{} to {} as {message_id}", mail.mail.template(), mail.to),
            );
            queued += 1;
        }
        Ok(queued)
    }

    /// The governor's counts; only mail that answers customers is counted.
    fn history(
        &self,
        tx: &mut Tx<'_>,
        mail: &Planned,
        ticket: Option<TicketId>,
        new_ticket: bool,
        now: i64,
    ) -> store::Result<History> {
        if !mail.mail.answers_customer() {
            return Ok(History::default());
        }
        let recent = outbox_store::count_answers_to_since(tx, &mail.to, now - HOUR_MS)?;
        // A ticket opened in this transaction has no earlier auto-response: no need to count.
        let auto_responses = match ticket {
            Some(ticket) if mail.mail == Mail::NewTicketAutoResponse && !new_ticket => {
                outbox_store::count_on_ticket(tx, ticket, mail.mail.template())?
            }
            _ => 0,
        };
        Ok(History {
            automatic_to_address_last_hour: u32::try_from(recent).unwrap_or(u32::MAX),
            auto_responses_on_ticket: u32::try_from(auto_responses).unwrap_or(u32::MAX),
        })
    }

    /// `<32 random hex digits@our Message-ID domain>`: unguessable, and recognisably ours.
    pub(super) fn mint_message_id(&self) -> MessageId {
        crate::app::mint_message_id(&self.settings.message_id_domain)
    }
}

/// The stored context, fixed at enqueue time (what was true when the event happened). The worker
/// adds what is minted at send time: links and reply addresses.
fn context(msg: &Incoming<'_>, notice: &Notice<'_>, mail: &Planned) -> Queued {
    if mail.mail == Mail::NewTicketAutoResponse {
        return auto_response_context(msg, notice, mail);
    }
    let author = Person {
        name: msg.sender.name.clone().unwrap_or_default(),
        email: msg.sender.email.as_str().to_string(),
    };
    Queued {
        message: Some(QueuedMessage {
            entry_id: notice.entry.map(|e| e.0),
            kind: match notice.event {
                Event::AgentNote => MessageKind::Note,
                Event::AgentResponse => MessageKind::Response,
                Event::Held => MessageKind::Held,
                _ => MessageKind::Message,
            },
            author_name: author.name.clone(),
            author_email: author.email.clone(),
        }),
        owner: Some(author),
        in_reply_to: answered(msg, notice),
        reason: notice.held.as_ref().map(|(_, reason)| reason.clone()),
        bounce: notice.bounce.as_ref().map(|(recipients, diagnostic)| BounceReport {
            recipients: recipients.clone(),
            diagnostic: diagnostic.clone(),
        }),
        ..Queued::on_ticket(mail, notice.ticket)
    }
}

/// The auto-response goes to a From nobody has verified (anyone can write any address there, or
/// type it into the web form): it carries no free text of the requester's beyond the subject,
/// truncated to one short line; no quote of the message, no name.
fn auto_response_context(msg: &Incoming<'_>, notice: &Notice<'_>, mail: &Planned) -> Queued {
    let ticket =
        QueuedTicket { subject: short_subject(&notice.ticket.subject), ..QueuedTicket::of(notice.ticket) };
    let email = msg.sender.email.as_str().to_string();
    let variant = match &notice.auto_response {
        AutoResponse::Variant(name) => Some(name.clone()),
        AutoResponse::Usual | AutoResponse::Skip => None,
    };
    Queued {
        variant,
        ticket: Some(ticket),
        message: Some(QueuedMessage { author_email: email.clone(), ..QueuedMessage::default() }),
        owner: Some(Person { name: String::new(), email }),
        in_reply_to: answered(msg, notice),
        ..Queued::to(mail.mail, &mail.to)
    }
}

/// The Message-ID a mail about `msg` answers.
fn answered(msg: &Incoming<'_>, notice: &Notice<'_>) -> Option<String> {
    // Never the `.invalid` id of a message we wrote for someone (web page, console, a ticket an
    // agent opens for a customer): no recipient's client has it.
    let written_here = |id: &&MessageId| id.as_str().to_ascii_lowercase().ends_with(".invalid");
    let own = msg.email.message_id.as_ref().filter(|id| !written_here(id));
    notice.in_reply_to.as_ref().or(own).map(|id| id.as_str().to_string())
}

/// The longest subject an auto-response repeats.
const AUTO_RESPONSE_SUBJECT_CHARS: usize = 80;

/// `subject` on one line, at most [`AUTO_RESPONSE_SUBJECT_CHARS`] characters (an ellipsis marks a cut).
fn short_subject(subject: &str) -> String {
    let line =
        subject.split(char::is_control).filter(|part| !part.trim().is_empty()).collect::<Vec<_>>().join(" ");
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= AUTO_RESPONSE_SUBJECT_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(AUTO_RESPONSE_SUBJECT_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// What the sender of a refused message is told, or `None` when the refusal concerns a header block
/// no honest mail client writes (those are never answered: the sender may be forged or a machine).
fn rejection_reason(refused: &Malformed, limits: &Limits) -> Option<String> {
    match refused {
        Malformed::TooLarge { size, limit } => Some(format!(
            "Your message is {}; we accept messages up to {} including attachments. \
             Please send large files as a link, or split them over several messages.",
            human_size(*size),
            human_size(*limit),
        )),
        Malformed::TooDeep { .. } | Malformed::TooManyParts { .. } => Some(format!(
            "Your message has more attachments or nested parts than we accept (at most {} parts). \
             Please send fewer attachments per message.",
            limits.max_mime_parts
        )),
        Malformed::Empty
        | Malformed::TooManyHeaders { .. }
        | Malformed::HeaderBlockTooLarge { .. }
        | Malformed::Unparseable(_) => None,
    }
}

/// `25 MB`, `1.5 MB`, `300 KB`: sizes the way mail clients show them (1 MB = 1024 KB).
fn human_size(bytes: usize) -> String {
    const KB: f64 = 1024.0;
    let bytes = bytes as f64;
    if bytes < KB * KB {
        format!("{} KB", (bytes / KB).ceil())
    } else {
        let mb = bytes / (KB * KB);
        if mb >= 10.0 { format!("{mb:.0} MB") } else { format!("{:.1} MB", mb).replace(".0 ", " ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_mail_client() {
        assert_eq!(human_size(300 * 1024), "300 KB");
        assert_eq!(human_size(1), "1 KB");
        assert_eq!(human_size(3 * 1024 * 1024 / 2), "1.5 MB");
        assert_eq!(human_size(2 * 1024 * 1024), "2 MB");
        assert_eq!(human_size(25 * 1024 * 1024), "25 MB");
    }

    #[test]
    fn only_size_and_structure_refusals_are_explained() {
        let limits = Limits::default();
        let too_large = Malformed::TooLarge { size: 30 * 1024 * 1024, limit: 25 * 1024 * 1024 };
        let text = rejection_reason(&too_large, &limits).unwrap();
        assert!(text.contains("30 MB") && text.contains("25 MB"), "{text}");
        assert!(rejection_reason(&Malformed::TooManyParts { limit: 5 }, &limits).is_some());
        assert!(rejection_reason(&Malformed::TooManyHeaders { count: 9, limit: 5 }, &limits).is_none());
        assert!(rejection_reason(&Malformed::Empty, &limits).is_none());
    }
}
