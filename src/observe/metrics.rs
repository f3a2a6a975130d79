//! The Prometheus registry (prometheus-client) and one function per thing counted. Every label
//! value is from a fixed set (or a configured mailbox name): nothing from mail or a URL becomes a
//! label, so a token in a path can never reach the monitoring system.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::polls::MailboxPoll;
use super::probe::Snapshot;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    source: &'static str,
    outcome: &'static str,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MailboxLabel {
    mailbox: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    realm: &'static str,
    factor: &'static str,
}

type SecondsGauge = Gauge<f64, AtomicU64>;

struct Metrics {
    registry: Registry,
    messages: Family<MessageLabels, Counter>,
    ingest_duration: Histogram,
    sends: Family<ResultLabel, Counter>,
    outbox_mails: Family<StateLabel, Gauge>,
    outbox_oldest_due_age: SecondsGauge,
    database_up: Gauge,
    imap_poll_lag: Family<MailboxLabel, SecondsGauge>,
    imap_last_poll: Family<MailboxLabel, SecondsGauge>,
    http_requests: Family<RequestLabels, Counter>,
    login_failures: Family<LoginLabels, Counter>,
    login_throttled: Family<LoginLabels, Counter>,
}

/// 1 ms to 10 s: an ingest is a few ms; a second means a contended or slow database.
const INGEST_BUCKETS: [f64; 13] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("mailgate");
    let metrics = Metrics {
        registry: Registry::default(),
        messages: Family::default(),
        ingest_duration: Histogram::new(INGEST_BUCKETS),
        sends: Family::default(),
        outbox_mails: Family::default(),
        outbox_oldest_due_age: SecondsGauge::default(),
        database_up: Gauge::default(),
        imap_poll_lag: Family::default(),
        imap_last_poll: Family::default(),
        http_requests: Family::default(),
        login_failures: Family::default(),
        login_throttled: Family::default(),
    };
    registry.register(
        "messages",
        "Messages ingested by this process, by source, outcome and class",
        metrics.messages.clone(),
    );
    registry.register_with_unit(
        "ingest_duration",
        "Time from a raw message to its committed transaction",
        Unit::Seconds,
        metrics.ingest_duration.clone(),
    );
    registry.register("sends", "Outbox send attempts by result", metrics.sends.clone());
    registry.register(
        "outbox_mails",
        "Outbox rows by state, read from the database at scrape time",
        metrics.outbox_mails.clone(),
    );
    registry.register_with_unit(
        "outbox_oldest_due_age",
        "How long the longest-waiting due mail has been due (0 when none is)",
        Unit::Seconds,
        metrics.outbox_oldest_due_age.clone(),
    );
    registry.register(
        "database_up",
        "1 when the database answered the scrape's query, else 0",
        metrics.database_up.clone(),
    );
    registry.register_with_unit(
        "imap_poll_lag",
        "Time since the mailbox's last successful pass (since start when none yet); absent while \
         another daemon holds the mailbox",
        Unit::Seconds,
        metrics.imap_poll_lag.clone(),
    );
    registry.register_with_unit(
        "imap_last_poll_timestamp",
        "Unix time of the mailbox's last successful pass",
        Unit::Seconds,
        metrics.imap_last_poll.clone(),
    );
    registry.register(
        "http_requests",
        "Web requests by route pattern and status",
        metrics.http_requests.clone(),
    );
    registry.register(
        "login_failures",
        "Sign-ins refused for a wrong password or code",
        metrics.login_failures.clone(),
    );
    registry.register(
        "login_throttled",
        "Sign-ins refused because the account or client had too many failures",
        metrics.login_throttled.clone(),
    );
    Metrics { registry, ..metrics }
});

/// One message through `Ingestor` (`outcome`: created, added, duplicate, loop, quarantined;
/// `class`: the classifier's word, or `none` when it never ran).
pub fn message_ingested(source: &'static str, outcome: &'static str, class: &'static str, took: Duration) {
    METRICS.messages.get_or_create(&MessageLabels { source, outcome, class }).inc();
    METRICS.ingest_duration.observe(took.as_secs_f64());
}

/// One send attempt's result: sent, retry, failed, dead or postponed.
pub fn send_attempted(result: &'static str) {
    METRICS.sends.get_or_create(&ResultLabel { result }).inc();
}

/// One web request answered; `route` is the matched pattern (`/t/{token}`) or `unmatched`.
pub fn http_request(route: &str, status: u16) {
    METRICS.http_requests.get_or_create(&RequestLabels { route: route.to_string(), status }).inc();
}

/// `realm`: agent or user; `factor`: password or second_factor.
pub fn login_failed(realm: &'static str, factor: &'static str) {
    METRICS.login_failures.get_or_create(&LoginLabels { realm, factor }).inc();
}

pub fn login_throttled(realm: &'static str, factor: &'static str) {
    METRICS.login_throttled.get_or_create(&LoginLabels { realm, factor }).inc();
}

/// The text exposition (OpenMetrics) after setting the gauges read at scrape time.
pub fn exposition(snapshot: &Snapshot, polls: &[(String, MailboxPoll)], now_ms: i64) -> String {
    let metrics = &*METRICS;
    metrics.database_up.set(i64::from(snapshot.backlog.is_some()));
    if let Some(backlog) = &snapshot.backlog {
        for (state, count) in [
            ("queued", backlog.queued),
            ("sending", backlog.sending),
            ("failed", backlog.failed),
            ("dead", backlog.dead),
        ] {
            metrics.outbox_mails.get_or_create(&StateLabel { state }).set(count);
        }
        metrics.outbox_oldest_due_age.set(snapshot.oldest_due_age_seconds(now_ms));
    }
    // Rebuilt each time: a mailbox gone from the configuration, or now polled by another daemon,
    // must not keep its last value.
    metrics.imap_poll_lag.clear();
    metrics.imap_last_poll.clear();
    for (name, poll) in polls {
        let label = MailboxLabel { mailbox: name.clone() };
        if let Some(at) = poll.last_success_ms {
            metrics.imap_last_poll.get_or_create(&label).set(at as f64 / 1000.0);
        }
        if !poll.standby {
            metrics.imap_poll_lag.get_or_create(&label).set(poll.age_seconds(now_ms));
        }
    }
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &metrics.registry);
    text
}
