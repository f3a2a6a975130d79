//! `[auth]`: whose `Authentication-Results` headers mailgate believes. When set, an agent's mail
//! acts as the agent (response, note, commands) only if that server saw DMARC or aligned DKIM pass.

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SenderAuth {
    pub trusted_authserv_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "an [auth] table")]
pub(super) struct RawSenderAuth {
    /// The authserv-id your receiving MTA writes in `Authentication-Results` (often its host name,
    /// e.g. `"mx.example.com"`); it must strip headers with that id from incoming mail, as RFC 8601
    /// asks. Default: none (agents are trusted by their From address and reply token alone).
    pub trusted_authserv_id: Option<String>,
}

pub(super) fn validate_sender_auth(raw: &RawSenderAuth, problems: &mut Problems<'_, '_>) -> SenderAuth {
    let id = raw.trusted_authserv_id.as_deref().map(str::trim);
    if let Some(id) = id
        && (id.is_empty() || id.contains(|c: char| c.is_whitespace() || c == ';'))
    {
        problems.report(
            &KeyPath::top("auth").key("trusted_authserv_id"),
            format!("{id:?} is not an authserv-id (one word, like the MTA's host name)"),
        );
    }
    SenderAuth { trusted_authserv_id: id.map(str::to_string) }
}
