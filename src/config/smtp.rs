//! `[smtp]`: the server the outbox worker hands mail to, and how hard it tries.

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::is_loopback_host;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP: allowed to a loopback host only.
    None,
    Starttls,
    /// Implicit TLS (SMTPS).
    Tls,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password_file: Option<std::path::PathBuf>,
    pub timeout_ms: u64,
    pub max_attempts: u32,
    pub pool_size: u32,
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "an [smtp] table")]
pub(super) struct RawSmtp {
    /// The SMTP server (your MTA or smarthost). Default: `"127.0.0.1"`.
    pub host: String,
    /// Its port. Default: `25`.
    pub port: u16,
    /// `"none"` (loopback hosts only), `"starttls"` or `"tls"`. Default: `"none"`.
    pub tls: String,
    /// Login name, when the server wants authentication. Default: none.
    pub username: Option<String>,
    /// File holding the password (first line). Default: none.
    pub password_file: Option<std::path::PathBuf>,
    /// Time allowed for one delivery (connect + send). Default: `30000`.
    pub timeout_ms: u64,
    /// Attempts before a mail that keeps failing transiently is given up (`dead`). Default: `8`.
    pub max_attempts: u32,
    /// Connections kept open to the server. Default: `4`.
    pub pool_size: u32,
}

impl Default for RawSmtp {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_string(),
            port: 25,
            tls: "none".to_string(),
            username: None,
            password_file: None,
            timeout_ms: 30_000,
            max_attempts: 8,
            pool_size: 4,
        }
    }
}

pub(super) fn validate_smtp(raw: &RawSmtp, problems: &mut Problems<'_, '_>) -> Smtp {
    let key = |name: &str| KeyPath::top("smtp").key(name);
    let tls = match raw.tls.as_str() {
        "none" => SmtpTls::None,
        "starttls" => SmtpTls::Starttls,
        "tls" => SmtpTls::Tls,
        other => {
            problems.report(
                &key("tls"),
                format!("{other:?} is not a TLS mode; use \"none\", \"starttls\" or \"tls\""),
            );
            SmtpTls::None
        }
    };
    if tls == SmtpTls::None && !is_loopback_host(&raw.host) {
        problems.report(
            &key("tls"),
            format!(
                "is \"none\" but host {:?} is not a loopback address; use \"starttls\" or \"tls\"",
                raw.host
            ),
        );
    }
    if raw.host.trim().is_empty() {
        problems.report(&key("host"), "is empty".to_string());
    }
    if raw.port == 0 {
        problems.report(&key("port"), "must be a port number (1-65535)".to_string());
    }
    if raw.username.is_some() != raw.password_file.is_some() {
        problems.report(&key("username"), "username and password_file go together".to_string());
    }
    if let Some(file) = &raw.password_file
        && let Err(error) = std::fs::read_to_string(file)
    {
        problems.report(&key("password_file"), format!("cannot read {}: {error}", file.display()));
    }
    if raw.max_attempts == 0 {
        problems.report(&key("max_attempts"), "must be at least 1".to_string());
    }
    if raw.timeout_ms == 0 {
        problems.report(&key("timeout_ms"), "must be more than 0".to_string());
    }
    Smtp {
        host: raw.host.clone(),
        port: raw.port,
        tls,
        username: raw.username.clone(),
        password_file: raw.password_file.clone(),
        timeout_ms: raw.timeout_ms,
        max_attempts: raw.max_attempts.max(1),
        pool_size: raw.pool_size.max(1),
    }
}
