//! Passwords: the policy a new one must meet, argon2id PHC strings, and verification that costs
//! one argon2 run whether or not the account exists. Knows nothing of accounts or storage; argon2
//! takes tens of milliseconds of CPU, so async callers use the `*_blocking` forms.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, PasswordHash, Version};

/// Shorter passwords are refused. NIST SP 800-63B-4 requires 8 characters for a password used with
/// a second factor and 15 for one used alone; agents have TOTP, customers have the password only
/// but reach nothing beyond their own tickets. 10 sits between, with the common-password list and
/// login throttling covering what length does not.
pub const MIN_LENGTH_DEFAULT: usize = 10;
/// Longer passwords are refused, and never hashed: argon2 first hashes the whole input, so a
/// megabyte password would cost a login far more than a normal one (a denial-of-service lever).
/// 1024 bytes leaves room for any passphrase a person types or a manager generates.
pub const MAX_BYTES: usize = 1024;
/// Identity strings shorter than this are not looked for inside passwords ("jo" would ban too
/// much); the password may still not equal them.
const MIN_IDENTITY_CHARS: usize = 4;
const SALT_BYTES: usize = 16;
const OUTPUT_BYTES: usize = 32;

/// Lower-case, one per line; see the file's header for where it comes from.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// Argon2id cost. The default is the OWASP Password Storage Cheat Sheet's first argon2id setting:
/// 19 MiB of memory, 2 iterations, 1 lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

impl Argon2Params {
    /// Argon2 needs memory_kib >= 8 x parallelism, and iterations and parallelism >= 1.
    pub fn validate(self) -> Result<(), PasswordError> {
        self.to_argon2().map(|_| ())
    }

    fn to_argon2(self) -> Result<argon2::Params, PasswordError> {
        argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(OUTPUT_BYTES))
            .map_err(PasswordError::Params)
    }
}

/// What new passwords must meet and how they are hashed. Copied freely (a few words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub params: Argon2Params,
    /// In characters (Unicode scalar values).
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy { params: Argon2Params::default(), min_length: MIN_LENGTH_DEFAULT }
    }
}

/// Why a new password was refused. `Display` is the message for the person choosing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Weak {
    #[error(
        "Use at least {min} characters. A few unrelated words make a long password that is easy to remember."
    )]
    TooShort { min: usize },
    #[error("Use at most {max} bytes (letters with accents and other scripts take two or more each).")]
    TooLong { max: usize },
    #[error("This is one of the most common passwords, the first ones attackers try. Choose another.")]
    Common,
    #[error("The password must not contain your email address or your name.")]
    ContainsIdentity,
}

/// The outcome of checking a password against what is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// The password is right, but the stored hash is not argon2id with the policy's parameters:
    /// store [`PasswordPolicy::hash`] of it now, while the password is at hand.
    MatchNeedsRehash,
    Mismatch,
}

impl Verdict {
    pub fn is_match(self) -> bool {
        matches!(self, Verdict::Match | Verdict::MatchNeedsRehash)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    Params(argon2::Error),
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    #[error("the password is longer than {MAX_BYTES} bytes")]
    TooLong,
    #[error("the password hashing task failed: {0}")]
    Task(String),
}

impl PasswordPolicy {
    /// Whether a new password may be chosen. `identity` holds what names the account (email
    /// address, display name): the password may not equal or contain any of them, nor the local
    /// part of an email address, case-insensitively. Composition rules (a digit, a symbol) are
    /// deliberately absent: NIST SP 800-63B forbids them, they push people to `Password1!`.
    pub fn check(&self, password: &str, identity: &[&str]) -> Result<(), Weak> {
        if password.len() > MAX_BYTES {
            return Err(Weak::TooLong { max: MAX_BYTES });
        }
        if password.chars().count() < self.min_length {
            return Err(Weak::TooShort { min: self.min_length });
        }
        let lower = password.to_lowercase();
        if contains_identity(&lower, identity) {
            return Err(Weak::ContainsIdentity);
        }
        if is_common(&lower) {
            return Err(Weak::Common);
        }
        Ok(())
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) with a fresh 128-bit salt.
    /// Does not apply [`PasswordPolicy::check`]: callers check new passwords first.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.hash_in(password, &mut Workspace::default())
    }

