//! Checking a password against an `[[ldap]]` directory (the `ldap3` client on tokio, rustls on
//! ring): bind as the user, or search with the service account and bind as the one entry found;
//! then read the mapped attributes. The login is escaped for where it goes (RFC 4514 in a DN,
//! RFC 4515 in a filter), and the whole exchange runs under the directory's timeout. What a
//! successful bind means for the accounts is `accounts::ldap`'s business, not this module's.

use std::collections::HashMap;
use std::sync::Arc;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, dn_escape, ldap_escape};
use rustls::ClientConfig;

use crate::config::{self, LdapBind};

/// The longest login sent to a directory; anything longer is refused unread.
pub const MAX_LOGIN_BYTES: usize = 256;
/// The longest password sent to a directory (as for local passwords).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A directory, ready to check passwords: its configuration and TLS settings (built once: loading
/// the system's roots reads files).
pub struct Directory {
    config: config::Ldap,
    tls: Arc<ClientConfig>,
}

/// What the directory says of a person it authenticated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    /// Attribute name (as configured) -> values; only the mapped attributes.
    pub attributes: HashMap<String, Vec<String>>,
}

/// The directory could not judge the password: down, too slow, refusing our service account, or
/// answering with something that is not LDAP. Never a reason to try a weaker check instead.
#[derive(Debug, thiserror::Error)]
#[error("directory {directory}: {reason}")]
pub struct Unavailable {
    pub directory: String,
    pub reason: String,
}

/// Result codes of a user's bind that are the server's state, not a judgement of the password
/// (RFC 4511 4.1.9): busy, unavailable. Any other refusal (unwillingToPerform from a password
/// policy, ...) counts as a wrong password: an attempt the throttle counts, so a server that
/// answered wrong guesses oddly could not be used to guess without limit.
const SERVER_TROUBLE: [u32; 2] = [51, 52];
/// invalidCredentials.
const INVALID_CREDENTIALS: u32 = 49;

impl Entry {
    /// The first value of `attribute`, trimmed, if it has a non-empty one.
    pub fn first(&self, attribute: &str) -> Option<&str> {
        self.values(attribute).iter().map(|value| value.trim()).find(|value| !value.is_empty())
    }

    /// Every value of `attribute` (attribute names compare case-insensitively, as in LDAP).
    pub fn values(&self, attribute: &str) -> &[String] {
        self.attributes
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
            .map_or(&[], |(_, values)| values.as_slice())
    }
}

