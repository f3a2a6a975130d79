//! THE workflow: parse -> dedupe -> classify -> thread -> identify -> persist, one transaction per
//! message, with a decision trace on the inbound row. Every message that enters a ticket comes through
//! here; nothing accepted is only in memory (unprocessable input is quarantined with its reason).

mod agent;
mod batch;
mod due;
pub mod lifecycle;
mod merge;
pub(crate) mod notify;
mod outbound;
mod persist;
mod reply_token;
mod routing;
mod settings;
mod telemetry;

pub use batch::{Arrival, BatchReport, Taken, per_transaction};
pub use outbound::OpenFor;
pub use settings::Settings;

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::app::App;
use crate::clock::Clock;
use crate::core::address::{EmailAddress, MessageId};
use crate::core::classify::{self, Class, ClassifyContext};
use crate::core::email::{InboundEmail, Mailbox};
use crate::core::identify::Directory;
use crate::core::ids::{EntryId, InboundId, TicketId};
use crate::core::thread::{self, Candidates, Decision};
use crate::core::ticket::TicketNumber;
use crate::core::trace::Trace;
use crate::parse::{self, Limits, Malformed};
use crate::store::inbound::{self as inbound_store, NewInbound, Outcome as RowOutcome, Source};
use crate::store::tickets::{self as ticket_store, EntryClass};
use crate::store::{self, Store, StoreError, Tx};

/// The header we put on all our mail; its value is our Message-ID domain.
pub const LOOP_HEADER: &str = "x-mailgate-loop";

/// How a message reached us.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub source: Source,
    pub mailbox: Option<String>,
    /// Envelope recipients known to the caller (the pipe's `--recipient`); IMAP copies lose them.
    pub recipients: Vec<EmailAddress>,
    /// `(UIDVALIDITY, UID)` for IMAP.
    pub imap_uid: Option<(u32, u32)>,
    /// How we know who wrote it, when we wrote the mail ourselves for someone we authenticated (an
    /// agent signed in to the console, a participant on their link's page): it then needs no
    /// `[auth]` verdict. `None` for mail that came from outside.
    pub authenticated: Option<&'static str>,
    /// The public topic the writer chose on the portal; it outranks routing by address.
    pub topic: Option<String>,
    /// The values of that topic's ticket form, checked (`core::forms::Form::check_by`): stored as
    /// the ticket's fields and read by rules (`ticket.KEY`).
    pub ticket_fields: Option<serde_json::Value>,
    /// The message is an agent's, opening a ticket for a customer (see [`OpenFor`]); we wrote it
    /// for the agent, so it is not classified.
    pub open_for: Option<OpenFor>,
}