    /// [`PasswordPolicy::hash`] in `workspace`'s memory (reused: see [`Workspace`]).
    pub fn hash_in(&self, password: &str, workspace: &mut Workspace) -> Result<String, PasswordError> {
        if password.len() > MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        let params = self.params.to_argon2()?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let salt = rand::random::<[u8; SALT_BYTES]>();
        let mut out = [0u8; OUTPUT_BYTES];
        argon2
            .hash_password_into_with_memory(
                password.as_bytes(),
                &salt,
                &mut out,
                workspace.blocks(params.block_count()),
            )
            .map_err(PasswordError::Params)?;
        let phc = PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(params).map_err(PasswordError::Hash)?,
            salt: Some(Salt::new(&salt).map_err(|e| PasswordError::Hash(e.into()))?),
            hash: Some(Output::new(&out).map_err(|e| PasswordError::Hash(e.into()))?),
        };
        Ok(phc.to_string())
    }

    /// Checks `password` against the stored PHC string. With no stored hash (unknown account, or
    /// no password set), an unreadable one, or one of another algorithm, argon2 still runs once
    /// with the policy's parameters against a dummy hash, so the answer takes as long as for an
    /// account that exists. A password over [`MAX_BYTES`] is refused without hashing: its length
    /// is the caller's own input and tells them nothing.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> Verdict {
        self.verify_in(password, stored, &mut Workspace::default())
    }

    /// [`PasswordPolicy::verify`] in `workspace`'s memory (reused: see [`Workspace`]).
    pub fn verify_in(&self, password: &str, stored: Option<&str>, workspace: &mut Workspace) -> Verdict {
        if password.len() > MAX_BYTES {
            return Verdict::Mismatch;
        }
        let Some(stored) = stored.and_then(parse_argon2) else {
            self.verify_dummy(password, workspace);
            return Verdict::Mismatch;
        };
        if !run_argon2(password, &stored, workspace) {
            Verdict::Mismatch
        } else if self.is_current(&stored) {
            Verdict::Match
        } else {
            Verdict::MatchNeedsRehash
        }
    }

    /// [`PasswordPolicy::verify`] on tokio's blocking pool. A failed task (a panic) is a mismatch.
    pub async fn verify_blocking(&self, password: String, stored: Option<String>) -> Verdict {
        let policy = *self;
        tokio::task::spawn_blocking(move || policy.verify(&password, stored.as_deref())).await.unwrap_or_else(
            |error| {
                tracing::error!(%error, "password verification task failed");
                Verdict::Mismatch
            },
        )
    }

    /// [`PasswordPolicy::hash`] on tokio's blocking pool.
    pub async fn hash_blocking(&self, password: String) -> Result<String, PasswordError> {
        let policy = *self;
        tokio::task::spawn_blocking(move || policy.hash(&password))
            .await
            .map_err(|error| PasswordError::Task(error.to_string()))?
    }

    fn is_current(&self, stored: &PasswordHash) -> bool {
        stored.algorithm == ARGON2ID_IDENT
            && stored.version == Some(Version::V0x13.into())
            && params_of(stored) == Some(self.params)
    }

    /// Same work as verifying a real hash made with the policy: parse nothing, run argon2 once.
    fn verify_dummy(&self, password: &str, workspace: &mut Workspace) {
        match dummy_hash(self.params) {
            Ok(dummy) => {
                run_argon2(password, &dummy, workspace);
            }
            Err(error) => tracing::error!(%error, "cannot build the dummy password hash"),
        }
    }
}

