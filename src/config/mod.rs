//! Mailgate's configuration: one TOML file, read in two stages. Stage one (`read`) turns the text
//! into raw serde structs and reports syntax errors, unknown keys and type errors; stage two (one
//! `validate_*` per section) builds the typed [`Config`]. Every problem is reported at once, with
//! its key path and line. This module does not choose the file (the CLI does) and keeps no global.
//!
//! Adding a section (`[smtp]`, ...) is local: a new file with its raw struct, typed struct and
//! `validate_*`, then one field in `RawConfig`, one in `Config` and one call in `validate`.

mod auth;
mod database;
mod error;
mod instance;
mod limits;
mod links;
mod locate;
mod log;
mod mailbox;
mod notifications;
mod orgs;
mod read;
mod registration;
mod rules;
mod smtp;
mod staff;
mod templates;
mod tickets;

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
pub use limits::Limits;
pub use links::{Links, Web};
pub use log::{Log, LogFormat};
pub use mailbox::{AfterIngest, Imap, ImapTls, Mailbox, Secret};
pub use notifications::Notifications;
pub use orgs::{Manager, ManagerMode, Org};
pub use registration::{Method as RegistrationMethod, Registration};
pub use smtp::{Smtp, SmtpTls};
pub use staff::{Agent, Team};
pub use templates::Templates;
pub use tickets::Tickets;

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
    pub agents: Vec<Agent>,
    pub teams: Vec<Team>,
    pub orgs: Vec<Org>,
}

impl Config {
    /// Every address that is ours: the support addresses, then each mailbox's addresses; no
    /// duplicates. Mail from them is never a customer's, and automatic mail never goes to them.
    pub fn own_addresses(&self) -> Vec<EmailAddress> {
        own_addresses(&self.instance, &self.mailboxes)
    }
}

/// Reads and validates the file at `path`; `None` gives the embedded defaults (no file needed).
/// A file that cannot be read is an error naming the path.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
    let Some(path) = path else {
        return from_toml("", DEFAULTS_ORIGIN);
    };
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => from_toml(&text, &origin),
        Err(error) => {
            Err(ConfigErrors::whole_file(&origin, format!("cannot read the configuration file: {error}")))
        }
    }
}

/// Validates TOML `text`; `origin` names it in error messages (a path, or [`DEFAULTS_ORIGIN`]).
pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
    let checked = Source::parse(text).and_then(|source| {
        let raw = read::read_raw(&source)?;
        validate(&raw, &source)
    });
    checked.map_err(|errors| ConfigErrors { origin: origin.to_string(), errors })
}

/// Stage two: every section in file order; cross-references run after what they refer to.
fn validate(raw: &RawConfig, source: &Source<'_>) -> Result<Config, Vec<ConfigError>> {
    let mut problems = Problems::new(source);
    let instance = instance::validate_instance(&raw.instance, &mut problems);
    let database = database::validate_database(&raw.database, &mut problems);
    let limits = limits::validate_limits(&raw.limits, &mut problems);
    let tickets = tickets::validate_tickets(&raw.tickets, &mut problems);
    let notifications = notifications::validate_notifications(&raw.notifications, &mut problems);
    let smtp = smtp::validate_smtp(&raw.smtp, &mut problems);
    let imap = mailbox::validate_imap(&raw.imap, &mut problems);
    let mailboxes = mailbox::validate_mailboxes(&raw.mailbox, &mut problems);
    let templates = templates::validate_templates(&raw.templates, &mut problems);
    let links = links::validate_links(&raw.links, &mut problems);
    let web = links::validate_web(&raw.web, &mut problems);
    let auth = auth::validate_auth(&raw.auth, &mut problems);
    let registration = registration::validate_registration(&raw.registration, &mut problems);
    let log = log::validate_log(&raw.log, &mut problems);
    let agents = staff::validate_agents(&raw.agents, &own_addresses(&instance, &mailboxes), &mut problems);
    let teams = staff::validate_teams(&raw.teams, &agents, &mut problems);
    let orgs = orgs::validate_orgs(&raw.orgs, &agents, &teams, &mut problems);
    problems.finish(Config {
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
        agents,
        teams,
        orgs,
    })
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