impl Delivery {
    pub fn new(source: Source) -> Delivery {
        Delivery {
            source,
            mailbox: None,
            recipients: Vec::new(),
            imap_uid: None,
            authenticated: None,
            topic: None,
            ticket_fields: None,
            open_for: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new ticket was opened.
    Created { ticket: TicketId, number: TicketNumber, entry: EntryId },
    /// Added to an existing ticket; `held` when it is kept for agents only and not relayed (mail in
    /// an agent's name that could not prove it, or with an invalid `#command`).
    Added { ticket: TicketId, number: TicketNumber, entry: EntryId, held: bool },
    /// Seen before (same Message-ID, or same bytes when it has none): acknowledged, not stored again.
    Duplicate,
    /// Our own mail came back: recorded, not acted on.
    Loop,
    /// Kept for an admin with the reason; `mailgate quarantine replay` runs it again.
    Quarantined { reason: String },
}

#[derive(Clone, Debug)]
pub struct Report {
    pub inbound: InboundId,
    pub outcome: Outcome,
    /// What the classifier said; `None` when it did not run (a duplicate, a malformed message).
    pub class: Option<EntryClass>,
    pub trace: Trace,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The database cannot take the message now (locked, busy, unreachable): try again later.
    #[error("database unavailable: {0}")]
    Unavailable(StoreError),
    #[error("database error: {0}")]
    Database(StoreError),
    #[error("inbound message {0} not found")]
    NotFound(InboundId),
}

impl From<StoreError> for IngestError {
    fn from(err: StoreError) -> Self {
        if err.is_unavailable() { IngestError::Unavailable(err) } else { IngestError::Database(err) }
    }
}

/// The mail pipeline: runs messages against the app's store and the configuration in force when
/// each message starts (a reload mid-message does not change what it runs on). Each message is one
/// write transaction, run by `Store::write` on a blocking thread. Cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    app: App,
    /// False for `mailgate import` without `--notify`: planned mails are recorded as suppressed.
    sends_mail: bool,
}

/// The synchronous pipeline that runs inside the transaction.
pub(crate) struct Pipeline {
    settings: Arc<Settings>,
    directory: Arc<Directory>,
    clock: Arc<dyn Clock>,
    sends_mail: bool,
    /// `explain`: every rule that did not match is traced with its reason (a stored trace names
    /// them on one line: 50 reasons per message would double the bytes written per ticket).
    explaining: bool,
}

/// One message and what was worked out before the transaction: limits, parse, dedupe key.
pub(crate) struct Job {
    raw: Vec<u8>,
    parsed: Result<InboundEmail, Malformed>,
    dedupe_key: String,
    delivery: Delivery,
}

const MAX_ATTEMPTS: usize = 3;

impl Ingestor {
    pub fn new(app: App) -> Ingestor {
        Ingestor { app, sends_mail: true }
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// The same pipeline with no automatic mail at all (auto-responses, alerts, notices, relays):
    /// each planned mail is recorded in the trace as suppressed instead. For `mailgate import`,
    /// whose messages were answered long ago; a switch on the whole run, not on a `Delivery`,
    /// because mails caused further down (an agent's `#close`) never see the delivery.
    pub fn without_mail(&self) -> Ingestor {
        Ingestor { app: self.app.clone(), sends_mail: false }
    }

    /// The same pipeline reading time from `clock`: `mailgate import` dates each message's rows by
    /// the message.
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Ingestor {
        Ingestor { app: self.app.with_clock(clock), sends_mail: self.sends_mail }
    }

    /// The pipeline on the configuration now in force, for one piece of work.
    pub(crate) fn pipeline(&self) -> Arc<Pipeline> {
        let snapshot = self.app.snapshot();
        Arc::new(Pipeline {
            settings: snapshot.settings.clone(),
            directory: snapshot.directory.clone(),
            clock: self.app.clock().clone(),
            sends_mail: self.sends_mail,
            explaining: false,
        })
    }

    fn store(&self) -> &Store {
        self.app.store()
    }

    /// Ingests one raw message and commits. A unique-key race with a concurrent writer (another
    /// daemon on the same PostgreSQL) is retried, and then sees the winner's rows.
    pub async fn ingest(&self, raw: &[u8], delivery: &Delivery) -> Result<Report, IngestError> {
        let pipeline = self.pipeline();
        let job = Job::new(raw.to_vec(), delivery.clone(), &pipeline.settings.limits);
        self.commit(pipeline, Arc::new(job)).await
    }

    /// Runs `job` on `pipeline` (every attempt on the same snapshot) and commits (a unique-key
    /// race is retried), then logs and counts the outcome.
    pub(crate) async fn commit(&self, pipeline: Arc<Pipeline>, job: Arc<Job>) -> Result<Report, IngestError> {
        let started = crate::clock::Stopwatch::start();
        let result = self.commit_retrying(pipeline, job.clone()).await;
        telemetry::record(&job.delivery, &result, started.elapsed());
        result
    }

    async fn commit_retrying(&self, pipeline: Arc<Pipeline>, job: Arc<Job>) -> Result<Report, IngestError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (pipeline, job) = (pipeline.clone(), job.clone());
            match self.store().write(move |tx| pipeline.run(tx, &job, None)).await {
                Err(err) if err.is_unique_violation() && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(attempt, "unique-key race while ingesting; retrying");
                }
                result => return Ok(result?),
            }
        }
    }

    /// Runs the whole pipeline and rolls it back: the decision trace of `raw` against the current
    /// database, with nothing written.
    pub async fn explain(&self, raw: &[u8], delivery: &Delivery) -> Result<Report, IngestError> {
        let mut pipeline = self.pipeline();
        if let Some(only) = Arc::get_mut(&mut pipeline) {
            only.explaining = true;
        }
        let job = Job::new(raw.to_vec(), delivery.clone(), &pipeline.settings.limits);
        Ok(self.store().rehearse(move |tx| pipeline.run(tx, &job, None)).await?)
    }

    /// Runs many messages through the pipeline in ONE transaction and rolls it back: each message
    /// sees what the ones before it would have written (a reply threads to the ticket an earlier
    /// message opened), and nothing is kept. `work` is handed the function that ingests one message;
    /// it runs on the store's thread (SQLite: holding the write lock until it returns).
    pub async fn rehearse_batch<T, W>(&self, work: W) -> Result<T, IngestError>
    where
        T: Send + 'static,
        W: FnOnce(&mut dyn FnMut(&[u8], &Delivery) -> Result<Report, IngestError>) -> T + Send + 'static,
    {
        let pipeline = self.pipeline();
        Ok(self
            .store()
            .rehearse(move |tx| {
                let mut ingest_one = |raw: &[u8], delivery: &Delivery| {
                    let job = Job::new(raw.to_vec(), delivery.clone(), &pipeline.settings.limits);
                    pipeline.run(tx, &job, None).map_err(IngestError::from)
                };
                Ok(work(&mut ingest_one))
            })
            .await?)
    }

    /// Runs a stored (typically quarantined) inbound message through the pipeline again, updating
    /// its row in place.
    pub async fn replay(&self, id: InboundId) -> Result<Report, IngestError> {
        let pipeline = self.pipeline();
        let report = self
            .store()
            .write(move |tx| {
                let Some(record) = inbound_store::find_inbound(tx, id)? else { return Ok(None) };
                let delivery = Delivery { mailbox: record.mailbox.clone(), ..Delivery::new(Source::Console) };
                let job = Job::new(record.raw, delivery, &pipeline.settings.limits);
                pipeline.run(tx, &job, Some(id)).map(Some)
            })
            .await?;
        report.ok_or(IngestError::NotFound(id))
    }

    /// Keeps `raw` as a quarantined inbound row with `reason`, bypassing the pipeline: the last
    /// resort when the pipeline itself failed on a message we are responsible for.
    pub async fn quarantine_raw(
        &self,
        raw: &[u8],
        delivery: &Delivery,
        reason: &str,
    ) -> Result<InboundId, IngestError> {
        let pipeline = self.pipeline();
        let job = Job::new(raw.to_vec(), delivery.clone(), &pipeline.settings.limits);
        let reason = reason.to_string();
        Ok(self.store().write(move |tx| pipeline.keep_raw(tx, &job, &reason)).await?)
    }
}

