//! `mailgate pipe`, one process per message as an MTA runs it: median and p95 latency, on a SQLite
//! database that already holds some tickets.
//!
//!   cargo bench --bench pipe [-- --runs N]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let runs: usize =
        std::env::args().skip_while(|a| a != "--runs").nth(1).and_then(|n| n.parse().ok()).unwrap_or(300);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mailgate.toml");
    std::fs::write(
        &config,
        format!(
            "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"sqlite://{}\"\n",
            dir.path().join("bench.db").display()
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_mailgate");
    let pipe = |raw: &str| {
        let t = Instant::now();
        let mut child = Command::new(bin)
            .args(["--config", config.to_str().unwrap(), "pipe"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(raw.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        t.elapsed().as_secs_f64() * 1000.0
    };
    // Warm up: creates and migrates the database, fills the page cache.
    for i in 0..20 {
        pipe(&support::message(900_000 + i, None));
    }
    let mut latencies = Vec::with_capacity(runs);
    let mut parent = support::message_id(&support::message(900_000, None));
    for i in 0..runs {
        let raw = if i % 2 == 0 { support::message(i, None) } else { support::message(i, Some(&parent)) };
        if i % 2 == 0 {
            parent = support::message_id(&raw);
        }
        latencies.push(pipe(&raw));
    }
    println!(
        "mailgate pipe, {runs} runs: median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        support::median(latencies.clone()),
        support::percentile(latencies.clone(), 0.95),
        support::percentile(latencies, 1.0)
    );
}
