//! `serve`'s reload on SIGHUP: re-reads the configuration file found as at start, checks it as
//! `check-config` does (rules, email and web template overrides), and only when all of it is sound
//! syncs the directory and swaps the new settings into the app, the outbox worker and the web
//! pages. Work already running keeps the snapshot it started with. Settings that only a restart can
//! apply (connections, listeners, the mailbox list) keep their running values and are named in a
//! WARN. A broken configuration changes nothing: every problem is logged at ERROR.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::app;
use crate::app::App;
use crate::config::{self, Config, ConfigError, Smtp};
use crate::outbox::render::Templates;
use crate::outbox::worker::Worker;
use crate::web::Pages;

/// What a reload swaps, and the configuration in force (what was applied, restart-only keys at
/// their running values).
pub struct Reloader {
    /// `--config` / `$MAILGATE_CONFIG`, and the search list, as the daemon started with them.
    given: Option<PathBuf>,
    search: Vec<PathBuf>,
    running: Config,
    app: App,
    worker: Arc<Worker>,
    /// The web endpoint's pages, when it runs.
    pages: Option<Arc<Pages>>,
}

/// What became of one reload.
#[derive(Debug, PartialEq, Eq)]
pub enum Reloaded {
    Applied,
    /// Nothing changed: the configuration, or what it points at, has a problem (logged).
    Refused,
}

/// Everything in the new configuration that was checked and can be swapped in.
struct Candidate {
    config: Config,
    templates: Templates,
    pages: Pages,
}

impl Reloader {
    pub fn new(
        given: Option<PathBuf>,
        search: Vec<PathBuf>,
        running: Config,
        app: App,
        worker: Arc<Worker>,
        pages: Option<Arc<Pages>>,
    ) -> Reloader {
        Reloader { given, search, running, app, worker, pages }
    }

    /// One reload: check, then apply everything or nothing.
    pub async fn reload(&mut self) -> Reloaded {
        let path = super::locate_config(self.given.as_deref(), &self.search);
        let origin = path.as_ref().map_or(config::DEFAULTS_ORIGIN.to_string(), |p| p.display().to_string());
        tracing::info!(config = %origin, "SIGHUP: reloading the configuration");
        let Some(candidate) = self.check(path.as_deref(), &origin) else {
            return Reloaded::Refused;
        };
        let (config, not_applied) = keep_restart_only(&self.running, candidate.config);
        let configured = match app::configure(self.app.store(), &config, self.app.now_ms()).await {
            Ok(configured) => configured,
            Err(error) => {
                tracing::error!(%error, "configuration not reloaded: the database; still running on the previous configuration");
                return Reloaded::Refused;
            }
        };
        for key in &not_applied {
            tracing::warn!(key = %key, "configuration: {key} changed: restart to apply");
        }
        let mut changed = changed_sections(&self.running, &config);
        // Template files can change while the configuration does not: say what was read.
        if config.templates.dir.is_some() && !changed.iter().any(|section| section == "templates") {
            changed.push("templates (re-read)".to_string());
        }
        self.app.reconfigure(configured.settings, configured.directory);
        self.worker
            .reconfigure(Arc::new(candidate.templates), app::worker_settings(&config, configured.keyring));
        if let Some(pages) = &self.pages {
            pages.replace(candidate.pages);
        }
        tracing::info!(
            changed = %if changed.is_empty() { "nothing".to_string() } else { changed.join(", ") },
            agents = config.agents.len(),
            teams = config.teams.len(),
            orgs = config.orgs.len(),
            restart_needed = not_applied.len(),
            "configuration reloaded"
        );
        self.running = config;
        Reloaded::Applied
    }

