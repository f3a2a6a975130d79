//! Faults are temporary failures, not verdicts on the message: a full disk makes `pipe` exit 75
//! with nothing written (never a quarantine with exit 0), and neither a redelivery nor a
//! `quarantine replay` ever puts one Message-ID on two tickets.

mod common;

use std::path::Path;
use std::process::Command;

use common::site::{code, run_with, stdout, text};
use common::{Backend, Harness, Mail};
use mailgate::ingest::{Delivery, Outcome};
use mailgate::store::inbound::{self as inbound_store, NewInbound, Source};

on_both_backends!(
    replay_opens_no_second_ticket_for_a_stored_message_id,
    last_resort_quarantine_keeps_the_message_id
);

/// A row quarantined under the hash of its bytes (as the last-resort path once did), then the
/// same message delivered again and stored: replaying the row is a duplicate, not a second ticket.
async fn replay_opens_no_second_ticket_for_a_stored_message_id(backend: Backend) {
    let h = Harness::new(backend).await.unwrap();
    let raw =
        Mail::new("Ann <ann@customer.test>", "Lost order", "Where is it?").id("<once@customer.test>").build();
    let bytes = raw.clone().into_bytes();
    let legacy = h
        .write(move |tx| {
            let key = "sha256:legacy-row-of-the-same-message";
            let row = NewInbound {
                dedupe_key: key,
                source: Source::Pipe,
                mailbox: None,
                imap_uid: None,
                raw: &bytes,
                received_at: common::T0,
            };
            inbound_store::insert_inbound(tx, &row)
        })
        .await;
    common::created(&h.pipe(&raw).await);
    let report = h.ingestor.replay(legacy).await.unwrap();
    assert_eq!(report.outcome, Outcome::Duplicate, "{}", report.trace);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 1);
}

/// The last-resort quarantine stores the message under its Message-ID: a redelivery is a
/// duplicate of it, and replaying it opens the one ticket.
async fn last_resort_quarantine_keeps_the_message_id(backend: Backend) {
    let h = Harness::new(backend).await.unwrap();
    let raw = Mail::new("Ann <ann@customer.test>", "Refund", "Please.").id("<kept@customer.test>").build();
    let delivery = Delivery::new(Source::Pipe);
    let row = h.ingestor.quarantine_raw(raw.as_bytes(), &delivery, "ingest failed: test").await.unwrap();
    assert_eq!(h.pipe(&raw).await.outcome, Outcome::Duplicate, "a redelivery finds the quarantined row");
    common::created(&h.ingestor.replay(row).await.unwrap());
    assert_eq!(h.pipe(&raw).await.outcome, Outcome::Duplicate);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 1);
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if !common::require(root, "root, to mount a small tmpfs", "run the tests as root, as CI does") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs");
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A message with an attachment of `kib` KiB (base64 in the message, decoded in the database).
fn with_attachment(n: usize, kib: usize) -> Vec<u8> {
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\r\n";
    let body = line.repeat(kib * 1024 / 60 + 1);
    format!(
        "From: Big {n} <big{n}@customer.test>\r\nTo: support@example.com\r\nSubject: Logs {n}\r\n\
         Message-ID: <disk-{n}@customer.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         Logs attached.\r\n--b\r\nContent-Type: application/octet-stream; name=logs.bin\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=logs.bin\r\n\r\n\
         {body}--b--\r\n"
    )
    .into_bytes()
}

fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

/// The disk has room for the message's raw bytes but not for the whole message (raw bytes and
/// the decoded attachment): `pipe` exits 75 and writes nothing, where it once quarantined the
/// raw bytes with exit 0 and the MTA dropped its copy.
#[test]
fn a_full_disk_defers_with_75_and_the_redelivery_stores_the_message_once() {
    let Some(disk) = SmallDisk::mount("8m") else { return };
    let config = disk.path().join("mailgate.toml");
    let url = format!("sqlite://{}", disk.path().join("mailgate.db").display());
    let site =
        format!("[instance]\nsupport_addresses = [\"support@example.com\"]\n\n[database]\nurl = \"{url}\"\n");
    std::fs::write(&config, site).unwrap();
    let pipe = |message: &[u8]| run_with(&config, &["pipe"], message);
    assert_eq!(code(&pipe(&with_attachment(0, 1))), 0);

    let big = with_attachment(1, 600);
    let filler = disk.path().join("filler");
    // Measured: the raw bytes alone fit in 2.1 times their size (WAL frames, pages), the whole
    // message (raw bytes, decoded attachment, entry) does not.
    let room = (big.len() as u64) * 210 / 100;
    std::fs::write(&filler, vec![0u8; (free_bytes(disk.path()) - room) as usize]).unwrap();
    let out = pipe(&big);
    assert_eq!(code(&out), 75, "{}", text(&out));
    assert!(text(&out).contains("try again later"), "{}", text(&out));
    let small = pipe(&with_attachment(2, 1));
    assert_eq!(code(&small), 0, "a small message still fits: {}", text(&small));
    let quarantined = run_with(&config, &["quarantine", "list"], b"");
    assert_eq!(stdout(&quarantined).lines().count(), 1, "nothing quarantined: {}", text(&quarantined));

    // Space is freed; the MTA delivers its copy (twice, for good measure); an admin replays.
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..2 {
        let out = pipe(&big);
        assert_eq!(code(&out), 0, "{}", text(&out));
    }
    assert_eq!(code(&run_with(&config, &["quarantine", "replay"], b"")), 0);
    let list = stdout(&run_with(&config, &["ticket", "list"], b""));
    assert_eq!(list.lines().filter(|l| l.trim_end().ends_with("Logs 1")).count(), 1, "{list}");
    assert_eq!(list.lines().count(), 4, "a header and three tickets: {list}");
}
