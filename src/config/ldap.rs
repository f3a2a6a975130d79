//! `[[ldap]]`: directories people sign in through with their directory password (`auth::ldap`
//! talks to them, `accounts` decides what a sign-in through one means). The service password and
//! CA files are read here, so a bad file is a configuration error; this module never connects.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::core::forms::{Form, Subject};

use super::error::Problems;
use super::locate::KeyPath;
use super::mailbox::{Secret, read_ca_file};
use super::rules::{earlier_claim, is_loopback_host, required};

/// What stands for the login typed on the sign-in page in a DN template or a search filter (both
/// names mean the same text; it is escaped for where it goes).
pub const LOGIN_PLACEHOLDERS: [&str; 2] = ["{user}", "{email}"];

/// One directory.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ldap {
    /// `[a-z0-9_-]{1,40}`, unique; remembered on the accounts that came from this directory.
    pub name: String,
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    pub starttls: bool,
    pub ca_file: Option<PathBuf>,
    /// The certificates of `ca_file`, trusted besides the built-in roots.
    #[serde(skip)]
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub bind: LdapBind,
    pub attributes: LdapAttributes,
    /// Agents may sign in through it (on the console).
    pub agents: bool,
    /// End users may sign in through it (on the portal).
    pub users: bool,
    #[serde(serialize_with = "seconds")]
    pub timeout: Duration,
}

/// How a password is checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LdapBind {
    /// Bind as the DN the template makes of the login.
    AsUser { dn_template: String },
    /// Bind as the service account, find the one entry the filter names, bind as it.
    SearchThenBind { service_dn: String, service_password: Secret, base: String, filter: String },
}

/// Which attributes fill in the account.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LdapAttributes {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    /// User form field key -> attribute.
    pub custom: BTreeMap<String, String>,
}

impl LdapAttributes {
    /// Every attribute to ask the directory for.
    pub fn wanted(&self) -> Vec<String> {
        let mut wanted = vec![self.name.clone(), self.email.clone()];
        wanted.extend(self.phone.iter().cloned());
        wanted.extend(self.custom.values().cloned());
        wanted.sort();
        wanted.dedup();
        wanted
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "an [[ldap]] table")]
pub(super) struct RawLdap {
    /// Unique among directories, `[a-z0-9_-]`, at most 40 characters. Required.
    pub name: Option<String>,
    /// `ldap://host[:port]` or `ldaps://host[:port]`. Plain `ldap://` without `starttls` only to
    /// a loopback host. Required.
    pub url: Option<String>,
    /// Upgrade an `ldap://` connection with StartTLS before binding. Default: `false`.
    pub starttls: bool,
    /// PEM file of CA certificates to trust besides the built-in roots. Default: none.
    pub ca_file: Option<PathBuf>,
    /// Bind as the user: the DN with `{user}` for the login. Exactly one of this and
    /// `service_bind_dn`. Default: none.
    pub bind_dn_template: Option<String>,
    /// Search-then-bind: the service account's DN. Default: none.
    pub service_bind_dn: Option<String>,
    /// Search-then-bind: file holding the service account's password (its first line).
    pub service_password_file: Option<PathBuf>,
    /// Search-then-bind: where to search (the whole subtree). Default: none.
    pub search_base: Option<String>,
    /// Search-then-bind: the filter, with `{email}` (or `{user}`) for the login. Default:
    /// `"(mail={email})"`.
    pub search_filter: Option<String>,
    /// `["agents", "users"]` or either: who may sign in through this directory. Required.
    #[serde(rename = "for")]
    pub serves: Option<Vec<String>>,
    /// Seconds for a whole sign-in (connect, TLS, binds, search), 1 to 60. Default: `5`.
    pub timeout_seconds: u64,
    /// `[ldap.attributes]`: which attributes fill in the account.
    pub attributes: RawAttributes,
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "an [ldap.attributes] table")]
pub(super) struct RawAttributes {
    /// The display name. Default: `"cn"`.
    pub name: String,
    /// The address the account is found and created by. Default: `"mail"`.
    pub email: String,
    /// The phone number. Default: none.
    pub phone: Option<String>,
    /// User form field key -> attribute (`{ department = "departmentNumber" }`). Default: none.
    pub custom: BTreeMap<String, String>,
}

