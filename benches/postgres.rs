//! PostgreSQL side by side with SQLite: in-process ingest by one daemon and by three daemons
//! writing concurrently (three `Ingestor`s with their own pools, each on its own runtime thread, as
//! three `serve` processes would), msg/s with p50 and p99 per message; then the outbox drained by
//! three workers into aiosmtpd: mails/s, and no mail sent twice. Each run gets a fresh database on
//! the server in `MAILGATE_TEST_PG` (`source /work/services.env`); SQLite runs in the same run.
//!
//!   cargo bench --bench postgres [-- --messages N]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailgate::clock::SystemClock;
use mailgate::ingest::Delivery;
use mailgate::outbox::render::Templates;
use mailgate::outbox::smtp::SmtpSender;
use mailgate::outbox::worker::Worker;
use mailgate::store::inbound::Source;

const PRELOAD: usize = 1_000;

fn main() {
    let Some(admin_url) = std::env::var("MAILGATE_TEST_PG").ok() else {
        eprintln!("MAILGATE_TEST_PG is not set (source /work/services.env): nothing to measure");
        return;
    };
    let messages = support::arg("--messages").unwrap_or(1500) as usize;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite = ingest_run("SQLite, one daemon", &sqlite_url, 1, messages);
    let pg_one = ingest_run("PostgreSQL, one daemon", &fresh_database(&admin_url), 1, messages);
    let pg_three = ingest_run("PostgreSQL, three daemons", &fresh_database(&admin_url), 3, messages);
    println!(
        "PostgreSQL / SQLite: one daemon {:.2}x the msg/s, three daemons {:.2}x",
        pg_one / sqlite,
        pg_three / sqlite
    );
    drain_with_three_workers(&fresh_database(&admin_url), &dir, messages / 2);
}

/// A new, empty database on the server of `admin_url`; its URL (over TLS when `MG_PG_CA` is set).
fn fresh_database(admin_url: &str) -> String {
    let name = format!("mg_bench_{:016x}", rand::random::<u64>());
    let mut admin =
        postgres::Client::connect(admin_url, postgres::NoTls).expect("connect to MAILGATE_TEST_PG");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let tls = std::env::var("MG_PG_CA")
        .map(|ca| format!("?sslmode=verify-full&sslrootcert={ca}"))
        .unwrap_or_default();
    format!("{base}/{name}{tls}")
}

fn config(url: &str, smtp_port: u16) -> mailgate::config::Config {
    let toml = format!(
        "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"{url}\"\n\
[smtp]\nport = {smtp_port}\npool_size = 4\n\
[notifications]\nmax_automatic_per_address_per_hour = 1000000\n\
[[agents]]\nkey = \"alice\"\nemails = [\"alice@example.com\"]\n"
    );
    mailgate::config::from_toml(&toml, "<bench>").unwrap()
}

/// Each daemon on its own thread and runtime, with its own `Ingestor` (and pool).
fn ingest_run(what: &str, url: &str, daemons: usize, messages: usize) -> f64 {
    let config = config(url, 25);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let first = mailgate::ingest::Ingestor::new(
        runtime.block_on(mailgate::app::open_with_clock(&config, Arc::new(SystemClock))).unwrap(),
    );
    let mut parents = Vec::with_capacity(PRELOAD);
    runtime.block_on(async {
        for i in 0..PRELOAD {
            let raw = support::message(20_000_000 + i, None);
            first.ingest(raw.as_bytes(), &Delivery::new(Source::Pipe)).await.unwrap();
            parents.push(support::message_id(&raw));
        }
    });
    drop(first);
    let parents = Arc::new(parents);
    let started = Instant::now();
    let threads: Vec<_> = (0..daemons)
        .map(|d| {
            let (config, parents) = (config.clone(), parents.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let ingestor = mailgate::ingest::Ingestor::new(
                        mailgate::app::open_with_clock(&config, Arc::new(SystemClock)).await.unwrap(),
                    );
                    let mut latencies = Vec::new();
                    for k in (d..messages).step_by(daemons) {
                        let raw = if k % 2 == 0 {
                            support::message(k, None)
                        } else {
                            support::message(k, Some(&parents[k % parents.len()]))
                        };
                        let t = Instant::now();
                        ingestor.ingest(raw.as_bytes(), &Delivery::new(Source::Imap)).await.unwrap();
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    latencies
                })
            })
        })
        .collect();
    let latencies: Vec<f64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    println!(
        "{what}: {rate:.0} msg/s over {messages} messages ({PRELOAD} tickets stored before); per message p50 {:.2} ms, p99 {:.2} ms",
        support::median(latencies.clone()),
        support::percentile(latencies, 0.99)
    );
    rate
}

/// Queues the mail of `tickets` new tickets, then drains it with three workers (own stores, as
/// three daemons) into aiosmtpd; every mail must arrive exactly once.
fn drain_with_three_workers(url: &str, dir: &tempfile::TempDir, tickets: usize) {
    let port = support::ports::free_port();
    let maildir = dir.path().join("Maildir");
    let _sink = support::SmtpSink::start(port, &maildir);
    let config = config(url, port);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let queued = runtime.block_on(async {
        let ingestor = mailgate::ingest::Ingestor::new(
            mailgate::app::open_with_clock(&config, Arc::new(SystemClock)).await.unwrap(),
        );
        for i in 0..tickets {
            let raw = support::message(30_000_000 + i, None);
            ingestor.ingest(raw.as_bytes(), &Delivery::new(Source::Pipe)).await.unwrap();
        }
        ingestor
            .app()
            .store()
            .read(|tx| tx.query_one("SELECT COUNT(*) FROM outbox", &[], |r| r.i64(0)))
            .await
            .unwrap()
    });
    let started = Instant::now();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let config = config.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let ingestor =
                        mailgate::app::open_with_clock(&config, Arc::new(SystemClock)).await.unwrap();
                    let mut settings =
                        mailgate::app::worker_settings(&config, ingestor.settings().keyring.clone());
                    settings.idle = Duration::from_millis(10);
                    let store = ingestor.store().clone();
                    let worker = Worker::new(
                        store.clone(),
                        Arc::new(Templates::load(None, &[]).unwrap()),
                        SmtpSender::new(&config.smtp).unwrap(),
                        settings,
                        Arc::new(SystemClock),
                    );
                    let due = "SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending')";
                    loop {
                        if worker.drain_once().await.unwrap() == 0
                            && store.read(move |tx| tx.query_one(due, &[], |r| r.i64(0))).await.unwrap() == 0
                        {
                            break;
                        }
                    }
                })
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ids: Vec<String> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|entry| {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            text.lines().find(|l| l.to_ascii_lowercase().starts_with("message-id:")).unwrap().to_string()
        })
        .collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    println!(
        "PostgreSQL outbox, three workers: {queued} mails in {elapsed:.1} s = {:.0} mails/s; delivered {}, sent twice {}",
        queued as f64 / elapsed,
        ids.len(),
        ids.len() - unique.len()
    );
    assert_eq!(ids.len() as i64, queued, "every queued mail delivered once");
}
