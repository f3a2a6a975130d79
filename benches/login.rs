//! Password verification at login with the default argon2id parameters (OWASP: 19 MiB, t=2, p=1):
//! median and p90 for a correct password and for an unknown account (the dummy hash), which
//! should cost the same.
//!
//!   cargo bench --bench login [-- --runs N]

mod support;

use std::time::Instant;

use mailgate::auth::password::{PasswordPolicy, Verdict};

fn main() {
    let runs: usize =
        std::env::args().skip_while(|a| a != "--runs").nth(1).and_then(|n| n.parse().ok()).unwrap_or(20);
    let policy = PasswordPolicy::default();
    let password = "correct horse battery staple";
    let started = Instant::now();
    let stored = policy.hash(password).unwrap();
    let hash_ms = started.elapsed().as_secs_f64() * 1000.0;
    let time = |stored: Option<&str>, expected: Verdict| {
        let t = Instant::now();
        assert_eq!(policy.verify(password, stored), expected);
        t.elapsed().as_secs_f64() * 1000.0
    };
    // Warm up: page in the 19 MiB block buffer's allocator arena.
    time(Some(&stored), Verdict::Match);
    time(None, Verdict::Mismatch);
    let mut known = Vec::with_capacity(runs);
    let mut unknown = Vec::with_capacity(runs);
    // Interleaved, so a noisy neighbour slows both alike.
    for _ in 0..runs {
        known.push(time(Some(&stored), Verdict::Match));
        unknown.push(time(None, Verdict::Mismatch));
    }
    let p = policy.params;
    println!(
        "login, argon2id m={} KiB t={} p={}, {runs} runs: correct password median {:.1} ms, p90 {:.1} ms; \
         unknown account median {:.1} ms, p90 {:.1} ms (first hash, cold: {hash_ms:.1} ms)",
        p.memory_kib,
        p.iterations,
        p.parallelism,
        support::median(known.clone()),
        support::percentile(known, 0.90),
        support::median(unknown.clone()),
        support::percentile(unknown, 0.90),
    );
}
