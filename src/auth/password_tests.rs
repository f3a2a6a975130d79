use std::cell::RefCell;

use super::*;
use argon2::PasswordHasher;

thread_local! {
    /// Every argon2 run on this test's thread: (algorithm, parameters).
    static ARGON2_RUNS: RefCell<Vec<(String, Option<Argon2Params>)>> = const { RefCell::new(Vec::new()) };
}

pub(super) fn record_argon2_run(hash: &PasswordHash) {
    ARGON2_RUNS.with(|runs| runs.borrow_mut().push((hash.algorithm.as_str().to_string(), params_of(hash))));
}

fn take_argon2_runs() -> Vec<(String, Option<Argon2Params>)> {
    ARGON2_RUNS.with(|runs| std::mem::take(&mut *runs.borrow_mut()))
}

/// Cheap parameters: most tests are about logic, not cost.
fn small(memory_kib: u32) -> PasswordPolicy {
    PasswordPolicy { params: Argon2Params { memory_kib, iterations: 1, parallelism: 1 }, min_length: 10 }
}

fn hash_with(algorithm: Algorithm, version: Version, params: Argon2Params, password: &str) -> String {
    Argon2::new(algorithm, version, params.to_argon2().unwrap())
        .hash_password_with_salt(password.as_bytes(), b"saltsaltsaltsalt")
        .unwrap()
        .to_string()
}

#[test]
fn hash_then_verify_round_trips() {
    let policy = small(256);
    let stored = policy.hash("correct horse battery").unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{stored}");
    assert_eq!(policy.verify("correct horse battery", Some(&stored)), Verdict::Match);
    assert_eq!(policy.verify("correct horse batterY", Some(&stored)), Verdict::Mismatch);
    assert_eq!(policy.verify("", Some(&stored)), Verdict::Mismatch);
}

#[test]
fn salts_are_random() {
    let policy = small(64);
    assert_ne!(policy.hash("same password").unwrap(), policy.hash("same password").unwrap());
}

#[test]
fn default_parameters_are_owasps_and_verify() {
    let policy = PasswordPolicy::default();
    assert_eq!(policy.params, Argon2Params { memory_kib: 19_456, iterations: 2, parallelism: 1 });
    assert_eq!(policy.min_length, MIN_LENGTH_DEFAULT);
    let stored = policy.hash("a long and uncommon passphrase").unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    assert_eq!(policy.verify("a long and uncommon passphrase", Some(&stored)), Verdict::Match);
}

#[test]
fn other_parameters_match_but_need_a_rehash() {
    let stored = small(128).hash("correct horse battery").unwrap();
    let policy = small(256);
    assert_eq!(policy.verify("correct horse battery", Some(&stored)), Verdict::MatchNeedsRehash);
    assert_eq!(policy.verify("wrong horse battery", Some(&stored)), Verdict::Mismatch);
    let more_iterations =
        PasswordPolicy { params: Argon2Params { iterations: 2, ..small(128).params }, ..small(128) };
    assert_eq!(more_iterations.verify("correct horse battery", Some(&stored)), Verdict::MatchNeedsRehash);
}

#[test]
fn other_argon2_variants_and_versions_match_but_need_a_rehash() {
    let policy = small(256);
    for (algorithm, version) in [
        (Algorithm::Argon2i, Version::V0x13),
        (Algorithm::Argon2d, Version::V0x13),
        (Algorithm::Argon2id, Version::V0x10),
    ] {
        let stored = hash_with(algorithm, version, policy.params, "correct horse battery");
        assert_eq!(
            policy.verify("correct horse battery", Some(&stored)),
            Verdict::MatchNeedsRehash,
            "{stored}"
        );
        assert_eq!(policy.verify("wrong horse battery", Some(&stored)), Verdict::Mismatch, "{stored}");
    }
}

#[test]
fn unreadable_or_foreign_stored_hashes_are_a_mismatch_and_still_cost_one_run() {
    let policy = small(256);
    take_argon2_runs();
    for stored in [
        "",
        "garbage",
        "$argon2id$v=19$m=abc,t=1,p=1$c2FsdA$aGFzaA",
        "$argon2id$v=19$m=256,t=1,p=1",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
    ] {
        assert_eq!(policy.verify("correct horse battery", Some(stored)), Verdict::Mismatch, "{stored:?}");
        let runs = take_argon2_runs();
        assert_eq!(runs.len(), 1, "{stored:?}: {runs:?}");
    }
}

#[test]
fn an_unknown_account_costs_the_same_argon2_run_as_a_known_one() {
    for policy in [small(256), PasswordPolicy::default()] {
        let stored = policy.hash("correct horse battery").unwrap();
        take_argon2_runs();
        assert_eq!(policy.verify("correct horse battery", Some(&stored)), Verdict::Match);
        let known = take_argon2_runs();
        assert_eq!(policy.verify("correct horse battery", None), Verdict::Mismatch);
        let unknown = take_argon2_runs();
        assert_eq!(unknown, known, "same number of runs, same algorithm, same parameters");
        assert_eq!(unknown, vec![("argon2id".to_string(), Some(policy.params))]);
    }
}

#[test]
fn the_dummy_hash_matches_nothing_and_carries_the_policy_parameters() {
    let params = small(512).params;
    let dummy = dummy_hash(params).unwrap();
    assert_eq!(params_of(&dummy), Some(params));
    assert_eq!(dummy.algorithm, ARGON2ID_IDENT);
    let text = dummy.to_string();
    assert!(text.starts_with("$argon2id$v=19$m=512,t=1,p=1$"), "{text}");
    assert_eq!(small(512).verify("", Some(&text)), Verdict::Mismatch);
}

