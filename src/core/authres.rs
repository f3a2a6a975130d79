//! Sender authentication from `Authentication-Results` (RFC 8601) written by the MTA we trust: only
//! headers whose authserv-id is that MTA's count (it removes forged ones with its own id on entry),
//! and of those the topmost, which it added last. A sender is authenticated when DMARC passed, or
//! DKIM passed for a domain aligned with the From domain (relaxed alignment).

use super::email::RawHeader;

/// Whether the trusted MTA authenticated mail from `from_domain`: `Ok(why)` or `Err(why not)`.
pub fn verify(headers: &[RawHeader], authserv_id: &str, from_domain: &str) -> Result<String, String> {
    let ours = headers
        .iter()
        .filter(|h| h.name == "authentication-results")
        .find_map(|h| parse(&h.value).filter(|r| r.authserv_id.eq_ignore_ascii_case(authserv_id)));
    let Some(results) = ours else {
        return Err(format!("no Authentication-Results from {authserv_id}"));
    };
    let from = from_domain.to_ascii_lowercase();
    if results.methods.iter().any(|m| m.method == "dmarc" && m.result == "pass") {
        return Ok(format!("{authserv_id}: dmarc=pass"));
    }
    let aligned = |d: &str| from == d || from.ends_with(&format!(".{d}")) || d.ends_with(&format!(".{from}"));
    if let Some(domain) = results
        .methods
        .iter()
        .filter(|m| m.method == "dkim" && m.result == "pass")
        .filter_map(|m| m.property("header.d"))
        .find(|d| aligned(d))
    {
        return Ok(format!("{authserv_id}: dkim=pass for {domain}, aligned with {from}"));
    }
    let seen: Vec<String> = results.methods.iter().map(|m| format!("{}={}", m.method, m.result)).collect();
    Err(format!(
        "{authserv_id} shows no DMARC pass nor aligned DKIM pass for {from} ({})",
        if seen.is_empty() { "no results".to_string() } else { seen.join(", ") }
    ))
}

struct Results {
    authserv_id: String,
    methods: Vec<Method>,
}

struct Method {
    method: String,
    result: String,
    /// `ptype.property` (lower-cased) and value (lower-cased).
    properties: Vec<(String, String)>,
}

impl Method {
    fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// `authserv-id [version]; method=result [reason=...] ptype.prop=value ...; ...`, comments removed.
fn parse(value: &str) -> Option<Results> {
    let text = strip_comments(value);
    let mut parts = text.split(';');
    let authserv_id = parts.next()?.split_whitespace().next()?.to_string();
    let methods = parts
        .filter_map(|part| {
            let mut words = part.split_whitespace();
            let (method, result) = words.next()?.split_once('=')?;
            let properties = words
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.trim_matches('"').to_ascii_lowercase()))
                .collect();
            Some(Method {
                method: method.to_ascii_lowercase(),
                result: result.to_ascii_lowercase(),
                properties,
            })
        })
        .collect();
    Some(Results { authserv_id, methods })
}

/// Removes `( ... )` comments (nested, with `\` escapes), outside quoted strings.
fn strip_comments(value: &str) -> String {
    let (mut out, mut depth, mut quoted, mut escaped) = (String::new(), 0usize, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> Vec<RawHeader> {
        values
            .iter()
            .map(|v| RawHeader { name: "authentication-results".to_string(), value: v.to_string() })
            .collect()
    }

    #[test]
    fn dmarc_pass_from_the_trusted_server_authenticates() {
        let h = headers(&[
            "mx.example.com; spf=pass smtp.mailfrom=acme.com; dmarc=pass (p=reject dis=none) header.from=acme.com",
        ]);
        assert!(verify(&h, "mx.example.com", "acme.com").is_ok());
        assert!(verify(&h, "MX.Example.COM", "acme.com").is_ok(), "the authserv-id is case-insensitive");
    }

    #[test]
    fn aligned_dkim_pass_authenticates_and_unaligned_does_not() {
        let aligned =
            headers(&["mx.example.com 1; dkim=pass (2048-bit key) header.d=mail.acme.com header.s=s1"]);
        assert!(verify(&aligned, "mx.example.com", "acme.com").unwrap().contains("dkim=pass"));
        let other = headers(&[
            "mx.example.com; dkim=pass header.d=mailer.example.net; dmarc=fail header.from=acme.com",
        ]);
        let why = verify(&other, "mx.example.com", "acme.com").unwrap_err();
        assert!(why.contains("dkim=pass, dmarc=fail"), "{why}");
    }

    #[test]
    fn only_the_trusted_servers_topmost_header_counts() {
        // A sender can write any Authentication-Results; only ours is believed.
        let forged = headers(&["evil.example; dmarc=pass header.from=acme.com"]);
        assert_eq!(
            verify(&forged, "mx.example.com", "acme.com").unwrap_err(),
            "no Authentication-Results from mx.example.com"
        );
        let two = headers(&["mx.example.com; dmarc=fail", "mx.example.com; dmarc=pass"]);
        assert!(verify(&two, "mx.example.com", "acme.com").is_err(), "the topmost (newest) one decides");
    }

    #[test]
    fn comments_and_quotes_do_not_confuse_the_parser() {
        let h = headers(&["mx.example.com (a; b=c); dmarc=pass (policy \"x;y\") header.from=\"acme.com\""]);
        assert!(verify(&h, "mx.example.com", "acme.com").is_ok());
    }
}
