//! The service manager's notification protocol for `serve` (systemd `Type=notify`): READY=1 once
//! the daemon listens and takes mail, RELOADING=1 (with MONOTONIC_USEC) and READY=1 again around
//! a reload on SIGHUP, WATCHDOG=1 at half of `$WATCHDOG_USEC` while the database answers,
//! STOPPING=1 on shutdown. Without `$NOTIFY_SOCKET` every call here does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

use crate::store::{Store, Tx, directory as directory_store};

/// Tells the service manager that start-up is over (a no-op without `$NOTIFY_SOCKET`).
pub fn ready() {
    send(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

/// Tells the service manager that a reload began; [`ready`] says it ended (applied or not).
/// `MONOTONIC_USEC` lets `Type=notify-reload` match the answer to its signal.
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading, NotifyState::Status("reloading the configuration")];
    match NotifyState::monotonic_usec_now() {
        Ok(now) => states.push(now),
        Err(error) => tracing::warn!(%error, "cannot read the monotonic clock for MONOTONIC_USEC"),
    }
    send(&states);
}

/// Tells the service manager that the daemon is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("shutting down")]);
}

/// Pings the watchdog at half of `$WATCHDOG_USEC` until `stop`, each time only after the database
/// answered a read within that half: a daemon whose runtime or database hangs misses its pings and the
/// service manager restarts it. Returns at once when no watchdog is asked for.
pub async fn watchdog(store: Store, mut stop: tokio::sync::watch::Receiver<bool>) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    // WATCHDOG_USEC=0 means none (sd_watchdog_enabled(3)).
    let Some(timeout) = sd_notify::watchdog_enabled().filter(|timeout| !timeout.is_zero()) else { return };
    let every = (timeout / 2).max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval(every);
    // After a stall, one ping, not a burst of the missed ones.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        match tokio::time::timeout(every, store.read(database_answers)).await {
            Ok(Ok(_)) => send(&[NotifyState::Watchdog]),
            Ok(Err(error)) => tracing::warn!(
                %error,
                "watchdog: the database does not answer; ping withheld (the service manager \
                 restarts mailgate when this lasts WatchdogSec)"
            ),
            Err(_) => tracing::warn!(
                waited_ms = every.as_millis() as u64,
                "watchdog: the database did not answer in time; ping withheld"
            ),
        }
    }
}

/// The health probe: one small read of a real table.
fn database_answers(tx: &mut Tx<'_>) -> crate::store::Result<Option<String>> {
    directory_store::get_meta(tx, "directory_fingerprint")
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "cannot notify the service manager ($NOTIFY_SOCKET)");
    }
}
