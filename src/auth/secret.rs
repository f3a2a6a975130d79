//! Random bearer tokens, their stored digests, constant-time comparison, and [`SecretBox`], which
//! seals small secrets (TOTP secrets) at rest. Knows nothing of what a token grants: purposes,
//! expiry and single use live with the rows that store the digests.

use std::fmt;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use data_encoding::BASE32_NOPAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::token::MIN_SECRET_BYTES;

/// Random bytes in a [`random_token`]: 256 bits, beyond guessing at any rate.
pub const TOKEN_BYTES: usize = 32;
/// First byte of every sealed value; a new layout gets a new number.
const SEAL_VERSION: u8 = 1;
/// XChaCha20's 192-bit nonce: random nonces never collide in practice, whatever the volume.
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Domain separation for the key: the same file could also serve as a links key (HMAC), and the
/// sealing key must not equal it.
const KEY_CONTEXT: &[u8] = b"mailgate-secretbox-v1\0";
/// Domain separation for the derivation key (never the sealing key).
const DERIVE_CONTEXT: &[u8] = b"mailgate-derive-v1\0";

/// A fresh bearer token (session id, sign-up, invitation or reset link): 32 random bytes as 52
/// lower-case base32 characters. Base32 because it survives case-folding and has no `-`, `_` or
/// `=` for mail clients to break lines on or drop from an autolinked URL.
pub fn random_token() -> String {
    BASE32_NOPAD.encode(&rand::random::<[u8; TOKEN_BYTES]>()).to_ascii_lowercase()
}

/// What is stored for a token: hex SHA-256 of the token exactly as issued. The token has 256 bits
/// of entropy, so a fast hash is enough; a database dump yields no usable token, and lookups by
/// digest need no comparison in application code.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equality whose time depends on the lengths only, never on where the inputs first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Seals small secrets at rest with XChaCha20-Poly1305 under a key derived from a key file.
///
/// Sealed layout: `1` (version) || 24-byte random nonce || ciphertext || 16-byte tag. The
/// associated data is the version byte followed by the caller's context (e.g. `b"totp:agent:7"`),
/// so a sealed value copied into another row, or another purpose, does not open.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    /// A second key from the same material, for [`SecretBox::derive`].
    derive_key: [u8; 32],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "the key file holds {len} bytes; it needs at least {MIN_SECRET_BYTES} (e.g. `openssl rand -hex 32`)"
    )]
    ShortKey { len: usize },
    #[error("not a sealed value of a known version")]
    Malformed,
    #[error("the sealed value does not open: another key, another context, or altered")]
    Rejected,
}

impl SecretBox {
    /// The key is SHA-256 over a domain tag and the key file's bytes, so any file of at least 32
    /// bytes works (`openssl rand -hex 32 > totp.key`). Leading and trailing ASCII whitespace is
    /// ignored, as for links keys: an editor adding or dropping the final newline must not change
    /// the key and lose every sealed secret.
    pub fn from_key_material(bytes: &[u8]) -> Result<SecretBox, SealError> {
        let material = bytes.trim_ascii();
        if material.len() < MIN_SECRET_BYTES {
            return Err(SealError::ShortKey { len: material.len() });
        }
        let key = Sha256::new().chain_update(KEY_CONTEXT).chain_update(material).finalize();
        let derive_key = Sha256::new().chain_update(DERIVE_CONTEXT).chain_update(material).finalize();
        Ok(SecretBox { cipher: XChaCha20Poly1305::new(&key), derive_key: derive_key.into() })
    }

    /// A secret that only this key can compute from `context` (HMAC-SHA256 under a key derived
    /// apart from the sealing key): the same context always gives the same secret, so a page can
    /// show a pending secret without storing it (a GET must not write).
    pub fn derive(&self, context: &[u8]) -> [u8; 32] {
        use hmac::{KeyInit as _, Mac};
        let mut mac =
            hmac::Hmac::<Sha256>::new_from_slice(&self.derive_key).expect("HMAC takes a key of any length");
        mac.update(context);
        mac.finalize().into_bytes().into()
    }

    /// Seals `plaintext` bound to `context`; two seals of the same input differ (random nonce).
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let nonce = XNonce::from(rand::random::<[u8; NONCE_LEN]>());
        let aad = associated_data(context);
        // Encryption fails only for inputs beyond 2^38 bytes; secrets sealed here are tens of bytes.
        let ciphertext = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: &aad })
            .expect("XChaCha20-Poly1305 encrypts any input under 256 GiB");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(SEAL_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Opens a value made by [`SecretBox::seal`] with the same key and context.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some((&SEAL_VERSION, rest)) = sealed.split_first() else {
            return Err(SealError::Malformed);
        };
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealError::Malformed)?;
        let aad = associated_data(context);
        self.cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: &aad }).map_err(|_| SealError::Rejected)
    }
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox { key: <redacted> }")
    }
}