impl Directory {
    pub fn new(config: &config::Ldap) -> Directory {
        let roots = crate::tls::root_store(&config.extra_roots, true);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Directory { config: config.clone(), tls: Arc::new(tls) }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The `auth_source` of accounts that came from this directory.
    pub fn source(&self) -> String {
        source_of(&self.config.name)
    }

    pub fn config(&self) -> &config::Ldap {
        &self.config
    }

    /// Checks `password` for `login`: `Ok(Some(entry))` when the directory accepts it,
    /// `Ok(None)` when it does not know the login or the password is wrong (it does not say which),
    /// `Err` when it could not judge within the timeout.
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Option<Entry>, Unavailable> {
        // An empty password is an "unauthenticated bind" that servers accept (RFC 4513 5.1.2).
        let usable = |text: &str, max: usize| !text.is_empty() && text.len() <= max && !text.contains('\0');
        if !usable(login, MAX_LOGIN_BYTES) || !usable(password, MAX_PASSWORD_BYTES) {
            return Ok(None);
        }
        match tokio::time::timeout(self.config.timeout, self.exchange(login, password)).await {
            Ok(answer) => answer.map_err(|reason| self.unavailable(reason)),
            Err(_) => Err(self.unavailable(format!(
                "no answer within {} s (timeout_seconds)",
                self.config.timeout.as_secs()
            ))),
        }
    }

    fn unavailable(&self, reason: String) -> Unavailable {
        Unavailable { directory: self.config.name.clone(), reason }
    }

    async fn exchange(&self, login: &str, password: &str) -> Result<Option<Entry>, String> {
        let mut ldap = self.connect().await?;
        let wanted = self.config.attributes.wanted();
        let found = match &self.config.bind {
            LdapBind::AsUser { dn_template } => {
                let dn = fill(dn_template, &dn_escape(login));
                match bind(&mut ldap, &dn, password).await? {
                    false => None,
                    // Read as the user just bound: their own entry.
                    true => read_entry(&mut ldap, &dn, &wanted).await?,
                }
            }
            LdapBind::SearchThenBind { service_dn, service_password, base, filter } => {
                service_bind(&mut ldap, service_dn, service_password.expose()).await?;
                let filter = fill(filter, &ldap_escape(login));
                match find_one(&mut ldap, base, &filter, &wanted).await? {
                    None => None,
                    Some(entry) => bind(&mut ldap, &entry.dn, password).await?.then_some(entry),
                }
            }
        };
        let _ = ldap.unbind().await;
        Ok(found)
    }

    async fn connect(&self) -> Result<Ldap, String> {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.config.timeout)
            .set_starttls(self.config.starttls)
            .set_config(self.tls.clone());
        let (connection, ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(|error| format!("cannot connect to {}: {error}", self.config.url))?;
        ldap3::drive!(connection);
        Ok(ldap)
    }
}

/// The `auth_source` of accounts that came from directory `name`.
pub fn source_of(name: &str) -> String {
    format!("ldap:{name}")
}

/// The directory name of an `auth_source`, when it names a directory.
pub fn directory_of(source: &str) -> Option<&str> {
    source.strip_prefix("ldap:")
}

/// `template` with every login placeholder replaced by `login` (already escaped for its place).
fn fill(template: &str, login: &str) -> String {
    config::LOGIN_PLACEHOLDERS
        .iter()
        .fold(template.to_string(), |text, placeholder| text.replace(placeholder, login))
}

/// A simple bind: `true` accepted, `false` refused (unknown DN or wrong password).
async fn bind(ldap: &mut Ldap, dn: &str, password: &str) -> Result<bool, String> {
    let result = ldap.simple_bind(dn, password).await.map_err(|error| format!("bind: {error}"))?;
    match result.rc {
        0 => Ok(true),
        rc if SERVER_TROUBLE.contains(&rc) => Err(format!("bind answered {rc} ({})", result.text)),
        _ => Ok(false),
    }
}

/// The service account's bind must succeed: otherwise nobody could sign in, and saying "wrong
/// password" would send people guessing.
async fn service_bind(ldap: &mut Ldap, dn: &str, password: &str) -> Result<(), String> {
    let result = ldap.simple_bind(dn, password).await.map_err(|error| format!("service bind: {error}"))?;
    match result.rc {
        0 => Ok(()),
        INVALID_CREDENTIALS => {
            Err("the service account was refused (check service_bind_dn and service_password_file)"
                .to_string())
        }
        rc => Err(format!("service bind answered {rc} ({})", result.text)),
    }
}

/// The one entry `filter` finds under `base`; none (or more than one: ambiguous, refused) is `None`.
async fn find_one(
    ldap: &mut Ldap,
    base: &str,
    filter: &str,
    wanted: &[String],
) -> Result<Option<Entry>, String> {
    let (entries, _) = ldap
        .search(base, Scope::Subtree, filter, wanted)
        .await
        .map_err(|error| format!("search: {error}"))?
        .non_error()
        .map_err(|error| format!("search: {error}"))?;
    if entries.len() > 1 {
        tracing::warn!(
            filter,
            found = entries.len(),
            "ldap: the search filter finds more than one entry; refused"
        );
        return Ok(None);
    }
    Ok(entries.into_iter().next().and_then(|entry| construct(entry, wanted)))
}

async fn read_entry(ldap: &mut Ldap, dn: &str, wanted: &[String]) -> Result<Option<Entry>, String> {
    let (entries, _) = ldap
        .search(dn, Scope::Base, "(objectClass=*)", wanted)
        .await
        .map_err(|error| format!("read {dn}: {error}"))?
        .non_error()
        .map_err(|error| format!("read {dn}: {error}"))?;
    // Bound but unreadable (an access rule): the person is who they said; the entry is empty.
    Ok(Some(
        entries
            .into_iter()
            .next()
            .and_then(|entry| construct(entry, wanted))
            .unwrap_or_else(|| Entry { dn: dn.to_string(), attributes: HashMap::new() }),
    ))
}

/// The entry's mapped attributes. `SearchEntry::construct` panics on a malformed entry; a
/// directory's answer must never take the sign-in page down, so that is caught and is no entry.
fn construct(raw: ldap3::ResultEntry, wanted: &[String]) -> Option<Entry> {
    let entry = std::panic::catch_unwind(move || SearchEntry::construct(raw)).ok()?;
    let attributes = entry
        .attrs
        .into_iter()
        .filter(|(name, _)| wanted.iter().any(|w| w.eq_ignore_ascii_case(name)))
        .collect();
    Some(Entry { dn: entry.dn, attributes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_cannot_change_the_filter_or_the_dn() {
        let filter = fill("(&(objectClass=person)(mail={email}))", &ldap_escape("*)(uid=*))(|(uid=*"));
        assert_eq!(filter, "(&(objectClass=person)(mail=\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a))");
        assert!(ldap3::parse_filter(&filter).is_ok());
        let dn = fill("uid={user},ou=people,dc=example,dc=org", &dn_escape("x,ou=admins"));
        assert_eq!(dn, "uid=x\\2cou\\3dadmins,ou=people,dc=example,dc=org");
    }

    #[test]
    fn attributes_are_found_whatever_their_case() {
        let mut entry = Entry::default();
        entry.attributes.insert("telephoneNumber".into(), vec![" ".into(), "+1 555 0100".into()]);
        assert_eq!(entry.first("telephonenumber"), Some("+1 555 0100"));
        assert_eq!(entry.first("mail"), None);
    }

    #[test]
    fn sources_name_their_directory() {
        assert_eq!(directory_of(&source_of("corp")), Some("corp"));
        assert_eq!(directory_of("oidc:x"), None);
    }
}
