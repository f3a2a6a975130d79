//! `mailgate serve`: the daemon. Until SIGINT or SIGTERM it runs one IMAP intake task per
//! `[[mailbox]]`, the outbox worker, and the janitor that closes quiet resolved tickets (the web
//! endpoint joins them when built). SIGHUP reloads the configuration (`reload.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use super::reload::Reloader;
use super::{exit, systemd};
use crate::app;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::imap::Poller;
use crate::ingest::Ingestor;
use crate::workflow::Workflows;

const JANITOR_EVERY: std::time::Duration = std::time::Duration::from_secs(60 * 60);
use crate::outbox::render::Templates;
use crate::outbox::smtp::SmtpSender;
use crate::outbox::worker::Worker;

/// Runs the daemon on `config`; `given` and `search` find the file again on SIGHUP.
pub async fn run(config: &Config, given: Option<PathBuf>, search: Vec<PathBuf>) -> u8 {
    // First of all: SIGHUP's default action ends the process.
    let hangups = match hangup_signals() {
        Ok(hangups) => hangups,
        Err(error) => {
            eprintln!("mailgate: cannot handle SIGHUP (reload): {error}");
            return exit::SOFTWARE;
        }
    };
    let app = match app::open(config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("mailgate: {error}");
            return if error.is_unavailable() { exit::TEMPFAIL } else { exit::SOFTWARE };
        }
    };
    let templates = match Templates::load(config.templates.dir.as_deref(), &config.wanted_variants()) {
        Ok(templates) => Arc::new(templates),
        Err(errors) => {
            for error in errors {
                eprintln!("mailgate: {error}");
            }
            return exit::CONFIG;
        }
    };
    let smtp = match SmtpSender::new(&config.smtp) {
        Ok(smtp) => smtp,
        Err(error) => {
            eprintln!("mailgate: smtp: {error:#}");
            return exit::CONFIG;
        }
    };
    let worker = Arc::new(Worker::new(
        app.store().clone(),
        templates,
        smtp,
        app::worker_settings(config, app.settings().keyring.clone()),
        Arc::new(SystemClock),
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        systemd::stopping();
        let _ = stop.send(true);
    });
    let mut intake = tokio::task::JoinSet::new();
    for mailbox in &config.mailboxes {
        let poller = Poller::new(mailbox.clone(), config.imap.clone(), Ingestor::new(app.clone()));
        intake.spawn(poller.run(stopped.clone()));
    }
    tracing::info!(
        smtp = %format!("{}:{}", config.smtp.host, config.smtp.port),
        mailboxes = config.mailboxes.len(),
        "mailgate serving"
    );
    let accounts = Arc::new(crate::accounts::Accounts::new(config, app.clone()));
    intake.spawn(janitor(Workflows::new(app.clone()), accounts, stopped.clone()));
    intake.spawn(overdue_rounds(Workflows::new(app.clone()), stopped.clone()));
    let mut pages = None;
    if let Some(bind) = config.web.bind {
        let listener = match tokio::net::TcpListener::bind(bind).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("mailgate: web.bind {bind}: {error}");
                return exit::UNAVAILABLE;
            }
        };
        let web_pages = match app::web_pages(config) {
            Ok(web_pages) => Arc::new(web_pages),
            Err(errors) => {
                for error in errors {
                    eprintln!("mailgate: templates.web_dir: {error}");
                }
                return exit::CONFIG;
            }
        };
        let router = app::web_router_with_pages(config, app.clone(), web_pages.clone());
        pages = Some(web_pages);
        tracing::info!(%bind, "web endpoint listening");
        let stop = stopped.clone();
        intake.spawn(async move {
            if let Err(error) = crate::web::serve(listener, router, stop).await {
                tracing::error!(%error, "web endpoint failed");
            }
        });
    }
    if let Some(bind) = config.metrics.bind {
        let listener = match tokio::net::TcpListener::bind(bind).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("mailgate: metrics.bind {bind}: {error}");
                return exit::UNAVAILABLE;
            }
        };
        tracing::info!(%bind, "metrics endpoint listening");
        intake.spawn(crate::observe::endpoint::serve(listener, app.clone(), stopped.clone()));
    }
    // READY=1 before the tasks that send the other notifications start: on a busy machine a task
    // spawned first could ping the watchdog (or answer a SIGHUP, held since start-up) before it.
    systemd::ready();
    intake.spawn(systemd::watchdog(app.store().clone(), stopped.clone()));
    let reloader = Reloader::new(given, search, config.clone(), app.clone(), worker.clone(), pages);
    intake.spawn(reload_on_hangup(reloader, hangups, stopped.clone()));
    worker.run(stopped).await;
    while intake.join_next().await.is_some() {}
    exit::OK
}

/// Reloads on each SIGHUP until `stop`, one reload at a time (signals that arrive meanwhile make
/// one more). The service manager hears RELOADING=1 before and READY=1 after, applied or not.
async fn reload_on_hangup(
    mut reloader: Reloader,
    mut hangups: HangupSignals,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            received = hangups.recv() => if received.is_none() { return },
            _ = stop.changed() => return,
        }
        systemd::reloading();
        reloader.reload().await;
        systemd::ready();
    }
}

#[cfg(unix)]
type HangupSignals = tokio::signal::unix::Signal;

#[cfg(unix)]
fn hangup_signals() -> std::io::Result<HangupSignals> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

/// No SIGHUP off Unix: a stream that never yields.
#[cfg(not(unix))]
struct HangupSignals;

#[cfg(not(unix))]
impl HangupSignals {
    async fn recv(&mut self) -> Option<()> {
        std::future::pending().await
    }
}

#[cfg(not(unix))]
fn hangup_signals() -> std::io::Result<HangupSignals> {
    Ok(HangupSignals)
}

/// Closes resolved tickets that stayed quiet for `tickets.autoclose_days` and drops expired
/// sessions, account links and login counters: at start, then hourly.
async fn janitor(
    workflows: Workflows,
    accounts: Arc<crate::accounts::Accounts>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(JANITOR_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        match workflows.autoclose().await {
            Ok(0) => {}
            Ok(closed) => tracing::info!(closed, "janitor: closed resolved tickets"),
            Err(error) => tracing::warn!(%error, "janitor: autoclose failed; trying again later"),
        }
        if let Err(error) = accounts.purge().await {
            tracing::warn!(%error, "janitor: purging expired sessions failed; trying again later");
        }
    }
}

/// How often tickets past their `[[sla]]` due time are looked for: due times are minutes, not hours.
const OVERDUE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Marks tickets overdue (each once, with the alert) every [`OVERDUE_EVERY`].
async fn overdue_rounds(workflows: Workflows, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(OVERDUE_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        match workflows.mark_overdue().await {
            Ok(0) => {}
            Ok(marked) => tracing::info!(marked, "janitor: marked tickets overdue"),
            Err(error) => tracing::warn!(%error, "janitor: overdue round failed; trying again later"),
        }
    }
}

async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return interrupt.await.unwrap_or_default(),
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or_default();
}