impl Job {
    pub(crate) fn new(raw: Vec<u8>, delivery: Delivery, limits: &Limits) -> Job {
        let parsed = parse::parse_email(&raw, limits);
        let dedupe_key = dedupe_key(parsed.as_ref().ok().and_then(|e| e.message_id.as_ref()), &raw);
        Job { raw, parsed, dedupe_key, delivery }
    }

    /// A message too large to fetch whole, stood for by its header block.
    pub(crate) fn oversized(header: Vec<u8>, size: u64, delivery: Delivery, limits: &Limits) -> Job {
        let refused = Malformed::TooLarge {
            size: usize::try_from(size).unwrap_or(usize::MAX),
            limit: limits.max_message_bytes,
        };
        let message_id = parse::parse_header_block(&header, limits).ok().and_then(|e| e.message_id);
        Job {
            dedupe_key: dedupe_key(message_id.as_ref(), &header),
            raw: header,
            parsed: Err(refused),
            delivery,
        }
    }
}

/// Message-ID when there is one, else the SHA-256 of the bytes.
fn dedupe_key(message_id: Option<&MessageId>, raw: &[u8]) -> String {
    match message_id {
        Some(id) => format!("message-id:{}", id.as_str()),
        None => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    }
}

fn new_inbound<'a>(key: &'a str, raw: &'a [u8], delivery: &'a Delivery, now: i64) -> NewInbound<'a> {
    NewInbound {
        dedupe_key: key,
        source: delivery.source,
        mailbox: delivery.mailbox.as_deref(),
        imap_uid: delivery.imap_uid,
        raw,
        received_at: now,
    }
}

