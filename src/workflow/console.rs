//! The admin command line acting on tickets (`mailgate ticket assign|status|merge|note|reply`). A
//! reply or note is written as the mail the agent would send (From their address, to the reply or
//! note address signed for them) and ingested like one, so commands, relays and the trace are
//! exactly those of email; assignment, status, priority, collaborators and merges go through the
//! same lifecycle code, with `an admin` as actor on the command line and the signed-in agent in the
//! web console.

use crate::ingest::lifecycle::{Actor, Change};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart};

use super::Workflows;
use crate::auth::token::{Claims, Participant, Purpose};
use crate::core::address::EmailAddress;
use crate::core::command::{Command, Priority};
use crate::core::identify::tagged_address;
use crate::core::ids::TicketId;
use crate::core::ticket::{Status, TicketNumber};
use crate::core::trace::Trace;
use crate::ingest::{Delivery, IngestError, Job, Report};
use crate::store::inbound::Source;
use crate::store::tickets as ticket_store;
use crate::store::{StoreError, Tx, directory as directory_store, links as link_store};

/// A message written for a participant (on the command line or the web page), to be ingested as
/// their mail.
pub struct Written {
    pub ticket: TicketId,
    pub participant: Participant,
    /// Their current link epoch (the address is signed for it).
    pub epoch: u64,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub files: Vec<crate::outbox::compose::File>,
}

/// A ticket a visitor opens on the portal.
pub struct WebTicket {
    /// `Name <address>` or an address.
    pub from: String,
    pub subject: String,
    pub text: String,
    /// The writer is a registered user signed in to the portal (their address is proven), not a
    /// guest who typed an address.
    pub signed_in: bool,
    /// The public topic they chose.
    pub topic: Option<String>,
    /// The values of its ticket form, checked by the caller (`Form::check_by`).
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
    pub files: Vec<crate::outbox::compose::File>,
}

/// What the command line or the agent console asks for.
#[derive(Clone, Debug)]
pub enum ConsoleAction {
    /// An active agent's or team's key.
    Assign(String),
    Status(Status),
    Priority(Priority),
    /// A `[[topics]]` key.
    Topic(String),
    /// Add a collaborator.
    Cc(EmailAddress),
    /// Remove a collaborator.
    Uncc(EmailAddress),
    /// Merge the ticket into ticket `into`; tickets of different customers only with
    /// `across_customers` (the admin's command line).
    Merge {
        into: TicketNumber,
        across_customers: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("no ticket #{0}")]
    NoTicket(TicketNumber),
    #[error("no active agent has the key {0:?}")]
    NoAgent(String),
    #[error("{0}")]
    Refused(String),
    /// The message as mail (files in base64) would be larger than `limits.max_message_bytes`.
    #[error("the message would be {size} bytes as mail; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

const LOOK_AHEAD_MS: i64 = 60 * 60 * 1000;

impl Workflows {
    /// Assigns or changes the status of ticket `number` as an admin. Returns the changes made.
    pub async fn console_change(
        &self,
        number: &TicketNumber,
        action: ConsoleAction,
    ) -> Result<Vec<String>, ConsoleError> {
        self.console_change_as(number, Actor::Admin, action).await
    }

