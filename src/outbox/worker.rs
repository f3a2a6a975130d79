//! The outbox worker: claims due rows, renders and sends them concurrently over the pooled SMTP
//! connections, and records each outcome as soon as it is known. At-least-once: a row is marked
//! sent right after the server accepted it, so a crash in between sends at most the mails then in
//! flight again after their lease (same Message-ID). When the server refuses us (no connection,
//! STARTTLS or AUTH refused) the mails wait, their attempts uncounted, and the worker pauses.
//! `send_now` is `mailgate outbox retry`: named mails, at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::StreamExt;

use super::compose::{self, Addressing, Automatic, File};
use super::context::{FieldForms, MailContext, Queued, SendTime, StoredCustom};
use super::render::Templates;
use super::smtp::{Reply, SendError, SmtpSender};
use crate::auth::token::{Claims, Keyring, Participant, Purpose};
use crate::clock::Clock;
use crate::core::address::EmailAddress;
use crate::core::identify::tagged_address;
use crate::core::ids::TicketId;
use crate::core::notify::Mail;
use crate::core::ticket::Role;
use crate::store::outbox::{self as outbox_store, Claimed, GivenUp, OutboxId};
use crate::store::{self, Store};
use crate::store::{links as link_store, tickets as ticket_store};

/// What the worker needs from the configuration.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub instance_name: String,
    /// Our address: the sender of every mail, and the base of the signed reply addresses.
    pub from: EmailAddress,
    /// All our addresses: a ticket's mail comes from the one its customer wrote to, while it is ours.
    pub own_addresses: Vec<EmailAddress>,
    /// Signs reply addresses and links, at send time (tokens are never stored).
    pub keyring: Arc<Keyring>,
    /// The web endpoint; `ticket.url` is `<base_url>/t/<view token>`.
    pub base_url: String,
    pub reply_ttl: Duration,
    pub view_ttl: Duration,
    /// How long the link of an `access_link` mail works.
    pub access_ttl: Duration,
    pub message_id_domain: String,
    pub max_attempts: u32,
    /// How long a claimed row stays ours before another worker may take it (> the SMTP timeout).
    pub lease: Duration,
    /// Rows claimed per round.
    pub batch: i64,
    /// Sends in flight at once (the SMTP pool size).
    pub concurrency: usize,
    /// How long to sleep when nothing is due.
    pub idle: Duration,
    /// The forms custom data is shown by (`ticket.fields`, ...).
    pub forms: FieldForms,
}

/// What a send is made with: the templates and the settings. Swapped whole on reload
/// ([`Worker::reconfigure`]); each round and each send keeps the one it started with.
pub struct WorkerConfig {
    pub templates: Arc<Templates>,
    pub settings: WorkerSettings,
}

pub struct Worker {
    store: Store,
    config: ArcSwap<WorkerConfig>,
    smtp: SmtpSender,
    clock: Arc<dyn Clock>,
    /// Until when (clock ms) the SMTP server is left alone after it refused us; 0: not paused.
    server_paused_until: AtomicI64,
    /// Rounds in a row in which the server refused us: the pause grows with them.
    server_refusals: AtomicU32,
}

/// What became of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Sent,
    /// This mail failed transiently: queued again for `at_ms`.
    Retry {
        at_ms: i64,
        error: String,
    },
    /// Refused for good (`failed`), or out of attempts (`dead`).
    GaveUp {
        status: GivenUp,
        error: String,
    },
    /// The server refused us, not this mail: queued again for `at_ms`, the attempt not counted.
    Postponed {
        at_ms: i64,
        error: String,
    },
}

impl Attempt {
    /// The `result` label of `mailgate_sends_total`.
    pub fn result(&self) -> &'static str {
        match self {
            Attempt::Sent => "sent",
            Attempt::Retry { .. } => "retry",
            Attempt::GaveUp { status: GivenUp::Failed, .. } => "failed",
            Attempt::GaveUp { status: GivenUp::Dead, .. } => "dead",
            Attempt::Postponed { .. } => "postponed",
        }
    }
}

/// What `send_now` did with one named mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendNow {
    Attempted(Attempt),
    /// There is no such mail.
    Unknown,
    /// It was sent already.
    AlreadySent,
    /// A running daemon is sending it right now (its lease is live).
    InFlight,
}

