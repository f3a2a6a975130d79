//! Who the client is: the TCP peer, unless the peer is one of `web.trusted_proxies`, in which case
//! the address the proxies forwarded (`X-Forwarded-For`, else `Forwarded`), read from the right
//! and skipping the trusted proxies themselves. From any other peer those headers are the
//! visitor's own word and are ignored: login throttling and rate limits count this address.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// Resolves client addresses for one configuration.
#[derive(Clone, Debug, Default)]
pub struct ClientResolver {
    trusted_proxies: Vec<IpAddr>,
}

impl ClientResolver {
    pub fn new(trusted_proxies: &[IpAddr]) -> ClientResolver {
        ClientResolver { trusted_proxies: trusted_proxies.iter().copied().map(canonical).collect() }
    }

    /// The client of a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.is_trusted(peer) {
            return peer;
        }
        let forwarded = forwarded_for(headers);
        // Rightmost first: each proxy appends the address it saw; only the part our own proxies
        // wrote is believed, so the first address that is not one of them is the client.
        forwarded.into_iter().rev().map(canonical).find(|address| !self.is_trusted(*address)).unwrap_or(peer)
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies.contains(&address)
    }
}

/// The addresses a chain of proxies recorded, first hop first: `X-Forwarded-For` when present,
/// else the `for=` parameters of `Forwarded` (RFC 7239). An entry that is not an address (a
/// proxy's obfuscated identifier, `unknown`, garbage) ends the chain there: nothing to its left
/// can be trusted.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    };
    let xff = values("x-forwarded-for");
    let entries: Vec<String> = if !xff.is_empty() {
        xff.iter().flat_map(|v| v.split(',')).map(|e| e.trim().to_string()).collect()
    } else {
        values("forwarded")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .map(|(_, value)| value.trim().trim_matches('"').to_string())
                    .unwrap_or_default()
            })
            .collect()
    };
    let parsed: Vec<Option<IpAddr>> = entries.iter().map(|entry| parse_node(entry)).collect();
    // Keep only the unbroken run of addresses at the right end.
    let start = parsed.iter().rposition(Option::is_none).map_or(0, |i| i + 1);
    parsed[start..].iter().flatten().copied().collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(address) = text.parse() {
        return Some(address);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (host, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

/// An IPv4 peer seen through an IPv6 socket (`::ffff:a.b.c.d`) compares as IPv4.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> ClientResolver {
        ClientResolver::new(&["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()])
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    fn client(peer: &str, pairs: &[(&'static str, &str)]) -> String {
        resolver().client(peer.parse().unwrap(), &headers(pairs)).to_string()
    }

    #[test]
    fn headers_count_only_from_a_trusted_proxy() {
        let xff = [("x-forwarded-for", "198.51.100.7")];
        assert_eq!(client("10.0.0.1", &xff), "198.51.100.7");
        assert_eq!(client("::ffff:10.0.0.1", &xff), "198.51.100.7");
        assert_eq!(client("203.0.113.5", &xff), "203.0.113.5", "anyone else's header is ignored");
        assert_eq!(client("10.0.0.1", &[]), "10.0.0.1", "no header: the proxy itself");
    }

    #[test]
    fn the_chain_is_read_from_the_right() {
        // The visitor wrote a fake first entry; our proxies appended what they saw.
        let chain = [("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.2")];
        assert_eq!(client("10.0.0.1", &chain), "198.51.100.7");
        let split = [("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "198.51.100.7")];
        assert_eq!(client("10.0.0.1", &split), "198.51.100.7", "repeated headers are one list");
        let garbage = [("x-forwarded-for", "198.51.100.7, nonsense")];
        assert_eq!(client("10.0.0.1", &garbage), "10.0.0.1", "nothing left of a broken entry counts");
        let ported = [("x-forwarded-for", "198.51.100.7:4711")];
        assert_eq!(client("10.0.0.1", &ported), "198.51.100.7");
    }

    #[test]
    fn forwarded_is_read_when_there_is_no_x_forwarded_for() {
        let forwarded = [("forwarded", "for=1.2.3.4, for=\"[2001:db8:cafe::17]:4711\";proto=https")];
        assert_eq!(client("10.0.0.1", &forwarded), "2001:db8:cafe::17");
        let obfuscated = [("forwarded", "for=_hidden, for=192.0.2.60;by=10.0.0.1")];
        assert_eq!(client("10.0.0.1", &obfuscated), "192.0.2.60");
        let only_hidden = [("forwarded", "for=_hidden")];
        assert_eq!(client("10.0.0.1", &only_hidden), "10.0.0.1");
    }
}