impl Pipeline {
    /// The settings this piece of work runs on.
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    fn run(&self, tx: &mut Tx<'_>, job: &Job, replay_of: Option<InboundId>) -> store::Result<Report> {
        let delivery = &job.delivery;
        let mut trace = Trace::default();
        let inbound = match replay_of {
            Some(id) => {
                // Quarantined before this message was stored another way (a redelivery, or a row
                // quarantined under the hash of its bytes): a replay opens no second ticket.
                let stored = inbound_store::find_inbound_by_dedupe_key(tx, &job.dedupe_key)?;
                if let Some(other) = stored.filter(|other| *other != id) {
                    let reason = format!("{} already stored as inbound #{other}", job.dedupe_key);
                    trace.record("dedupe", "duplicate", reason);
                    return Ok(Report { inbound: other, outcome: Outcome::Duplicate, class: None, trace });
                }
                trace.record("dedupe", "replay", format!("inbound #{id} run again"));
                id
            }
            None => {
                if let Some(id) = inbound_store::find_inbound_by_dedupe_key(tx, &job.dedupe_key)? {
                    trace.record(
                        "dedupe",
                        "duplicate",
                        format!("{} already stored as inbound #{id}", job.dedupe_key),
                    );
                    return Ok(Report { inbound: id, outcome: Outcome::Duplicate, class: None, trace });
                }
                trace.record("dedupe", "new", job.dedupe_key.clone());
                inbound_store::insert_inbound(
                    tx,
                    &new_inbound(&job.dedupe_key, &job.raw, delivery, self.clock.now_ms()),
                )?
            }
        };

        let email = match &job.parsed {
            Ok(email) => email,
            Err(malformed) => {
                trace.record("parse", "malformed", malformed.to_string());
                self.notify_rejection(tx, &job.raw, malformed, &mut trace)?;
                return self.quarantine(tx, inbound, trace, malformed.to_string());
            }
        };
        trace.record(
            "parse",
            "ok",
            format!(
                "{} bytes, {} headers, {} attachments",
                email.size,
                email.headers.len(),
                email.attachments.len()
            ),
        );
        let (class, outcome) = match (&delivery.open_for, email.from.as_ref()) {
            (Some(open), Some(sender)) => {
                let msg = Incoming { inbound, email, sender, delivery, class: EntryClass::Normal };
                (EntryClass::Normal, self.open_for_customer(tx, &msg, open, &mut trace)?)
            }
            _ => {
                let classification = self.classify(tx, email)?;
                let class = EntryClass::of(&classification.class);
                (class, self.route(tx, inbound, email, delivery, classification, &mut trace)?)
            }
        };
        let (row_outcome, reason, ticket) = match &outcome {
            Outcome::Created { ticket, .. } | Outcome::Added { ticket, .. } => {
                (RowOutcome::Ticket, String::new(), Some(*ticket))
            }
            Outcome::Loop => (RowOutcome::Loop, "our own mail came back".to_string(), None),
            Outcome::Quarantined { reason } => (RowOutcome::Quarantined, reason.clone(), None),
            Outcome::Duplicate => unreachable!("duplicates return before the inbound row exists"),
        };
        inbound_store::update_inbound_outcome(tx, inbound, row_outcome, &reason, ticket, &trace.to_json())?;
        Ok(Report { inbound, outcome, class: Some(class), trace })
    }

    /// Keeps the job's raw bytes as a quarantined inbound row with `reason`, bypassing the
    /// pipeline; under the pipeline's own key (the Message-ID when there is one), so a redelivery
    /// of the same message finds this row instead of opening a ticket beside it.
    fn keep_raw(&self, tx: &mut Tx<'_>, job: &Job, reason: &str) -> store::Result<InboundId> {
        if let Some(existing) = inbound_store::find_inbound_by_dedupe_key(tx, &job.dedupe_key)? {
            return Ok(existing);
        }
        let now = self.clock.now_ms();
        let id =
            inbound_store::insert_inbound(tx, &new_inbound(&job.dedupe_key, &job.raw, &job.delivery, now))?;
        let mut trace = Trace::default();
        trace.record("quarantine", "quarantined", reason);
        inbound_store::update_inbound_outcome(
            tx,
            id,
            RowOutcome::Quarantined,
            reason,
            None,
            &trace.to_json(),
        )?;
        Ok(id)
    }

    fn quarantine(
        &self,
        tx: &mut Tx<'_>,
        inbound: InboundId,
        mut trace: Trace,
        reason: String,
    ) -> store::Result<Report> {
        trace.record("outcome", "quarantined", reason.clone());
        inbound_store::update_inbound_outcome(
            tx,
            inbound,
            RowOutcome::Quarantined,
            &reason,
            None,
            &trace.to_json(),
        )?;
        Ok(Report { inbound, outcome: Outcome::Quarantined { reason }, class: None, trace })
    }

