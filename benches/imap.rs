//! IMAP intake against a real Dovecot (the project's throwaway one): the drain rate of a full
//! mailbox next to in-process ingest of the same messages (the ceiling), and the latency from a
//! client's APPEND to the committed ticket with IDLE, with the part that is our pass.
//!
//!   cargo bench --bench imap [-- --messages N --rounds R]
//!
//! Uses the Dovecot named by MG_IMAP_* when set (`eval "$(scripts/test-services.sh start)"`), else
//! starts one with scripts/test-services.sh and stops it afterwards.

mod support;

#[path = "../tests/common/imap.rs"]
mod imap_client;

/// What `tests/common`'s `require` is to the tests: a bench always needs its server.
fn require(available: bool, what: &str, how: &str) -> bool {
    assert!(available, "{what} ({how})");
    true
}

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imap_client::TestImap;
use mailgate::clock::SystemClock;
use mailgate::imap::Poller;
use mailgate::ingest::{Delivery, Ingestor};
use mailgate::store::inbound::Source;
use tokio::sync::watch;

fn main() {
    let arg =
        |name: &str| std::env::args().skip_while(|a| a != name).nth(1).and_then(|n| n.parse::<usize>().ok());
    let messages = arg("--messages").unwrap_or(10_000);
    let rounds = arg("--rounds").unwrap_or(50);
    let services = Services::ensure();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    runtime.block_on(async {
        let imap = &services.imap;
        let (drained, ceiling) = drain(imap, messages).await;
        println!(
            "IMAP drain of {messages} messages: {drained:.0} msg/s; in-process ingest of the same: {ceiling:.0} msg/s (ratio {:.2})",
            drained / ceiling
        );
        let (append, ours) = latency(imap, rounds).await;
        println!(
            "APPEND -> committed ticket with IDLE, {rounds} rounds: median {:.0} ms, p95 {:.0} ms; \
             of which our pass: median {:.1} ms, p95 {:.1} ms (the rest is Dovecot's IDLE notification delay)",
            support::median(append.clone()),
            support::percentile(append, 0.95),
            support::median(ours.clone()),
            support::percentile(ours, 0.95),
        );
    });
    drop(services);
}

fn bench_config(
    dir: &tempfile::TempDir,
    name: &str,
    imap: &TestImap,
    user: &str,
) -> mailgate::config::Config {
    let toml = format!(
        "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"sqlite://{}\"\n\
         [notifications]\nmax_automatic_per_address_per_hour = 1000000\n[imap]\nbatch_size = 100\n{}",
        dir.path().join(name).display(),
        imap.mailbox_toml(user, true),
    );
    mailgate::config::from_toml(&toml, "<bench>").unwrap()
}

async fn open(config: &mailgate::config::Config) -> Ingestor {
    Ingestor::new(mailgate::app::open_with_clock(config, Arc::new(SystemClock)).await.unwrap())
}

async fn inbound(ingestor: &Ingestor) -> i64 {
    ingestor
        .app()
        .store()
        .read(|tx| tx.query_one("SELECT COUNT(*) FROM inbound", &[], |r| r.i64(0)))
        .await
        .unwrap()
}

/// Messages per second: a poller draining a full INBOX, and plain ingest of the same bytes.
async fn drain(imap: &TestImap, messages: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let user = imap.fresh_user();
    let raws: Vec<Vec<u8>> = (0..messages).map(|i| support::message(i, None).into_bytes()).collect();
    let mut client = imap.client(&user).await;
    client.append_many("INBOX", &raws).await;

    let config = bench_config(&dir, "drain.db", imap, &user);
    let ingestor = open(&config).await;
    let poller = Poller::new(config.mailboxes[0].clone(), config.imap.clone(), ingestor.clone());
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let task = tokio::spawn(poller.run(stopped));
    while (inbound(&ingestor).await as usize) < messages {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = messages as f64 / started.elapsed().as_secs_f64();
    stop.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(client.count("INBOX").await, 0);

    let plain = open(&bench_config(&dir, "plain.db", imap, &user)).await;
    let started = Instant::now();
    for raw in &raws {
        plain.ingest(raw, &Delivery::new(Source::Pipe)).await.unwrap();
    }
    (drained, messages as f64 / started.elapsed().as_secs_f64())
}

/// Milliseconds from APPEND (acknowledged by the server) to the committed ticket, and the pass's share.
async fn latency(imap: &TestImap, rounds: usize) -> (Vec<f64>, Vec<f64>) {
    let dir = tempfile::tempdir().unwrap();
    let user = imap.fresh_user();
    let config = bench_config(&dir, "latency.db", imap, &user);
    let ingestor = open(&config).await;
    let poller = Poller::new(config.mailboxes[0].clone(), config.imap.clone(), ingestor.clone());
    let status = poller.status();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(poller.run(stopped));
    while status.lock().unwrap().passes == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut client = imap.client(&user).await;
    let (mut append, mut ours) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let raw = support::message(100_000 + round, None).into_bytes();
        let passes = status.lock().unwrap().passes;
        client.append("INBOX", &raw).await;
        let appended = Instant::now();
        while inbound(&ingestor).await < round as i64 + 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        append.push(appended.elapsed().as_secs_f64() * 1000.0);
        while status.lock().unwrap().passes == passes {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        ours.push(status.lock().unwrap().last_pass.unwrap().as_secs_f64() * 1000.0);
    }
    stop.send(true).unwrap();
    task.await.unwrap();
    (append, ours)
}

/// The test Dovecot: the one named by MG_IMAP_* when set, else one started (and later stopped) here.
struct Services {
    imap: TestImap,
    started: Option<String>,
}

impl Services {
    fn ensure() -> Services {
        let mut vars: HashMap<String, String> =
            std::env::vars().filter(|(k, _)| k.starts_with("MG_")).collect();
        let mut started = None;
        if !vars.contains_key("MG_IMAP_PORT") {
            let out = Command::new("scripts/test-services.sh")
                .arg("start")
                .output()
                .expect("scripts/test-services.sh");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some((key, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
                    vars.insert(key.to_string(), value.trim_matches('\'').to_string());
                }
            }
            started = vars.get("MG_SERVICES_DIR").cloned();
        }
        let var = |key: &str| vars.get(key).unwrap_or_else(|| panic!("{key} missing")).clone();
        let imap = TestImap {
            host: var("MG_IMAP_HOST"),
            port: var("MG_IMAP_PORT").parse().unwrap(),
            tls_port: var("MG_IMAPS_PORT").parse().unwrap(),
            ca: var("MG_IMAP_CA").into(),
            password: var("MG_IMAP_PASSWORD"),
        };
        Services { imap, started }
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        if let Some(dir) = &self.started {
            let _ = Command::new("scripts/test-services.sh").args(["stop", dir]).status();
        }
    }
}
