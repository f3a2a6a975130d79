//! `[links]` and `[[links.keys]]`: the keys that sign reply addresses and one-click links, and how
//! long each kind lives; `[web]`: where those links point.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::auth::token::Key;

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::check_positive;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Links {
    /// The first signs, all verify. Empty: the key mailgate generated and keeps in the database.
    #[serde(serialize_with = "key_ids")]
    pub keys: Vec<Key>,
    pub reply_days: u32,
    pub view_days: u32,
    pub access_minutes: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Web {
    /// No trailing slash.
    pub base_url: String,
    /// Where `serve` listens for HTTP; `None` (`bind = ""`) runs no web server.
    pub bind: Option<std::net::SocketAddr>,
    /// Peers whose `X-Forwarded-For`/`Forwarded` header names the client (the TLS proxy); from
    /// anyone else those headers are ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "a [links] table")]
pub(super) struct RawLinks {
    /// `[[links.keys]]`: signing keys, newest first. Default: none, and mailgate generates one key
    /// at first start and keeps it in the database (shared by every daemon on that database).
    pub keys: Vec<RawKey>,
    /// Days a reply address stays valid. Default: `365`.
    pub reply_days: u32,
    /// Days a one-click ticket link in mail stays valid. Default: `30`.
    pub view_days: u32,
    /// Minutes an access link (mailed on request) stays valid. Default: `60`.
    pub access_minutes: u32,
}

impl Default for RawLinks {
    fn default() -> Self {
        Self { keys: Vec::new(), reply_days: 365, view_days: 30, access_minutes: 60 }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a [[links.keys]] table")]
pub(super) struct RawKey {
    /// Names the key inside tokens; keep it when rotating. Required.
    pub id: Option<String>,
    /// File holding the secret (at least 32 bytes; e.g. `openssl rand -hex 32`). Required.
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "a [web] table")]
pub(super) struct RawWeb {
    /// The web endpoint as customers reach it; links in mail start with it.
    /// Default: `"http://localhost:8080"`.
    pub base_url: String,
    /// Address and port `serve` listens on (behind your TLS proxy); `""` runs no web server.
    /// Default: `"127.0.0.1:8080"`.
    pub bind: String,
    /// Addresses of the reverse proxies in front of `serve`: only a request from one of them may
    /// name the client in `X-Forwarded-For` or `Forwarded` (login throttling and rate limits count
    /// that client). Default: `[]` (the TCP peer is the client).
    pub trusted_proxies: Vec<String>,
}

impl Default for RawWeb {
    fn default() -> Self {
        Self {
            base_url: "http://localhost:8080".to_string(),
            bind: "127.0.0.1:8080".to_string(),
            trusted_proxies: Vec::new(),
        }
    }
}

pub(super) fn validate_links(raw: &RawLinks, problems: &mut Problems<'_, '_>) -> Links {
    let path = KeyPath::top("links");
    let mut keys: Vec<Key> = Vec::new();
    for (index, raw_key) in raw.keys.iter().enumerate() {
        let at = path.key("keys").at(index);
        let Some(id) = raw_key.id.as_deref().map(str::trim).filter(|id| !id.is_empty()) else {
            problems.report(&at.key("id"), "is required");
            continue;
        };
        let Some(file) = &raw_key.secret_file else {
            problems.report(&at.key("secret_file"), format!("is required (key {id:?})"));
            continue;
        };
        let secret = match std::fs::read(file) {
            Ok(bytes) => bytes.trim_ascii().to_vec(),
            Err(error) => {
                problems.report(
                    &at.key("secret_file"),
                    format!("key {id:?}: cannot read {}: {error}", file.display()),
                );
                continue;
            }
        };
        match Key::new(id, secret) {
            Ok(key) => match keys.iter().find(|k| k.id == key.id) {
                Some(_) => problems.report(&at.key("id"), format!("key {id:?} is listed twice")),
                None => keys.push(key),
            },
            Err(error) => problems.report(&at.key("secret_file"), format!("{}: {error}", file.display())),
        }
    }
    check_positive(u64::from(raw.reply_days), &path.key("reply_days"), problems);
    check_positive(u64::from(raw.view_days), &path.key("view_days"), problems);
    check_positive(u64::from(raw.access_minutes), &path.key("access_minutes"), problems);
    Links { keys, reply_days: raw.reply_days, view_days: raw.view_days, access_minutes: raw.access_minutes }
}

pub(super) fn validate_web(raw: &RawWeb, problems: &mut Problems<'_, '_>) -> Web {
    let base_url = raw.base_url.trim().trim_end_matches('/').to_string();
    let scheme_ok = base_url.starts_with("https://") || base_url.starts_with("http://");
    let host = base_url.split("://").nth(1).unwrap_or_default();
    if !scheme_ok || host.is_empty() || host.contains(char::is_whitespace) {
        problems.report(
            &KeyPath::top("web").key("base_url"),
            format!("{:?} is not an http:// or https:// URL", raw.base_url),
        );
    }
    let bind = match raw.bind.trim() {
        "" => None,
        text => match text.parse() {
            Ok(address) => Some(address),
            Err(_) => {
                problems.report(
                    &KeyPath::top("web").key("bind"),
                    format!("{text:?} is not an address and port like \"127.0.0.1:8080\" or \"[::]:8080\""),
                );
                None
            }
        },
    };
    let mut trusted_proxies = Vec::new();
    for (index, text) in raw.trusted_proxies.iter().enumerate() {
        match text.trim().parse::<std::net::IpAddr>() {
            Ok(address) => trusted_proxies.push(address),
            Err(_) => problems.report(
                &KeyPath::top("web").key("trusted_proxies").at(index),
                format!("{text:?} is not an IP address"),
            ),
        }
    }
    Web { base_url, bind, trusted_proxies }
}

fn key_ids<S: serde::Serializer>(keys: &[Key], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(keys.iter().map(|key| &key.id))
}
