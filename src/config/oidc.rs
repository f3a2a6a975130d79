//! `[[oidc]]`: OpenID Connect providers people sign in with ("Sign in with Example"). Each names
//! its issuer (discovered at `ISSUER/.well-known/openid-configuration`), our client at that issuer,
//! and who may use it (end users, agents or both). Only the shape is checked here; the provider is
//! first asked at sign-in (`auth::oidc`).

use std::path::PathBuf;

use openidconnect::url::Url;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;
use super::mailbox::{Secret, read_ca_file};
use super::rules::is_loopback_host;

/// The longest `name` (it is part of URLs).
const MAX_NAME: usize = 32;
/// The longest button text.
const MAX_LABEL: usize = 80;

/// One configured provider.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OidcProvider {
    /// `[a-z0-9_-]{1,32}`, unique: `/auth/oidc/NAME/login` and `/auth/oidc/NAME/callback`.
    pub name: String,
    /// The button's text.
    pub label: String,
    /// The issuer URL exactly as the provider's ID tokens name it (no trailing slash added).
    pub issuer: String,
    pub client_id: String,
    /// Read from `client_secret_file`; `None`: a public client (PKCE alone).
    #[serde(skip)]
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    /// Asked for besides `openid`.
    pub scopes: Vec<String>,
    /// Whether end users may sign in on the portal with it.
    pub users: bool,
    /// Whether agents may sign in to the console with it.
    pub agents: bool,
    /// The certificates of `ca_file`, trusted besides the built-in and system roots.
    #[serde(skip)]
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "an [[oidc]] table")]
pub(super) struct RawOidc {
    /// `[a-z0-9_-]`, at most 32 characters, unique; part of the provider's URLs here. Required.
    pub name: Option<String>,
    /// The sign-in button's text. Default: "Sign in with NAME".
    pub label: Option<String>,
    /// The issuer URL (https; http only on a loopback host). Required.
    pub issuer: Option<String>,
    /// Our client id at the provider. Required.
    pub client_id: Option<String>,
    /// File holding the client secret. Default: none (a public client; PKCE protects the code).
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for; `openid` is always added. Default: `["email", "profile"]`.
    pub scopes: Vec<String>,
    /// Who signs in with it: `"users"` (the portal), `"agents"` (the console). Default: `["users"]`.
    #[serde(rename = "for")]
    pub for_: Vec<String>,
    /// PEM file of CAs trusted for the provider besides the public and system roots. Default: none.
    pub ca_file: Option<PathBuf>,
}

impl Default for RawOidc {
    fn default() -> Self {
        Self {
            name: None,
            label: None,
            issuer: None,
            client_id: None,
            client_secret_file: None,
            scopes: vec!["email".to_string(), "profile".to_string()],
            for_: vec!["users".to_string()],
            ca_file: None,
        }
    }
}

pub(super) fn validate_oidc(raw: &[RawOidc], problems: &mut Problems<'_, '_>) -> Vec<OidcProvider> {
    let mut providers: Vec<OidcProvider> = Vec::new();
    for (index, entry) in raw.iter().enumerate() {
        let path = KeyPath::top("oidc").at(index);
        let Some(provider) = validate_one(entry, &path, problems) else { continue };
        if providers.iter().any(|p| p.name == provider.name) {
            problems.report(&path.key("name"), format!("provider {:?} is listed twice", provider.name));
            continue;
        }
        providers.push(provider);
    }
    providers
}

