//! `[auth]`: who is believed and how people sign in. Whose `Authentication-Results` headers count
//! for agents' mail; argon2id parameters and the password rules; sessions; login throttling; the
//! key that seals agents' TOTP secrets; and the optional reverse-proxy pass-through login.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::check_positive;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Auth {
    pub trusted_authserv_id: Option<String>,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub min_password_length: usize,
    pub require_agent_2fa: bool,
    /// The key material that seals TOTP secrets (read from `totp_key_file`); never serialized.
    #[serde(skip)]
    pub totp_key: Option<Vec<u8>>,
    pub totp_key_file: Option<PathBuf>,
    pub session_idle_minutes: u32,
    pub session_max_hours: u32,
    pub max_failed_logins: u32,
    pub max_failed_logins_per_client: u32,
    pub max_failed_logins_per_account: u32,
    pub lockout_minutes: u32,
    pub reset_minutes: u32,
    pub passthrough_header: Option<String>,
    pub passthrough_proxies: Vec<IpAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "an [auth] table")]
pub(super) struct RawAuth {
    pub trusted_authserv_id: Option<String>,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub min_password_length: u32,
    pub require_agent_2fa: bool,
    pub totp_key_file: Option<PathBuf>,
    pub session_idle_minutes: u32,
    pub session_max_hours: u32,
    pub max_failed_logins: u32,
    pub max_failed_logins_per_client: u32,
    /// Failed sign-ins per account per hour from clients that have not signed in to it before
    /// (OWASP ASVS 2.2.1: at most 100). Default: `100`.
    pub max_failed_logins_per_account: u32,
    pub lockout_minutes: u32,
    pub reset_minutes: u32,
    pub passthrough_header: Option<String>,
    pub passthrough_proxies: Vec<String>,
}

impl Default for RawAuth {
    fn default() -> Self {
        // OWASP Password Storage Cheat Sheet (2025): argon2id, m = 19 MiB, t = 2, p = 1.
        Self {
            trusted_authserv_id: None,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            min_password_length: 10,
            require_agent_2fa: false,
            totp_key_file: None,
            session_idle_minutes: 120,
            session_max_hours: 12,
            max_failed_logins: 5,
            max_failed_logins_per_client: 50,
            max_failed_logins_per_account: 100,
            lockout_minutes: 15,
            reset_minutes: 60,
            passthrough_header: None,
            passthrough_proxies: Vec::new(),
        }
    }
}

/// The least the argon2 parameters may be: OWASP's weakest recommended argon2id setting
/// (m = 7 MiB with t = 5); lower would make a stolen hash cheap to crack.
const MIN_MEMORY_KIB: u32 = 7_168;

pub(super) fn validate_auth(raw: &RawAuth, problems: &mut Problems<'_, '_>) -> Auth {
    let path = KeyPath::top("auth");
    let id = raw.trusted_authserv_id.as_deref().map(str::trim);
    if let Some(id) = id
        && (id.is_empty() || id.contains(|c: char| c.is_whitespace() || c == ';'))
    {
        problems.report(
            &path.key("trusted_authserv_id"),
            format!("{id:?} is not an authserv-id (one word, like the MTA's host name)"),
        );
    }
    if raw.argon2_memory_kib < MIN_MEMORY_KIB || raw.argon2_memory_kib > 4 * 1024 * 1024 {
        problems.report(
            &path.key("argon2_memory_kib"),
            format!("{} is outside 7168..=4194304 (7 MiB to 4 GiB)", raw.argon2_memory_kib),
        );
    }
    if !(1..=100).contains(&raw.argon2_iterations) {
        problems.report(&path.key("argon2_iterations"), "must be 1 to 100");
    }
    if !(1..=16).contains(&raw.argon2_parallelism) {
        problems.report(&path.key("argon2_parallelism"), "must be 1 to 16");
    }
    if !(8..=128).contains(&raw.min_password_length) {
        problems.report(
            &path.key("min_password_length"),
            "must be 8 to 128 characters (NIST SP 800-63B: at least 8)",
        );
    }
    let totp_key = raw.totp_key_file.as_ref().and_then(|file| match std::fs::read(file) {
        Ok(bytes) if bytes.trim_ascii().len() >= 32 => Some(bytes.trim_ascii().to_vec()),
        Ok(_) => {
            problems.report(
                &path.key("totp_key_file"),
                format!(
                    "{} holds fewer than 32 bytes (make one with `openssl rand -hex 32`)",
                    file.display()
                ),
            );
            None
        }
        Err(error) => {
            problems.report(&path.key("totp_key_file"), format!("cannot read {}: {error}", file.display()));
            None
        }
    });
    if raw.require_agent_2fa && raw.totp_key_file.is_none() {
        problems.report(
            &path.key("require_agent_2fa"),
            "needs auth.totp_key_file: TOTP secrets are sealed with that key",
        );
    }
    for (key, value) in [
        ("session_idle_minutes", raw.session_idle_minutes),
        ("session_max_hours", raw.session_max_hours),
        ("max_failed_logins", raw.max_failed_logins),
        ("max_failed_logins_per_client", raw.max_failed_logins_per_client),
        ("max_failed_logins_per_account", raw.max_failed_logins_per_account),
        ("lockout_minutes", raw.lockout_minutes),
        ("reset_minutes", raw.reset_minutes),
    ] {
        check_positive(u64::from(value), &path.key(key), problems);
    }
    let header = raw.passthrough_header.as_deref().map(str::trim).filter(|h| !h.is_empty());
    if let Some(header) = header
        && axum::http::HeaderName::from_bytes(header.as_bytes()).is_err()
    {
        problems.report(&path.key("passthrough_header"), format!("{header:?} is not an HTTP header name"));
    }
    let mut proxies = Vec::new();
    for (index, text) in raw.passthrough_proxies.iter().enumerate() {
        match text.trim().parse::<IpAddr>() {
            Ok(address) => proxies.push(address),
            Err(_) => problems
                .report(&path.key("passthrough_proxies").at(index), format!("{text:?} is not an IP address")),
        }
    }
    if header.is_some() && proxies.is_empty() {
        problems.report(
            &path.key("passthrough_proxies"),
            "lists no proxy: the pass-through header is believed only from these addresses",
        );
    }
    Auth {
        trusted_authserv_id: id.map(str::to_string),
        argon2_memory_kib: raw.argon2_memory_kib,
        argon2_iterations: raw.argon2_iterations,
        argon2_parallelism: raw.argon2_parallelism,
        min_password_length: raw.min_password_length as usize,
        require_agent_2fa: raw.require_agent_2fa,
        totp_key,
        totp_key_file: raw.totp_key_file.clone(),
        session_idle_minutes: raw.session_idle_minutes,
        session_max_hours: raw.session_max_hours,
        max_failed_logins: raw.max_failed_logins,
        max_failed_logins_per_client: raw.max_failed_logins_per_client,
        max_failed_logins_per_account: raw.max_failed_logins_per_account,
        lockout_minutes: raw.lockout_minutes,
        reset_minutes: raw.reset_minutes,
        passthrough_header: header.map(str::to_ascii_lowercase),
        passthrough_proxies: proxies,
    }
}
