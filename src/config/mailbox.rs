//! `[[mailbox]]` and `[imap]`: the IMAP mailboxes `mailgate serve` fetches support mail from, and
//! the limits every poller shares. Password and CA files are read here, so a bad file is a
//! configuration error; this module never connects to a server.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{self, PemObject};
use serde::{Deserialize, Serialize};

use crate::core::address::EmailAddress;

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::{earlier_claim, is_loopback_host, parse_addresses, required};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImapTls {
    /// Implicit TLS (IMAPS).
    Tls,
    /// A plain connection upgraded with STARTTLS before logging in.
    Starttls,
    /// Plain IMAP: allowed to a loopback host only.
    None,
}

/// What becomes of a message on the server once mailgate has stored it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterIngest {
    /// Moved to `processed_folder`.
    Move,
    /// Marked `\Seen` and left in `folder`; the checkpoint keeps it from being read again.
    Flag,
    /// Deleted from the server.
    Delete,
}

/// A password from the configuration. `Debug` and `Serialize` print `<redacted>`; [`Secret::expose`]
/// is the only way to the value.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// One IMAP mailbox: where it is, how to log in, which folder to fetch and what to do afterwards.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mailbox {
    /// `[a-z0-9_-]{1,40}`, unique; names the mailbox in logs, in its database checkpoint and in
    /// `mailgate mailbox test NAME`.
    pub name: String,
    /// The support addresses whose mail arrives here; counted among our own addresses.
    pub addresses: Vec<EmailAddress>,
    pub host: String,
    pub port: u16,
    pub tls: ImapTls,
    pub username: String,
    pub password: Secret,
    /// The certificates of `ca_file`, trusted besides the built-in roots.
    #[serde(skip)]
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub ca_file: Option<PathBuf>,
    pub folder: String,
    pub after: AfterIngest,
    pub processed_folder: String,
    pub error_folder: String,
    pub idle: bool,
    #[serde(serialize_with = "seconds")]
    pub poll_interval: Duration,
    /// The `[[topics]]` key of mail that arrives here (when its address names none).
    pub topic: Option<String>,
}

/// Limits shared by every mailbox's poller.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Imap {
    #[serde(serialize_with = "seconds")]
    pub takeover: Duration,
    #[serde(serialize_with = "seconds")]
    pub command_timeout: Duration,
    pub batch_size: u32,
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "a [[mailbox]] table")]
pub(super) struct RawMailbox {
    /// Unique among mailboxes, `[a-z0-9_-]`, at most 40 characters. Required.
    pub name: Option<String>,
    /// The support addresses whose mail arrives in this mailbox. At least one. Default: none.
    pub addresses: Vec<String>,
    /// The IMAP server. Required.
    pub host: Option<String>,
    /// Its port. Default: `993` with `tls = "tls"`, else `143`.
    pub port: Option<u16>,
    /// `"tls"`, `"starttls"` or `"none"` (loopback hosts only). Default: `"tls"`.
    pub tls: String,
    /// Login name. Required.
    pub username: Option<String>,
    /// The password itself; exactly one of `password` and `password_file`. Default: none.
    pub password: Option<Secret>,
    /// File holding the password (its first line). Default: none.
    pub password_file: Option<PathBuf>,
    /// PEM file of CA certificates to trust besides the built-in roots. Default: none.
    pub ca_file: Option<PathBuf>,
    /// The folder mail is fetched from. Default: `"INBOX"`.
    pub folder: String,
    /// `"move"`, `"flag"` or `"delete"`: what becomes of a stored message. Default: `"move"`.
    pub after: String,
    /// Where `after = "move"` puts stored messages. Default: `"Processed"`.
    pub processed_folder: String,
    /// Where messages that cannot be stored go. Default: `"Quarantine"`.
    pub error_folder: String,
    /// Wait for new mail with IDLE when the server offers it. Default: `true`.
    pub idle: bool,
    /// Seconds between polls without IDLE. Default: `60`.
    pub poll_interval_seconds: u64,
    /// The `[[topics]]` key of mail that arrives here, unless its address names one. Default: none.
    pub topic: Option<String>,
}