fn validate_one(raw: &RawOidc, path: &KeyPath, problems: &mut Problems<'_, '_>) -> Option<OidcProvider> {
    let name = raw.name.as_deref().map(str::trim).unwrap_or_default();
    let name_ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !name_ok {
        let why = if name.is_empty() { "is required" } else { "must be" };
        problems.report(
            &path.key("name"),
            format!("{why}: 1 to 32 of a-z, 0-9, _ and - (it is part of the provider's URLs)"),
        );
    }
    let label = match raw.label.as_deref().map(str::trim) {
        Some(label) if label.is_empty() || label.len() > MAX_LABEL || label.chars().any(char::is_control) => {
            problems.report(&path.key("label"), "must be 1 to 80 characters on one line");
            String::new()
        }
        Some(label) => label.to_string(),
        None => format!("Sign in with {name}"),
    };
    let issuer = check_issuer(raw.issuer.as_deref(), &path.key("issuer"), problems);
    let client_id = raw.client_id.as_deref().map(str::trim).unwrap_or_default();
    if client_id.is_empty() || client_id.chars().any(char::is_control) {
        problems.report(&path.key("client_id"), "is required: our client id at the provider");
    }
    let client_secret =
        raw.client_secret_file.as_ref().and_then(|file| match std::fs::read_to_string(file) {
            Ok(text) if !text.trim().is_empty() => Some(Secret::new(text.trim())),
            Ok(_) => {
                problems.report(&path.key("client_secret_file"), format!("{} is empty", file.display()));
                None
            }
            Err(error) => {
                problems.report(
                    &path.key("client_secret_file"),
                    format!("cannot read {}: {error}", file.display()),
                );
                None
            }
        });
    let scopes = check_scopes(&raw.scopes, &path.key("scopes"), problems);
    let (users, agents) = check_for(&raw.for_, &path.key("for"), problems);
    let extra_roots = match &raw.ca_file {
        Some(file) => read_ca_file(file, &path.key("ca_file"), problems),
        None => Vec::new(),
    };
    (name_ok && !issuer.is_empty() && !client_id.is_empty()).then(|| OidcProvider {
        name: name.to_string(),
        label,
        issuer,
        client_id: client_id.to_string(),
        client_secret,
        client_secret_file: raw.client_secret_file.clone(),
        scopes,
        users,
        agents,
        extra_roots,
        ca_file: raw.ca_file.clone(),
    })
}

/// The issuer as written (less a trailing slash): an https URL without query or fragment; http
/// only to a loopback host (a provider on the same machine, or tests).
fn check_issuer(raw: Option<&str>, path: &KeyPath, problems: &mut Problems<'_, '_>) -> String {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        problems.report(path, "is required: the provider's issuer URL (https://...)");
        return String::new();
    };
    let text = text.trim_end_matches('/');
    let url = match Url::parse(text) {
        Ok(url) => url,
        Err(error) => {
            problems.report(path, format!("{text:?} is not a URL: {error}"));
            return String::new();
        }
    };
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let problem = match url.scheme() {
        _ if host.is_empty() => Some("has no host"),
        _ if url.query().is_some() || url.fragment().is_some() => Some("must have no query or fragment"),
        _ if !url.username().is_empty() || url.password().is_some() => Some("must not hold credentials"),
        "https" => None,
        "http" if is_loopback_host(host) => None,
        "http" => Some("must be https (http only to a loopback host)"),
        _ => Some("must be an https URL"),
    };
    match problem {
        Some(why) => {
            problems.report(path, format!("{text:?} {why}"));
            String::new()
        }
        None => text.to_string(),
    }
}

fn check_scopes(raw: &[String], path: &KeyPath, problems: &mut Problems<'_, '_>) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for (index, scope) in raw.iter().enumerate() {
        let scope = scope.trim();
        // RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
        let ok = !scope.is_empty()
            && scope.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !ok {
            problems.report(
                &path.at(index),
                format!("{scope:?} is not a scope (printable ASCII, no spaces or quotes)"),
            );
        } else if scope != "openid" && !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_string());
        }
    }
    scopes
}

