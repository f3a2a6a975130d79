//! In-process ingest throughput on SQLite with 1,000 and 100,000 tickets already stored (each with
//! the outbox rows its message queued: the auto-response and the agent's alert), next to the
//! parse-only ceiling and to the floor: one durable transaction per message that only inserts the
//! raw bytes, on the same database with the store's own settings, measured in the same run.
//! Also as the IMAP drain ingests on SQLite (50 messages to one synced transaction), next to the
//! floor with every commit synced. Generated 2-4 KB messages, half new tickets and half replies.
//!
//!   cargo bench --bench ingest              # 1k and 100k
//!   cargo bench --bench ingest -- --quick   # 1k and 10k, fewer rounds
//!   cargo bench --bench ingest -- --rules   # only: the cost of 50 [[rules]] (issue 17: <= 10%)

mod support;

use std::sync::Arc;
use std::time::Instant;

use mailgate::clock::SystemClock;
use mailgate::ingest::{Arrival, Delivery, Ingestor, Outcome};
use mailgate::store::inbound::Source;

const ROUNDS: usize = 3;
/// The IMAP drain's messages per transaction on SQLite (`imap::drain::per_transaction`).
const PER_TRANSACTION: usize = 50;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[usize] = if quick { &[1_000, 10_000] } else { &[1_000, 100_000] };
    let batch = if quick { 2_000 } else { 5_000 };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        rules_overhead(batch).await;
        if std::env::args().any(|a| a == "--rules") {
            return;
        }
        parse_ceiling(batch);
        let mut rates = Vec::new();
        for &preload in sizes {
            let (rate, floor) = ingest_rate(preload, batch).await;
            println!(
                "  floor (insert the raw bytes, one transaction each, synchronous = NORMAL as the daemon) on the \
                 same database: {floor:.0} msg/s; ingest is {:.2}x of it",
                rate / floor
            );
            rates.push((preload, rate));
        }
        if let [(small, a), (large, b)] = rates[..] {
            println!(
                "ingest at {large} tickets is {:.1}% {} than at {small}",
                ((a - b) / a * 100.0).abs(),
                if b < a { "slower" } else { "faster" }
            );
        }
    });
}

fn parse_ceiling(n: usize) {
    let messages: Vec<String> =
        (0..n).map(|i| support::message(i, (i % 2 == 1).then_some("<parent@client.test>"))).collect();
    let bytes: usize = messages.iter().map(String::len).sum();
    let limits = mailgate::parse::Limits::default();
    let mut ours = Vec::new();
    let mut raw_parser = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for m in &messages {
            std::hint::black_box(mailgate::parse::parse_email(m.as_bytes(), &limits).unwrap());
        }
        ours.push(n as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        for m in &messages {
            std::hint::black_box(mail_parser::MessageParser::default().parse(m.as_bytes()).unwrap());
        }
        raw_parser.push(n as f64 / t.elapsed().as_secs_f64());
    }
    println!(
        "parse only: {:.0} msg/s (mail-parser alone {:.0} msg/s), average message {} bytes",
        support::median(ours),
        support::median(raw_parser),
        bytes / n
    );
}

async fn open(url: &str) -> Ingestor {
    let toml = format!(
        "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"{url}\"\n\
[[agents]]\nkey = \"alice\"\nemails = [\"alice@example.com\"]\n\
[[orgs]]\nkey = \"acme\"\nname = \"ACME\"\ndomains = [\"acme.test\"]\nprimary_contacts = [\"boss@acme.test\"]\naccount_manager = \"agent:alice\"\n"
    );
    let config = mailgate::config::from_toml(&toml, "<bench>").unwrap();
    Ingestor::new(mailgate::app::open_with_clock(&config, Arc::new(SystemClock)).await.unwrap())
}