    /// The new configuration with its templates and pages, or `None` after logging every problem.
    fn check(&self, path: Option<&std::path::Path>, origin: &str) -> Option<Candidate> {
        // As check-config: the rules' problems, and those of what the sound parts point at.
        let (config, errors) = config::load_checked(path);
        let errors = errors.map(|errors| errors.errors).unwrap_or_default();
        log_config_errors(origin, &errors);
        let Some(config) = config else {
            refused(errors.len());
            return None;
        };
        let faulty = |key: &str| errors.iter().any(|error| error.key == key);
        let mut problems = Vec::new();
        let templates = match faulty("templates.dir") {
            true => None,
            false => Templates::load(config.templates.dir.as_deref(), &config.wanted_variants())
                .map_err(|errors| problems.extend(errors.iter().map(|e| format!("templates.dir: {e}"))))
                .ok(),
        };
        // Checked even without a web endpoint, as check-config does.
        let pages = match faulty("templates.web_dir") {
            true => None,
            false => app::web_pages(&config)
                .map_err(|errors| problems.extend(errors.iter().map(|e| format!("templates.web_dir: {e}"))))
                .ok(),
        };
        // Not `database.unusable_reason()`, as check-config does: it opens the SQLite file, and
        // closing that handle would drop every POSIX lock SQLite holds on it in this process
        // (fcntl(2)), which corrupts the database under concurrent writers. `database` is
        // restart-only anyway.
        for problem in &problems {
            tracing::error!(config = %origin, "{origin}: {problem}");
        }
        match (templates, pages, errors.is_empty() && problems.is_empty()) {
            (Some(templates), Some(pages), true) => Some(Candidate { config, templates, pages }),
            _ => {
                refused(errors.len() + problems.len());
                None
            }
        }
    }
}

fn log_config_errors(origin: &str, errors: &[ConfigError]) {
    for error in errors {
        let key = error.key.as_str();
        let place = match error.line {
            Some(line) => format!("{origin}:{line}"),
            None => origin.to_string(),
        };
        match key.is_empty() {
            true => tracing::error!(config = %origin, line = error.line, "{place}: {}", error.message),
            false => {
                tracing::error!(config = %origin, line = error.line, key, "{place}: {key}: {}", error.message)
            }
        }
    }
}

fn refused(problems: usize) {
    tracing::error!(
        problems,
        "configuration not reloaded: {problems} problem(s); still running on the previous configuration"
    );
}

/// `fresh` with every setting that only a restart applies put back to its `running` value, and the
/// keys of those that differed. Restart-only: the database, the web endpoint (its listener, base
/// URL and proxies are built into it and the accounts), IMAP and the mailbox list (the pollers),
/// the SMTP connection (all of `[smtp]` but `max_attempts`), logging, `[auth]` and
/// `[registration]` (the accounts), `limits.max_message_bytes` (the web's upload budget),
/// `[metrics]` (its listener) and `[[ldap]]` (the accounts).
fn keep_restart_only(running: &Config, fresh: Config) -> (Config, Vec<String>) {
    let mut kept = fresh.clone();
    kept.database = running.database.clone();
    kept.web = running.web.clone();
    kept.metrics = running.metrics.clone();
    kept.imap = running.imap.clone();
    kept.mailboxes = running.mailboxes.clone();
    kept.smtp = Smtp { max_attempts: fresh.smtp.max_attempts, ..running.smtp.clone() };
    kept.log = running.log.clone();
    kept.auth = running.auth.clone();
    kept.registration = running.registration.clone();
    // The OpenID Connect providers live in the accounts, made once at start.
    kept.oidc = running.oidc.clone();
    kept.ldap = running.ldap.clone();
    kept.limits.max_message_bytes = running.limits.max_message_bytes;
    let mut keys = Vec::new();
    differing_keys(&as_json(&fresh), &as_json(&kept), String::new(), &mut keys);
    if keys.is_empty() && kept != fresh {
        // Secrets serialize redacted: the difference is in one of them.
        keys.push("a password or key (not shown)".to_string());
    }
    (kept, keys)
}

/// The top-level sections (TOML names) that differ between `before` and `after`.
fn changed_sections(before: &Config, after: &Config) -> Vec<String> {
    let (before, after) = (as_json(before), as_json(after));
    let Value::Object(sections) = &after else { return Vec::new() };
    sections
        .iter()
        .filter(|(name, value)| before.get(name.as_str()) != Some(value))
        .map(|(name, _)| toml_name(name).to_string())
        .collect()
}

