//! Outbox drain rate into a local SMTP server (Debian's aiosmtpd writing a Maildir) with pooled
//! connections, next to the same server's ceiling measured with a plain SMTP client (Python's
//! smtplib, one connection, same message size), so the ratio shows.
//!
//!   cargo bench --bench outbox [-- --mails N]

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailgate::clock::SystemClock;
use mailgate::ingest::{Delivery, Ingestor};
use mailgate::outbox::render::Templates;
use mailgate::outbox::smtp::SmtpSender;
use mailgate::outbox::worker::Worker;
use mailgate::store::inbound::Source;

fn main() {
    let arg =
        |name: &str| std::env::args().skip_while(|a| a != name).nth(1).and_then(|n| n.parse::<usize>().ok());
    let mails = arg("--mails").unwrap_or(3000);
    let connections = arg("--connections").unwrap_or(8);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let port = support::ports::free_port();
    let _server = support::SmtpSink::start(port, &dir.path().join("Maildir"));

    let ceiling = plain_client_rate(port, mails);
    let drained = runtime.block_on(drain_rate(&dir, port, mails, connections));
    println!(
        "outbox drain ({connections} connections): {drained:.0} mails/s; plain SMTP client into the same server: {ceiling:.0} mails/s (ratio {:.2})",
        drained / ceiling
    );
}

/// Mails per second from Python's smtplib over one connection: the server's ceiling.
fn plain_client_rate(port: u16, mails: usize) -> f64 {
    let script = format!(
        "import smtplib,time\nbody=('x'*75+'\\r\\n')*33\nmsg='From: a@example.org\\r\\nTo: b@example.org\\r\\nSubject: ceiling\\r\\n\\r\\n'+body\n\
s=smtplib.SMTP('127.0.0.1',{port})\nt=time.time()\nfor i in range({mails}):\n  s.sendmail('a@example.org',['b@example.org'],msg)\n\
print({mails}/(time.time()-t))\ns.quit()\n"
    );
    let out = Command::new("/usr/bin/python3").arg("-c").arg(script).output().expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("rate")
}

async fn drain_rate(dir: &tempfile::TempDir, port: u16, mails: usize, connections: usize) -> f64 {
    let toml = format!(
        "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"sqlite://{}\"\n\
[notifications]\nmax_automatic_per_address_per_hour = 1000000\n\
[smtp]\nport = {port}\npool_size = {connections}\n[[agents]]\nkey = \"alice\"\nemails = [\"alice@example.com\"]\n",
        dir.path().join("bench.db").display()
    );
    let config = mailgate::config::from_toml(&toml, "<bench>").unwrap();
    let ingestor =
        Ingestor::new(mailgate::app::open_with_clock(&config, Arc::new(SystemClock)).await.unwrap());
    // Each new ticket queues an auto-response and an agent alert.
    for i in 0..mails / 2 {
        ingestor.ingest(support::message(i, None).as_bytes(), &Delivery::new(Source::Pipe)).await.unwrap();
    }
    let store = ingestor.app().store().clone();
    let queued =
        store.read(|tx| tx.query_one("SELECT COUNT(*) FROM outbox", &[], |r| r.i64(0))).await.unwrap();
    let mut settings = mailgate::app::worker_settings(&config, ingestor.app().settings().keyring.clone());
    settings.instance_name = "Bench Support".into();
    settings.max_attempts = 3;
    settings.lease = Duration::from_secs(120);
    settings.batch = 64;
    settings.concurrency = connections;
    settings.idle = Duration::from_millis(10);
    let worker = Worker::new(
        store.clone(),
        Arc::new(Templates::load(None, &[]).unwrap()),
        SmtpSender::new(&config.smtp).unwrap(),
        settings,
        Arc::new(SystemClock),
    );
    let t = Instant::now();
    let mut sent = 0;
    while sent < queued as usize {
        let n = worker.drain_once().await.unwrap();
        assert!(n > 0, "rows stuck");
        sent += n;
    }
    let rate = sent as f64 / t.elapsed().as_secs_f64();
    let delivered = store
        .read(|tx| tx.query_one("SELECT COUNT(*) FROM outbox WHERE status = 'sent'", &[], |r| r.i64(0)))
        .await
        .unwrap();
    assert_eq!(delivered, queued, "every queued mail sent");
    rate
}