fn associated_data(context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + context.len());
    aad.push(SEAL_VERSION);
    aad.extend_from_slice(context);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";

    fn secret_box() -> SecretBox {
        SecretBox::from_key_material(KEY).unwrap()
    }

    #[test]
    fn tokens_are_lower_case_base32_of_32_bytes_and_fresh() {
        let token = random_token();
        assert_eq!(token.len(), 52);
        assert!(token.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)), "{token}");
        assert_eq!(BASE32_NOPAD.decode(token.to_ascii_uppercase().as_bytes()).unwrap().len(), TOKEN_BYTES);
        assert_ne!(random_token(), token);
    }

    #[test]
    fn token_hash_is_hex_sha256_of_the_token() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_ne!(token_hash("abc"), token_hash("ABC"));
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"123456", b"123456"));
        assert!(!constant_time_eq(b"123456", b"123457"));
        assert!(!constant_time_eq(b"123456", b"12345"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn seal_then_open_round_trips() {
        let sealed = secret_box().seal(b"totp secret bytes", b"totp:agent:7");
        assert_eq!(sealed[0], SEAL_VERSION);
        assert_eq!(sealed.len(), 1 + NONCE_LEN + 17 + TAG_LEN);
        assert_eq!(secret_box().open(&sealed, b"totp:agent:7").unwrap(), b"totp secret bytes");
    }

    #[test]
    fn another_context_does_not_open() {
        let sealed = secret_box().seal(b"secret", b"totp:agent:7");
        assert_eq!(secret_box().open(&sealed, b"totp:agent:8"), Err(SealError::Rejected));
    }

    #[test]
    fn any_altered_byte_is_refused() {
        let sealed = secret_box().seal(b"secret", b"ctx");
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            let opened = secret_box().open(&tampered, b"ctx");
            let expected = if i == 0 { SealError::Malformed } else { SealError::Rejected };
            assert_eq!(opened, Err(expected), "byte {i}");
        }
        assert_eq!(secret_box().open(&sealed[..sealed.len() - 1], b"ctx"), Err(SealError::Rejected));
        assert_eq!(secret_box().open(&sealed[..1 + NONCE_LEN], b"ctx"), Err(SealError::Malformed));
        assert_eq!(secret_box().open(&[], b"ctx"), Err(SealError::Malformed));
    }

    #[test]
    fn another_key_does_not_open() {
        let sealed = secret_box().seal(b"secret", b"ctx");
        let other = SecretBox::from_key_material(&[b'x'; 32]).unwrap();
        assert_eq!(other.open(&sealed, b"ctx"), Err(SealError::Rejected));
    }

    #[test]
    fn surrounding_whitespace_in_the_key_file_does_not_change_the_key() {
        let sealed = secret_box().seal(b"secret", b"ctx");
        let trimmed = SecretBox::from_key_material(KEY.trim_ascii()).unwrap();
        assert_eq!(trimmed.open(&sealed, b"ctx").unwrap(), b"secret");
    }

    #[test]
    fn short_key_material_is_refused() {
        assert_eq!(
            SecretBox::from_key_material(b"  0123456789abcdef0123456789abcde\n").err(),
            Some(SealError::ShortKey { len: 31 })
        );
        assert!(SecretBox::from_key_material(&[7; 32]).is_ok());
    }

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        let a = secret_box().seal(b"secret", b"ctx");
        let b = secret_box().seal(b"secret", b"ctx");
        assert_ne!(a, b);
        assert_ne!(a[1..1 + NONCE_LEN], b[1..1 + NONCE_LEN]);
    }

    #[test]
    fn derived_secrets_depend_on_key_and_context_only() {
        let a = secret_box().derive(b"totp-enroll:1:abc");
        assert_eq!(a, secret_box().derive(b"totp-enroll:1:abc"), "stable");
        assert_ne!(a, secret_box().derive(b"totp-enroll:1:abd"), "another context");
        let other = SecretBox::from_key_material(&[7u8; 40]).unwrap();
        assert_ne!(a, other.derive(b"totp-enroll:1:abc"), "another key");
    }

    #[test]
    fn debug_does_not_show_the_key() {
        assert_eq!(format!("{:?}", secret_box()), "SecretBox { key: <redacted> }");
    }
}
