//! Mailgate's configuration: one TOML file, read in two stages. Stage one (`read`) turns the text
//! into raw serde structs and reports syntax errors, unknown keys and type errors; stage two (one
//! `validate_*` per section) builds the typed [`Config`]. Every problem is reported at once, with
//! its key path and line. This module does not choose the file (the CLI does) and keeps no global.
//!
//! Adding a section (`[smtp]`, ...) is local: a new file with its raw struct, typed struct and
//! `validate_*`, then one field in `RawConfig`, one in `Config` and one call in `validate`.

mod auth;
mod canned;
mod database;
mod error;
mod forms;
mod instance;
mod ldap;
mod limits;
mod links;
mod locate;
mod log;
mod mailbox;
mod metrics;
mod notifications;
mod oidc;
mod orgs;
mod read;
mod registration;
mod rules;
mod sla;
mod smtp;
mod staff;
mod templates;
mod ticket_rules;
mod tickets;
mod topics;

#[cfg(test)]
mod mailbox_tests;
#[cfg(test)]
mod tests;

use std::path::Path;

use serde::Serialize;

use crate::core::address::EmailAddress;

pub use auth::Auth;
pub use database::{Backend, Database};
pub use error::{ConfigError, ConfigErrors};
pub use instance::Instance;
pub use ldap::{LOGIN_PLACEHOLDERS, Ldap, LdapAttributes, LdapBind};
pub use limits::Limits;
pub use links::{Links, Web};
pub use log::{Log, LogFormat};
pub use mailbox::{AfterIngest, Imap, ImapTls, Mailbox, Secret};
pub use metrics::Metrics;
pub use notifications::Notifications;
pub use oidc::OidcProvider;
pub use orgs::{Manager, ManagerMode, Org};
pub use registration::{Method as RegistrationMethod, Registration};
pub use smtp::{Smtp, SmtpTls};
pub use staff::{Agent, Team};
pub use templates::Templates;
pub use tickets::Tickets;
pub use topics::Topic;

use error::Problems;
use locate::Source;
use read::RawConfig;

/// The `origin` of a configuration built from the embedded defaults alone.
pub const DEFAULTS_ORIGIN: &str = "<defaults>";

/// The validated configuration. Built only by [`load`] or [`from_toml`]; passed explicitly.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    pub instance: Instance,
    pub database: Database,
    pub limits: Limits,
    pub tickets: Tickets,
    pub notifications: Notifications,
    pub smtp: Smtp,
    pub imap: Imap,
    pub mailboxes: Vec<Mailbox>,
    pub templates: Templates,
    pub links: Links,
    pub web: Web,
    pub auth: Auth,
    pub registration: Registration,
    pub log: Log,
    pub metrics: Metrics,
    pub agents: Vec<Agent>,
    pub teams: Vec<Team>,
    pub orgs: Vec<Org>,
    pub topics: Vec<Topic>,
    /// `[[rules]]`, in order.
    pub rules: Vec<crate::core::rules::Rule>,
    /// `[[forms]]`: typed custom fields.
    pub forms: Vec<crate::core::forms::Form>,
    /// `[[canned]]` responses, their texts read from `templates.dir/canned/`.
    pub canned: Vec<crate::canned::Canned>,
    /// `[[sla]]` plans.
    pub sla: Vec<crate::core::sla::Plan>,
    /// The key of the `[[sla]]` plan with `default = true`.
    pub default_sla: Option<String>,
    /// `[[oidc]]`: OpenID Connect providers, in the order their buttons show.
    pub oidc: Vec<OidcProvider>,
    /// `[[ldap]]` directories, in the order sign-ins try them.
    pub ldap: Vec<Ldap>,
}

impl Config {
    /// Every address that is ours: the support addresses, then each mailbox's addresses; no
    /// duplicates. Mail from them is never a customer's, and automatic mail never goes to them.
    pub fn own_addresses(&self) -> Vec<EmailAddress> {
        own_addresses(&self.instance, &self.mailboxes)
    }

