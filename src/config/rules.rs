//! Small checks shared by several sections: directory keys, domain names, address lists, loopback
//! hosts. Each reports through [`Problems`] and never stops the run.

use std::collections::HashMap;
use std::hash::Hash;

use crate::core::address::EmailAddress;

use super::error::Problems;
use super::locate::KeyPath;

/// Agent, team and org keys: lower-case, safe in URLs and in `#assign <key>` commands.
pub(super) fn check_directory_key(key: &str, path: &KeyPath, problems: &mut Problems<'_, '_>) {
    if key.is_empty() {
        problems.report(path, "must not be empty");
    } else if !key.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | '-')) {
        problems.report(path, format!("{key:?} may only contain a-z, 0-9, '_', '.' and '-'"));
    }
}

/// The entry that claimed `key` before entry `index`, if any; otherwise `index` becomes its claimant.
pub(super) fn earlier_claim<K: Eq + Hash>(
    claims: &mut HashMap<K, usize>,
    key: K,
    index: usize,
) -> Option<usize> {
    let first = *claims.entry(key).or_insert(index);
    (first != index).then_some(first)
}

/// A required string: reports "missing" (at the enclosing table) when absent.
pub(super) fn required<'v>(
    value: &'v Option<String>,
    path: &KeyPath,
    problems: &mut Problems<'_, '_>,
) -> &'v str {
    if value.is_none() {
        problems.report(path, "is required");
    }
    value.as_deref().unwrap_or_default()
}

/// Parses each address, reporting the ones that are not addresses by their index.
pub(super) fn parse_addresses(
    raw: &[String],
    path: &KeyPath,
    problems: &mut Problems<'_, '_>,
) -> Vec<EmailAddress> {
    let mut addresses = Vec::new();
    for (index, text) in raw.iter().enumerate() {
        match EmailAddress::parse(text) {
            Some(address) if addresses.contains(&address) => {
                problems.report(&path.at(index), format!("{address} is listed twice"));
            }
            Some(address) => addresses.push(address),
            None => problems.report(&path.at(index), format!("{text:?} is not an e-mail address")),
        }
    }
    addresses
}

/// A host name as DNS spells it: dot-separated labels of letters, digits and inner hyphens,
/// each at most 63 characters, 253 in all. A single label (`localhost`) passes.
pub(super) fn is_plausible_domain(domain: &str) -> bool {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    !domain.is_empty() && domain.len() <= 253 && domain.split('.').all(label_ok)
}

/// Hosts that plain-text protocols may talk to: `localhost`, 127.0.0.0/8 and `::1`.
pub(super) fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Reports a zero where zero makes no sense.
pub(super) fn check_positive(value: u64, path: &KeyPath, problems: &mut Problems<'_, '_>) {
    if value == 0 {
        problems.report(path, "must be greater than 0");
    }
}