fn as_json(config: &Config) -> Value {
    serde_json::to_value(config).unwrap_or(Value::Null)
}

/// The section's name in the file, where it differs from the field's.
fn toml_name(field: &str) -> &str {
    match field {
        "mailboxes" => "mailbox",
        other => other,
    }
}

/// The key paths (`smtp.host`, `mailbox[0].port`) of the leaves that differ.
fn differing_keys(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let name = if path.is_empty() { toml_name(key).to_string() } else { format!("{path}.{key}") };
                differing_keys(value, b.get(key).unwrap_or(&Value::Null), name, out);
            }
            for key in b.keys().filter(|key| !a.contains_key(*key)) {
                out.push(if path.is_empty() { toml_name(key).to_string() } else { format!("{path}.{key}") });
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (index, (a, b)) in a.iter().zip(b).enumerate() {
                differing_keys(a, b, format!("{path}[{index}]"), out);
            }
        }
        (a, b) if a != b => out.push(path),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"sqlite:///tmp/a.db\"\n{extra}"
        );
        config::from_toml(&text, "<test>").unwrap()
    }

    #[test]
    fn restart_only_keys_keep_their_running_values_and_are_named() {
        let running = config("[smtp]\nhost = \"127.0.0.1\"\nport = 25\n[web]\nbind = \"127.0.0.1:8080\"\n");
        let fresh = config(
            "[smtp]\nhost = \"127.0.0.1\"\nport = 2525\nmax_attempts = 9\n[web]\nbind = \"127.0.0.1:9090\"\n\
             [tickets]\nreopen_days = 3\n",
        );
        let (kept, keys) = keep_restart_only(&running, fresh);
        assert_eq!(keys, vec!["smtp.port".to_string(), "web.bind".to_string()]);
        let moved = config("[metrics]\nbind = \"127.0.0.1:19465\"\n");
        let (stays, named) = keep_restart_only(&config("[metrics]\nbind = \"127.0.0.1:19464\"\n"), moved);
        assert_eq!(named, vec!["metrics.bind".to_string()]);
        assert_eq!(stays.metrics.bind, Some("127.0.0.1:19464".parse().unwrap()));
        assert_eq!(kept.smtp.port, 25);
        assert_eq!(kept.smtp.max_attempts, 9, "max_attempts applies on reload");
        assert_eq!(kept.web.bind, running.web.bind);
        assert_eq!(kept.tickets.reopen_days, 3);
        assert_eq!(changed_sections(&running, &kept), vec!["smtp".to_string(), "tickets".to_string()]);
    }

    #[test]
    fn ldap_directories_wait_for_a_restart() {
        let directory = |url: &str| {
            format!(
                "[[ldap]]\nname = \"corp\"\nurl = \"{url}\"\nbind_dn_template = \"uid={{user}},dc=org\"\nfor = [\"users\"]\n"
            )
        };
        let running = config(&directory("ldaps://a.example.org"));
        let (kept, keys) = keep_restart_only(&running, config(&directory("ldaps://b.example.org")));
        assert_eq!(keys, vec!["ldap[0].url".to_string()]);
        assert_eq!(kept.ldap[0].url, "ldaps://a.example.org");
    }

    #[test]
    fn an_unchanged_configuration_names_nothing() {
        let running = config("");
        let (kept, keys) = keep_restart_only(&running, running.clone());
        assert!(keys.is_empty());
        assert_eq!(kept, running);
        assert!(changed_sections(&running, &kept).is_empty());
    }

    #[test]
    fn a_longer_mailbox_list_is_named_as_the_list() {
        let mut a = serde_json::json!({ "mailboxes": [] });
        let b = serde_json::json!({ "mailboxes": [{ "name": "x" }] });
        let mut keys = Vec::new();
        differing_keys(&a, &b, String::new(), &mut keys);
        assert_eq!(keys, vec!["mailbox".to_string()]);
        a["mailboxes"] = b["mailboxes"].clone();
        keys.clear();
        differing_keys(&a, &b, String::new(), &mut keys);
        assert!(keys.is_empty());
    }
}