/// A claimed row with what the claim transaction looked up for it.
struct Sending {
    row: Claimed,
    /// The row's stored context, or why it cannot be read.
    queued: Result<Queued, String>,
    /// The ticket's first Message-ID, the root of References.
    root: Option<String>,
    /// The text of the entry the mail quotes.
    text: Option<String>,
    /// The entry's files, for a relayed response.
    files: Vec<File>,
    /// Who the recipient is on the ticket, with their link epoch: they get a signed reply
    /// address and link. `None` for anyone else (our plain address, no link).
    holder: Option<(Participant, u64)>,
    /// The name of the ticket's organization, if it has one.
    organization: Option<String>,
    /// The custom data of the ticket, its owner and its organization.
    custom: Option<StoredCustom>,
    /// Our address the ticket's customer wrote to (`tickets.reply_from`).
    reply_from: Option<EmailAddress>,
    /// The recipient's role on the ticket (`owner`, `cc`, `primary_contact`), for the
    /// collaborator notice.
    role: Option<String>,
}

/// What is minted for one recipient at send time.
struct Tokens {
    reply_to: EmailAddress,
    url: String,
    /// An agent's internal-note address on the ticket.
    note_address: Option<EmailAddress>,
}

/// The customer's text quoted back in automatic mail is cut to this many characters.
const QUOTED_TEXT_CHARS: usize = 2000;

const BACKOFF_BASE_MS: i64 = 30_000;
const BACKOFF_CAP_MS: i64 = 6 * 60 * 60 * 1000;
/// The longest pause after the server refused us: once it works again, mail goes out soon.
const SERVER_PAUSE_CAP_MS: i64 = 10 * 60 * 1000;

impl Worker {
    pub fn new(
        store: Store,
        templates: Arc<Templates>,
        smtp: SmtpSender,
        settings: WorkerSettings,
        clock: Arc<dyn Clock>,
    ) -> Worker {
        Worker {
            store,
            config: ArcSwap::from_pointee(WorkerConfig { templates, settings }),
            smtp,
            clock,
            server_paused_until: AtomicI64::new(0),
            server_refusals: AtomicU32::new(0),
        }
    }

    /// Swaps in new templates and settings (a reload): sends in flight finish on the old ones.
    pub fn reconfigure(&self, templates: Arc<Templates>, settings: WorkerSettings) {
        self.config.store(Arc::new(WorkerConfig { templates, settings }));
    }