impl Default for RawLdap {
    fn default() -> Self {
        Self {
            name: None,
            url: None,
            starttls: false,
            ca_file: None,
            bind_dn_template: None,
            service_bind_dn: None,
            service_password_file: None,
            search_base: None,
            search_filter: None,
            serves: None,
            timeout_seconds: 5,
            attributes: RawAttributes::default(),
        }
    }
}

impl Default for RawAttributes {
    fn default() -> Self {
        Self { name: "cn".to_string(), email: "mail".to_string(), phone: None, custom: BTreeMap::new() }
    }
}

pub(super) fn validate_ldap(raw: &[RawLdap], forms: &[Form], problems: &mut Problems<'_, '_>) -> Vec<Ldap> {
    let mut names: HashMap<String, usize> = HashMap::new();
    let user_form = forms.iter().find(|form| form.applies_to == Subject::User);
    raw.iter()
        .enumerate()
        .map(|(index, directory)| {
            let path = KeyPath::top("ldap").at(index);
            validate_one(directory, &path, index, &mut names, user_form, problems)
        })
        .collect()
}

fn validate_one(
    raw: &RawLdap,
    path: &KeyPath,
    index: usize,
    names: &mut HashMap<String, usize>,
    user_form: Option<&Form>,
    problems: &mut Problems<'_, '_>,
) -> Ldap {
    let name = required(&raw.name, &path.key("name"), problems);
    if raw.name.is_some() {
        let allowed = |c: char| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-');
        if name.is_empty() || name.len() > 40 || !name.chars().all(allowed) {
            problems.report(&path.key("name"), format!("{name:?} must be 1 to 40 of a-z, 0-9, '_' and '-'"));
        } else if let Some(first) = earlier_claim(names, name.to_string(), index) {
            problems.report(&path.key("name"), format!("{name:?} is already the name of ldap[{first}]"));
        }
    }
    let url = required(&raw.url, &path.key("url"), problems).trim();
    if raw.url.is_some() {
        check_url(url, raw.starttls, &path.key("url"), problems);
    }
    let extra_roots = match &raw.ca_file {
        Some(file) => read_ca_file(file, &path.key("ca_file"), problems),
        None => Vec::new(),
    };
    let bind = validate_bind(raw, path, problems);
    let (agents, users) = validate_serves(raw.serves.as_deref(), &path.key("for"), problems);
    if !(1..=60).contains(&raw.timeout_seconds) {
        problems.report(&path.key("timeout_seconds"), "must be 1 to 60");
    }
    let attributes = validate_attributes(&raw.attributes, &path.key("attributes"), user_form, problems);
    Ldap {
        name: name.to_string(),
        url: url.to_string(),
        starttls: raw.starttls,
        ca_file: raw.ca_file.clone(),
        extra_roots,
        bind,
        attributes,
        agents,
        users,
        timeout: Duration::from_secs(raw.timeout_seconds.clamp(1, 60)),
    }
}

/// `ldap://` or `ldaps://`, a host, an optional port, nothing else; passwords never cross a
/// network in the clear.
fn check_url(url: &str, starttls: bool, path: &KeyPath, problems: &mut Problems<'_, '_>) {
    let (secure, rest) = match (url.strip_prefix("ldaps://"), url.strip_prefix("ldap://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => {
            problems.report(path, format!("{url:?} must start with ldap:// or ldaps://"));
            return;
        }
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    // `[v6]`, `[v6]:port`, `host` or `host:port`.
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) => (host, Some(after.strip_prefix(':').unwrap_or(after))),
            None => ("", None),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let host_ok = !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ', '[', ']']);
    if !host_ok {
        problems.report(path, format!("{url:?} must be ldap[s]://host[:port], with nothing after the host"));
        return;
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |port| port == 0)
    {
        problems.report(path, format!("{port:?} is not a port number (1-65535)"));
    }
    if secure && starttls {
        problems.report(path, "is ldaps:// (TLS from the start); starttls is for ldap:// only");
    }
    if !secure && !starttls && !is_loopback_host(host) {
        problems.report(
            path,
            format!(
                "is plain ldap:// to {host:?}, which is not a loopback address: passwords would cross \
                 the network in the clear; use ldaps:// or starttls = true"
            ),
        );
    }
}

