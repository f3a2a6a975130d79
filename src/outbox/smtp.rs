//! The SMTP client: a small set of reusable connections per daemon, every send bounded by a timeout,
//! and failures sorted into "try again" and "never".
//!
//! Plain and STARTTLS connections are opened here with `TCP_NODELAY`: lettre writes the end-of-data
//! marker as its own small segment, and with Nagle's algorithm on, each message then waits out the
//! server's delayed ACK (~40 ms; measured 22 mails/s per connection). Implicit TLS uses lettre's
//! pooled transport.

use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Mutex;

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

pub struct SmtpSender {
    route: Route,
    timeout: Duration,
}

enum Route {
    /// Our own connections (plain or STARTTLS), with `TCP_NODELAY`.
    Direct(Direct),
    /// lettre's pooled transport (implicit TLS).
    Pooled(AsyncSmtpTransport<Tokio1Executor>),
}

struct Direct {
    host: String,
    port: u16,
    starttls: bool,
    credentials: Option<Credentials>,
    /// Connections that delivered their last mail fine, ready for the next.
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    max_idle: usize,
}

impl SmtpSender {
    pub fn new(config: &Smtp) -> anyhow::Result<SmtpSender> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let credentials = match (&config.username, &config.password_file) {
            (Some(user), Some(file)) => {
                let password = std::fs::read_to_string(file)?;
                Some(Credentials::new(user.clone(), password.lines().next().unwrap_or_default().to_string()))
            }
            _ => None,
        };
        let route = match config.tls {
            SmtpTls::None | SmtpTls::Starttls => Route::Direct(Direct {
                host: config.host.clone(),
                port: config.port,
                starttls: config.tls == SmtpTls::Starttls,
                credentials,
                idle: Mutex::new(Vec::new()),
                max_idle: config.pool_size as usize,
            }),
            SmtpTls::Tls => {
                // A short idle timeout: a pooled connection the server closed must not be reused (lettre#743).
                let pool = PoolConfig::new().max_size(config.pool_size).idle_timeout(Duration::from_secs(20));
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?
                    .port(config.port)
                    .timeout(Some(timeout))
                    .pool_config(pool);
                if let Some(credentials) = credentials {
                    builder = builder.credentials(credentials);
                }
                Route::Pooled(builder.build())
            }
        };
        Ok(SmtpSender { route, timeout })
    }

    /// Sends one mail; the whole exchange is bounded by the configured timeout (lettre's own timeout
    /// covers only parts of it, lettre#1027).
    pub async fn send(&self, message: lettre::Message) -> Result<(), SendError> {
        let limit = self.timeout + Duration::from_secs(1);
        let sent = match &self.route {
            Route::Pooled(transport) => {
                tokio::time::timeout(limit, async {
                    transport.send(message).await.map(drop).map_err(classify)
                })
                .await
            }
            Route::Direct(direct) => tokio::time::timeout(limit, direct.send(&message, self.timeout)).await,
        };
        sent.unwrap_or_else(|_| {
            Err(SendError::Transient(format!("no answer within {} ms", self.timeout.as_millis())))
        })
    }
}

/// 5xx answers are final; everything else (4xx, network, TLS, timeouts) is worth another try.
fn classify(error: lettre::transport::smtp::Error) -> SendError {
    if error.is_permanent() {
        SendError::Permanent(error.to_string())
    } else {
        SendError::Transient(error.to_string())
    }
}

impl Direct {
    /// On a reused connection that turns out dead (the server closed it while idle), one retry on
    /// a fresh connection; answers from the server are final.
    async fn send(&self, message: &lettre::Message, timeout: Duration) -> Result<(), SendError> {
        let envelope = message.envelope();
        let bytes = message.formatted();
        let reused = self.idle.lock().await.pop();
        let was_reused = reused.is_some();
        let mut connection = match reused {
            Some(connection) => connection,
            None => self.connect(timeout).await?,
        };
        let mut result = connection.send(envelope, &bytes).await;
        if was_reused && matches!(&result, Err(error) if error.status().is_none()) {
            connection.abort().await;
            connection = self.connect(timeout).await?;
            result = connection.send(envelope, &bytes).await;
        }
        match &result {
            Ok(_) if !connection.has_broken() => {
                let mut idle = self.idle.lock().await;
                if idle.len() < self.max_idle {
                    idle.push(connection);
                } else {
                    drop(idle);
                    let _ = connection.quit().await;
                }
            }
            _ => connection.abort().await,
        }
        result.map(drop).map_err(classify)
    }

    async fn connect(&self, timeout: Duration) -> Result<AsyncSmtpConnection, SendError> {
        let address = format!("{}:{}", self.host, self.port);
        let stream =
            tokio::time::timeout(timeout, tokio::net::TcpStream::connect((self.host.as_str(), self.port)))
                .await
                .map_err(|_| SendError::Transient(format!("connecting to {address} timed out")))?
                .map_err(|e| SendError::Transient(format!("cannot connect to {address}: {e}")))?;
        stream.set_nodelay(true).map_err(|e| SendError::Transient(format!("{address}: {e}")))?;
        let hello = ClientId::default();
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello).await.map_err(classify)?;
        if self.starttls {
            let tls = TlsParameters::new(self.host.clone()).map_err(classify)?;
            connection.starttls(tls, &hello).await.map_err(classify)?;
        }
        if let Some(credentials) = &self.credentials {
            connection.auth(&[Mechanism::Plain, Mechanism::Login], credentials).await.map_err(classify)?;
        }
        Ok(connection)
    }
}
