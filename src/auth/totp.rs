//! Agents' second factor: TOTP as authenticator apps compute it (RFC 6238: HMAC-SHA-1, 6 digits,
//! 30-second steps) and one-time recovery codes. Pure functions of a secret and a time; storing
//! the secret (sealed), the last accepted step and the code hashes is the caller's.

use data_encoding::BASE32_NOPAD;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Totp};

use super::secret::constant_time_eq;

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: u64 = 30;
/// 160 bits, the length RFC 4226 recommends (and what authenticator apps expect).
pub const SECRET_BYTES: usize = 20;
/// RFC 4226 section 4 requires at least 128 bits; a shorter secret was never issued here.
const MIN_SECRET_BYTES: usize = 16;
/// Steps accepted either side of now: phones' clocks drift, and typing takes time (RFC 6238 5.2).
const SKEW_STEPS: i64 = 1;
const STEP_MS: i64 = STEP_SECONDS as i64 * 1000;

pub const RECOVERY_CODES: usize = 10;
/// Recovery code alphabet: lower-case base32 letters and digits without `0 1 i l o`, which read
/// alike on paper; 31 symbols, so 16 of them carry 79 bits.
const RECOVERY_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
const RECOVERY_GROUPS: usize = 4;
const RECOVERY_GROUP_LEN: usize = 4;

/// What an agent needs to add the secret to an authenticator app. Shown once; no `Debug`, as it
/// holds the secret.
pub struct Enrollment {
    /// The secret as apps take it typed in: upper-case base32 without padding.
    pub secret_base32: String,
    /// `otpauth://totp/<issuer>:<account>?secret=...&issuer=...`, the QR code's content.
    pub otpauth_url: String,
    /// A PNG of the QR code, base64 (standard alphabet), for a `data:image/png;base64,` URL.
    pub qr_png_base64: String,
}

/// The issuer or account name cannot go into an `otpauth://` URL (it contains `:`), or the QR
/// code would be too large.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the TOTP enrollment: {0}")]
pub struct TotpError(#[from] totp_rs::TotpError);

/// A fresh TOTP secret: 20 random bytes.
pub fn new_secret() -> Vec<u8> {
    rand::random::<[u8; SECRET_BYTES]>().to_vec()
}

/// The URL and QR code for an authenticator app. The QR code is drawn here (totp-rs's `qr`
/// feature), never by a web service: it contains the secret.
pub fn enrollment(secret: &[u8], issuer: &str, account: &str) -> Result<Enrollment, TotpError> {
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_step_duration(STEP_SECONDS)
        .with_skew(SKEW_STEPS as u16)
        .with_secret(secret.to_vec())
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()?;
    Ok(Enrollment {
        secret_base32: BASE32_NOPAD.encode(secret),
        otpauth_url: totp.to_url()?,
        qr_png_base64: totp.to_qr_base64()?,
    })
}

/// The RFC 6238 time step of a Unix time in milliseconds.
pub fn step_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(STEP_MS)
}

/// The code an authenticator app shows at `now_ms`.
pub fn code_at(secret: &[u8], now_ms: i64) -> String {
    code_for_step(&totp(secret), step_of(now_ms).max(0))
}

/// Accepts a code for a step within one of now's, and only for a step strictly after `last_step`
/// (the step last accepted for this secret, -1 for none): a code is never accepted twice. Returns
/// the step matched, which the caller stores with a compare-and-set on `last_step` so that two
/// concurrent logins with one code cannot both pass.
///
/// Whitespace anywhere in `code` is ignored (apps show "123 456"); anything but 6 digits is
/// refused. Each candidate is compared in constant time, and all are computed whatever matches.
pub fn check(secret: &[u8], code: &str, now_ms: i64, last_step: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) || secret.len() < MIN_SECRET_BYTES {
        return None;
    }
    let totp = totp(secret);
    let now = step_of(now_ms);
    let mut matched = None;
    for step in (now - SKEW_STEPS..=now + SKEW_STEPS).filter(|&step| step >= 0) {
        let equal = constant_time_eq(code_for_step(&totp, step).as_bytes(), code.as_bytes());
        // The latest matching step: should one code match two steps, both are then spent.
        if equal && step > last_step {
            matched = Some(step);
        }
    }
    matched
}