impl Default for RawMailbox {
    fn default() -> Self {
        Self {
            name: None,
            addresses: Vec::new(),
            host: None,
            port: None,
            tls: "tls".to_string(),
            username: None,
            password: None,
            password_file: None,
            ca_file: None,
            folder: "INBOX".to_string(),
            after: "move".to_string(),
            processed_folder: "Processed".to_string(),
            error_folder: "Quarantine".to_string(),
            idle: true,
            poll_interval_seconds: 60,
            topic: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "an [imap] table")]
pub(super) struct RawImap {
    /// Seconds until another daemon takes over a mailbox whose poller died. Default: `30`.
    pub takeover_seconds: u64,
    /// Seconds allowed for one IMAP command (IDLE excepted). Default: `60`.
    pub command_timeout_seconds: u64,
    /// Messages fetched per UID FETCH, 1 to 1000. Default: `50`.
    pub batch_size: u32,
}

impl Default for RawImap {
    fn default() -> Self {
        Self { takeover_seconds: 30, command_timeout_seconds: 60, batch_size: 50 }
    }
}

pub(super) fn validate_mailboxes(raw: &[RawMailbox], problems: &mut Problems<'_, '_>) -> Vec<Mailbox> {
    let mut names: HashMap<String, usize> = HashMap::new();
    raw.iter()
        .enumerate()
        .map(|(index, mailbox)| validate_mailbox(mailbox, index, &mut names, problems))
        .collect()
}

pub(super) fn validate_imap(raw: &RawImap, problems: &mut Problems<'_, '_>) -> Imap {
    let path = KeyPath::top("imap");
    check_at_least(raw.takeover_seconds, 5, &path.key("takeover_seconds"), problems);
    check_at_least(raw.command_timeout_seconds, 1, &path.key("command_timeout_seconds"), problems);
    if !(1..=1000).contains(&raw.batch_size) {
        problems.report(&path.key("batch_size"), "must be between 1 and 1000");
    }
    Imap {
        takeover: Duration::from_secs(raw.takeover_seconds),
        command_timeout: Duration::from_secs(raw.command_timeout_seconds),
        batch_size: raw.batch_size,
    }
}

fn validate_mailbox(
    raw: &RawMailbox,
    index: usize,
    names: &mut HashMap<String, usize>,
    problems: &mut Problems<'_, '_>,
) -> Mailbox {
    let path = KeyPath::top("mailbox").at(index);
    let name = required(&raw.name, &path.key("name"), problems);
    if raw.name.is_some() {
        check_name(name, &path.key("name"), problems);
        if let Some(first) = earlier_claim(names, name.to_string(), index) {
            problems.report(&path.key("name"), format!("{name:?} is already the name of mailbox[{first}]"));
        }
    }
    let addresses = parse_addresses(&raw.addresses, &path.key("addresses"), problems);
    if raw.addresses.is_empty() {
        problems.report(
            &path.key("addresses"),
            "needs at least one address: the support address it receives for",
        );
    }
    let host = required_non_empty(&raw.host, &path.key("host"), problems);
    let tls = parse_tls(&raw.tls, &path.key("tls"), problems);
    if tls == ImapTls::None && !host.is_empty() && !is_loopback_host(host) {
        problems.report(
            &path.key("tls"),
            format!("is \"none\" but host {host:?} is not a loopback address; use \"tls\" or \"starttls\""),
        );
    }
    let port = raw.port.unwrap_or(if tls == ImapTls::Tls { 993 } else { 143 });
    if port == 0 {
        problems.report(&path.key("port"), "must be a port number (1-65535)");
    }
    let username = required_non_empty(&raw.username, &path.key("username"), problems);
    let password = validate_password(raw, &path, problems);
    let extra_roots = match &raw.ca_file {
        Some(file) => read_ca_file(file, &path.key("ca_file"), problems),
        None => Vec::new(),
    };
    let after = parse_after(&raw.after, &path.key("after"), problems);
    check_folder(&raw.folder, &path.key("folder"), problems);
    check_folder(&raw.processed_folder, &path.key("processed_folder"), problems);
    check_folder(&raw.error_folder, &path.key("error_folder"), problems);
    // Either would be fetched again from the folder it was just taken out of.
    if after == AfterIngest::Move && same_folder(&raw.processed_folder, &raw.folder) {
        problems.report(&path.key("processed_folder"), format!("is the folder fetched ({:?})", raw.folder));
    }
    if same_folder(&raw.error_folder, &raw.folder) {
        problems.report(&path.key("error_folder"), format!("is the folder fetched ({:?})", raw.folder));
    }
    check_at_least(raw.poll_interval_seconds, 1, &path.key("poll_interval_seconds"), problems);
    Mailbox {
        name: name.to_string(),
        addresses,
        host: host.to_string(),
        port,
        tls,
        username: username.to_string(),
        password,
        extra_roots,
        ca_file: raw.ca_file.clone(),
        folder: raw.folder.clone(),
        after,
        processed_folder: raw.processed_folder.clone(),
        error_folder: raw.error_folder.clone(),
        idle: raw.idle,
        poll_interval: Duration::from_secs(raw.poll_interval_seconds.max(1)),
        topic: raw.topic.clone(),
    }
}

/// Exactly one of `password` and `password_file`; the file's first line is the password.
fn validate_password(raw: &RawMailbox, path: &KeyPath, problems: &mut Problems<'_, '_>) -> Secret {
    match (&raw.password, &raw.password_file) {
        (Some(_), Some(_)) => {
            problems.report(&path.key("password_file"), "is set and so is password; keep one of them");
            Secret::new("")
        }
        (None, None) => {
            problems.report(&path.key("password"), "is required (or password_file, a file holding it)");
            Secret::new("")
        }
        (Some(password), None) => {
            if password.expose().is_empty() {
                problems.report(&path.key("password"), "must not be empty");
            }
            password.clone()
        }
        (None, Some(file)) => match std::fs::read_to_string(file) {
            Ok(text) => {
                let first_line = text.split('\n').next().unwrap_or_default().trim_end_matches('\r');
                if first_line.is_empty() {
                    problems.report(
                        &path.key("password_file"),
                        format!("{}: the first line (the password) is empty", file.display()),
                    );
                }
                Secret::new(first_line)
            }
            Err(error) => {
                problems
                    .report(&path.key("password_file"), format!("cannot read {}: {error}", file.display()));
                Secret::new("")
            }
        },
    }
}

/// The certificates of a PEM file; each must be usable as a trust anchor.
pub(super) fn read_ca_file(
    file: &Path,
    path: &KeyPath,
    problems: &mut Problems<'_, '_>,
) -> Vec<CertificateDer<'static>> {
    let read = CertificateDer::pem_file_iter(file).and_then(|found| found.collect::<Result<Vec<_>, _>>());
    let certificates = match read {
        Ok(certificates) => certificates,
        Err(pem::Error::Io(error)) => {
            problems.report(path, format!("cannot read {}: {error}", file.display()));
            return Vec::new();
        }
        Err(error) => {
            problems.report(path, format!("{} is not valid PEM: {error}", file.display()));
            return Vec::new();
        }
    };
    if certificates.is_empty() {
        problems.report(path, format!("{} holds no CERTIFICATE block", file.display()));
    }
    for (position, certificate) in certificates.iter().enumerate() {
        if let Err(error) = rustls::RootCertStore::empty().add(certificate.clone()) {
            problems.report(
                path,
                format!("{}: certificate {} is not usable as a CA: {error}", file.display(), position + 1),
            );
        }
    }
    certificates
}

