//! `[instance]`: who this mailgate is — its name, the support addresses it answers for and the
//! domain of the Message-IDs it mints.

use serde::Deserialize;

use crate::core::address::EmailAddress;

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::{is_plausible_domain, parse_addresses};

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Instance {
    pub name: String,
    pub support_addresses: Vec<EmailAddress>,
    pub message_id_domain: String,
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "an [instance] table")]
pub(super) struct RawInstance {
    /// Name shown in outgoing mail and on web pages. Default: `"mailgate"`.
    pub name: String,
    /// Addresses customers write to; the first is the From of outgoing mail.
    /// Default: `["support@localhost"]`.
    pub support_addresses: Vec<String>,
    /// Domain of the Message-IDs we mint. Default: the domain of the first support address.
    pub message_id_domain: Option<String>,
}

impl Default for RawInstance {
    fn default() -> Self {
        Self {
            name: "mailgate".to_string(),
            support_addresses: vec!["support@localhost".to_string()],
            message_id_domain: None,
        }
    }
}

pub(super) fn validate_instance(raw: &RawInstance, problems: &mut Problems<'_, '_>) -> Instance {
    let path = KeyPath::top("instance");
    if raw.name.trim().is_empty() {
        problems.report(&path.key("name"), "must not be empty");
    }
    let support_path = path.key("support_addresses");
    let support_addresses = parse_addresses(&raw.support_addresses, &support_path, problems);
    if raw.support_addresses.is_empty() {
        problems.report(&support_path, "needs at least one address: mail to it is what mailgate handles");
    }
    let message_id_domain = match &raw.message_id_domain {
        Some(domain) => domain.trim().to_ascii_lowercase(),
        None => support_addresses.first().map_or("localhost", |first| first.domain()).to_string(),
    };
    if !is_plausible_domain(&message_id_domain) {
        let message = if raw.message_id_domain.is_some() {
            format!("{message_id_domain:?} is not a plausible domain name")
        } else {
            format!(
                "defaults to the first support address's domain, {message_id_domain:?}, which is \
                 not a plausible domain name; set message_id_domain"
            )
        };
        problems.report(&path.key("message_id_domain"), message);
    }
    Instance { name: raw.name.trim().to_string(), support_addresses, message_id_domain }
}
