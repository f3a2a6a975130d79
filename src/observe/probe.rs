//! The database probe behind `/healthz` and each metrics scrape: one real query (the outbox
//! backlog) under a short deadline. A load balancer polls health often, so the answer is cached for
//! a second, concurrent askers wait for one probe, and a probe still stuck past its deadline is not
//! joined by another: the database sees at most one probe at a time from each listener.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;

use crate::app::App;
use crate::clock::Stopwatch;
use crate::store::outbox::{self as outbox_store, Backlog};

/// How long one answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// How long a probe may take before the database counts as not answering.
const DEADLINE: Duration = Duration::from_secs(2);

/// What the database said, in the words `/healthz` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Database {
    Ok,
    /// It refused or failed the query (server down, file unreadable, ...).
    Unavailable,
    /// No answer within the deadline (or an earlier probe is still waiting for one).
    Timeout,
}

impl Database {
    pub fn as_str(self) -> &'static str {
        match self {
            Database::Ok => "ok",
            Database::Unavailable => "unavailable",
            Database::Timeout => "timeout",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Snapshot {
    pub database: Database,
    /// The outbox backlog, when the database answered.
    pub backlog: Option<Backlog>,
    /// The database's error, for the log only (never shown on `/healthz`).
    problem: Option<String>,
    taken: Stopwatch,
}

impl Snapshot {
    /// How long the longest-waiting due mail has been due at `now_ms`; 0 when none is due.
    pub fn oldest_due_age_seconds(&self, now_ms: i64) -> f64 {
        let earliest = self.backlog.and_then(|backlog| backlog.earliest_attempt_at);
        earliest.map_or(0.0, |at| (now_ms - at).max(0) as f64 / 1000.0)
    }
}

pub struct Probe {
    app: App,
    last: Mutex<Option<Snapshot>>,
    /// A probe's query is running (possibly past its deadline).
    in_flight: Arc<AtomicBool>,
}

impl Probe {
    pub fn new(app: App) -> Probe {
        Probe { app, last: Mutex::new(None), in_flight: Arc::new(AtomicBool::new(false)) }
    }

    /// The clock the probe's ages are measured with.
    pub fn now_ms(&self) -> i64 {
        self.app.now_ms()
    }

    /// The database's state and the outbox backlog, at most [`FRESH_FOR`] old.
    pub async fn snapshot(&self) -> Snapshot {
        let mut last = self.last.lock().await;
        if let Some(fresh) = last.as_ref().filter(|s| s.taken.elapsed() < FRESH_FOR) {
            return fresh.clone();
        }
        let snapshot = self.probe().await;
        let before = last.as_ref().map_or(Database::Ok, |s| s.database);
        match (before, snapshot.database) {
            (Database::Ok, Database::Ok) => {}
            (_, Database::Ok) => tracing::info!("health: the database answers again"),
            (Database::Ok, now) => tracing::warn!(
                database = now.as_str(),
                error = snapshot.problem.as_deref().unwrap_or("no answer in time"),
                "health: the database does not answer; /healthz says 503 until it does (check the \
                 database server and database.url)"
            ),
            _ => {}
        }
        *last = Some(snapshot.clone());
        snapshot
    }

    async fn probe(&self) -> Snapshot {
        let snapshot = |database, backlog, problem: Option<String>| Snapshot {
            database,
            backlog,
            problem,
            taken: Stopwatch::start(),
        };
        if self.in_flight.swap(true, Ordering::AcqRel) {
            return snapshot(Database::Timeout, None, Some("an earlier probe is still waiting".into()));
        }
        let store = self.app.store().clone();
        let in_flight = Done(self.in_flight.clone());
        let query = tokio::spawn(async move {
            let _done = in_flight;
            store.read(outbox_store::backlog).await
        });
        match tokio::time::timeout(DEADLINE, query).await {
            Ok(Ok(Ok(backlog))) => snapshot(Database::Ok, Some(backlog), None),
            Ok(Ok(Err(error))) => snapshot(Database::Unavailable, None, Some(error.to_string())),
            Ok(Err(error)) => snapshot(Database::Unavailable, None, Some(error.to_string())),
            Err(_) => snapshot(Database::Timeout, None, None),
        }
    }
}

/// Clears the in-flight flag when the probe's task ends, however it ends.
struct Done(Arc<AtomicBool>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