fn validate_bind(raw: &RawLdap, path: &KeyPath, problems: &mut Problems<'_, '_>) -> LdapBind {
    let search_keys = [
        ("service_password_file", raw.service_password_file.is_some()),
        ("search_base", raw.search_base.is_some()),
        ("search_filter", raw.search_filter.is_some()),
    ];
    match (&raw.bind_dn_template, &raw.service_bind_dn) {
        (Some(template), None) => {
            for (key, _) in search_keys.iter().filter(|(_, set)| *set) {
                problems.report(
                    &path.key(key),
                    "is for search-then-bind (service_bind_dn); not with bind_dn_template",
                );
            }
            let template = template.trim();
            if !LOGIN_PLACEHOLDERS.iter().any(|placeholder| template.contains(placeholder)) {
                problems.report(
                    &path.key("bind_dn_template"),
                    format!("{template:?} has no {{user}}: the login goes there, e.g. \"uid={{user}},ou=people,dc=example,dc=org\""),
                );
            } else if !template.contains('=') {
                problems.report(&path.key("bind_dn_template"), format!("{template:?} is not a DN"));
            }
            LdapBind::AsUser { dn_template: template.to_string() }
        }
        (None, Some(service_dn)) => {
            let service_dn = service_dn.trim();
            if !service_dn.contains('=') {
                problems.report(&path.key("service_bind_dn"), format!("{service_dn:?} is not a DN"));
            }
            let service_password = read_password(raw.service_password_file.as_ref(), path, problems);
            let base = required(&raw.search_base, &path.key("search_base"), problems).trim();
            if raw.search_base.is_some() && !base.contains('=') {
                problems.report(&path.key("search_base"), format!("{base:?} is not a DN"));
            }
            let filter = raw.search_filter.as_deref().unwrap_or("(mail={email})").trim();
            check_filter(filter, &path.key("search_filter"), problems);
            LdapBind::SearchThenBind {
                service_dn: service_dn.to_string(),
                service_password,
                base: base.to_string(),
                filter: filter.to_string(),
            }
        }
        (Some(_), Some(_)) => {
            problems.report(
                &path.key("service_bind_dn"),
                "is set and so is bind_dn_template; bind as the user or search with a service account, not both",
            );
            LdapBind::AsUser { dn_template: String::new() }
        }
        (None, None) => {
            problems.report(
                &path.key("bind_dn_template"),
                "is required (bind as the user), or service_bind_dn, service_password_file and search_base \
                 (search-then-bind)",
            );
            LdapBind::AsUser { dn_template: String::new() }
        }
    }
}

/// The service password: the first line of the file.
fn read_password(file: Option<&PathBuf>, path: &KeyPath, problems: &mut Problems<'_, '_>) -> Secret {
    let Some(file) = file else {
        problems.report(&path.key("service_password_file"), "is required with service_bind_dn");
        return Secret::new("");
    };
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let first_line = text.split('\n').next().unwrap_or_default().trim_end_matches('\r');
            if first_line.is_empty() {
                problems.report(
                    &path.key("service_password_file"),
                    format!("{}: the first line (the password) is empty", file.display()),
                );
            }
            Secret::new(first_line)
        }
        Err(error) => {
            problems.report(
                &path.key("service_password_file"),
                format!("cannot read {}: {error}", file.display()),
            );
            Secret::new("")
        }
    }
}

/// A filter with the login's placeholder that parses once a login is put in.
fn check_filter(filter: &str, path: &KeyPath, problems: &mut Problems<'_, '_>) {
    if !LOGIN_PLACEHOLDERS.iter().any(|placeholder| filter.contains(placeholder)) {
        problems.report(
            path,
            format!("{filter:?} has no {{email}}: the login goes there, e.g. \"(mail={{email}})\""),
        );
        return;
    }
    let sample = LOGIN_PLACEHOLDERS.iter().fold(filter.to_string(), |text, p| text.replace(p, "x"));
    if ldap3::parse_filter(&sample).is_err() {
        problems
            .report(path, format!("{filter:?} is not an LDAP filter (RFC 4515), e.g. \"(mail={{email}})\""));
    }
}

