//! The outbox worker: claims due rows, renders and sends them concurrently over the pooled SMTP
//! connection, and records each outcome. At-least-once: a row is marked sent only after the
//! server accepted it, so a crash in between sends it again after its lease (same Message-ID).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use super::compose::{self, Addressing, Automatic, File};
use super::render::Templates;
use super::smtp::{SendError, SmtpSender};
use crate::auth::token::{Claims, Keyring, Participant, Purpose};
use crate::clock::Clock;
use crate::core::address::EmailAddress;
use crate::core::identify::tagged_address;
use crate::core::ids::{EntryId, TicketId};
use crate::core::notify::Mail;
use crate::core::quote::REPLY_MARKER;
use crate::store::outbox::{self as outbox_store, Claimed, GivenUp, OutboxId};
use crate::store::{self, Store};
use crate::store::{links as link_store, tickets as ticket_store};

/// What the worker needs from the configuration.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub instance_name: String,
    /// Our address: the sender of every mail, and the base of the signed reply addresses.
    pub from: EmailAddress,
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
}

pub struct Worker {
    store: Store,
    templates: Arc<Templates>,
    smtp: SmtpSender,
    settings: WorkerSettings,
    clock: Arc<dyn Clock>,
}

/// What became of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Attempt {
    Sent,
    Retry { at_ms: i64, error: String },
    GaveUp { status: GivenUp, error: String },
}

/// A claimed row with what the claim transaction looked up for it.
struct Sending {
    row: Claimed,
    /// The ticket's first Message-ID, the root of References.
    root: Option<String>,
    /// The text of the entry the mail quotes.
    text: Option<String>,
    /// The entry's files, for a relayed response.
    files: Vec<File>,
    /// Who the recipient is on the ticket, with their link epoch: they get a signed reply
    /// address and link. `None` for anyone else (our plain address, no link).
    holder: Option<(Participant, u64)>,
}

/// What is minted for one recipient at send time.
struct Tokens {
    reply_to: EmailAddress,
    url: String,
    /// An agent's internal-note address on the ticket.
    note_address: Option<EmailAddress>,
}

/// The entry a row's context quotes (`message.entry_id`), if any.
fn quoted_entry(context_json: &str) -> Option<EntryId> {
    let context: Value = serde_json::from_str(context_json).ok()?;
    context["message"]["entry_id"].as_i64().map(EntryId)
}

/// The customer's text quoted back in automatic mail is cut to this many characters.
const QUOTED_TEXT_CHARS: usize = 2000;

const BACKOFF_BASE_MS: i64 = 30_000;
const BACKOFF_CAP_MS: i64 = 6 * 60 * 60 * 1000;

impl Worker {
    pub fn new(
        store: Store,
        templates: Arc<Templates>,
        smtp: SmtpSender,
        settings: WorkerSettings,
        clock: Arc<dyn Clock>,
    ) -> Worker {
        Worker { store, templates, smtp, settings, clock }
    }

