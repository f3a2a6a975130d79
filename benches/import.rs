//! `mailgate import` of a generated mbox (the binary, as an admin runs it: scan, order, ingest) next to
//! in-process ingest of the same messages (`Ingestor::ingest` in a loop), each on a fresh SQLite
//! database, both without automatic mail. Half the messages open tickets, half reply to them.
//!
//!   cargo bench --bench import [-- --messages N --rounds R]     # default 10,000 messages, 3 rounds

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use mailgate::clock::SystemClock;
use mailgate::ingest::{Delivery, Ingestor, Outcome};
use mailgate::store::inbound::Source;

fn main() {
    let count = support::arg("--messages").unwrap_or(10_000) as usize;
    let rounds = support::arg("--rounds").unwrap_or(3) as usize;
    // LF line ends, as an mbox holds them; in-process ingest gets the very same bytes.
    let messages: Vec<String> = generate(count).into_iter().map(|m| m.replace("\r\n", "\n")).collect();
    let bytes: usize = messages.iter().map(String::len).sum();
    let work = tempfile::tempdir().unwrap();
    let mbox = work.path().join("bench.mbox");
    write_mbox(&mbox, &messages);
    println!("{count} messages, {:.1} MB as an mbox", bytes as f64 / 1e6);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (mut imported, mut in_process) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        imported.push(import_rate(&mbox, count));
        in_process.push(runtime.block_on(ingest_rate(&messages)));
    }
    let (import, ingest) = (support::median(imported.clone()), support::median(in_process.clone()));
    println!("mailgate import: median {import:.0} msg/s (rounds: {imported:.0?})");
    println!("in-process ingest: median {ingest:.0} msg/s (rounds: {in_process:.0?})");
    println!("import / in-process = {:.2}", import / ingest);
}

/// Messages in date order as they sit in the mbox; odd ones answer the message before them.
fn generate(count: usize) -> Vec<String> {
    let mut messages = Vec::with_capacity(count);
    let mut parent = String::new();
    for i in 0..count {
        let raw = if i % 2 == 0 { support::message(i, None) } else { support::message(i, Some(&parent)) };
        if i % 2 == 0 {
            parent = support::message_id(&raw);
        }
        messages.push(raw);
    }
    messages
}

fn write_mbox(path: &std::path::Path, messages: &[String]) {
    let mut mbox = String::new();
    for raw in messages {
        mbox += "From customer@example.org Mon Nov 23 10:00:00 2026\n";
        mbox += raw;
        mbox += "\n";
    }
    std::fs::write(path, mbox).unwrap();
}

fn config_text(dir: &std::path::Path) -> String {
    format!(
        "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"sqlite://{}\"\n",
        dir.join("bench.db").display()
    )
}

/// Messages per second of one `mailgate import` on a fresh database (process start included).
fn import_rate(mbox: &std::path::Path, count: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mailgate.toml");
    std::fs::write(&config, config_text(dir.path())).unwrap();
    let bin = env!("CARGO_BIN_EXE_mailgate");
    // Create and migrate the database first, as an installation has it.
    let migrated =
        Command::new(bin).args(["--config", config.to_str().unwrap(), "migrate"]).output().unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let t = Instant::now();
    let out = Command::new(bin)
        .args(["--config", config.to_str().unwrap(), "import", mbox.to_str().unwrap()])
        .output()
        .unwrap();
    let elapsed = t.elapsed().as_secs_f64();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{summary}{}", String::from_utf8_lossy(&out.stderr));
    assert!(summary.contains(&format!("tickets opened:   {}\n", count.div_ceil(2))), "{summary}");
    count as f64 / elapsed
}

/// Messages per second of `Ingestor::ingest` over the same messages on a fresh database.
async fn ingest_rate(messages: &[String]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let config = mailgate::config::from_toml(&config_text(dir.path()), "<bench>").unwrap();
    let ingestor =
        Ingestor::new(mailgate::app::open_with_clock(&config, Arc::new(SystemClock)).await.unwrap())
            .without_mail();
    let delivery = Delivery::new(Source::Import);
    let t = Instant::now();
    for raw in messages {
        let report = ingestor.ingest(raw.as_bytes(), &delivery).await.unwrap();
        debug_assert!(matches!(report.outcome, Outcome::Created { .. } | Outcome::Added { .. }));
    }
    messages.len() as f64 / t.elapsed().as_secs_f64()
}