/// Ten fresh recovery codes like `k7mq-2xdn-9pfa-wr4c`, each 79 random bits. Shown once; only
/// [`hash_recovery`] of each is stored.
pub fn recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES).map(|_| recovery_code()).collect()
}

/// The canonical form of a recovery code as typed: lower case, without spaces and dashes.
pub fn normalize_recovery(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect()
}

/// What is stored for a recovery code: hex SHA-256 of its canonical form. A fast hash is right
/// here, unlike for passwords: a code carries 79 random bits, so a stolen hash cannot be reversed
/// by guessing, whatever the hash rate.
pub fn hash_recovery(code: &str) -> String {
    hex::encode(Sha256::digest(normalize_recovery(code).as_bytes()))
}

/// Enrollment validates the secret; here any secret computes (tests, stored secrets).
fn totp(secret: &[u8]) -> Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret.to_vec())
        .build_noncompliant()
}

/// `step` is never negative (callers clamp or filter).
fn code_for_step(totp: &Totp, step: i64) -> String {
    let seconds = u64::try_from(step).unwrap_or(0) * STEP_SECONDS;
    totp.generate(seconds).to_string()
}

fn recovery_code() -> String {
    let groups: Vec<String> = (0..RECOVERY_GROUPS)
        .map(|_| {
            (0..RECOVERY_GROUP_LEN)
                .map(|_| char::from(RECOVERY_ALPHABET[rand::random_range(0..RECOVERY_ALPHABET.len())]))
                .collect()
        })
        .collect();
    groups.join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 key.
    const RFC_SECRET: &[u8] = b"12345678901234567890";
    /// A time in the middle of a step, far from 1970.
    const NOW_MS: i64 = 1_795_000_015_000;

    fn at_step(step: i64) -> i64 {
        step * STEP_MS + 1_000
    }

    #[test]
    fn rfc_6238_sha1_vectors() {
        // Appendix B gives 8 digits; authenticator apps show the last 6.
        for (seconds, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(RFC_SECRET, seconds * 1000), eight_digits[2..], "T = {seconds}");
        }
    }

    #[test]
    fn step_of_counts_thirty_second_steps() {
        assert_eq!(step_of(0), 0);
        assert_eq!(step_of(29_999), 0);
        assert_eq!(step_of(30_000), 1);
        assert_eq!(step_of(59_000), 1);
        assert_eq!(step_of(-1), -1);
    }

    #[test]
    fn the_current_code_is_accepted_once_with_its_step() {
        let code = code_at(RFC_SECRET, NOW_MS);
        let step = step_of(NOW_MS);
        assert_eq!(check(RFC_SECRET, &code, NOW_MS, -1), Some(step));
        assert_eq!(check(RFC_SECRET, &code, NOW_MS, step), None, "replayed");
        assert_eq!(check(RFC_SECRET, &code, NOW_MS + STEP_MS, step), None, "replayed a step later");
    }

    #[test]
    fn codes_one_step_either_side_are_accepted_two_are_not() {
        let now = step_of(NOW_MS);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at(RFC_SECRET, at_step(now + offset));
            let expected = accepted.then_some(now + offset);
            assert_eq!(check(RFC_SECRET, &code, NOW_MS, -1), expected, "offset {offset}: {code}");
        }
    }

    #[test]
    fn a_code_for_a_step_not_after_the_last_accepted_one_is_refused() {
        let now = step_of(NOW_MS);
        let previous = code_at(RFC_SECRET, at_step(now - 1));
        // Step `now` was accepted: the previous step's code, still in the window, is spent too.
        assert_eq!(check(RFC_SECRET, &previous, NOW_MS, now), None);
        assert_eq!(check(RFC_SECRET, &previous, NOW_MS, now - 1), None);
        assert_eq!(check(RFC_SECRET, &previous, NOW_MS, now - 2), Some(now - 1));
    }

    #[test]
    fn malformed_input_is_refused_and_whitespace_is_ignored() {
        let code = code_at(RFC_SECRET, NOW_MS);
        let spaced = format!(" {} {}\n", &code[..3], &code[3..]);
        assert_eq!(check(RFC_SECRET, &spaced, NOW_MS, -1), Some(step_of(NOW_MS)));
        let too_long = format!("{code}0");
        let signed = format!("+{}", &code[1..]);
        let dashed = format!("{}-{}", &code[..3], &code[3..]);
        for bad in ["", &code[..5], too_long.as_str(), signed.as_str(), dashed.as_str(), "abcdef", "12345x"] {
            assert_eq!(check(RFC_SECRET, bad, NOW_MS, -1), None, "{bad:?}");
        }
    }

    #[test]
    fn another_secret_or_a_short_secret_is_refused() {
        let code = code_at(RFC_SECRET, NOW_MS);
        assert_eq!(check(b"abcdefghijabcdefghij", &code, NOW_MS, -1), None);
        let short = &RFC_SECRET[..15];
        assert_eq!(check(short, &code_at(short, NOW_MS), NOW_MS, -1), None);
        assert_eq!(
            check(&RFC_SECRET[..16], &code_at(&RFC_SECRET[..16], NOW_MS), NOW_MS, -1),
            Some(step_of(NOW_MS))
        );
    }

    #[test]
    fn secrets_are_160_random_bits() {
        let secret = new_secret();
        assert_eq!(secret.len(), SECRET_BYTES);
        assert_ne!(new_secret(), secret);
    }

    #[test]
    fn enrollment_has_the_url_and_a_png_qr_code() {
        let secret = RFC_SECRET.to_vec();
        let enrollment = enrollment(&secret, "Acme Support", "alice@example.com").unwrap();
        assert_eq!(enrollment.secret_base32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(enrollment.otpauth_url.starts_with("otpauth://totp/Acme%20Support:alice%40example.com?"));
        assert!(enrollment.otpauth_url.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"));
        assert!(enrollment.otpauth_url.contains("issuer=Acme%20Support"));
        let png = data_encoding::BASE64.decode(enrollment.qr_png_base64.as_bytes()).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{:?}", &png[..8.min(png.len())]);
    }

    #[test]
    fn enrollment_refuses_a_colon_in_the_label() {
        assert!(enrollment(RFC_SECRET, "Acme: Support", "alice@example.com").is_err());
        assert!(enrollment(&RFC_SECRET[..10], "Acme", "alice@example.com").is_err(), "80-bit secret");
    }

    #[test]
    fn ten_distinct_recovery_codes_in_groups_of_four() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        for code in &codes {
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 4, "{code}");
            assert!(groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))));
        }
        let mut distinct = codes.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), RECOVERY_CODES);
    }

    #[test]
    fn recovery_codes_normalize_and_hash_stably() {
        assert_eq!(normalize_recovery(" K7MQ 2XDN-9pfa-WR4C\n"), "k7mq2xdn9pfawr4c");
        assert_eq!(hash_recovery("K7MQ 2XDN-9PFA-WR4C"), hash_recovery("k7mq-2xdn-9pfa-wr4c"));
        assert_eq!(
            hash_recovery("k7mq-2xdn-9pfa-wr4c"),
            hex::encode(Sha256::digest(b"k7mq2xdn9pfawr4c")),
            "the stored form must never change"
        );
        assert_ne!(hash_recovery("k7mq-2xdn-9pfa-wr4c"), hash_recovery("k7mq-2xdn-9pfa-wr4d"));
    }
}