#[test]
fn overlong_passwords_are_refused_without_hashing() {
    let policy = small(256);
    let stored = policy.hash("correct horse battery").unwrap();
    let huge = "x".repeat(1_000_000);
    take_argon2_runs();
    assert_eq!(policy.verify(&huge, Some(&stored)), Verdict::Mismatch);
    assert_eq!(policy.verify(&huge, None), Verdict::Mismatch);
    assert!(take_argon2_runs().is_empty());
    assert!(matches!(policy.hash(&huge), Err(PasswordError::TooLong)));
    assert_eq!(policy.check(&huge, &[]), Err(Weak::TooLong { max: MAX_BYTES }));
    let longest = "x".repeat(MAX_BYTES - 1) + "y";
    assert_eq!(policy.check(&longest, &[]), Ok(()));
    let stored = policy.hash(&longest).unwrap();
    assert_eq!(policy.verify(&longest, Some(&stored)), Verdict::Match);
}

#[test]
fn short_passwords_are_refused_counting_characters() {
    let policy = PasswordPolicy::default();
    assert_eq!(policy.check("tiny", &[]), Err(Weak::TooShort { min: 10 }));
    assert_eq!(policy.check("ninechars", &[]), Err(Weak::TooShort { min: 10 }));
    // 9 characters, 18 bytes.
    assert_eq!(policy.check("ééééééééé", &[]), Err(Weak::TooShort { min: 10 }));
    assert_eq!(policy.check("ééééééééèè", &[]), Ok(()));
    assert_eq!(policy.check("tenchars!!", &[]), Ok(()));
}

#[test]
fn common_passwords_are_refused_in_any_case() {
    let policy = PasswordPolicy { min_length: 6, ..PasswordPolicy::default() };
    for common in
        ["password123", "qwertyuiop", "QwertyUIOP", "iloveyou", "1q2w3e4r5t", "Password1!", "aaaaaaaaaa"]
    {
        assert_eq!(policy.check(common, &[]), Err(Weak::Common), "{common}");
    }
    assert_eq!(policy.check("qwertyuiop and more", &[]), Ok(()));
}

#[test]
fn passwords_containing_the_identity_are_refused() {
    let policy = PasswordPolicy::default();
    let identity = ["Alice.Smith@Example.com", "Alice Smith"];
    for bad in ["alice.smith@example.com", "ALICE.SMITH2024!", "my name is alice smith", "xx-alice.smith-xx"]
    {
        assert_eq!(policy.check(bad, &identity), Err(Weak::ContainsIdentity), "{bad}");
    }
    assert_eq!(policy.check("correct horse battery", &identity), Ok(()));
    // A local part too short to look for is only refused as the whole password.
    assert_eq!(policy.check("joyful elephant", &["jo@example.com"]), Ok(()));
    assert_eq!(policy.check("jo@example.com", &["jo@example.com"]), Err(Weak::ContainsIdentity));
    assert_eq!(policy.check("correct horse battery", &["", "  "]), Ok(()));
}

#[test]
fn the_common_list_is_large_lower_case_and_trimmed() {
    assert!(COMMON_PASSWORDS.len() > 2000, "{}", COMMON_PASSWORDS.len());
    for entry in COMMON_PASSWORDS.iter() {
        assert_eq!(*entry, entry.to_lowercase(), "{entry:?}");
        assert_eq!(*entry, entry.trim(), "{entry:?}");
        assert!(entry.chars().count() >= 6, "{entry:?}");
    }
    assert!(COMMON_PASSWORDS.contains("123456789"));
    assert!(!COMMON_PASSWORDS.iter().any(|entry| entry.starts_with('#')));
}

#[test]
fn weak_messages_speak_to_the_person() {
    assert_eq!(
        Weak::TooShort { min: 10 }.to_string(),
        "Use at least 10 characters. A few unrelated words make a long password that is easy to remember."
    );
    assert!(Weak::ContainsIdentity.to_string().contains("email address"));
}

#[test]
fn parameters_are_validated() {
    assert!(Argon2Params::default().validate().is_ok());
    assert!(Argon2Params { memory_kib: 7, iterations: 1, parallelism: 1 }.validate().is_err());
    assert!(Argon2Params { memory_kib: 64, iterations: 0, parallelism: 1 }.validate().is_err());
    assert!(Argon2Params { memory_kib: 64, iterations: 1, parallelism: 0 }.validate().is_err());
    let broken = PasswordPolicy {
        params: Argon2Params { memory_kib: 1, iterations: 1, parallelism: 1 },
        min_length: 10,
    };
    assert!(matches!(broken.hash("correct horse battery"), Err(PasswordError::Params(_))));
    assert_eq!(broken.verify("correct horse battery", None), Verdict::Mismatch);
}

#[test]
fn verdicts_say_whether_the_password_matched() {
    assert!(Verdict::Match.is_match());
    assert!(Verdict::MatchNeedsRehash.is_match());
    assert!(!Verdict::Mismatch.is_match());
}

#[tokio::test]
async fn blocking_forms_run_off_the_runtime() {
    let policy = small(256);
    let stored = policy.hash_blocking("correct horse battery".into()).await.unwrap();
    assert_eq!(
        policy.verify_blocking("correct horse battery".into(), Some(stored.clone())).await,
        Verdict::Match
    );
    assert_eq!(policy.verify_blocking("wrong".into(), Some(stored)).await, Verdict::Mismatch);
    assert_eq!(policy.verify_blocking("wrong".into(), None).await, Verdict::Mismatch);
}