    /// Sends until `shutdown` turns true; sleeps `idle` when nothing is due.
    pub async fn run(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            let idle = self.config.load().settings.idle;
            let paused_ms = self.server_paused_until.load(Ordering::Relaxed) - self.clock.now_ms();
            let pause = match paused_ms > 0 {
                true => Duration::from_millis(paused_ms.unsigned_abs()),
                false => match self.drain_once().await {
                    Ok(0) => idle,
                    Ok(_) => {
                        failures = 0;
                        continue;
                    }
                    Err(error) => {
                        failures += 1;
                        tracing::warn!(%error, "outbox: cannot reach the database; mail stays queued, backing off");
                        idle * failures.min(30)
                    }
                },
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One round: claim due rows, send them, record each outcome as soon as it is known. Returns
    /// how many were claimed.
    pub async fn drain_once(&self) -> store::Result<usize> {
        let config = self.config.load_full();
        let (now, lease_ms, batch) =
            (self.clock.now_ms(), config.settings.lease.as_millis() as i64, config.settings.batch);
        let claimed = self
            .store
            .write(move |tx| {
                let rows = outbox_store::claim_due(tx, now, lease_ms, batch)?;
                prepare(tx, rows)
            })
            .await?;
        let count = claimed.len();
        let outcomes = self.send_all(&config, claimed).await;
        outcomes.into_iter().find_map(Result::err).map_or(Ok(count), Err)
    }

    /// `mailgate outbox retry`: sends the named mails now, whatever their state (queued, failed or
    /// dead; failed and dead ones get a fresh attempt budget), except mails already sent and mails a
    /// running daemon is sending. Each outcome is recorded as in a round.
    pub async fn send_now(&self, mut ids: Vec<OutboxId>) -> store::Result<Vec<(OutboxId, SendNow)>> {
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        let config = self.config.load_full();
        let (now, lease_ms) = (self.clock.now_ms(), config.settings.lease.as_millis() as i64);
        let (claimed, states) = self
            .store
            .write(move |tx| {
                let states: Vec<(OutboxId, Option<String>)> = ids
                    .iter()
                    .map(|id| Ok((*id, outbox_store::find_outbox(tx, *id)?.map(|o| o.status))))
                    .collect::<store::Result<_>>()?;
                let rows = outbox_store::claim_for_retry(tx, &ids, now, lease_ms)?;
                Ok((prepare(tx, rows)?, states))
            })
            .await?;
        let mut results: std::collections::HashMap<OutboxId, Attempt> = Default::default();
        let outcomes = self.send_all(&config, claimed).await;
        for outcome in outcomes {
            let (id, attempt) = outcome?;
            results.insert(id, attempt);
        }
        Ok(states
            .into_iter()
            .map(|(id, status)| {
                let done = match (results.remove(&id), status.as_deref()) {
                    (Some(attempt), _) => SendNow::Attempted(attempt),
                    (None, None) => SendNow::Unknown,
                    (None, Some("sent")) => SendNow::AlreadySent,
                    // Not claimed and not sent: a live lease of another worker holds it.
                    (None, Some(_)) => SendNow::InFlight,
                };
                (id, done)
            })
            .collect())
    }

    /// Sends claimed rows, `concurrency` at a time, recording each outcome in its own transaction
    /// right after the server's answer: a crash can then send again only the mails in flight.
    /// Once the server refuses us, the rows not yet tried are postponed with the same error.
    async fn send_all(
        &self,
        config: &WorkerConfig,
        claimed: Vec<Sending>,
    ) -> Vec<store::Result<(OutboxId, Attempt)>> {
        let refused: std::sync::Mutex<Option<(i64, String)>> = std::sync::Mutex::new(None);
        let refused = &refused;
        futures::stream::iter(claimed)
            .map(|sending| async move {
                let id = sending.row.id;
                let earlier = refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
                let attempt = match earlier {
                    Some((at_ms, error)) => Attempt::Postponed { at_ms, error },
                    None => self.attempt(config, &sending, refused).await,
                };
                crate::observe::metrics::send_attempted(attempt.result());
                let recorded = attempt.clone();
                let now = self.clock.now_ms();
                self.store.write(move |tx| record(tx, id, &recorded, now)).await?;
                Ok((id, attempt))
            })
            .buffer_unordered(config.settings.concurrency.max(1))
            .collect()
            .await
    }

    async fn attempt(
        &self,
        config: &WorkerConfig,
        sending: &Sending,
        refused: &std::sync::Mutex<Option<(i64, String)>>,
    ) -> Attempt {
        let row = &sending.row;
        let ticket = sending.queued.as_ref().ok().and_then(|q| q.ticket.as_ref()).map(|t| t.number.as_str());
        let (outbox_id, ticket) = (row.id.0, ticket.unwrap_or_default());
        let message = match self.build(config, sending) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(
                    outbox_id,
                    %ticket,
                    %error,
                    "outbox: mail cannot be built; failed (fix the template or its override, then \
                     `mailgate outbox retry {outbox_id}`)"
                );
                return Attempt::GaveUp { status: GivenUp::Failed, error };
            }
        };
        let sent = self.smtp.send(&message).await;
        if !matches!(sent, Err(SendError::Connection(_))) {
            self.server_refusals.store(0, Ordering::Relaxed);
        }
        match sent {
            Ok(()) => {
                tracing::info!(outbox_id, %ticket, to = %row.recipient, template = %row.template, "outbox: sent");
                Attempt::Sent
            }
            Err(SendError::Connection(reply)) => {
                let (at_ms, error) = self.server_refused(&reply, refused);
                Attempt::Postponed { at_ms, error }
            }
            Err(SendError::Permanent(reply)) => {
                let error = reply.to_string();
                tracing::warn!(
                    outbox_id,
                    %ticket,
                    to = %row.recipient,
                    %error,
                    "outbox: refused by the server; failed (`mailgate outbox retry {outbox_id}` after a fix)"
                );
                Attempt::GaveUp { status: GivenUp::Failed, error }
            }
            Err(SendError::Transient(reply)) if row.attempts >= i64::from(config.settings.max_attempts) => {
                let error = reply.to_string();
                tracing::warn!(
                    outbox_id,
                    %ticket,
                    to = %row.recipient,
                    attempts = row.attempts,
                    %error,
                    "outbox: out of attempts; dead (`mailgate outbox retry {outbox_id}` once the recipient's server takes mail)"
                );
                Attempt::GaveUp { status: GivenUp::Dead, error }
            }
            Err(SendError::Transient(reply)) => {
                let error = reply.to_string();
                let at_ms = self.clock.now_ms() + backoff_ms(row.attempts, rand::random::<f64>());
                tracing::warn!(
                    outbox_id,
                    %ticket,
                    to = %row.recipient,
                    attempts = row.attempts,
                    %error,
                    "outbox: not sent; will retry"
                );
                Attempt::Retry { at_ms, error }
            }
        }
    }

