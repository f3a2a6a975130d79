//! The SMTP client: a small set of reusable connections per daemon, every step bounded by a timeout,
//! and failures sorted by whose problem they are: the server's (we could not connect, STARTTLS or
//! AUTH was refused: the mail waits, unharmed), or this mail's (4xx: try again; 5xx: never).
//!
//! Connections are opened here, not by lettre's pooled transport, so that every step is known:
//! plain and STARTTLS connections with `TCP_NODELAY` (lettre writes the end-of-data marker as its
//! own small segment, and with Nagle's algorithm on, each message then waits out the server's
//! delayed ACK: ~40 ms, measured 22 mails/s per connection), implicit TLS through lettre's connect.

use std::fmt;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::{ClientId, Extension};
use tokio::sync::Mutex;

use crate::config::{Smtp, SmtpTls};

/// Why a mail was not sent.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The server's problem, not the mail's: no connection, STARTTLS or AUTH refused, or the
    /// server closing the session (421) or wanting authentication we do not have (530). The mail
    /// waits for the server; it is never failed for this.
    #[error("{0}")]
    Connection(Reply),
    /// This mail got a 4xx answer, or the exchange broke off or timed out while it was sent: retry later.
    #[error("{0}")]
    Transient(Reply),
    /// This mail got a 5xx answer: the server will not take it.
    #[error("{0}")]
    Permanent(Reply),
}

impl SendError {
    pub fn reply(&self) -> &Reply {
        match self {
            SendError::Connection(reply) | SendError::Transient(reply) | SendError::Permanent(reply) => reply,
        }
    }

    /// The server's reply code, when it answered (e.g. 535, 451, 554).
    pub fn code(&self) -> Option<u16> {
        self.reply().code
    }
}

/// What the server said (its code and text), or what went wrong when it said nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The step that failed: "connect", "STARTTLS", "AUTH", "send", ...
    pub step: &'static str,
    /// The SMTP reply code, when the server answered.
    pub code: Option<u16>,
    /// The server's reply text (every line, joined), or the network or TLS error.
    pub text: String,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{}: {code} {}", self.step, self.text),
            None => write!(f, "{}: {}", self.step, self.text),
        }
    }
}

/// What a test session learned (`SmtpSender::probe`).
#[derive(Clone, Debug)]
pub struct Probe {
    /// The name the server gave in its EHLO answer.
    pub server: String,
    /// The extensions it offered that we use: `8BITMIME`, `SMTPUTF8`, `STARTTLS`, `AUTH=...`.
    pub offers: Vec<String>,
    /// Whether the session was encrypted (STARTTLS or implicit TLS).
    pub encrypted: bool,
    /// Whether we logged in (`smtp.username` with `smtp.password_file`).
    pub authenticated: bool,
    /// The server's answer to the mail (250 and its queue id, usually).
    pub answer: Reply,
}

pub struct SmtpSender {
    host: String,
    port: u16,
    tls: SmtpTls,
    credentials: Option<Credentials>,
    timeout: Duration,
    /// Connections that delivered their last mail fine, ready for the next.
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    max_idle: usize,
}

impl SmtpSender {
    pub fn new(config: &Smtp) -> anyhow::Result<SmtpSender> {
        let credentials = match (&config.username, &config.password_file) {
            (Some(user), Some(file)) => {
                let password = std::fs::read_to_string(file)?;
                Some(Credentials::new(user.clone(), password.lines().next().unwrap_or_default().to_string()))
            }
            _ => None,
        };
        Ok(SmtpSender {
            host: config.host.clone(),
            port: config.port,
            tls: config.tls,
            credentials,
            timeout: Duration::from_millis(config.timeout_ms),
            idle: Mutex::new(Vec::new()),
            max_idle: config.pool_size as usize,
        })
    }

