//! `mailgate serve`: the daemon. It runs the outbox worker until SIGINT or SIGTERM (IMAP intake,
//! the web endpoint and the janitor join it as they are built).

use std::sync::Arc;
use std::time::Duration;

use super::exit;
use crate::app;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::outbox::render::Templates;
use crate::outbox::smtp::SmtpSender;
use crate::outbox::worker::{Worker, WorkerSettings};

pub async fn run(config: &Config) -> u8 {
    let ingestor = match app::open(config).await {
        Ok(ingestor) => ingestor,
        Err(error) => {
            eprintln!("mailgate: {error}");
            return if error.is_unavailable() { exit::TEMPFAIL } else { exit::SOFTWARE };
        }
    };
    let templates = match Templates::load(config.templates.dir.as_deref()) {
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
    let worker = Worker::new(
        ingestor.store().clone(),
        templates,
        smtp,
        worker_settings(config),
        Arc::new(SystemClock),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    tracing::info!(smtp = %format!("{}:{}", config.smtp.host, config.smtp.port), "mailgate serving");
    worker.run(stopped).await;
    exit::OK
}

pub fn worker_settings(config: &Config) -> WorkerSettings {
    let timeout = Duration::from_millis(config.smtp.timeout_ms);
    WorkerSettings {
        instance_name: config.instance.name.clone(),
        from: config.instance.support_addresses[0].clone(),
        message_id_domain: config.instance.message_id_domain.to_lowercase(),
        max_attempts: config.smtp.max_attempts,
        // Long enough that a live worker always finishes (or times out) first.
        lease: timeout * 2 + Duration::from_secs(30),
        batch: 64,
        concurrency: config.smtp.pool_size as usize,
        idle: Duration::from_millis(500),
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