/// Messages per second over `ROUNDS` batches of `batch` messages, on a database holding `preload`
/// tickets; and the floor's rate, rounds interleaved with ingest's.
async fn ingest_rate(preload: usize, batch: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let ingestor = open(&url).await;
    let delivery = Delivery::new(Source::Pipe);
    let drain = Delivery { mailbox: Some("support".into()), ..Delivery::new(Source::Imap) };

    let t = Instant::now();
    let mut parents = Vec::with_capacity(preload);
    for i in 0..preload {
        let raw = support::message(10_000_000 + i, None);
        let report = ingestor.ingest(raw.as_bytes(), &delivery).await.unwrap();
        assert!(matches!(report.outcome, Outcome::Created { .. }));
        parents.push(support::message_id(&raw));
    }
    println!("preloaded {preload} tickets in {:.1} s", t.elapsed().as_secs_f64());

    let path = dir.path().join("bench.db");
    let mut floor_conn = rusqlite::Connection::open(&path).unwrap();
    let role = mailgate::store::SqliteRole::Daemon;
    mailgate::store::configure_sqlite(&mut floor_conn, std::time::Duration::from_secs(5), role).unwrap();
    floor_conn
        .execute_batch("CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY, raw BLOB NOT NULL)")
        .unwrap();
    let outbox: i64 = floor_conn.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0)).unwrap();
    println!("  outbox rows stored: {outbox}");

    let mut rates = Vec::new();
    let mut batched = Vec::new();
    let mut floors = Vec::new();
    let mut synced_floors = Vec::new();
    let mut next = 0usize;
    let mut messages = |offset: usize, round: usize| -> Vec<String> {
        (0..batch)
            .map(|k| {
                next += 1;
                let i = offset + round * batch + k;
                if k % 2 == 0 {
                    support::message(i, None)
                } else {
                    support::message(i, Some(&parents[next % parents.len()]))
                }
            })
            .collect()
    };
    for round in 0..ROUNDS {
        let (one_by_one, drained) = (messages(0, round), messages(50_000_000, round));
        let t = Instant::now();
        for raw in &one_by_one {
            let report = ingestor.ingest(raw.as_bytes(), &delivery).await.unwrap();
            debug_assert!(matches!(report.outcome, Outcome::Created { .. } | Outcome::Added { .. }));
        }
        rates.push(batch as f64 / t.elapsed().as_secs_f64());

        // As the IMAP drain runs on SQLite: PER_TRANSACTION messages to one synced transaction.
        let t = Instant::now();
        for chunk in drained.chunks(PER_TRANSACTION) {
            let arrivals = chunk
                .iter()
                .map(|raw| Arrival {
                    raw: raw.clone().into_bytes(),
                    delivery: drain.clone(),
                    oversized: None,
                })
                .collect();
            let report = ingestor.ingest_batch(arrivals).await;
            assert!(report.stopped.is_none() && report.taken.len() == chunk.len(), "{:?}", report.stopped);
        }
        batched.push(batch as f64 / t.elapsed().as_secs_f64());

        for (synchronous, rates) in [("NORMAL", &mut floors), ("FULL", &mut synced_floors)] {
            floor_conn.pragma_update(None, "synchronous", synchronous).unwrap();
            let t = Instant::now();
            for raw in &one_by_one {
                let tx =
                    floor_conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
                tx.prepare_cached("INSERT INTO bench_floor (raw) VALUES (?1)")
                    .unwrap()
                    .execute([raw.as_bytes()])
                    .unwrap();
                tx.commit().unwrap();
            }
            rates.push(batch as f64 / t.elapsed().as_secs_f64());
        }
    }
    let rate = support::median(rates.clone());
    let floor = support::median(floors);
    println!("ingest with {preload} tickets stored: median {rate:.0} msg/s (rounds: {rates:.0?})");
    let drained = support::median(batched.clone());
    let synced = support::median(synced_floors);
    println!(
        "  as the IMAP drain ingests ({PER_TRANSACTION} messages to one synced transaction): median {drained:.0} msg/s \
         (rounds: {batched:.0?}); {:.2}x of the floor, {:.2}x of one ingest per transaction",
        drained / floor,
        drained / rate
    );
    println!(
        "  floor with every commit synced (synchronous = FULL, one fsync each): {synced:.0} msg/s; \
         the drain is {:.1}x of it",
        drained / synced
    );
    (rate, floor)
}

/// 50 `[[rules]]` (regexes, headers, domains, org custom data, body text; none matching) against
/// none: the same messages ingested into two fresh databases, rounds interleaved, ratio of medians.
async fn rules_overhead(batch: usize) {
    let mut rules = String::new();
    for i in 0..50 {
        let condition = match i % 5 {
            0 => format!("{{ field = \"subject\", regex = \"(?i)invoice-{i}\\\\b|refund-{i}\" }}"),
            1 => format!("{{ field = \"header.x-campaign\", equals = \"c{i}\" }}"),
            2 => format!("{{ field = \"sender_domain\", one_of = [\"d{i}.example\", \"e{i}.example\"] }}"),
            3 => format!("{{ field = \"org.tier\", equals = \"tier{i}\" }}"),
            _ => format!("{{ field = \"body\", contains = \"order-{i}-\" }}"),
        };
        rules +=
            &format!("[[rules]]\nname = \"rule {i}\"\nconditions = [{condition}]\npriority = \"high\"\n");
    }
    const ROUNDS: usize = 6;
    let (plain_dir, ruled_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = |dir: &tempfile::TempDir| format!("sqlite://{}", dir.path().join("bench.db").display());
    let (plain, ruled) = (open_with(&url(&plain_dir), "").await, open_with(&url(&ruled_dir), &rules).await);
    let delivery = Delivery::new(Source::Pipe);
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let messages: Vec<String> =
            (0..batch).map(|k| support::message(20_000_000 + round * batch + k, None)).collect();
        // Each goes first in every other round: neither gains from going second.
        let mut pair = [(&plain, &mut without), (&ruled, &mut with)];
        if round % 2 == 1 {
            pair.reverse();
        }
        for (ingestor, rates) in pair {
            let t = Instant::now();
            for raw in &messages {
                ingestor.ingest(raw.as_bytes(), &delivery).await.unwrap();
            }
            rates.push(batch as f64 / t.elapsed().as_secs_f64());
        }
    }
    let (a, b) = (support::median(without), support::median(with));
    println!(
        "new tickets without rules: {a:.0} msg/s; with 50 rules: {b:.0} msg/s; rules add {:.1}%",
        (a / b - 1.0) * 100.0
    );
}

async fn open_with(url: &str, extra: &str) -> Ingestor {
    let toml = format!(
        "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"{url}\"\n\
[[orgs]]\nkey = \"acme\"\ndomains = [\"acme.test\"]\ncustom = {{ tier = \"gold\" }}\n{extra}"
    );
    let config = mailgate::config::from_toml(&toml, "<bench>").unwrap();
    Ingestor::new(mailgate::app::open_with_clock(&config, Arc::new(SystemClock)).await.unwrap())
}