/// `(users, agents)`.
fn check_for(raw: &[String], path: &KeyPath, problems: &mut Problems<'_, '_>) -> (bool, bool) {
    let (mut users, mut agents) = (false, false);
    for (index, who) in raw.iter().enumerate() {
        match who.trim() {
            "users" => users = true,
            "agents" => agents = true,
            other => problems.report(&path.at(index), format!("{other:?} must be \"users\" or \"agents\"")),
        }
    }
    if raw.is_empty() {
        problems.report(path, "names nobody: use [\"users\"], [\"agents\"] or both");
    }
    (users, agents)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{EXAMPLE, errors_of, valid};

    /// An error at `key` (any line) whose message holds `fragment`.
    fn assert_error(text: &str, key: &str, fragment: &str) {
        let errors = errors_of(text);
        assert!(
            errors.iter().any(|e| e.key == key && e.message.contains(fragment)),
            "no error {key} containing {fragment:?} in {errors:#?}"
        );
    }

    const BASE: &str =
        "[[oidc]]\nname = \"example\"\nissuer = \"https://id.example.com/\"\nclient_id = \"mailgate\"\n";

    #[test]
    fn the_example_provider_parses_with_its_defaults() {
        let start = EXAMPLE.find("# [[oidc]]").expect("the example shows [[oidc]]");
        let block: Vec<&str> = EXAMPLE[start..]
            .lines()
            .map(|line| line.strip_prefix("# ").or_else(|| line.strip_prefix('#')).unwrap_or(line))
            .collect();
        let config = valid(&block.join("\n"));
        let provider = &config.oidc[0];
        assert_eq!(
            (provider.name.as_str(), provider.label.as_str(), provider.issuer.as_str()),
            ("example", "Sign in with Example ID", "https://id.example.com")
        );
        assert!(provider.users && provider.agents && provider.client_secret.is_none());
        assert_eq!(provider.scopes, ["email", "profile"]);
        let defaults = valid(BASE);
        let provider = &defaults.oidc[0];
        assert_eq!(provider.label, "Sign in with example");
        assert_eq!(provider.issuer, "https://id.example.com", "a trailing slash is dropped");
        assert!(provider.users && !provider.agents, "users only by default");
        assert!(valid("").oidc.is_empty());
    }

    #[test]
    fn each_field_is_checked_with_its_key_path() {
        let with = |line: &str| format!("{BASE}{line}\n");
        assert_error(
            "[[oidc]]\nissuer = \"https://id.example.com\"\nclient_id = \"x\"\n",
            "oidc[0].name",
            "is required",
        );
        assert_error(&BASE.replace("\"example\"", "\"Bad Name\""), "oidc[0].name", "must be: 1 to 32");
        assert_error(
            &BASE.replace("https://id.example.com/", "http://id.example.com"),
            "oidc[0].issuer",
            "must be https",
        );
        assert_error(
            &BASE.replace("https://id.example.com/", "https://id.example.com/?x=1"),
            "oidc[0].issuer",
            "no query",
        );
        assert_error(
            &BASE.replace("https://id.example.com/", "ftp://id.example.com"),
            "oidc[0].issuer",
            "https URL",
        );
        assert_error(&BASE.replace("https://id.example.com/", "not a url"), "oidc[0].issuer", "not a URL");
        assert_error(&BASE.replace("client_id = \"mailgate\"\n", ""), "oidc[0].client_id", "is required");
        assert_error(&with("for = [\"robots\"]"), "oidc[0].for[0]", "\"users\" or \"agents\"");
        assert_error(&with("for = []"), "oidc[0].for", "names nobody");
        assert_error(&with("scopes = [\"two words\"]"), "oidc[0].scopes[0]", "not a scope");
        assert_error(&with("label = \"\"\"a\nb\"\"\""), "oidc[0].label", "one line");
        assert_error(
            &with("client_secret_file = \"/nonexistent/secret\""),
            "oidc[0].client_secret_file",
            "cannot read",
        );
        assert_error(&with("ca_file = \"/nonexistent/ca.pem\""), "oidc[0].ca_file", "cannot read");
        assert_error(&format!("{BASE}{BASE}"), "oidc[1].name", "listed twice");
        assert_error(&with("secret = \"x\""), "oidc[0].secret", "unknown key");
        // Loopback http is allowed (a provider on this machine, tests); the secret is read and trimmed.
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let text = BASE.replace("https://id.example.com/", "http://127.0.0.1:9400")
            + &format!(
                "client_secret_file = \"{}\"\nscopes = [\"openid\", \"email\", \"email\"]\n",
                secret.display()
            );
        let config = valid(&text);
        assert_eq!(config.oidc[0].client_secret.as_ref().map(|s| s.expose()), Some("s3cret"));
        assert_eq!(config.oidc[0].scopes, ["email"], "openid is implied; duplicates dropped");
        assert!(!format!("{:?}", config.oidc[0]).contains("s3cret"), "the secret is redacted");
    }
}
