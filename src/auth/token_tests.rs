use super::*;

/// On an hour boundary, so expiry arithmetic in the tests is exact.
const NOW: i64 = 497_222 * HOUR_MS;
const DAY: i64 = 24 * HOUR_MS;

fn key(id: &str, fill: u8) -> Key {
    Key::new(id, vec![fill; 32]).unwrap()
}

fn ring(keys: &[(&str, u8)]) -> Keyring {
    Keyring::new(keys.iter().map(|(id, fill)| key(id, *fill)).collect()).unwrap()
}

fn claims(purpose: Purpose) -> Claims {
    Claims {
        purpose,
        ticket: TicketId(123_456),
        participant: Participant::User(UserId(98_765)),
        expires_at_ms: NOW + 365 * DAY,
        epoch: 3,
    }
}

/// Minted expiry is rounded up to the hour.
fn rounded(mut c: Claims) -> Claims {
    c.expires_at_ms = (c.expires_at_ms as u64).div_ceil(HOUR_MS as u64) as i64 * HOUR_MS;
    c
}

#[test]
fn mint_and_verify_both_encodings() {
    let keys = ring(&[("k1", 1)]);
    let c = claims(Purpose::Reply);
    let address = keys.address_token(&c);
    assert!(address.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{address}");
    assert!(address.len() <= 46, "{} chars: {address}", address.len());
    assert_eq!(keys.verify_address_token(&address, Purpose::Reply, NOW), Ok(rounded(c)));
    assert_eq!(
        keys.verify_address_token(&address.to_ascii_uppercase(), Purpose::Reply, NOW),
        Ok(rounded(c)),
        "MTAs may upper-case local parts"
    );
    let link = keys.link(&claims(Purpose::View));
    assert!(link.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{link}");
    assert_eq!(keys.verify_link(&link, Purpose::View, NOW), Ok(rounded(claims(Purpose::View))));
}

#[test]
fn agents_and_users_are_distinct_participants() {
    let keys = ring(&[("k1", 1)]);
    let mut c = claims(Purpose::Note);
    c.participant = Participant::Agent(AgentId(98_765));
    let verified = keys.verify_link(&keys.link(&c), Purpose::Note, NOW).unwrap();
    assert_eq!(verified.participant, Participant::Agent(AgentId(98_765)));
}

#[test]
fn wrong_purpose_is_refused() {
    let keys = ring(&[("k1", 1)]);
    let reply = keys.link(&claims(Purpose::Reply));
    assert_eq!(keys.verify_link(&reply, Purpose::View, NOW), Err(TokenError::WrongPurpose("reply")));
    let access = keys.address_token(&claims(Purpose::Access));
    assert_eq!(
        keys.verify_address_token(&access, Purpose::Reply, NOW),
        Err(TokenError::WrongPurpose("access"))
    );
}

#[test]
fn expired_tokens_are_refused() {
    let keys = ring(&[("k1", 1)]);
    let c = Claims { expires_at_ms: NOW + HOUR_MS, ..claims(Purpose::Access) };
    let token = keys.link(&c);
    assert!(keys.verify_link(&token, Purpose::Access, NOW + HOUR_MS - 1).is_ok());
    assert_eq!(keys.verify_link(&token, Purpose::Access, NOW + HOUR_MS), Err(TokenError::Expired));
    assert_eq!(keys.verify_link(&token, Purpose::Access, NOW + 400 * DAY), Err(TokenError::Expired));
}

#[test]
fn rotation_new_key_signs_old_key_still_verifies() {
    let old = ring(&[("2025", 1)]);
    let old_token = old.address_token(&claims(Purpose::Reply));

    let rotated = ring(&[("2026", 2), ("2025", 1)]);
    assert_eq!(rotated.signing_key(), "2026");
    assert!(rotated.verify_address_token(&old_token, Purpose::Reply, NOW).is_ok());
    let new_token = rotated.address_token(&claims(Purpose::Reply));
    assert_ne!(new_token, old_token);
    assert_eq!(
        old.verify_address_token(&new_token, Purpose::Reply, NOW),
        Err(TokenError::UnknownKey),
        "the new key signs"
    );

    let retired = ring(&[("2026", 2)]);
    assert_eq!(retired.verify_address_token(&old_token, Purpose::Reply, NOW), Err(TokenError::UnknownKey));
}

#[test]
fn same_id_other_secret_is_a_bad_signature() {
    let token = ring(&[("k1", 1)]).link(&claims(Purpose::View));
    assert_eq!(ring(&[("k1", 9)]).verify_link(&token, Purpose::View, NOW), Err(TokenError::BadSignature));
}

#[test]
fn epoch_bump_revokes_earlier_tokens() {
    let keys = ring(&[("k1", 1)]);
    let verified = keys.verify_link(&keys.link(&claims(Purpose::View)), Purpose::View, NOW).unwrap();
    assert!(verified.is_current(3));
    assert!(!verified.is_current(4), "bumped: the token is dead");
}

#[test]
fn keys_are_checked() {
    assert_eq!(Key::new("short", vec![0; 31]).unwrap_err(), KeyError::Short { id: "short".into(), len: 31 });
    assert_eq!(Keyring::new(vec![]).unwrap_err(), KeyError::Empty);
    // Two ids sharing a tag byte both verify.
    let ids: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
    let (a, b) = ids
        .iter()
        .enumerate()
        .find_map(|(i, a)| ids[..i].iter().find(|b| key(b, 1).tag() == key(a, 1).tag()).map(|b| (b, a)))
        .unwrap();
    let old = Keyring::new(vec![key(a, 1)]).unwrap().link(&claims(Purpose::View));
    let both = Keyring::new(vec![key(b, 2), key(a, 1)]).unwrap();
    assert!(both.verify_link(&old, Purpose::View, NOW).is_ok());
    assert!(both.verify_link(&both.link(&claims(Purpose::View)), Purpose::View, NOW).is_ok());
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let shown = format!("{:?}", ring(&[("k1", b'z')]));
    assert!(shown.contains("k1") && shown.contains("32 bytes"), "{shown}");
    assert!(!shown.contains("122") && !shown.contains("zzzz"), "{shown}");
}

#[test]
fn varints_have_one_encoding() {
    for value in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
        let mut out = Vec::new();
        put_varint(&mut out, value);
        let mut input = &out[..];
        assert_eq!(take_varint(&mut input), Some(value));
        assert!(input.is_empty());
    }
    assert_eq!(take_varint(&mut &[0x80, 0x00][..]), None, "overlong zero");
    assert_eq!(take_varint(&mut &[0xff; 10][..]), None, "overflow");
    assert_eq!(take_varint(&mut &[0x80][..]), None, "truncated");
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let keys = ring(&[("k1", 1)]);
    for text in ["", "a", "!!!!", "%%", &"a".repeat(10_000), "abc def"] {
        assert!(keys.verify_link(text, Purpose::View, NOW).is_err(), "{text:?}");
        assert!(keys.verify_address_token(text, Purpose::Reply, NOW).is_err(), "{text:?}");
    }
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One random edit of `bytes`: flip a bit, replace, insert, delete, truncate or swap.
fn mutate(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let at = rng.below(out.len());
    match rng.below(6) {
        0 => out[at] ^= 1 << rng.below(8),
        1 => out[at] = rng.next() as u8,
        2 => out.insert(at, rng.next() as u8),
        3 => {
            out.remove(at);
        }
        4 => out.truncate(at),
        _ => out.swap(at, rng.below(bytes.len())),
    }
    out
}

#[test]
fn a_hundred_thousand_mutations_are_all_rejected() {
    let keys = ring(&[("k2", 2), ("k1", 1)]);
    let c = claims(Purpose::Reply);
    let bytes = keys.sign(&c);
    let address = keys.address_token(&c);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tried = 0;
    while tried < 100_000 {
        // Half on the bytes (what an attacker controls), half on the text (typos, MTA damage).
        let refused = if tried % 2 == 0 {
            let mutated = mutate(&bytes, &mut rng);
            if mutated == bytes {
                continue;
            }
            keys.verify(&mutated, Purpose::Reply, NOW).is_err()
        } else {
            let mutated = mutate(address.as_bytes(), &mut rng);
            let Ok(text) = String::from_utf8(mutated) else {
                tried += 1;
                continue;
            };
            if text.eq_ignore_ascii_case(&address) {
                continue;
            }
            keys.verify_address_token(&text, Purpose::Reply, NOW).is_err()
        };
        assert!(refused, "mutation {tried} accepted");
        tried += 1;
    }
}