    /// Applies `action` to ticket `number` as `actor` (the agent signed in to the web console), so
    /// the system entry names them. Returns the changes made (none when nothing changed).
    pub async fn console_change_as(
        &self,
        number: &TicketNumber,
        actor: Actor,
        action: ConsoleAction,
    ) -> Result<Vec<String>, ConsoleError> {
        let (pipeline, number) = (self.ingestor.pipeline(), number.clone());
        let shown = number.clone();
        let result = self
            .app()
            .store()
            .write(move |tx| {
                let Some(state) = ticket_store::find_ticket_state_by_number(tx, &number)? else {
                    return Ok(None);
                };
                let id = state.id;
                let resolve = |tx: &mut Tx<'_>, command: Command| {
                    let resolved = pipeline.resolve_commands(tx, id, &[(1, command)])?;
                    Ok::<_, StoreError>(resolved.map_err(|error| error.reason))
                };
                let changes = match action {
                    ConsoleAction::Assign(key) => resolve(tx, Command::Assign(key.to_ascii_lowercase()))?,
                    ConsoleAction::Status(status) => resolve(tx, Command::Status(status))?,
                    ConsoleAction::Priority(priority) => resolve(tx, Command::Priority(priority))?,
                    ConsoleAction::Topic(key) => resolve(tx, Command::Topic(key.to_ascii_lowercase()))?,
                    ConsoleAction::Cc(address) => resolve(tx, Command::Cc(address))?,
                    ConsoleAction::Uncc(address) => resolve(tx, Command::Uncc(address))?,
                    // Checked here, not as `#merge`: the command line may merge across customers.
                    ConsoleAction::Merge { into, across_customers } => pipeline
                        .check_merge(tx, &state, &into, across_customers)?
                        .map(|target| vec![Change::Merge(target)]),
                };
                let changes = match changes {
                    Ok(changes) => changes,
                    Err(reason) => return Ok(Some(Err(reason))),
                };
                let mut trace = Trace::default();
                pipeline.apply_changes(tx, &state, &actor, &changes, &mut trace)?;
                Ok(Some(Ok(trace.steps.into_iter().map(|step| step.reason).collect())))
            })
            .await
            .map_err(IngestError::from)?;
        match result {
            None => Err(ConsoleError::NoTicket(shown)),
            Some(Err(reason)) => Err(ConsoleError::Refused(reason)),
            Some(Ok(done)) => Ok(done),
        }
    }

    /// Applies `change` to `ticket` as `actor` (a customer resolving their ticket on the web page).
    pub async fn change_as(&self, ticket: TicketId, actor: Actor, change: Change) -> Result<(), IngestError> {
        let pipeline = self.ingestor.pipeline();
        self.app()
            .store()
            .write(move |tx| {
                let Some(state) = ticket_store::find_ticket_state(tx, ticket)? else { return Ok(()) };
                let mut trace = Trace::default();
                pipeline.apply_changes(tx, &state, &actor, &[change], &mut trace).map(drop)
            })
            .await?;
        Ok(())
    }

    /// Writes `text` on ticket `number` as agent `agent_key`: a response relayed to the customer
    /// side (`purpose` reply) or an internal note (`purpose` note), through the email ingest path.
    pub async fn console_write(
        &self,
        number: &TicketNumber,
        agent_key: &str,
        purpose: Purpose,
        text: &str,
        files: Vec<crate::outbox::compose::File>,
    ) -> Result<Report, ConsoleError> {
        let number = number.clone();
        let key = agent_key.to_string();
        let found = self
            .app()
            .store()
            .read(move |tx| {
                let Some(state) = ticket_store::find_ticket_state_by_number(tx, &number)? else {
                    return Ok(Err(ConsoleError::NoTicket(number)));
                };
                let agent = directory_store::agent_with_alert_address(tx, &key)?;
                let Some((agent, email)) = agent else { return Ok(Err(ConsoleError::NoAgent(key))) };
                let participant = Participant::Agent(agent);
                let epoch = link_store::current_epoch(tx, state.id, participant)?.unwrap_or(0);
                Ok(Ok((state.id, state.subject, state.number, email, participant, epoch)))
            })
            .await
            .map_err(IngestError::from)??;
        let (ticket, subject, number, from, participant, epoch) = found;
        let message = Written {
            ticket,
            participant,
            epoch,
            from,
            subject: format!("Re: [#{number}] {subject}"),
            text: text.to_string(),
            files,
        };
        self.write_as(message, purpose, Source::Console).await
    }

    /// Ingests `message` as the mail its participant would send to their own signed `purpose`
    /// address: the email path, with its commands, relays and trace. A message larger as mail than
    /// `limits.max_message_bytes` is refused before anything is stored.
    pub async fn write_as(
        &self,
        message: Written,
        purpose: Purpose,
        source: Source,
    ) -> Result<Report, ConsoleError> {
        let to = self.signed_address(message.ticket, message.participant, message.epoch, purpose)?;
        let Written { from, subject, text, files, .. } = message;
        // Only our own callers write as a participant, after authenticating them.
        let authenticated = match source {
            Source::Web => "written on the ticket page through the participant's link",
            _ => "written by an agent signed in to the console, or an admin on the command line",
        };
        let delivery = Delivery { authenticated: Some(authenticated), ..Delivery::new(source) };
        self.ingest_composed(move || compose_raw(&from, &to, &subject, &text, files, source), delivery).await
    }