    /// The template variants topics and rules name (`auto_response = "NAME"`), each with where:
    /// the templates directory must have them (`outbox::render::Templates::load`).
    pub fn wanted_variants(&self) -> Vec<crate::core::notify::WantedVariant> {
        use crate::core::notify::{AutoResponse, Mail, WantedVariant};
        let topics = self.topics.iter().enumerate().map(|(i, t)| (format!("topics[{i}]"), &t.auto_response));
        let rules =
            self.rules.iter().enumerate().map(|(i, r)| (format!("rules[{i}]"), &r.actions.auto_response));
        topics
            .chain(rules)
            .filter_map(|(at, choice)| match choice {
                AutoResponse::Variant(name) => Some(WantedVariant {
                    at: format!("{at}.auto_response"),
                    mail: Mail::NewTicketAutoResponse,
                    name: name.clone(),
                }),
                AutoResponse::Usual | AutoResponse::Skip => None,
            })
            .collect()
    }
}

/// Reads and validates the file at `path`; `None` gives the embedded defaults (no file needed).
/// A file that cannot be read is an error naming the path.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
    match load_checked(path) {
        (Some(config), None) => Ok(config),
        (_, errors) => Err(errors.unwrap_or_else(|| unreadable(&origin_of(path)))),
    }
}

/// Like [`load`], but goes on past problems, for `check-config`: every problem (syntax, unknown
/// keys, types, rules) together with the configuration as far as it could be built, entries in
/// error holding their defaults (`None` when the file is not TOML or cannot be read). Use that
/// configuration only to check what its sound parts point at; never to run on.
pub fn load_checked(path: Option<&Path>) -> (Option<Config>, Option<ConfigErrors>) {
    let origin = origin_of(path);
    let text = match path.map(read_file) {
        None => String::new(),
        // An empty file, or one of comments only, is a file being written (or truncated by
        // mistake), not a wish for the defaults: running on them would put mail in a database
        // nobody looks at, or wipe the directory on a reload.
        Some(Ok(text)) if !has_settings(&text) => {
            let message = "the configuration file has no settings (it is empty or only comments); write \
                           them (see config.toml.example), or name no file to run on the built-in defaults"
                .to_string();
            return (None, Some(ConfigErrors::whole_file(&origin, message)));
        }
        Some(Ok(text)) => text,
        Some(Err(message)) => return (None, Some(ConfigErrors::whole_file(&origin, message))),
    };
    let (config, errors) = check_toml(&text);
    match (config, errors.is_empty()) {
        (Some(config), true) => (Some(config), None),
        (None, true) => (None, Some(unreadable(&origin))),
        (config, false) => (config, Some(ConfigErrors { origin, errors })),
    }
}

/// Validates TOML `text`; `origin` names it in error messages (a path, or [`DEFAULTS_ORIGIN`]).
pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
    match check_toml(text) {
        (Some(config), errors) if errors.is_empty() => Ok(config),
        (None, errors) if errors.is_empty() => Err(unreadable(origin)),
        (_, errors) => Err(ConfigErrors { origin: origin.to_string(), errors }),
    }
}

/// Larger than any configuration; a bound so that `--config /dev/zero` is an error, not the
/// machine's memory.
const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// The file's text: a regular file (not a directory, FIFO or device) of at most
/// [`MAX_CONFIG_BYTES`], in UTF-8.
fn read_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let cannot = |error: std::io::Error| format!("cannot read the configuration file: {error}");
    // Looked at before opening: opening a FIFO would wait for a writer.
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        return Err(
            "the configuration must be a regular file (this is a directory, pipe or device)".to_string()
        );
    }
    if metadata.len() > MAX_CONFIG_BYTES {
        return Err(format!("the configuration file is larger than {} MiB", MAX_CONFIG_BYTES >> 20));
    }
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES).read_to_string(&mut text).map_err(cannot)?;
    Ok(text)
}

/// Whether `text` holds anything but blank lines and `#` comments.
fn has_settings(text: &str) -> bool {
    text.lines().map(str::trim).any(|line| !line.is_empty() && !line.starts_with('#'))
}

