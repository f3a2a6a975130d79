//! Stage one: the spanned TOML document -> [`RawConfig`]. Reports every unknown key (collected with
//! `serde_ignored`, because `deny_unknown_fields` stops at the first) and every type error, each
//! with its key path and line. Judges no values; that is stage two, in each section's module.

use serde::Deserialize;
use toml::Spanned;
use toml::de::ValueDeserializer;

use super::auth::RawAuth;
use super::error::{ConfigError, Problems};
use super::forms::RawForm;
use super::instance::RawInstance;
use super::links::{RawLinks, RawWeb};
use super::locate::{KeyPath, Source, Step, remove_value_at};
use super::log::RawLog;
use super::mailbox::{RawImap, RawMailbox};
use super::metrics::RawMetrics;
use super::orgs::RawOrg;
use super::registration::RawRegistration;
use super::sla::RawSla;
use super::staff::{RawAgent, RawTeam};
use super::ticket_rules::RawRule;
use super::topics::RawTopic;
use super::{
    database::RawDatabase, limits::RawLimits, notifications::RawNotifications, smtp::RawSmtp,
    templates::RawTemplates, tickets::RawTickets,
};

/// The file as written. Every section may be left out; its defaults are on its own struct.
#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a TOML document")]
pub(super) struct RawConfig {
    /// `[instance]`: who we are.
    pub instance: RawInstance,
    /// `[database]`: where tickets are stored.
    pub database: RawDatabase,
    /// `[limits]`: hard limits on inbound mail.
    pub limits: RawLimits,
    /// `[tickets]`: ticket numbers and reopening.
    pub tickets: RawTickets,
    /// `[notifications]`: automatic mail and its governor.
    pub notifications: RawNotifications,
    /// `[smtp]`: where outgoing mail goes.
    pub smtp: RawSmtp,
    /// `[imap]`: limits shared by every IMAP mailbox.
    pub imap: RawImap,
    /// `[[mailbox]]`: IMAP mailboxes mail is fetched from. Default: none.
    pub mailbox: Vec<RawMailbox>,
    /// `[templates]`: overrides of the mail templates.
    pub templates: RawTemplates,
    /// `[links]`: signing keys and lifetimes of reply addresses and links.
    pub links: RawLinks,
    /// `[web]`: where links in mail point.
    pub web: RawWeb,
    /// `[auth]`: sender authentication, passwords, sessions, 2FA, pass-through login.
    pub auth: RawAuth,
    /// `[registration]`: end-user accounts and whether tickets need one.
    pub registration: RawRegistration,
    /// `[log]`: log level and format.
    pub log: RawLog,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: RawMetrics,
    /// `[[agents]]`. Default: none.
    pub agents: Vec<RawAgent>,
    /// `[[teams]]`. Default: none.
    pub teams: Vec<RawTeam>,
    /// `[[orgs]]`. Default: none.
    pub orgs: Vec<RawOrg>,
    /// `[[topics]]`: help topics and the addresses routed to them. Default: none.
    pub topics: Vec<RawTopic>,
    /// `[[rules]]`: ticket filters tried in order on new tickets. Default: none.
    pub rules: Vec<RawRule>,
    /// `[[sla]]`: due-date plans. Default: none.
    pub sla: Vec<RawSla>,
    /// `[[forms]]`: typed custom fields of tickets, users and orgs. Default: none.
    pub forms: Vec<RawForm>,
    /// `[[canned]]`: saved replies. Default: none.
    pub canned: Vec<super::canned::RawCanned>,
    /// `[[oidc]]`: OpenID Connect sign-in providers. Default: none.
    pub oidc: Vec<super::oidc::RawOidc>,
    /// `[[ldap]]`: directories to sign in through, tried in order. Default: none.
    pub ldap: Vec<super::ldap::RawLdap>,
}

/// Each type error costs one more pass over the document; past this many, stop looking.
const MAX_TYPE_ERRORS: usize = 50;

/// Deserializes the document, retrying after each type error with the offending entry removed
/// (it takes its default) so that one run reports every type error, then every unknown key. The
/// raw configuration comes back even when problems were reported, so stage two can go on to
/// report the rest; `None` only when the document could not be read at all.
pub(super) fn read_raw(source: &Source<'_>, problems: &mut Problems<'_, '_>) -> Option<RawConfig> {
    let mut document = source.root().clone();
    let mut unknown_keys = Vec::new();
    let mut raw = None;
    for _ in 0..MAX_TYPE_ERRORS {
        unknown_keys.clear();
        // The root span is empty: an error left with it has no better place to point to.
        let deserializer = ValueDeserializer::from(Spanned::new(0..0, document.clone()));
        let result = serde_ignored::deserialize(deserializer, |path| {
            unknown_keys.push(KeyPath::from_steps(steps_of(&path)));
        });
        match result {
            Ok(config) => {
                raw = Some(config);
                break;
            }
            Err(error) => {
                let span = error.span().filter(|span| !span.is_empty());
                let offset = span.map(|span| span.start);
                problems.push(ConfigError {
                    key: offset.map(|at| source.path_at(at).to_string()).unwrap_or_default(),
                    line: offset.map(|at| source.line_at(at)),
                    message: error.message().trim_end().to_string(),
                });
                match offset.and_then(|at| remove_value_at(&mut document, source, at)) {
                    Some(removed) => problems.defaulted(removed),
                    None => break,
                }
            }
        }
    }
    for path in &unknown_keys {
        problems.report(path, "unknown key");
    }
    // A pass that fails always records its error, so `raw` is only missing alongside an error.
    raw
}

/// `serde_ignored`'s path as our steps; `Option` and newtype wrappers leave no trace in TOML.
fn steps_of(path: &serde_ignored::Path<'_>) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut current = path;
    loop {
        current = match current {
            serde_ignored::Path::Root => break,
            serde_ignored::Path::Seq { parent, index } => {
                steps.push(Step::Index(*index));
                parent
            }
            serde_ignored::Path::Map { parent, key } => {
                steps.push(Step::Key(key.clone()));
                parent
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => parent,
        };
    }
    steps.reverse();
    steps
}