    /// Sends until `shutdown` turns true; sleeps `idle` when nothing is due.
    pub async fn run(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            let pause = match self.drain_once().await {
                Ok(0) => self.settings.idle,
                Ok(_) => {
                    failures = 0;
                    continue;
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(%error, "outbox: cannot reach the database; backing off");
                    self.settings.idle * failures.min(30)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One round: claim due rows, send them, record the outcomes. Returns how many were claimed.
    pub async fn drain_once(&self) -> store::Result<usize> {
        let (now, lease_ms, batch) =
            (self.clock.now_ms(), self.settings.lease.as_millis() as i64, self.settings.batch);
        let claimed = self
            .store
            .write(move |tx| {
                let rows = outbox_store::claim_due(tx, now, lease_ms, batch)?;
                let mut claimed = Vec::with_capacity(rows.len());
                for row in rows {
                    let (root, holder) = match (row.ticket, EmailAddress::parse(&row.recipient)) {
                        (Some(ticket), Some(to)) => {
                            (outbox_store::thread_root(tx, ticket)?, link_store::recipient(tx, ticket, &to)?)
                        }
                        (Some(ticket), None) => (outbox_store::thread_root(tx, ticket)?, None),
                        (None, _) => (None, None),
                    };
                    let entry = quoted_entry(&row.context_json);
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
                                    name: if name.is_empty() {
                                        format!("attachment-{}", n + 1)
                                    } else {
                                        name
                                    },
                                    content_type,
                                    content,
                                })
                                .collect()
                        }
                        _ => Vec::new(),
                    };
                    claimed.push(Sending { row, root, text, files, holder });
                }
                Ok(claimed)
            })
            .await?;
        let count = claimed.len();
        if count == 0 {
            return Ok(0);
        }
        let outcomes: Vec<(OutboxId, Attempt)> = futures::stream::iter(claimed)
            .map(|sending| async move { (sending.row.id, self.attempt(&sending).await) })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let now = self.clock.now_ms();
        self.store
            .write(move |tx| {
                for (id, attempt) in &outcomes {
                    match attempt {
                        Attempt::Sent => outbox_store::mark_sent(tx, *id, now)?,
                        Attempt::Retry { at_ms, error } => outbox_store::mark_retry(tx, *id, *at_ms, error)?,
                        Attempt::GaveUp { status, error } => {
                            outbox_store::mark_given_up(tx, *id, *status, error)?
                        }
                    }
                }
                Ok(())
            })
            .await?;
        Ok(count)
    }

    async fn attempt(&self, sending: &Sending) -> Attempt {
        let row = &sending.row;
        let message = match self.build(sending) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(outbox = %row.id, %error, "outbox: mail cannot be built; giving up");
                return Attempt::GaveUp { status: GivenUp::Failed, error };
            }
        };
        match self.smtp.send(message).await {
            Ok(()) => {
                tracing::debug!(outbox = %row.id, to = %row.recipient, "outbox: sent");
                Attempt::Sent
            }
            Err(SendError::Permanent(error)) => {
                tracing::warn!(outbox = %row.id, to = %row.recipient, %error, "outbox: refused by the server");
                Attempt::GaveUp { status: GivenUp::Failed, error }
            }
            Err(SendError::Transient(error)) if row.attempts >= i64::from(self.settings.max_attempts) => {
                tracing::warn!(outbox = %row.id, attempts = row.attempts, %error, "outbox: out of attempts");
                Attempt::GaveUp { status: GivenUp::Dead, error }
            }
            Err(SendError::Transient(error)) => {
                let at_ms = self.clock.now_ms() + backoff_ms(row.attempts, rand::random::<f64>());
                tracing::info!(outbox = %row.id, attempts = row.attempts, %error, "outbox: will retry");
                Attempt::Retry { at_ms, error }
            }
        }
    }

    /// Renders the row's template and composes the mail.
    fn build(&self, sending: &Sending) -> Result<lettre::Message, String> {
        let (row, root) = (&sending.row, sending.root.as_deref());
        let name = Mail::from_template(&row.template)
            .ok_or_else(|| format!("unknown template {:?}", row.template))?;
        let mut stored: Value =
            serde_json::from_str(&row.context_json).map_err(|e| format!("context: {e}"))?;
        let mail = Mail::from_template(&row.template);
        if let Some(text) = &sending.text {
            // A relayed response is the whole answer; elsewhere the text is a quote.
            let text = match mail {
                Some(Mail::ResponseRelay) => text.clone(),
                _ => text.chars().take(QUOTED_TEXT_CHARS).collect(),
            };
            stored["message"]["text"] = Value::String(text);
        }
        let tokens = self.tokens(&stored, sending.holder, mail == Some(Mail::AccessLink));
        if let Some(tokens) = &tokens {
            stored["ticket"]["url"] = Value::String(tokens.url.clone());
            if let Some(note) = &tokens.note_address {
                stored["note_address"] = Value::String(note.to_string());
            }
        }
        let context = self.full_context(stored);
        let rendered = self.templates.render(name, &context).map_err(|e| e.to_string())?;
        let to = EmailAddress::parse(&row.recipient)
            .ok_or_else(|| format!("bad recipient {:?}", row.recipient))?;
        let in_reply_to = context["in_reply_to"].as_str();
        let topic = context["ticket"]["subject"].as_str().unwrap_or_default();
        let thread_key = format!("{}", context["ticket"]["id"]);
        let automatic = match mail {
            Some(Mail::ResponseRelay) => Automatic::No,
            Some(mail) if mail.answers_customer() => Automatic::Replied,
            _ => Automatic::Generated,
        };
        let addressing = Addressing {
            from_name: &self.settings.instance_name,
            from: &self.settings.from,
            to: &to,
            reply_to: tokens.as_ref().map_or(&self.settings.from, |t| &t.reply_to),
            message_id: &row.message_id,
            in_reply_to,
            references: root.into_iter().collect(),
            thread_topic: topic,
            thread_key: &thread_key,
            loop_domain: &self.settings.message_id_domain,
            automatic,
        };
        compose::compose(&addressing, &rendered.subject, &rendered.text, &rendered.html, &sending.files)
            .map_err(|e| e.to_string())
    }

    /// The recipient's signed reply address and ticket link, minted now.
    fn tokens(&self, stored: &Value, holder: Option<(Participant, u64)>, access: bool) -> Option<Tokens> {
        let (participant, epoch) = holder?;
        let ticket = TicketId(stored["ticket"]["id"].as_i64()?);
        let now = self.clock.now_ms();
        let claims = |purpose, ttl: Duration| Claims {
            purpose,
            ticket,
            participant,
            expires_at_ms: now.saturating_add(ttl.as_millis() as i64),
            epoch,
        };
        let keys = &self.settings.keyring;
        let reply_tag = keys.address_token(&claims(Purpose::Reply, self.settings.reply_ttl));
        // The access page's mail carries a short-lived link of its own purpose.
        let view = match access {
            true => keys.link(&claims(Purpose::Access, self.settings.access_ttl)),
            false => keys.link(&claims(Purpose::View, self.settings.view_ttl)),
        };
        let note_address = match participant {
            Participant::Agent(_) => {
                let note_tag = keys.address_token(&claims(Purpose::Note, self.settings.reply_ttl));
                tagged_address(&self.settings.from, &note_tag)
            }
            Participant::User(_) => None,
        };
        Some(Tokens {
            reply_to: tagged_address(&self.settings.from, &reply_tag)?,
            url: format!("{}/t/{view}", self.settings.base_url),
            note_address,
        })
    }

    /// The stored context plus what every template may use and what is decided at send time.
    fn full_context(&self, mut stored: Value) -> Value {
        let defaults = json!({
            "instance_name": self.settings.instance_name,
            "reply_marker": REPLY_MARKER,
            "recipient": { "name": "", "email": "" },
            "ticket": { "number": "", "subject": "", "status": "", "url": "" },
            "message": { "text": "", "author_name": "", "author_email": "", "kind": "message" },
            "owner": { "name": "", "email": "" },
            "organization": "",
            "note_address": "",
            "reason": "",
            "assignee": "",
            "actor": "",
            "link_minutes": self.settings.access_ttl.as_secs() / 60,
            "link": "",
            "link_valid": "",
            "bounce": { "recipients": [], "diagnostic": "" },
        });
        merge_missing(&mut stored, &defaults);
        stored
    }
}

/// Copies every key of `defaults` that `target` lacks (or has as null), recursively.
fn merge_missing(target: &mut Value, defaults: &Value) {
    let (Some(target), Some(defaults)) = (target.as_object_mut(), defaults.as_object()) else { return };
    for (key, default) in defaults {
        match target.get_mut(key) {
            Some(existing) if existing.is_object() => merge_missing(existing, default),
            Some(existing) if !existing.is_null() => {}
            _ => {
                target.insert(key.clone(), default.clone());
            }
        }
    }
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

    #[test]
    fn stored_context_wins_and_gaps_are_filled() {
        let mut stored = json!({ "ticket": { "number": "123456", "url": null }, "in_reply_to": null });
        merge_missing(
            &mut stored,
            &json!({ "ticket": { "number": "", "subject": "", "url": "" }, "reason": "" }),
        );
        assert_eq!(stored["ticket"]["number"], "123456");
        assert_eq!(stored["ticket"]["subject"], "");
        assert_eq!(stored["ticket"]["url"], "");
        assert_eq!(stored["reason"], "");
    }
}