    /// The server refused us: pause (30 s, doubling per round in a row, at most 10 min) and say so
    /// once per round, with the server's reply. Returns when the mails of this round are due again.
    fn server_refused(
        &self,
        reply: &Reply,
        refused: &std::sync::Mutex<Option<(i64, String)>>,
    ) -> (i64, String) {
        let mut refused = refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(first) = refused.as_ref() {
            return first.clone();
        }
        let rounds = self.server_refusals.fetch_add(1, Ordering::Relaxed) + 1;
        let pause_ms = backoff_ms(i64::from(rounds), rand::random::<f64>()).min(SERVER_PAUSE_CAP_MS);
        let at_ms = self.clock.now_ms() + pause_ms;
        self.server_paused_until.store(at_ms, Ordering::Relaxed);
        let error = reply.to_string();
        tracing::warn!(
            server = %self.smtp.server(),
            %error,
            pause_seconds = pause_ms / 1000,
            "outbox: the SMTP server refused us; mail stays queued (check [smtp] host, port, tls and \
             credentials, or the server's own log)"
        );
        *refused = Some((at_ms, error.clone()));
        (at_ms, error)
    }

    /// Renders the row's template and composes the mail.
    fn build(&self, config: &WorkerConfig, sending: &Sending) -> Result<lettre::Message, String> {
        let settings = &config.settings;
        let (row, root) = (&sending.row, sending.root.as_deref());
        let mail = Mail::from_template(&row.template)
            .ok_or_else(|| format!("unknown template {:?}", row.template))?;
        let queued = sending.queued.clone()?;
        // The address the customer wrote to, while it is still ours; else the first support address.
        let from = sending
            .reply_from
            .as_ref()
            .filter(|a| settings.own_addresses.contains(a))
            .unwrap_or(&settings.from);
        let tokens =
            self.tokens(settings, from, queued.ticket_id(), sending.holder, mail == Mail::AccessLink);
        // A relayed response is the whole answer; elsewhere the text is a quote.
        let text = sending.text.as_ref().map(|text| match mail {
            Mail::ResponseRelay => text.clone(),
            _ => text.chars().take(QUOTED_TEXT_CHARS).collect(),
        });
        let sent = SendTime {
            instance_name: settings.instance_name.clone(),
            text,
            organization: sending.organization.clone(),
            primary_contact: sending.role.as_deref() == Some(Role::PrimaryContact.as_str()),
            url: tokens.as_ref().map(|t| t.url.clone()),
            note_address: tokens.as_ref().and_then(|t| t.note_address.as_ref()).map(ToString::to_string),
            link_minutes: settings.access_ttl.as_secs() / 60,
            fields: sending
                .custom
                .as_ref()
                .map(|custom| settings.forms.shown(custom, !mail.to_agents()))
                .unwrap_or_default(),
        };
        let in_reply_to = queued.in_reply_to.clone();
        // Mail about no ticket has always shared the key `null`.
        let thread_key = queued.ticket_id().map_or_else(|| "null".to_string(), |id| id.0.to_string());
        let variant = queued.variant.clone();
        if let Some(variant) = &variant
            && !config.templates.has_variant(mail, variant)
        {
            tracing::warn!(
                outbox_id = row.id.0,
                template = %mail.template(),
                variant = %variant,
                "the template variant is no longer in templates.dir; sending the usual template"
            );
        }
        let context = MailContext::build(mail, queued, sent);
        let rendered =
            config.templates.render_variant(mail, variant.as_deref(), &context).map_err(|e| e.to_string())?;
        let to = EmailAddress::parse(&row.recipient)
            .ok_or_else(|| format!("bad recipient {:?}", row.recipient))?;
        let automatic = match mail {
            Mail::ResponseRelay => Automatic::No,
            mail if mail.answers_customer() => Automatic::Replied,
            _ => Automatic::Generated,
        };
        let addressing = Addressing {
            from_name: &settings.instance_name,
            from,
            to: &to,
            reply_to: tokens.as_ref().map_or(from, |t| &t.reply_to),
            message_id: &row.message_id,
            in_reply_to: in_reply_to.as_deref(),
            references: root.into_iter().collect(),
            thread_topic: &context.ticket.subject,
            thread_key: &thread_key,
            loop_domain: &settings.message_id_domain,
            automatic,
        };
        compose::compose(&addressing, &rendered.subject, &rendered.text, &rendered.html, &sending.files)
            .map_err(|e| e.to_string())
    }

