//! Shared by the benchmarks: generated 2-4 KB messages, small statistics, and a daemon handle.
#![allow(dead_code)]

#[path = "../../tests/common/ports.rs"]
pub mod ports;

/// A generated customer message of 2-4 KB; `reply_to` makes it a reply to that Message-ID.
pub fn message(i: usize, reply_to: Option<&str>) -> String {
    let domain = ["example.org", "acme.test", "globex.test", "initech.test"][i % 4];
    let subject = match reply_to {
        Some(_) => format!("Re: Problem number {}", i / 2),
        None => format!("Problem number {i}"),
    };
    let mut s = format!(
        "From: Customer {i} <customer{}@{domain}>\r\nTo: Support <support@example.com>\r\nSubject: {subject}\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench-{i}-{:x}@client.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n",
        i % 5000,
        i.wrapping_mul(2_654_435_761)
    );
    if let Some(parent) = reply_to {
        s += &format!("In-Reply-To: {parent}\r\nReferences: {parent}\r\n");
    }
    s += "\r\n";
    let paragraphs = 9 + i % 10;
    for p in 0..paragraphs {
        s += &format!(
            "Paragraph {p}: the printer in room {} shows error E{:04} again after the update; we restarted it \
twice and cleared the queue, but jobs still stall at 40 percent. Could you have a look?\r\n\r\n",
            i % 97,
            i % 9973
        );
    }
    if reply_to.is_some() {
        s += "On Mon, 23 Nov 2026 at 09:00, Support <support@example.com> wrote:\r\n> Thanks for reaching out.\r\n> Please send logs.\r\n";
    }
    s
}

pub fn message_id(raw: &str) -> String {
    raw.lines().find_map(|l| l.strip_prefix("Message-ID: ")).unwrap().to_string()
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

pub fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let idx = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[idx]
}

/// `--name N` from the bench's command line.
pub fn arg(name: &str) -> Option<u64> {
    std::env::args().skip_while(|a| a != name).nth(1).and_then(|n| n.parse::<u64>().ok())
}

/// A `mailgate serve` child, killed when dropped.
pub struct Daemon(pub std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something listens on loopback `port`.
pub fn wait_for(port: u16) {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("mailgate serve did not listen on {port}");
}

/// Debian's aiosmtpd writing every accepted mail into a Maildir (`tests/support/smtp_sink.py`),
/// killed when dropped.
pub struct SmtpSink(std::process::Child);

impl SmtpSink {
    pub fn start(port: u16, maildir: &std::path::Path) -> SmtpSink {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let child = std::process::Command::new("/usr/bin/python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--maildir"])
            .arg(maildir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd (apt install python3-aiosmtpd)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        SmtpSink(child)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