fn validate_serves(
    serves: Option<&[String]>,
    path: &KeyPath,
    problems: &mut Problems<'_, '_>,
) -> (bool, bool) {
    let Some(serves) = serves else {
        problems.report(path, "is required: [\"agents\"], [\"users\"] or both");
        return (false, false);
    };
    if serves.is_empty() {
        problems.report(path, "lists nobody: [\"agents\"], [\"users\"] or both");
    }
    let (mut agents, mut users) = (false, false);
    for (index, who) in serves.iter().enumerate() {
        let seen = match who.as_str() {
            "agents" => std::mem::replace(&mut agents, true),
            "users" => std::mem::replace(&mut users, true),
            other => {
                problems.report(&path.at(index), format!("{other:?} must be \"agents\" or \"users\""));
                false
            }
        };
        if seen {
            problems.report(&path.at(index), format!("{who:?} is listed twice"));
        }
    }
    (agents, users)
}

fn validate_attributes(
    raw: &RawAttributes,
    path: &KeyPath,
    user_form: Option<&Form>,
    problems: &mut Problems<'_, '_>,
) -> LdapAttributes {
    check_attribute(&raw.name, &path.key("name"), problems);
    check_attribute(&raw.email, &path.key("email"), problems);
    if let Some(phone) = &raw.phone {
        check_attribute(phone, &path.key("phone"), problems);
    }
    for (key, attribute) in &raw.custom {
        let at = path.key("custom").key(key);
        check_attribute(attribute, &at, problems);
        match user_form {
            None => problems
                .report(&at, "there is no user form ([[forms]] with applies_to = \"user\") to fill in"),
            Some(form) if !form.fields.iter().any(|field| field.key == *key) => {
                problems.report(&at, format!("{key:?} is not a field of the user form {:?}", form.key))
            }
            Some(_) => {}
        }
    }
    LdapAttributes {
        name: raw.name.trim().to_string(),
        email: raw.email.trim().to_string(),
        phone: raw.phone.as_ref().map(|phone| phone.trim().to_string()),
        custom: raw
            .custom
            .iter()
            .map(|(key, attribute)| (key.clone(), attribute.trim().to_string()))
            .collect(),
    }
}