    /// Classify, thread, and act on the decision.
    fn route(
        &self,
        tx: &mut Tx<'_>,
        inbound: InboundId,
        email: &InboundEmail,
        delivery: &Delivery,
        classification: classify::Classification,
        trace: &mut Trace,
    ) -> store::Result<Outcome> {
        let class = EntryClass::of(&classification.class);
        trace.record("classify", class.as_str(), classification.reason.clone());
        if classification.class == Class::Loop {
            trace.record("outcome", "loop", "recorded, not acted on");
            return Ok(Outcome::Loop);
        }
        let Some(sender) = email.from.as_ref().or(email.sender.as_ref()) else {
            return Ok(quarantined(trace, "no sender address: the message has no valid From or Sender"));
        };

        let msg = Incoming { inbound, email, sender, delivery, class };
        if let Class::Bounce(bounce) = &classification.class {
            return self.route_bounce(tx, &msg, bounce, trace);
        }

        let scan = self.find_reply_token(tx, email, delivery, &sender.email, trace)?;
        let from_agent = self.directory.agents_by_email.get(&sender.email).copied();
        let automatic = classification.class != Class::Normal;
        let verified = self.sender_verified(
            email,
            delivery,
            &sender.email,
            from_agent.is_some() || scan.names_agent(),
            trace,
        );
        if let Some(mail) = agent::classify_agent_mail(&scan, from_agent, automatic, verified) {
            let headers_only = |tx: &mut Tx<'_>| -> store::Result<Decision> {
                let candidates = self.find_candidates(tx, email, &sender.email, None, delivery.source)?;
                Ok(thread::decide(&candidates, self.clock.now_ms(), self.settings.reopen_days).0)
            };
            if let Some(outcome) = self.route_agent_mail(tx, &msg, mail, headers_only, trace)? {
                return Ok(outcome);
            }
        }
        let candidates = self.find_candidates(tx, email, &sender.email, scan.ticket(), delivery.source)?;
        let (decision, why) = thread::decide(&candidates, self.clock.now_ms(), self.settings.reopen_days);
        trace.record("thread", decision_name(&decision), why);
        let locked = self.sender_locked(tx, &msg, trace)?;
        if locked && self.settings.locked_mail_quarantine {
            return Ok(quarantined(trace, "from a locked user (registration.locked_mail = \"quarantine\")"));
        }