    /// Composes (with `compose`) and parses a message on the blocking pool, where CPU-heavy work
    /// belongs (a large reply would stall every request on an async worker), refuses it over the
    /// size limit, then ingests it.
    pub(super) async fn ingest_composed(
        &self,
        compose: impl FnOnce() -> Result<Vec<u8>, ConsoleError> + Send + 'static,
        delivery: Delivery,
    ) -> Result<Report, ConsoleError> {
        let pipeline = self.ingestor.pipeline();
        let limits = pipeline.settings().limits.clone();
        let job = tokio::task::spawn_blocking(move || {
            let raw = compose()?;
            if raw.len() > limits.max_message_bytes {
                return Err(ConsoleError::TooLarge { size: raw.len(), limit: limits.max_message_bytes });
            }
            Ok(Job::new(raw, delivery, &limits))
        })
        .await
        .map_err(|e| ConsoleError::Refused(format!("cannot write the message: {e}")))??;
        Ok(self.ingestor.commit(pipeline, std::sync::Arc::new(job)).await?)
    }

    /// A ticket opened on the web portal: written as its writer's mail to our first support
    /// address and ingested like one (source `web`), so threading, organizations, collaborators and
    /// the auto-response are those of email.
    pub async fn open_from_web(&self, ticket: WebTicket) -> Result<Report, ConsoleError> {
        let WebTicket { from, subject, text, signed_in, topic, fields, files } = ticket;
        let to = self
            .app()
            .settings()
            .own_addresses
            .first()
            .ok_or_else(|| ConsoleError::Refused("no support address is configured".to_string()))?
            .to_string();
        let delivery = Delivery {
            authenticated: signed_in.then_some("written on the portal by a signed-in user"),
            topic,
            ticket_fields: fields.filter(|fields| !fields.is_empty()).map(serde_json::Value::Object),
            ..Delivery::new(Source::Web)
        };
        self.ingest_composed(move || compose_raw(&from, &to, &subject, &text, files, Source::Web), delivery)
            .await
    }

    fn signed_address(
        &self,
        ticket: TicketId,
        participant: Participant,
        epoch: u64,
        purpose: Purpose,
    ) -> Result<String, ConsoleError> {
        let settings = self.app().settings();
        let claims = Claims {
            purpose,
            ticket,
            participant,
            expires_at_ms: self.app().now_ms() + LOOK_AHEAD_MS,
            epoch,
        };
        let own = settings
            .own_addresses
            .first()
            .ok_or_else(|| ConsoleError::Refused("no support address is configured".to_string()))?;
        let tag = settings.keyring.address_token(&claims);
        tagged_address(own, &tag)
            .map(|address| address.to_string())
            .ok_or_else(|| ConsoleError::Refused(format!("cannot sign a reply address for {own}")))
    }
}

/// The RFC 5322 message a participant would send: plain text, files attached, a Message-ID that
/// names where it was written.
pub(super) fn compose_raw(
    from: &str,
    to: &str,
    subject: &str,
    text: &str,
    files: Vec<crate::outbox::compose::File>,
    source: Source,
) -> Result<Vec<u8>, ConsoleError> {
    let refuse = |what: &str| ConsoleError::Refused(format!("cannot write the message: {what}"));
    let mailbox = |address: &str| address.parse::<lettre::message::Mailbox>().map_err(|_| refuse(address));
    let text = lettre::message::SinglePart::plain(text.replace("\r\n", "\n"));
    let builder =
        lettre::Message::builder().from(mailbox(from)?).to(mailbox(to)?).subject(subject).message_id(Some(
            format!("<{}-{:032x}@{}.invalid>", source.as_str(), rand::random::<u128>(), source.as_str()),
        ));
    let built = if files.is_empty() {
        builder.singlepart(text)
    } else {
        // Each file's bytes move into the message: a large reply is not copied once more.
        let parts = files.into_iter().fold(MultiPart::mixed().singlepart(text), |mixed, file| {
            let content_type = ContentType::parse(&file.content_type)
                .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("a valid type"));
            mixed.singlepart(Attachment::new(file.name).body(file.content, content_type))
        });
        builder.multipart(parts)
    };
    Ok(built.map_err(|e| refuse(&e.to_string()))?.formatted())
}