fn check_name(name: &str, path: &KeyPath, problems: &mut Problems<'_, '_>) {
    let allowed = |c: char| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-');
    if name.is_empty() || name.len() > 40 || !name.chars().all(allowed) {
        problems.report(path, format!("{name:?} must be 1 to 40 of a-z, 0-9, '_' and '-'"));
    }
}

/// A required string that must not be blank; returned trimmed.
fn required_non_empty<'v>(
    value: &'v Option<String>,
    path: &KeyPath,
    problems: &mut Problems<'_, '_>,
) -> &'v str {
    let text = required(value, path, problems).trim();
    if value.is_some() && text.is_empty() {
        problems.report(path, "must not be empty");
    }
    text
}

fn parse_tls(text: &str, path: &KeyPath, problems: &mut Problems<'_, '_>) -> ImapTls {
    match text {
        "tls" => ImapTls::Tls,
        "starttls" => ImapTls::Starttls,
        "none" => ImapTls::None,
        other => {
            problems
                .report(path, format!("{other:?} is not a TLS mode; use \"tls\", \"starttls\" or \"none\""));
            ImapTls::Tls
        }
    }
}

fn parse_after(text: &str, path: &KeyPath, problems: &mut Problems<'_, '_>) -> AfterIngest {
    match text {
        "move" => AfterIngest::Move,
        "flag" => AfterIngest::Flag,
        "delete" => AfterIngest::Delete,
        other => {
            problems.report(path, format!("{other:?} is not one of \"move\", \"flag\" or \"delete\""));
            AfterIngest::Move
        }
    }
}

fn check_folder(folder: &str, path: &KeyPath, problems: &mut Problems<'_, '_>) {
    if folder.trim().is_empty() {
        problems.report(path, "must not be empty");
    }
}

/// IMAP folder names compare exactly, except `INBOX`, which is case-insensitive (RFC 3501).
fn same_folder(a: &str, b: &str) -> bool {
    a == b || (a.eq_ignore_ascii_case("INBOX") && b.eq_ignore_ascii_case("INBOX"))
}

fn check_at_least(value: u64, minimum: u64, path: &KeyPath, problems: &mut Problems<'_, '_>) {
    if value < minimum {
        problems.report(path, format!("must be at least {minimum}"));
    }
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_secs())
}
