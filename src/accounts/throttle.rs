//! Login throttling (docs/accounts.md, "Throttling"): which counters one sign-in attempt is
//! charged to, counted *before* the password or code is checked, so parallel attempts cannot all
//! be judged. Counters are keyed on the resolved account (an agent's key and every address count
//! as one), per (account, client), per client, and, more slowly, per account for clients that have
//! never signed that account in. Nothing here runs argon2 or knows about HTTP.

use std::net::IpAddr;

use super::Rules;
use crate::store::Tx;
use crate::store::accounts::{self as account_store};
use crate::store::sessions::Holder;

/// The per-account limit counts failures per hour (OWASP ASVS 2.2.1: at most 100 an hour).
pub(super) const ACCOUNT_WINDOW_MS: i64 = 60 * 60 * 1000;
/// A client that signed an account in within this time is its owner's: the per-account limit
/// does not apply to it.
pub(super) const KNOWN_CLIENT_MS: i64 = 60 * 24 * 60 * 60 * 1000;

/// One counter and its budget.
struct Limit {
    key: String,
    window_ms: i64,
    max: u32,
}

/// What counting one attempt found.
pub(super) struct Charged {
    /// The keys counted (to refund them when the attempt succeeds or is never judged).
    pub counted: Vec<String>,
    /// The `(account, client)` key, cleared by a success.
    pub pair: Option<String>,
    /// Refused before judging: some counter is locked.
    pub blocked: bool,
    /// This attempt used up a budget: if it fails, the answer is "too many".
    pub exhausted: bool,
}

/// The name counters use for an account: its id, or the login typed when it names nobody (so
/// unknown accounts throttle exactly like real ones).
pub(super) fn account_name(holder: Option<Holder>, realm: &str, login: &str) -> String {
    match holder {
        Some(Holder::Agent(agent)) => format!("agent:{}", agent.0),
        Some(Holder::User(user)) => format!("user:{}", user.0),
        None => format!("unknown-{realm}:{login}"),
    }
}

/// The client as counters see it: IPv4 as is (an IPv4-mapped IPv6 peer too), IPv6 by its /64
/// (one subscriber usually has a whole /64, so single IPv6 addresses cost an attacker nothing).
pub(super) fn client_name(client: IpAddr) -> String {
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Charges a password attempt for `account` from `client`: per client, per (account, client),
/// then per account unless `client` is one the account signed in from. Stops at the first
/// counter that is locked (a refused attempt is not charged further).
pub(super) fn charge_password(
    tx: &mut Tx<'_>,
    rules: &Rules,
    account: &str,
    client: &str,
    now_ms: i64,
) -> crate::store::Result<Charged> {
    let known = account_store::is_known_client(tx, account, client, now_ms - KNOWN_CLIENT_MS)?;
    let pair = format!("login:{account}@{client}");
    let mut limits = vec![
        Limit {
            key: format!("client:{client}"),
            window_ms: rules.lockout_ms,
            max: rules.max_failed_per_client,
        },
        Limit { key: pair.clone(), window_ms: rules.lockout_ms, max: rules.max_failed },
    ];
    if !known {
        limits.push(Limit {
            key: format!("login:{account}"),
            window_ms: ACCOUNT_WINDOW_MS,
            max: rules.max_failed_per_account,
        });
    }
    let mut charged = charge(tx, &limits, now_ms)?;
    charged.pair = Some(pair);
    Ok(charged)
}

/// Charges a second-factor code for `agent` from `client`: a six-digit code is guessable, so the
/// agent's codes share one small budget whatever the client, plus the client's own.
pub(super) fn charge_second_factor(
    tx: &mut Tx<'_>,
    rules: &Rules,
    agent_key: &str,
    client: &str,
    now_ms: i64,
) -> crate::store::Result<Charged> {
    let limits = [
        Limit {
            key: format!("client:{client}"),
            window_ms: rules.lockout_ms,
            max: rules.max_failed_per_client,
        },
        Limit { key: agent_key.to_string(), window_ms: rules.lockout_ms, max: rules.max_failed },
    ];
    charge(tx, &limits, now_ms)
}

/// The attempt succeeded (or was never judged): its counts are taken back; a success also
/// clears the `(account, client)` counter.
pub(super) fn refund(tx: &mut Tx<'_>, charged: &Charged, success: bool) -> crate::store::Result<()> {
    for key in &charged.counted {
        if success && charged.pair.as_deref() == Some(key.as_str()) {
            account_store::clear_failures(tx, key)?;
        } else {
            account_store::refund_attempt(tx, key)?;
        }
    }
    Ok(())
}

/// Counts in a fixed order (client, pair, account: the same order in every transaction, so
/// concurrent ones never wait on each other's rows in a cycle).
fn charge(tx: &mut Tx<'_>, limits: &[Limit], now_ms: i64) -> crate::store::Result<Charged> {
    let mut charged = Charged { counted: Vec::new(), pair: None, blocked: false, exhausted: false };
    for limit in limits {
        let counted = account_store::count_attempt(tx, &limit.key, now_ms, limit.window_ms, limit.max)?;
        charged.counted.push(limit.key.clone());
        if counted.blocked {
            charged.blocked = true;
            return Ok(charged);
        }
        charged.exhausted |= counted.attempts >= i64::from(limit.max);
    }
    Ok(charged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_named_by_address_or_ipv6_prefix() {
        assert_eq!(client_name("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(client_name("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(client_name("2001:db8:1:2:3:4:5:6".parse().unwrap()), "2001:db8:1:2::/64");
        assert_eq!(
            client_name("2001:db8:1:2::99".parse().unwrap()),
            client_name("2001:db8:1:2:ffff::1".parse().unwrap()),
            "one /64 is one client"
        );
    }
}
