//! A real SMTP server for tests: Debian's aiosmtpd (tests/support/smtp_sink.py) started on a
//! loopback port, writing accepted mail into a Maildir the tests read. Stopped on drop.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailgate::config::Smtp;
use mailgate::outbox::render::Templates;
use mailgate::outbox::smtp::SmtpSender;
use mailgate::outbox::worker::Worker;

use super::Harness;

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

/// Whether Debian's python3-aiosmtpd is installed; see `super::require` for what a missing server
/// does.
pub fn available() -> bool {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    super::require(
        ok,
        "SMTP: Debian's python3-aiosmtpd is not installed",
        "`scripts/test-services.sh install` installs it",
    )
}

impl SmtpSink {
    pub fn start(port: u16, maildir: PathBuf) -> SmtpSink {
        Self::spawn(port, maildir, &[])
    }

    /// A server that answers every message with `554 5.7.1`.
    pub fn start_rejecting(port: u16, maildir: PathBuf) -> SmtpSink {
        Self::spawn(port, maildir, &["--reject"])
    }

    /// A server that takes mail only after AUTH as `user` with `password` (else `535 5.7.8`).
    pub fn start_requiring_auth(port: u16, maildir: PathBuf, user: &str, password: &str) -> SmtpSink {
        Self::spawn(port, maildir, &["--auth-user", user, "--auth-password", password])
    }

    fn spawn(port: u16, maildir: PathBuf, options: &[&str]) -> SmtpSink {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut command = Command::new("/usr/bin/python3");
        command.arg(script).args(["--port", &port.to_string(), "--maildir"]).arg(&maildir).args(options);
        let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpSink { child, port, maildir }
    }

    /// Every delivered mail, raw, in delivery order.
    pub fn messages(&self) -> Vec<String> {
        delivered(&self.maildir)
    }
}

/// Raw mails in a Maildir (`new/` and `cur/`), oldest first.
pub fn delivered(maildir: &std::path::Path) -> Vec<String> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flatten()
        .filter_map(|entry| entry.ok())
        .map(|entry| {
            (entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), entry.path())
        })
        .collect();
    files.sort();
    files.into_iter().filter_map(|(_, path)| std::fs::read_to_string(path).ok()).collect()
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of header `name` in a raw mail (first occurrence, unfolded).
pub fn header(raw: &str, name: &str) -> Option<String> {
    let text = raw.replace("\r\n", "\n");
    let head = text.split("\n\n").next().unwrap_or_default();
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    let prefix = format!("{}:", name.to_lowercase());
    unfolded
        .lines()
        .find(|l| l.to_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
}

/// The SMTP settings the test workers use: the server on `port` (loopback, no TLS, no AUTH).
pub fn smtp_settings(port: u16) -> Smtp {
    Smtp {
        host: "127.0.0.1".into(),
        port,
        tls: mailgate::config::SmtpTls::None,
        username: None,
        password_file: None,
        timeout_ms: 5_000,
        max_attempts: 3,
        pool_size: 4,
    }
}

/// An outbox worker on `h`'s database sending to the SMTP server on `port` (loopback, no TLS).
pub fn worker(h: &Harness, port: u16) -> Worker {
    worker_with(h, &smtp_settings(port))
}

/// An outbox worker on `h`'s database with these SMTP settings.
pub fn worker_with(h: &Harness, smtp: &Smtp) -> Worker {
    let mut settings = mailgate::app::worker_settings(&h.config, h.app.settings().keyring.clone());
    settings.instance_name = "ACME Support".into();
    settings.max_attempts = 3;
    settings.lease = Duration::from_secs(60);
    settings.batch = 64;
    settings.concurrency = 4;
    settings.idle = Duration::from_millis(50);
    Worker::new(
        h.app.store().clone(),
        Arc::new(
            Templates::load(h.config.templates.dir.as_deref(), &h.config.wanted_variants())
                .unwrap_or_else(|errors| panic!("the test's templates do not load: {errors:#?}")),
        ),
        SmtpSender::new(smtp).unwrap(),
        settings,
        Arc::new(h.clock.clone()),
    )
}

/// The delivered mail addressed to `to`.
pub fn mail_to<'a>(delivered: &'a [String], to: &str) -> &'a String {
    delivered
        .iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains(to)))
        .unwrap_or_else(|| panic!("no mail to {to} among {} delivered", delivered.len()))
}
