//! The only door to time (clippy's `disallowed-methods` bans `SystemTime::now` elsewhere, and
//! `tests/architecture.rs` `Instant::now` elsewhere in `src/`): wall time through `Clock`, so tests can pin it with `FixedClock`; monotonic time, for
//! durations and deadlines that no test needs to pin, through `Stopwatch` and `deadline`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync {
    /// Unix time in milliseconds.
    fn now_ms(&self) -> i64;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now_ms(&self) -> i64 {
        let since_epoch =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that only moves when told to; shared handles see the same time.
#[derive(Clone, Debug, Default)]
pub struct FixedClock(Arc<AtomicI64>);

impl FixedClock {
    pub fn at(ms: i64) -> FixedClock {
        FixedClock(Arc::new(AtomicI64::new(ms)))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Measures how long something took (a pass, an ingest, a backup), on the monotonic clock.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch(std::time::Instant::now())
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.0.elapsed()
    }
}

/// The tokio instant `after` from now, for `tokio::time::timeout_at` and `sleep_until` (which
/// follow tokio's clock, so `tokio::time::pause` moves them in tests).
pub fn deadline(after: std::time::Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + after
}

/// A unix-millisecond time as `YYYY-MM-DD HH:MM:SS` UTC, for command-line output.
pub fn format_utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}