    /// The recipient's signed reply address and ticket link, minted now.
    fn tokens(
        &self,
        settings: &WorkerSettings,
        from: &EmailAddress,
        ticket: Option<TicketId>,
        holder: Option<(Participant, u64)>,
        access: bool,
    ) -> Option<Tokens> {
        let (participant, epoch) = holder?;
        let ticket = ticket?;
        let now = self.clock.now_ms();
        let claims = |purpose, ttl: Duration| Claims {
            purpose,
            ticket,
            participant,
            expires_at_ms: now.saturating_add(ttl.as_millis() as i64),
            epoch,
        };
        let keys = &settings.keyring;
        let reply_tag = keys.address_token(&claims(Purpose::Reply, settings.reply_ttl));
        // The access page's mail carries a short-lived link of its own purpose.
        let view = match access {
            true => keys.link(&claims(Purpose::Access, settings.access_ttl)),
            false => keys.link(&claims(Purpose::View, settings.view_ttl)),
        };
        let note_address = match participant {
            Participant::Agent(_) => {
                let note_tag = keys.address_token(&claims(Purpose::Note, settings.reply_ttl));
                tagged_address(from, &note_tag)
            }
            Participant::User(_) => None,
        };
        Some(Tokens {
            reply_to: tagged_address(from, &reply_tag)?,
            url: format!("{}/t/{view}", settings.base_url),
            note_address,
        })
    }
}

/// Writes one attempt's outcome.
fn record(tx: &mut store::Tx<'_>, id: OutboxId, attempt: &Attempt, now_ms: i64) -> store::Result<()> {
    match attempt {
        Attempt::Sent => outbox_store::mark_sent(tx, id, now_ms),
        Attempt::Retry { at_ms, error } => outbox_store::mark_retry(tx, id, *at_ms, error),
        Attempt::GaveUp { status, error } => outbox_store::mark_given_up(tx, id, *status, error),
        Attempt::Postponed { at_ms, error } => outbox_store::mark_postponed(tx, id, *at_ms, error),
    }
}

/// Looks up, in the claim transaction, what sending each claimed row needs.
fn prepare(tx: &mut store::Tx<'_>, rows: Vec<Claimed>) -> store::Result<Vec<Sending>> {
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let custom = match row.ticket {
            Some(ticket) => outbox_store::ticket_custom(tx, ticket)?,
            None => None,
        };
        let (root, holder, organization) = match (row.ticket, EmailAddress::parse(&row.recipient)) {
            (Some(ticket), to) => (
                outbox_store::thread_root(tx, ticket)?,
                match &to {
                    Some(to) => link_store::recipient(tx, ticket, to)?,
                    None => None,
                },
                outbox_store::ticket_organization(tx, ticket)?,
            ),
            (None, _) => (None, None, None),
        };
        let role = match (row.ticket, EmailAddress::parse(&row.recipient)) {
            (Some(ticket), Some(to)) if row.template == Mail::CollaboratorNotice.template() => {
                outbox_store::participant_role(tx, ticket, &to)?
            }
            _ => None,
        };
        let queued = Queued::from_json(&row.context_json);
        let entry = queued.as_ref().ok().and_then(Queued::entry_id);
        let text = match entry {
            Some(entry) => ticket_store::entry_reply_text(tx, entry)?,
            None => None,
        };
        let files = match entry {
            Some(entry) if row.template == Mail::ResponseRelay.template() => {
                ticket_store::entry_files(tx, entry)?
                    .into_iter()
                    .enumerate()
                    .map(|(n, (name, content_type, content))| File {
                        name: if name.is_empty() { format!("attachment-{}", n + 1) } else { name },
                        content_type,
                        content,
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let reply_from = match row.ticket {
            Some(ticket) => outbox_store::ticket_reply_from(tx, ticket)?,
            None => None,
        };
        claimed.push(Sending {
            row,
            queued,
            root,
            text,
            files,
            holder,
            organization,
            custom,
            reply_from,
            role,
        });
    }
    Ok(claimed)
}

/// Exponential backoff from 30 s, capped at 6 h, with ±20% jitter (`unit` in [0, 1)).
fn backoff_ms(attempts: i64, unit: f64) -> i64 {
    let exponent = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX).min(20);
    let base = BACKOFF_BASE_MS.saturating_mul(1_i64 << exponent).min(BACKOFF_CAP_MS);
    let jitter = 0.8 + 0.4 * unit.clamp(0.0, 1.0);
    (base as f64 * jitter) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_ms(1, 0.5), 30_000);
        assert_eq!(backoff_ms(2, 0.5), 60_000);
        assert_eq!(backoff_ms(3, 0.5), 120_000);
        assert_eq!(backoff_ms(50, 0.5), BACKOFF_CAP_MS);
        assert_eq!(backoff_ms(1, 0.0), 24_000);
        assert!(backoff_ms(1, 0.999) < 36_000);
    }
}
