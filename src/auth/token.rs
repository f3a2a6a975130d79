//! Signed tokens: what a link or a reply address proves about its holder. HMAC-SHA256 over a
//! compact binary payload; the layout and the reasons behind it are in `docs/tokens.md`.
//!
//! A token is self-contained except for revocation: its `epoch` must equal the participant's
//! current `link_epoch`, which only the database knows, so [`Keyring::verify`] returns the
//! claims and the caller compares the epoch ([`Claims::is_current`]).

use std::fmt;

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::core::ids::{AgentId, TicketId, UserId};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Payload layout version (high nibble of the first byte).
const VERSION: u8 = 1;
/// MAC bytes kept: 128 bits, in links and in reply addresses alike.
const MAC_LEN: usize = 16;
/// Domain separation: these keys sign nothing else, but a MAC over a tagged input cannot be
/// mistaken for one made for another protocol that might someday share them.
/// Form tags are MACs in their own domain: never mistaken for a token's.
const FORM_CONTEXT: &[u8] = b"mailgate-form";
const MAC_CONTEXT: &[u8] = b"mailgate-token";
/// Domain separation for keys derived from the signing key ([`Keyring::derive`]).
const DERIVE_CONTEXT: &[u8] = b"mailgate-derive-key\0";
/// A payload is at most this long (version/purpose, key tag, four varints of at most 10 bytes).
const MAX_PAYLOAD: usize = 2 + 4 * 10;
/// Secrets shorter than this are refused (256 bits, the HMAC-SHA256 block-size sweet spot).
pub const MIN_SECRET_BYTES: usize = 32;
const HOUR_MS: i64 = 60 * 60 * 1000;

/// What a token lets its holder do. Checked on every verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A reply address: mail sent to it threads into the ticket as the participant.
    Reply = 1,
    /// An agent's internal-note address.
    Note = 2,
    /// A one-click link to the ticket page.
    View = 3,
    /// A short-lived link mailed after a ticket number + email request.
    Access = 4,
    /// A link to one attachment.
    Attachment = 5,
}

impl Purpose {
    fn from_code(code: u8) -> Option<Purpose> {
        Some(match code {
            1 => Purpose::Reply,
            2 => Purpose::Note,
            3 => Purpose::View,
            4 => Purpose::Access,
            5 => Purpose::Attachment,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Reply => "reply",
            Purpose::Note => "note",
            Purpose::View => "view",
            Purpose::Access => "access",
            Purpose::Attachment => "attachment",
        }
    }
}

/// Who the token was issued to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Participant {
    User(UserId),
    Agent(AgentId),
}

impl Participant {
    /// Users even, agents odd: one varint for both.
    fn code(self) -> u64 {
        match self {
            Participant::User(id) => (id.0 as u64) << 1,
            Participant::Agent(id) => ((id.0 as u64) << 1) | 1,
        }
    }

    fn from_code(code: u64) -> Option<Participant> {
        let id = i64::try_from(code >> 1).ok()?;
        Some(if code & 1 == 0 { Participant::User(UserId(id)) } else { Participant::Agent(AgentId(id)) })
    }
}

impl fmt::Display for Participant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Participant::User(id) => write!(f, "user {id}"),
            Participant::Agent(id) => write!(f, "agent {id}"),
        }
    }
}

/// What a token says. Expiry has hour granularity (rounded up when minting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claims {
    pub purpose: Purpose,
    pub ticket: TicketId,
    pub participant: Participant,
    /// Unix milliseconds; a token is valid strictly before it.
    pub expires_at_ms: i64,
    /// The participant's `link_epoch` when the token was minted.
    pub epoch: u64,
}

impl Claims {
    /// False once the participant's epoch has been bumped past the token's (revoked).
    pub fn is_current(&self, link_epoch: u64) -> bool {
        self.epoch == link_epoch
    }
}

/// A signing key: an id admins name in config, and the secret (never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub id: String,
    secret: Vec<u8>,
}

impl Key {
    pub fn new(id: impl Into<String>, secret: Vec<u8>) -> Result<Key, KeyError> {
        let id = id.into();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::Short { id, len: secret.len() });
        }
        Ok(Key { id, secret })
    }

    /// One byte naming the key inside tokens. Two ids may share it: verification then tries both.
    fn tag(&self) -> u8 {
        Sha256::digest(self.id.as_bytes())[0]
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        self.mac_in(MAC_CONTEXT, payload)
    }

    fn mac_in(&self, context: &[u8], payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(context);
        mac.update(payload);
        mac
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key {{ id: {:?}, secret: <{} bytes> }}", self.id, self.secret.len())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "key {id:?} is {len} bytes; a key needs at least {MIN_SECRET_BYTES} (e.g. `openssl rand -hex 32`)"
    )]
    Short { id: String, len: usize },
    #[error("no signing key")]
    Empty,
}

/// Why a token was refused. Callers show users one generic message; the variant goes to logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a token")]
    Malformed,
    #[error("signed with a key we no longer have")]
    UnknownKey,
    #[error("signature does not match")]
    BadSignature,
    #[error("token is for {0}, not this")]
    WrongPurpose(&'static str),
    #[error("token expired")]
    Expired,
}