    /// `host:port`, for logs.
    pub fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Sends one mail on an idle connection or a new one; the whole delivery (connect and send) is
    /// bounded by the configured timeout (lettre's own timeout covers only parts of it,
    /// lettre#1027). On a reused connection that turns out dead (the server closed it while idle),
    /// one retry on a fresh connection; answers from the server are final.
    pub async fn send(&self, message: &lettre::Message) -> Result<(), SendError> {
        let deadline = crate::clock::deadline(self.timeout);
        let envelope = message.envelope();
        let bytes = message.formatted();
        let reused = self.idle.lock().await.pop();
        let was_reused = reused.is_some();
        let mut connection = match reused {
            Some(connection) => connection,
            None => self.connect(deadline).await?,
        };
        let mut result = self.exchange(&mut connection, envelope, &bytes, deadline).await;
        if was_reused && matches!(&result, Err(Exchange::Broken(_))) {
            connection.abort().await;
            connection = self.connect(deadline).await?;
            result = self.exchange(&mut connection, envelope, &bytes, deadline).await;
        }
        match &result {
            Ok(_) if !connection.has_broken() => self.keep(connection).await,
            _ => connection.abort().await,
        }
        result.map(drop).map_err(Exchange::into_send_error)
    }

    /// A fresh session (never a pooled one) and `message` sent on it, for `mailgate smtp test`: the
    /// steps the worker takes, with what the server said at each. The session ends with QUIT.
    pub async fn probe(&self, message: &lettre::Message) -> Result<Probe, SendError> {
        let deadline = crate::clock::deadline(self.timeout);
        let mut connection = self.connect(deadline).await?;
        let info = connection.server_info();
        let server = info.name().to_string();
        let mut offers: Vec<String> = [
            (Extension::EightBitMime, "8BITMIME"),
            (Extension::SmtpUtfEight, "SMTPUTF8"),
            (Extension::StartTls, "STARTTLS"),
        ]
        .into_iter()
        .filter(|(extension, _)| info.supports_feature(*extension))
        .map(|(_, name)| name.to_string())
        .collect();
        for (mechanism, name) in
            [(Mechanism::Plain, "PLAIN"), (Mechanism::Login, "LOGIN"), (Mechanism::Xoauth2, "XOAUTH2")]
        {
            if info.supports_auth_mechanism(mechanism) {
                offers.push(format!("AUTH={name}"));
            }
        }
        let encrypted = connection.is_encrypted();
        let bytes = message.formatted();
        let answer =
            self.exchange(&mut connection, message.envelope(), &bytes, deadline).await.map(|response| {
                Reply {
                    step: "send",
                    code: Some(u16::from(response.code())),
                    text: one_line(&response.message().collect::<Vec<_>>().join(" ")),
                }
            });
        match &answer {
            Ok(_) => {
                let _ = tokio::time::timeout_at(deadline, connection.quit()).await;
            }
            Err(_) => connection.abort().await,
        }
        let answer = answer.map_err(Exchange::into_send_error)?;
        Ok(Probe { server, offers, encrypted, authenticated: self.credentials.is_some(), answer })
    }

    /// One mail on an open connection: MAIL, RCPT, DATA, before `deadline`; the server's last
    /// answer when it took the mail.
    async fn exchange(
        &self,
        connection: &mut AsyncSmtpConnection,
        envelope: &lettre::address::Envelope,
        bytes: &[u8],
        deadline: tokio::time::Instant,
    ) -> Result<lettre::transport::smtp::response::Response, Exchange> {
        match tokio::time::timeout_at(deadline, connection.send(envelope, bytes)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) if error.status().is_none() => Err(Exchange::Broken(reply("send", &error))),
            Ok(Err(error)) => Err(Exchange::Answered(reply("send", &error))),
            Err(_) => Err(Exchange::Broken(Reply {
                step: "send",
                code: None,
                text: format!("no answer within {} ms", self.timeout.as_millis()),
            })),
        }
    }

    async fn keep(&self, mut connection: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().await;
        if idle.len() < self.max_idle {
            idle.push(connection);
        } else {
            drop(idle);
            let _ = connection.quit().await;
        }
    }

    /// A new session, ready for mail: connected, greeted, encrypted and authenticated as configured.
    /// Every failure here is the server's (or its configuration's), never a mail's.
    async fn connect(&self, deadline: tokio::time::Instant) -> Result<AsyncSmtpConnection, SendError> {
        match tokio::time::timeout_at(deadline, self.open_session()).await {
            Ok(session) => session,
            Err(_) => Err(SendError::Connection(Reply {
                step: "connect",
                code: None,
                text: format!("{} did not answer within {} ms", self.server(), self.timeout.as_millis()),
            })),
        }
    }

    async fn open_session(&self) -> Result<AsyncSmtpConnection, SendError> {
        let refused =
            |step, error: lettre::transport::smtp::Error| SendError::Connection(reply(step, &error));
        let hello = ClientId::default();
        let mut connection = match self.tls {
            SmtpTls::None | SmtpTls::Starttls => {
                let cannot = |e: std::io::Error| {
                    SendError::Connection(Reply {
                        step: "connect",
                        code: None,
                        text: format!("cannot connect to {}: {e}", self.server()),
                    })
                };
                let stream =
                    tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await.map_err(cannot)?;
                // Without it each mail waits out the server's delayed ACK (see the module comment).
                stream.set_nodelay(true).map_err(cannot)?;
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
                    .await
                    .map_err(|e| refused("connect", e))?
            }
            SmtpTls::Tls => {
                let tls = TlsParameters::new(self.host.clone()).map_err(|e| refused("TLS", e))?;
                let server = (self.host.as_str(), self.port);
                AsyncSmtpConnection::connect_tokio1(server, Some(self.timeout), &hello, Some(tls), None)
                    .await
                    .map_err(|e| refused("connect", e))?
            }
        };
        if self.tls == SmtpTls::Starttls {
            let tls = TlsParameters::new(self.host.clone()).map_err(|e| refused("STARTTLS", e))?;
            if let Err(error) = connection.starttls(tls, &hello).await {
                connection.abort().await;
                return Err(refused("STARTTLS", error));
            }
        }
        if let Some(credentials) = &self.credentials
            && let Err(error) = connection.auth(&[Mechanism::Plain, Mechanism::Login], credentials).await
        {
            connection.abort().await;
            return Err(refused("AUTH", error));
        }
        Ok(connection)
    }
}

