//! Opening an authenticated IMAP session: TCP, TLS (implicit or STARTTLS; rustls with the web PKI
//! roots, the system's roots and the mailbox's own `ca_file`), the greeting, LOGIN. Every step has a
//! deadline: async-imap has no timeouts of its own.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_imap::types::{Capabilities, Capability};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::{ImapTls, Mailbox};

/// What an IMAP session runs over: plain TCP (loopback only) or TLS.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + Sync + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + Debug> Transport for T {}

pub type Session = async_imap::Session<Box<dyn Transport>>;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {address}: {source}")]
    Connect { address: String, source: std::io::Error },
    #[error(
        "TLS with {address} failed: {reason} (a server with a private CA needs its certificate in ca_file)"
    )]
    Tls { address: String, reason: String },
    #[error("{address} refused STARTTLS: {reason}")]
    StartTls { address: String, reason: String },
    #[error("login as {user} refused by {address}: {reason} (check username and password)")]
    Login { user: String, address: String, reason: String },
    #[error("{address}: {what}: {reason}")]
    Protocol { address: String, what: &'static str, reason: String },
    #[error("{address}: no answer to {what} within {}s", limit.as_secs())]
    Timeout { address: String, what: &'static str, limit: Duration },
}

impl ConnectError {
    /// Wrong credentials: retrying soon will not help, and hammering the server may lock the account.
    pub fn is_login(&self) -> bool {
        matches!(self, ConnectError::Login { .. })
    }
}

/// The TLS settings for `mailbox`, built once per mailbox task (loading the system roots reads files).
pub fn tls_config(mailbox: &Mailbox) -> Arc<ClientConfig> {
    let roots = crate::tls::root_store(&mailbox.extra_roots, true);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A logged-in session on `mailbox` and the server's capabilities.
pub async fn connect(
    mailbox: &Mailbox,
    tls: &Arc<ClientConfig>,
    limit: Duration,
) -> Result<(Session, Capabilities), ConnectError> {
    let address = format!("{}:{}", mailbox.host, mailbox.port);
    let step = Step { address: &address, limit };
    let tcp = step
        .run("connect", TcpStream::connect((mailbox.host.as_str(), mailbox.port)))
        .await?
        .map_err(|source| ConnectError::Connect { address: address.clone(), source })?;
    let _ = tcp.set_nodelay(true);
    let client = match mailbox.tls {
        ImapTls::None => greeted(&step, Box::new(tcp) as Box<dyn Transport>).await?,
        ImapTls::Tls => {
            let tls_stream = step.handshake(tls, &mailbox.host, tcp).await?;
            greeted(&step, Box::new(tls_stream) as Box<dyn Transport>).await?
        }
        ImapTls::Starttls => {
            let mut plain = greeted(&step, tcp).await?;
            step.run("STARTTLS", plain.run_command_and_check_ok("STARTTLS", None))
                .await?
                .map_err(|e| ConnectError::StartTls { address: address.clone(), reason: e.to_string() })?;
            // No greeting after STARTTLS (RFC 3501 6.2.1).
            let tls_stream = step.handshake(tls, &mailbox.host, plain.into_inner()).await?;
            async_imap::Client::new(Box::new(tls_stream) as Box<dyn Transport>)
        }
    };
    let mut session = step
        .run("LOGIN", client.login(&mailbox.username, mailbox.password.expose()))
        .await?
        .map_err(|(e, _)| ConnectError::Login {
            user: mailbox.username.clone(),
            address: address.clone(),
            reason: e.to_string(),
        })?;
    let capabilities = step.run("CAPABILITY", session.capabilities()).await?.map_err(|e| {
        ConnectError::Protocol { address: address.clone(), what: "CAPABILITY", reason: e.to_string() }
    })?;
    Ok((session, capabilities))
}

/// Whether the server offers `name` (`IDLE`, `MOVE`, `UIDPLUS`).
pub fn offers(capabilities: &Capabilities, name: &str) -> bool {
    capabilities.has(&Capability::Atom(name.to_string()))
}

/// One connection attempt's address and per-step deadline.
struct Step<'a> {
    address: &'a str,
    limit: Duration,
}

impl Step<'_> {
    async fn run<T>(&self, what: &'static str, work: impl Future<Output = T>) -> Result<T, ConnectError> {
        tokio::time::timeout(self.limit, work).await.map_err(|_| ConnectError::Timeout {
            address: self.address.to_string(),
            what,
            limit: self.limit,
        })
    }

    async fn handshake(
        &self,
        tls: &Arc<ClientConfig>,
        host: &str,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnectError> {
        let tls_error = |reason: String| ConnectError::Tls { address: self.address.to_string(), reason };
        let name = ServerName::try_from(host.to_string()).map_err(|e| tls_error(e.to_string()))?;
        self.run("the TLS handshake", TlsConnector::from(tls.clone()).connect(name, tcp))
            .await?
            .map_err(|e| tls_error(e.to_string()))
    }
}

/// A client on `stream` once the server's greeting is read.
async fn greeted<T: Transport>(step: &Step<'_>, stream: T) -> Result<async_imap::Client<T>, ConnectError> {
    let mut client = async_imap::Client::new(stream);
    let protocol = |reason: String| ConnectError::Protocol {
        address: step.address.to_string(),
        what: "greeting",
        reason,
    };
    match step.run("the greeting", client.read_response()).await? {
        Ok(Some(_)) => Ok(client),
        Ok(None) => Err(protocol("the server closed the connection".to_string())),
        Err(e) => Err(protocol(e.to_string())),
    }
}