/// The keys in force: the first signs, all verify (so a rotated-out key keeps old mail working).
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    pub fn new(keys: Vec<Key>) -> Result<Keyring, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Keyring { keys })
    }

    /// The id of the key that signs.
    pub fn signing_key(&self) -> &str {
        &self.keys[0].id
    }

    /// URL-safe form, for links (`/t/<token>`).
    pub fn link(&self, claims: &Claims) -> String {
        BASE64URL_NOPAD.encode(&self.sign(claims))
    }

    /// Lower-case base32, for reply addresses (`support+<token>@example.com`): survives MTAs that
    /// change the case of local parts. 28 bytes give 45 characters for a typical ticket.
    pub fn address_token(&self, claims: &Claims) -> String {
        BASE32_NOPAD.encode(&self.sign(claims)).to_ascii_lowercase()
    }

    pub fn verify_link(&self, text: &str, purpose: Purpose, now_ms: i64) -> Result<Claims, TokenError> {
        let bytes = BASE64URL_NOPAD.decode(text.as_bytes()).map_err(|_| TokenError::Malformed)?;
        self.verify(&bytes, purpose, now_ms)
    }

    /// Accepts any letter case.
    pub fn verify_address_token(
        &self,
        text: &str,
        purpose: Purpose,
        now_ms: i64,
    ) -> Result<Claims, TokenError> {
        if text.len() > 2 * (MAX_PAYLOAD + MAC_LEN) {
            return Err(TokenError::Malformed);
        }
        let upper = text.to_ascii_uppercase();
        let bytes = BASE32_NOPAD.decode(upper.as_bytes()).map_err(|_| TokenError::Malformed)?;
        self.verify(&bytes, purpose, now_ms)
    }

    /// A tag that binds a page's form to `bound` (the page's link token): a POST carrying it came
    /// from a page we served for that link (CSRF protection).
    pub fn form_tag(&self, bound: &str) -> String {
        let mac = self.keys[0].mac_in(FORM_CONTEXT, bound.as_bytes()).finalize().into_bytes();
        BASE64URL_NOPAD.encode(&mac[..MAC_LEN])
    }

    /// Whether `tag` is [`Keyring::form_tag`] of `bound` under any of our keys (constant time).
    pub fn check_form_tag(&self, bound: &str, tag: &str) -> bool {
        let Ok(tag) = BASE64URL_NOPAD.decode(tag.as_bytes()) else { return false };
        tag.len() == MAC_LEN
            && self
                .keys
                .iter()
                .any(|key| key.mac_in(FORM_CONTEXT, bound.as_bytes()).verify_truncated_left(&tag).is_ok())
    }

    /// A 32-byte secret for `purpose` derived from the signing key (HMAC-SHA256 in its own domain,
    /// never equal to a tag or a token MAC): a key shared by every daemon on the database, for
    /// short-lived sealed values such as the OpenID Connect sign-in cookie.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        self.keys[0].mac_in(DERIVE_CONTEXT, purpose.as_bytes()).finalize().into_bytes().into()
    }

    fn sign(&self, claims: &Claims) -> Vec<u8> {
        let key = &self.keys[0];
        let mut token = encode_payload(key.tag(), claims);
        let mac = key.mac(&token).finalize().into_bytes();
        token.extend_from_slice(&mac[..MAC_LEN]);
        token
    }

    /// The MAC is checked (in constant time) before anything in the payload is believed.
    /// The claims of a link we signed even when it has expired: only to offer its participant a
    /// fresh link by mail (which goes to their own address, never to the asker).
    pub fn verify_link_signature(&self, text: &str, purpose: Purpose) -> Result<Claims, TokenError> {
        let bytes = BASE64URL_NOPAD.decode(text.as_bytes()).map_err(|_| TokenError::Malformed)?;
        self.verify(&bytes, purpose, i64::MIN)
    }

    fn verify(&self, bytes: &[u8], purpose: Purpose, now_ms: i64) -> Result<Claims, TokenError> {
        if bytes.len() < 2 + MAC_LEN || bytes.len() > MAX_PAYLOAD + MAC_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        let mut candidates = self.keys.iter().filter(|k| k.tag() == payload[1]).peekable();
        candidates.peek().ok_or(TokenError::UnknownKey)?;
        if !candidates.any(|key| key.mac(payload).verify_truncated_left(tag).is_ok()) {
            return Err(TokenError::BadSignature);
        }
        let claims = decode_payload(payload).ok_or(TokenError::Malformed)?;
        if claims.purpose != purpose {
            return Err(TokenError::WrongPurpose(claims.purpose.as_str()));
        }
        if now_ms >= claims.expires_at_ms {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// `[version:4 | purpose:4] [key tag] varint(ticket) varint(participant) varint(expiry hours)
/// varint(epoch)`.
fn encode_payload(key_tag: u8, claims: &Claims) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_PAYLOAD + MAC_LEN);
    out.push((VERSION << 4) | claims.purpose as u8);
    out.push(key_tag);
    put_varint(&mut out, claims.ticket.0 as u64);
    put_varint(&mut out, claims.participant.code());
    let hours = (claims.expires_at_ms.max(0) as u64).div_ceil(HOUR_MS as u64);
    put_varint(&mut out, hours);
    put_varint(&mut out, claims.epoch);
    out
}

fn decode_payload(payload: &[u8]) -> Option<Claims> {
    let (head, mut rest) = (payload[0], &payload[2..]);
    if head >> 4 != VERSION {
        return None;
    }
    let purpose = Purpose::from_code(head & 0x0f)?;
    let ticket = TicketId(i64::try_from(take_varint(&mut rest)?).ok()?);
    let participant = Participant::from_code(take_varint(&mut rest)?)?;
    let hours = i64::try_from(take_varint(&mut rest)?).ok()?;
    let epoch = take_varint(&mut rest)?;
    if !rest.is_empty() {
        return None;
    }
    Some(Claims { purpose, ticket, participant, expires_at_ms: hours.checked_mul(HOUR_MS)?, epoch })
}

/// LEB128.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// LEB128, refusing overlong and overflowing encodings (one value, one encoding).
fn take_varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in input.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return None;
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return None;
            }
            *input = &input[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