        let outcome = match (&classification.class, decision) {
            (
                Class::AutoReply | Class::AbuseReport,
                Decision::Existing { ticket, .. } | Decision::NewLinked { previous: ticket, .. },
            ) => {
                // Stored on its ticket, but an automatic mail never reopens or changes a ticket.
                let entry = self.add_entry_only(tx, &msg, ticket, trace)?;
                Ok(entry)
            }
            (Class::AutoReply, Decision::New) => {
                Ok(quarantined(trace, "auto-reply that threads to no ticket: stored, never answered"))
            }
            (Class::AbuseReport, Decision::New) => {
                Ok(quarantined(trace, "abuse report (ARF) that threads to no ticket: stored, never answered"))
            }
            (_, Decision::Existing { ticket, reopen, .. }) => {
                self.add_to_ticket(tx, &msg, ticket, reopen, trace)
            }
            (_, Decision::NewLinked { previous, .. }) => self.open_ticket(tx, &msg, Some(previous), trace),
            (_, Decision::New) => self.open_ticket(tx, &msg, None, trace),
        }?;
        if locked {
            self.mark_locked(tx, &outcome, trace)?;
        }
        Ok(outcome)
    }

    /// Classifies `email`; whether its Message-ID is one we sent is looked up here, so the
    /// classifier stays pure (`docs/ingest.md`, "Loops").
    fn classify(&self, tx: &mut Tx<'_>, email: &InboundEmail) -> store::Result<classify::Classification> {
        let message_id_is_ours = match &email.message_id {
            Some(id) => ticket_store::is_outgoing_message_id(tx, id)?,
            None => false,
        };
        let context = ClassifyContext {
            own_addresses: &self.settings.own_addresses,
            loop_header: LOOP_HEADER,
            loop_header_value: &self.settings.message_id_domain,
            message_id_is_ours,
        };
        Ok(classify::classify(email, &context))
    }

    /// A bounce goes to the ticket of the message it returns, or to quarantine when it returns none of ours.
    fn route_bounce(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        bounce: &classify::BounceInfo,
        trace: &mut Trace,
    ) -> store::Result<Outcome> {
        let failed: Vec<&str> = bounce.failed_recipients.iter().map(EmailAddress::as_str).collect();
        let email = msg.email;
        let quoted =
            bounce.original_message_ids.iter().chain(&email.in_reply_to).chain(email.references.iter().rev());
        for id in quoted {
            if let Some(ticket) = ticket_store::find_ticket_by_message_id(tx, id)? {
                let failed_list =
                    if failed.is_empty() { "recipient not stated".to_string() } else { failed.join(", ") };
                if crate::store::outbox::mark_bounced(tx, id, &failed_list)? {
                    trace.record("bounce", "outbox-failed", format!("our mail {id} marked failed"));
                }
                trace.record(
                    "thread",
                    "bounce",
                    format!("returns {id} of ticket {ticket}; failed: {}", failed.join(", ")),
                );
                return self.add_bounce(tx, msg, ticket, &bounce.failed_recipients, trace);
            }
        }
        let ids: Vec<String> = bounce.original_message_ids.iter().map(MessageId::to_string).collect();
        Ok(quarantined(
            trace,
            &format!(
                "bounce that returns no message of ours (quoted ids: {}; failed: {})",
                if ids.is_empty() { "none".to_string() } else { ids.join(" ") },
                if failed.is_empty() { "unknown".to_string() } else { failed.join(", ") }
            ),
        ))
    }

    /// Looks up the threading candidates, one per rule, in rule order.
    fn find_candidates(
        &self,
        tx: &mut Tx<'_>,
        email: &InboundEmail,
        sender: &EmailAddress,
        reply_token: Option<thread::TicketState>,
        source: Source,
    ) -> store::Result<Candidates> {
        let mut candidates = Candidates { reply_token, ..Candidates::default() };
        // The portal's new-ticket form opens a ticket: its subject (anyone may type `[#NUMBER]`)
        // threads nothing. Replies on a ticket page carry a reply address (rule a).
        if candidates.reply_token.is_some() || source == Source::Web {
            return Ok(candidates);
        }
        for id in &email.in_reply_to {
            if let Some(state) = self.ticket_of_message(tx, id)? {
                candidates.in_reply_to = Some((id.clone(), state));
                break;
            }
        }
        // Newest reference first: it names the message being answered most closely.
        for id in email.references.iter().rev().take(MAX_REFERENCES) {
            if let Some(state) = self.ticket_of_message(tx, id)? {
                candidates.references = Some((id.clone(), state));
                break;
            }
        }
        if candidates.in_reply_to.is_none() && candidates.references.is_none() {
            for number in self.settings.number_format.tags_in(&email.subject) {
                if let Some(state) = ticket_store::find_ticket_state_by_number(tx, &number)? {
                    let state = crate::store::merge::follow(tx, state)?;
                    let takes_part = ticket_store::takes_part(tx, state.id, sender)?;
                    candidates.subject_tag = Some((state, takes_part));
                    break;
                }
            }
        }
        Ok(candidates)
    }

    fn ticket_of_message(
        &self,
        tx: &mut Tx<'_>,
        id: &MessageId,
    ) -> store::Result<Option<thread::TicketState>> {
        match ticket_store::find_ticket_by_message_id(tx, id)? {
            Some(ticket) => ticket_store::find_ticket_state(tx, ticket),
            None => Ok(None),
        }
    }
}

/// The message being ingested, as the routing and writing steps see it.
#[derive(Clone, Copy)]
struct Incoming<'a> {
    inbound: InboundId,
    email: &'a InboundEmail,
    sender: &'a Mailbox,
    delivery: &'a Delivery,
    /// The classifier's verdict as stored on the entry.
    class: EntryClass,
}

/// References beyond this many (newest first) are not looked up: long chains cost queries, and the
/// newest ids are the ones that name the ticket.
const MAX_REFERENCES: usize = 20;

fn quarantined(trace: &mut Trace, reason: &str) -> Outcome {
    trace.record("outcome", "quarantined", reason);
    Outcome::Quarantined { reason: reason.to_string() }
}

fn decision_name(decision: &Decision) -> &'static str {
    match decision {
        Decision::Existing { reopen: true, .. } => "reopen",
        Decision::Existing { .. } => "existing",
        Decision::NewLinked { .. } => "new-linked",
        Decision::New => "new",
    }
}
