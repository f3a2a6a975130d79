//! The SMTP client: one pooled lettre transport per daemon, every send bounded by a timeout, and
//! failures sorted into "try again" and "never".

use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{Smtp, SmtpTls};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// Connection trouble, a timeout or a 4xx answer: retry later.
    #[error("{0}")]
    Transient(String),
    /// A 5xx answer: the server will not take this mail.
    #[error("{0}")]
    Permanent(String),
}

#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    timeout: Duration,
}

impl SmtpSender {
    pub fn new(config: &Smtp) -> anyhow::Result<SmtpSender> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
        };
        // A short idle timeout: a pooled connection the server closed must not be reused (lettre#743).
        let pool = PoolConfig::new().max_size(config.pool_size).idle_timeout(Duration::from_secs(20));
        let mut builder = builder.port(config.port).timeout(Some(timeout)).pool_config(pool);
        if let (Some(user), Some(file)) = (&config.username, &config.password_file) {
            let password = std::fs::read_to_string(file)?;
            let password = password.lines().next().unwrap_or_default().to_string();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(SmtpSender { transport: builder.build(), timeout })
    }

    /// Sends one mail; the whole exchange is bounded by the configured timeout (lettre's own timeout
    /// covers only parts of it, lettre#1027).
    pub async fn send(&self, message: lettre::Message) -> Result<(), SendError> {
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), self.transport.send(message)).await
        {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(error)) if error.is_permanent() => Err(SendError::Permanent(error.to_string())),
            Ok(Err(error)) => Err(SendError::Transient(error.to_string())),
            Err(_) => Err(SendError::Transient(format!("no answer within {} ms", self.timeout.as_millis()))),
        }
    }
}