/// An attribute description: a name (`telephoneNumber`) or an OID, options after `;`.
fn check_attribute(attribute: &str, path: &KeyPath, problems: &mut Problems<'_, '_>) {
    let attribute = attribute.trim();
    let ok = !attribute.is_empty()
        && attribute.len() <= 100
        && attribute.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ';'));
    if !ok {
        problems.report(path, format!("{attribute:?} is not an attribute name"));
    }
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_secs())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_error, errors_of, valid};
    use super::*;

    const USER_FORM: &str = "[[forms]]\nkey = \"customer\"\napplies_to = \"user\"\n\
                             fields = [{ key = \"department\", type = \"text\" }]\n";

    #[test]
    fn bind_as_user_with_defaults() {
        let config = valid(
            "[[ldap]]\nname = \"corp\"\nurl = \"ldaps://ldap.example.org:636/\"\n\
             bind_dn_template = \"uid={user},ou=people,dc=example,dc=org\"\nfor = [\"users\"]\n",
        );
        let corp = &config.ldap[0];
        assert_eq!(
            (corp.agents, corp.users, corp.timeout, corp.starttls),
            (false, true, Duration::from_secs(5), false)
        );
        assert_eq!(corp.attributes.wanted(), ["cn", "mail"]);
    }

    #[test]
    fn search_then_bind_reads_the_service_password_and_checks_the_filter() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\nignored\n").unwrap();
        let text = format!(
            "{USER_FORM}[[ldap]]\nname = \"corp\"\nurl = \"ldap://ldap.example.org\"\nstarttls = true\n\
             service_bind_dn = \"cn=mailgate,dc=example,dc=org\"\nservice_password_file = \"{}\"\n\
             search_base = \"dc=example,dc=org\"\nfor = [\"agents\", \"users\"]\n\
             [ldap.attributes]\ncustom = {{ department = \"departmentNumber\" }}\n",
            file.display()
        );
        let config = valid(&text);
        let LdapBind::SearchThenBind { service_password, filter, .. } = &config.ldap[0].bind else {
            panic!("search-then-bind")
        };
        assert_eq!((service_password.expose(), filter.as_str()), ("s3cret", "(mail={email})"));
        assert!(!format!("{config:?}").contains("s3cret"), "the password is never printed");

        let bad = text.replace("starttls = true\n", "starttls = true\nsearch_filter = \"mail={email})(\"\n");
        assert_error(&bad, "ldap[0].search_filter", Some(9), "not an LDAP filter");
        let no_login = text.replace("starttls = true\n", "starttls = true\nsearch_filter = \"(mail=x)\"\n");
        assert_error(&no_login, "ldap[0].search_filter", Some(9), "has no {email}");
        let unreadable = text.replace(&file.display().to_string(), "/nonexistent/pw");
        assert_error(&unreadable, "ldap[0].service_password_file", Some(10), "cannot read /nonexistent/pw");
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let text = "[[ldap]]\nname = \"Corp!\"\nurl = \"ldap://ldap.example.org\"\n\
                    bind_dn_template = \"ou=people\"\nfor = [\"admins\", \"users\", \"users\"]\n\
                    timeout_seconds = 0\nca_file = \"/nonexistent/ca.pem\"\n\
                    [ldap.attributes]\nemail = \"mail address\"\ncustom = { department = \"x\" }\n";
        assert_error(text, "ldap[0].name", Some(2), "must be 1 to 40");
        assert_error(text, "ldap[0].url", Some(3), "in the clear");
        assert_error(text, "ldap[0].bind_dn_template", Some(4), "has no {user}");
        assert_error(text, "ldap[0].for[0]", Some(5), "must be \"agents\" or \"users\"");
        assert_error(text, "ldap[0].for[2]", Some(5), "listed twice");
        assert_error(text, "ldap[0].timeout_seconds", Some(6), "1 to 60");
        assert_error(text, "ldap[0].ca_file", Some(7), "cannot read");
        assert_error(text, "ldap[0].attributes.email", Some(9), "not an attribute name");
        assert_error(text, "ldap[0].attributes.custom.department", Some(10), "no user form");
        assert_eq!(errors_of(text).len(), 9, "{:#?}", errors_of(text));
    }

    #[test]
    fn urls_modes_and_names_are_checked() {
        let base = |more: &str| format!("[[ldap]]\nname = \"corp\"\nfor = [\"users\"]\n{more}\n");
        let template = "bind_dn_template = \"uid={user},dc=example,dc=org\"";
        let plain_local = base(&format!("url = \"ldap://127.0.0.1:3389\"\n{template}"));
        assert_eq!(
            valid(&plain_local).ldap[0].url,
            "ldap://127.0.0.1:3389",
            "plain LDAP to loopback is fine"
        );
        assert_error(
            &base(&format!("url = \"http://x\"\n{template}")),
            "ldap[0].url",
            Some(4),
            "must start with",
        );
        assert_error(
            &base(&format!("url = \"ldaps://x:0\"\n{template}")),
            "ldap[0].url",
            Some(4),
            "not a port",
        );
        assert_error(
            &base(&format!("url = \"ldaps://x/dc=org\"\n{template}")),
            "ldap[0].url",
            Some(4),
            "nothing after",
        );
        let both = base(&format!("url = \"ldaps://x\"\nstarttls = true\n{template}"));
        assert_error(&both, "ldap[0].url", Some(4), "starttls is for ldap://");
        let neither = base("url = \"ldaps://x\"");
        assert_error(&neither, "ldap[0].bind_dn_template", Some(1), "is required");
        let two = base(&format!("url = \"ldaps://x\"\n{template}\nservice_bind_dn = \"cn=s,dc=org\""));
        assert_error(&two, "ldap[0].service_bind_dn", Some(6), "not both");
        let stray = base(&format!("url = \"ldaps://x\"\n{template}\nsearch_base = \"dc=org\""));
        assert_error(&stray, "ldap[0].search_base", Some(6), "not with bind_dn_template");
        let twice = format!(
            "{}{}",
            base(&format!("url = \"ldaps://x\"\n{template}")),
            base(&format!("url = \"ldaps://y\"\n{template}"))
        );
        assert_error(&twice, "ldap[1].name", Some(7), "already the name of ldap[0]");
        assert_error("[[ldap]]\nurl = \"ldaps://x\"\n", "ldap[0].for", Some(1), "is required");
        assert_error(
            "[[ldap]]\nname = \"a\"\nfor = []\nurl = \"ldaps://x\"\nbind_dn_template = \"uid={user}\"\n",
            "ldap[0].for",
            Some(3),
            "lists nobody",
        );
        assert_error("[[ldap]]\nnam = \"a\"\n", "ldap[0].nam", Some(2), "unknown key");
    }
}