fn origin_of(path: Option<&Path>) -> String {
    path.map_or(DEFAULTS_ORIGIN.to_string(), |path| path.display().to_string())
}

/// Not expected (a document that cannot be read always has its problems), but never a panic.
fn unreadable(origin: &str) -> ConfigErrors {
    ConfigErrors::whole_file(origin, "the configuration could not be read".to_string())
}

/// Both stages over `text`: the configuration as far as it could be built, and every problem.
fn check_toml(text: &str) -> (Option<Config>, Vec<ConfigError>) {
    let source = match Source::parse(text) {
        Ok(source) => source,
        Err(syntax_errors) => return (None, syntax_errors),
    };
    let mut problems = Problems::new(&source);
    let config = read::read_raw(&source, &mut problems).map(|raw| validate(&raw, &mut problems));
    (config, problems.into_errors())
}

/// Stage two: every section in file order; cross-references run after what they refer to.
fn validate(raw: &RawConfig, problems: &mut Problems<'_, '_>) -> Config {
    let instance = instance::validate_instance(&raw.instance, problems);
    let database = database::validate_database(&raw.database, problems);
    let limits = limits::validate_limits(&raw.limits, problems);
    let tickets = tickets::validate_tickets(&raw.tickets, problems);
    let notifications = notifications::validate_notifications(&raw.notifications, problems);
    let smtp = smtp::validate_smtp(&raw.smtp, problems);
    let imap = mailbox::validate_imap(&raw.imap, problems);
    let mailboxes = mailbox::validate_mailboxes(&raw.mailbox, problems);
    let templates = templates::validate_templates(&raw.templates, problems);
    let canned =
        canned::validate_canned(&raw.canned, templates.dir.as_deref().filter(|d| d.is_dir()), problems);
    let links = links::validate_links(&raw.links, problems);
    let web = links::validate_web(&raw.web, problems);
    let auth = auth::validate_auth(&raw.auth, problems);
    let registration = registration::validate_registration(&raw.registration, problems);
    let log = log::validate_log(&raw.log, problems);
    let metrics = metrics::validate_metrics(&raw.metrics, web.bind, problems);
    let agents = staff::validate_agents(&raw.agents, &own_addresses(&instance, &mailboxes), problems);
    let teams = staff::validate_teams(&raw.teams, &agents, problems);
    let orgs = orgs::validate_orgs(&raw.orgs, &agents, &teams, problems);
    let forms = forms::validate_forms(&raw.forms, problems);
    forms::check_org_custom(&orgs, &forms, problems);
    let (sla, default_sla) = sla::validate_sla(&raw.sla, problems);
    let own = own_addresses(&instance, &mailboxes);
    let topics = topics::validate_topics(&raw.topics, &agents, &teams, &own, &sla, &forms, problems);
    topics::check_mailbox_topics(&mailboxes, &topics, problems);
    let known = ticket_rules::Known { agents: &agents, teams: &teams, topics: &topics };
    let rules = ticket_rules::validate_rules(&raw.rules, &known, problems);
    let oidc = oidc::validate_oidc(&raw.oidc, problems);
    let ldap = ldap::validate_ldap(&raw.ldap, &forms, problems);
    Config {
        instance,
        database,
        limits,
        tickets,
        notifications,
        smtp,
        imap,
        mailboxes,
        templates,
        links,
        web,
        auth,
        registration,
        log,
        metrics,
        agents,
        teams,
        orgs,
        topics,
        rules,
        forms,
        canned,
        sla,
        default_sla,
        oidc,
        ldap,
    }
}

fn own_addresses(instance: &Instance, mailboxes: &[Mailbox]) -> Vec<EmailAddress> {
    let mut own = instance.support_addresses.clone();
    for address in mailboxes.iter().flat_map(|mailbox| &mailbox.addresses) {
        if !own.contains(address) {
            own.push(address.clone());
        }
    }
    own
}