/// How one mail's exchange on an open connection ended, when it did not succeed.
enum Exchange {
    /// The connection broke or went silent: nothing was answered about this mail.
    Broken(Reply),
    /// The server answered with a reply code.
    Answered(Reply),
}

impl Exchange {
    fn into_send_error(self) -> SendError {
        match self {
            Exchange::Broken(reply) => SendError::Transient(reply),
            // 421: the server is closing the session; 530: it wants authentication we lack.
            Exchange::Answered(reply) if matches!(reply.code, Some(421 | 530)) => {
                SendError::Connection(reply)
            }
            Exchange::Answered(reply) if reply.code.is_some_and(|code| code >= 500) => {
                SendError::Permanent(reply)
            }
            Exchange::Answered(reply) => SendError::Transient(reply),
        }
    }
}

/// The reply code and text of a lettre error: for an answer, the server's own words (lettre keeps
/// them as the error's source); otherwise lettre's description of the network or TLS failure.
fn reply(step: &'static str, error: &lettre::transport::smtp::Error) -> Reply {
    let code = error.status().map(u16::from);
    let text = match (code, std::error::Error::source(error)) {
        (Some(_), Some(source)) => source.to_string(),
        _ => error.to_string(),
    };
    Reply { step, code, text: one_line(&text) }
}

/// Server replies may span lines; logs and `last_error` keep them on one.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(code: u16) -> SendError {
        Exchange::Answered(Reply { step: "send", code: Some(code), text: "x".into() }).into_send_error()
    }

    #[test]
    fn answers_are_sorted_by_whose_problem_they_are() {
        assert!(matches!(answered(451), SendError::Transient(_)));
        assert!(matches!(answered(554), SendError::Permanent(_)));
        assert!(matches!(answered(550), SendError::Permanent(_)));
        assert!(matches!(answered(421), SendError::Connection(_)));
        assert!(matches!(answered(530), SendError::Connection(_)));
        assert_eq!(answered(554).code(), Some(554));
        let broken = Exchange::Broken(Reply { step: "send", code: None, text: "reset".into() });
        assert!(matches!(broken.into_send_error(), SendError::Transient(_)));
    }

    #[test]
    fn replies_read_as_the_server_said_them() {
        let reply =
            Reply { step: "AUTH", code: Some(535), text: "5.7.8 Authentication credentials invalid".into() };
        assert_eq!(reply.to_string(), "AUTH: 535 5.7.8 Authentication credentials invalid");
        let reply = Reply { step: "connect", code: None, text: "cannot connect".into() };
        assert_eq!(reply.to_string(), "connect: cannot connect");
        assert_eq!(one_line("550-first\n  550 second "), "550-first 550 second");
    }
}
