//! Sign-in providers other than mailgate's own passwords. A provider looks at a request and may
//! name the person it carries; the account code (`crate::accounts`) turns that into a session the
//! same way for every provider, so handlers never know which one answered.
//!
//! Built in: [`PassThrough`], a header set by a reverse proxy that has already authenticated the
//! visitor (believed only on connections from the configured proxy addresses). An OpenID Connect
//! provider would implement this trait for its callback request; an LDAP provider would check a
//! password inside `Accounts::sign_in` next to the local argon2 check.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderName};

use super::client::canonical;
use crate::config::Auth;

/// What a provider may look at.
pub struct RequestInfo<'a> {
    /// The TCP peer (not a forwarded-for header: that would be the visitor's word).
    pub peer: IpAddr,
    pub headers: &'a HeaderMap,
}

pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    /// The login (an email address) this request proves, or `None` when it is not this
    /// provider's to answer.
    fn prove(&self, request: &RequestInfo<'_>) -> Option<String>;
}

/// `auth.passthrough_header` from `auth.passthrough_proxies`.
pub struct PassThrough {
    header: HeaderName,
    proxies: Vec<IpAddr>,
}

impl Provider for PassThrough {
    fn name(&self) -> &'static str {
        "pass-through"
    }

    fn prove(&self, request: &RequestInfo<'_>) -> Option<String> {
        if !self.proxies.contains(&canonical(request.peer)) {
            return None;
        }
        let value = request.headers.get(&self.header)?.to_str().ok()?.trim();
        (!value.is_empty()).then(|| value.to_string())
    }
}

/// The providers `[auth]` turns on, in the order they are asked.
pub fn configured(auth: &Auth) -> Vec<Box<dyn Provider>> {
    let mut providers: Vec<Box<dyn Provider>> = Vec::new();
    if let Some(header) =
        auth.passthrough_header.as_deref().and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok())
    {
        providers.push(Box::new(PassThrough { header, proxies: auth.passthrough_proxies.clone() }));
    }
    providers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> PassThrough {
        PassThrough {
            header: HeaderName::from_static("x-remote-user"),
            proxies: vec!["10.0.0.1".parse().unwrap()],
        }
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-remote-user", value.parse().unwrap());
        headers
    }

    #[test]
    fn the_header_counts_only_from_a_configured_proxy() {
        let h = headers("alice@example.com");
        let from = |peer: &str| provider().prove(&RequestInfo { peer: peer.parse().unwrap(), headers: &h });
        assert_eq!(from("10.0.0.1").as_deref(), Some("alice@example.com"));
        assert_eq!(from("::ffff:10.0.0.1").as_deref(), Some("alice@example.com"));
        assert_eq!(from("10.0.0.2"), None, "anyone else could set the header");
        let empty = headers(" ");
        assert_eq!(
            provider().prove(&RequestInfo { peer: "10.0.0.1".parse().unwrap(), headers: &empty }),
            None
        );
        let none = HeaderMap::new();
        assert_eq!(
            provider().prove(&RequestInfo { peer: "10.0.0.1".parse().unwrap(), headers: &none }),
            None
        );
    }
}
