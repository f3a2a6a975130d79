//! Issue 13, item 2: 150 simultaneous sign-ins for unknown addresses, each from its own client
//! address, against the real router. Concurrent argon2 runs are bounded, so this process's memory
//! stays bounded (each run takes 19 MiB: unbounded, 150 of them took 2.5 GB), and what cannot get
//! a turn in time is told 503 with `Retry-After`. Alone in its file: the RSS sampled is this
//! process's, and both backends run one after the other in one test so they do not add up.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::http::{Page, encode, request_from, serve};
use common::{Backend, Harness};

/// Enough that the queue outlasts the wait for a turn (`hashing::WAIT`, 2 s) on any machine: at
/// ~25 ms a hash, one per core, 400 sign-ins take several times that, so some are told "busy"
/// however fast the cores are (150 finished within the wait on an idle 2-core machine).
const CLIENTS: usize = 400;
/// Far below 400 x 19 MiB; a bounded storm stays within tens of MiB of idle.
const MAX_GROWTH_MIB: u64 = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_storm_is_bounded_in_memory_and_answers_busy() {
    storm(Backend::Sqlite).await;
    if common::test_pg_url().is_some() {
        storm(Backend::Postgres).await;
    }
}

async fn storm(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let server = serve(&h).await;
    let mut forms = Vec::new();
    for n in 0..CLIENTS {
        let source = format!("127.0.{}.{}", 10 + n / 250, 2 + n % 250).parse().unwrap();
        let head = "GET /login HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
        let shown = request_from(source, server, head).await;
        let cookie = shown.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
        forms.push((source, cookie, shown.csrf()));
    }
    let idle = rss_kib();
    let peak = Arc::new(AtomicU64::new(idle));
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, running) = (peak.clone(), running.clone());
        tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let attempts: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(n, (source, cookie, csrf))| {
            tokio::spawn(async move {
                let form =
                    format!("email=nobody{n}%40nowhere.example&password=wrong+{n}&csrf={}", encode(&csrf));
                post(source, server, &cookie, &form).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for attempt in attempts {
        answers.push(attempt.await.unwrap());
    }
    running.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let growth_mib = peak.load(Ordering::Relaxed).saturating_sub(idle) / 1024;
    let busy = answers.iter().filter(|a| a.status == 503).count();
    let denied = answers.iter().filter(|a| a.status == 401).count();
    eprintln!(
        "{backend:?}: RSS idle {} MiB, growth {growth_mib} MiB; {denied} denied, {busy} busy",
        idle / 1024
    );
    assert_eq!(busy + denied, CLIENTS, "every answer is 'wrong password' or 'busy'");
    assert!(growth_mib < MAX_GROWTH_MIB, "memory grew {growth_mib} MiB under the storm");
    assert!(busy > 0, "a storm beyond the bound is told to come back");
    for answer in answers.iter().filter(|a| a.status == 503) {
        assert_eq!(answer.header("retry-after"), Some("5"));
    }
    // Nothing waited for is counted as a failure: the busy clients try again and are judged.
    let again = answers.iter().position(|a| a.status == 503).unwrap();
    let source = format!("127.0.{}.{}", 10 + again / 250, 2 + again % 250).parse().unwrap();
    let shown =
        request_from(source, server, "GET /login HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").await;
    let cookie = shown.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    let form = format!("email=nobody{again}%40nowhere.example&password=x&csrf={}", encode(&shown.csrf()));
    assert_eq!(post(source, server, &cookie, &form).await.status, 401);
}

async fn post(source: std::net::IpAddr, server: SocketAddr, cookie: &str, form: &str) -> Page {
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: h\r\nConnection: close\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    request_from(source, server, &head).await
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}