/// A hash no password matches in practice (its output is all zeros), with the given parameters:
/// verifying against it costs exactly what verifying a real hash made with them costs. Built, not
/// computed, so the first unknown-account login is not slower than the next.
fn dummy_hash(params: Argon2Params) -> Result<PasswordHash, PasswordError> {
    Ok(PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params.to_argon2()?).map_err(PasswordError::Hash)?,
        salt: Some(Salt::new(&[0x5a; SALT_BYTES]).map_err(|e| PasswordError::Hash(e.into()))?),
        hash: Some(Output::new(&[0; OUTPUT_BYTES]).map_err(|e| PasswordError::Hash(e.into()))?),
    })
}

/// A stored PHC string of the argon2 family, or None (logged: a corrupt row, or a foreign hash).
fn parse_argon2(stored: &str) -> Option<PasswordHash> {
    match PasswordHash::new(stored) {
        Ok(hash) if Algorithm::try_from(hash.algorithm.as_str()).is_ok() => Some(hash),
        Ok(hash) => {
            tracing::warn!(algorithm = hash.algorithm.as_str(), "stored password hash is not argon2");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "stored password hash is not a PHC string");
            None
        }
    }
}

/// Runs argon2 with the hash's own algorithm and parameters; the output comparison is constant-time.
fn run_argon2(password: &str, hash: &PasswordHash, workspace: &mut Workspace) -> bool {
    #[cfg(test)]
    tests::record_argon2_run(hash);
    match argon2_output(password, hash, workspace) {
        Ok(Some((computed, expected))) => {
            crate::auth::secret::constant_time_eq(&computed, expected.as_bytes())
        }
        Ok(None) => false,
        Err(error) => {
            tracing::warn!(%error, "stored password hash cannot be verified");
            false
        }
    }
}

/// The output argon2 computes for `password` with `hash`'s salt and parameters, and the stored one.
fn argon2_output(
    password: &str,
    hash: &PasswordHash,
    workspace: &mut Workspace,
) -> Result<Option<(Vec<u8>, Output)>, argon2::password_hash::Error> {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else { return Ok(None) };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str())?;
    let version = hash.version.map(Version::try_from).transpose()?.unwrap_or_default();
    let params = argon2::Params::try_from(hash)?;
    let blocks = params.block_count();
    let mut computed = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt.as_ref(),
        &mut computed,
        workspace.blocks(blocks),
    )?;
    Ok(Some((computed, *expected)))
}

/// argon2's working memory (`m` KiB per run), kept between runs. A fresh 19 MiB allocation per
/// run lands in whichever allocator arena the blocking thread uses and stays there after the run:
/// under a sign-in storm that is one copy per thread that ever hashed. A few workspaces reused by
/// the hashing bound (`accounts::hashing`) keep the memory at their number times `m`.
#[derive(Default)]
pub struct Workspace {
    blocks: Vec<argon2::Block>,
}

impl Workspace {
    /// `count` blocks, growing the buffer when a hash needs more than any before.
    fn blocks(&mut self, count: usize) -> &mut [argon2::Block] {
        if self.blocks.len() < count {
            self.blocks = vec![argon2::Block::new(); count];
        }
        &mut self.blocks[..count]
    }
}

fn params_of(hash: &PasswordHash) -> Option<Argon2Params> {
    let params = argon2::Params::try_from(hash).ok()?;
    Some(Argon2Params {
        memory_kib: params.m_cost(),
        iterations: params.t_cost(),
        parallelism: params.p_cost(),
    })
}

/// `password` is lower-cased.
fn contains_identity(password: &str, identity: &[&str]) -> bool {
    identity.iter().map(|id| id.trim().to_lowercase()).filter(|id| !id.is_empty()).any(|id| {
        let local_part = id.rsplit_once('@').map(|(local, _)| local.to_string());
        password == id
            || [Some(id), local_part]
                .into_iter()
                .flatten()
                .any(|part| part.chars().count() >= MIN_IDENTITY_CHARS && password.contains(&part))
    })
}

/// `password` is lower-cased. One character repeated ("aaaaaaaaaaaa") counts as common too.
fn is_common(password: &str) -> bool {
    let mut chars = password.chars();
    let first = chars.next();
    COMMON_PASSWORDS.contains(password) || chars.all(|c| Some(c) == first)
}

#[cfg(test)]
#[path = "password_tests.rs"]
mod tests;
