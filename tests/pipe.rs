//! `mailgate pipe` as an MTA runs it: one process per message, judged by its exit code.

mod common;

use common::Backend;
use common::site::{Site, code, run_with, stdout, text};

const MAIL: &[u8] =
    b"From: Jane <jane@example.org>\r\nTo: support@example.com\r\nSubject: Printer on fire\r\n\
Message-ID: <pipe-1@client.test>\r\n\r\nIt is burning.\r\n";

on_both_backends_blocking!(
    stores_a_message_and_exits_0,
    oversize_is_refused_with_65,
    garbage_is_quarantined_with_0,
    bad_config_exits_78,
    explain_prints_the_trace_and_writes_nothing,
    check_config_reports_a_broken_template_override,
    admins_act_on_tickets_from_the_command_line,
    links_are_minted_and_revoked_from_the_command_line,
    agent_commands_set_a_password_from_stdin_and_reset_2fa,
    every_listing_and_record_command_answers,
);

fn site(backend: Backend, extra: &str) -> Site {
    Site::new(backend, extra).expect("backend available (checked by the test macro)")
}

fn stores_a_message_and_exits_0(backend: Backend) {
    let site = site(backend, "");
    let out = site.run(&["pipe"], MAIL);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created"), "{}", text(&out));
    let again = site.run(&["pipe"], MAIL);
    assert_eq!(code(&again), 0, "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("duplicate"), "{}", text(&again));
    let list = site.run(&["ticket", "list"], b"");
    assert!(String::from_utf8_lossy(&list.stdout).contains("Printer on fire"), "{}", text(&list));
}

fn oversize_is_refused_with_65(backend: Backend) {
    let site = site(backend, "\n[limits]\nmax_message_bytes = 1000\n");
    let mut big = MAIL.to_vec();
    big.extend(std::iter::repeat_n(b'x', 5000));
    let out = site.run(&["pipe"], &big);
    assert_eq!(code(&out), 65, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("limits.max_message_bytes"), "{}", text(&out));
}

fn garbage_is_quarantined_with_0(backend: Backend) {
    let site = site(backend, "");
    let garbage: Vec<u8> = (0..3000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let out = site.run(&["pipe"], &garbage);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("quarantined"), "{}", text(&out));
    let list = site.run(&["quarantine", "list"], b"");
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 2, "{}", text(&list));
}

fn bad_config_exits_78(backend: Backend) {
    let site = site(backend, "\n[tickets]\nnumber_formatt = \"####\"\n");
    let out = site.run(&["pipe"], MAIL);
    assert_eq!(code(&out), 78, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tickets.number_formatt"), "{}", text(&out));
    let check = site.run(&["check-config"], b"");
    assert_eq!(code(&check), 78, "{}", text(&check));
}

#[tokio::test]
async fn locked_database_exits_75_and_loses_nothing() {
    let site = Site::new(Backend::Sqlite, "").unwrap();
    assert_eq!(code(&site.run(&["migrate"], b"")), 0);

    // Another writer holds the SQLite write lock for longer than busy_timeout_ms.
    let db = site.db.url.strip_prefix("sqlite://").unwrap().to_string();
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('held', 'by test');")
        .unwrap();

    let site_config = site.config();
    let out = tokio::task::spawn_blocking(move || run_with(&site_config, &["pipe"], MAIL)).await.unwrap();
    assert_eq!(code(&out), 75, "{}", text(&out));

    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);

    // The MTA retries: now it is stored, once.
    let retry = site.run(&["pipe"], MAIL);
    assert_eq!(code(&retry), 0, "{}", text(&retry));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (inbound, tickets): (i64, i64) = conn
        .query_row("SELECT (SELECT COUNT(*) FROM inbound), (SELECT COUNT(*) FROM tickets)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((inbound, tickets), (1, 1));
}

/// `pipe` syncs its commit and leaves the WAL to the next process (no checkpoint, no re-created
/// WAL per message: `store::SqliteRole::OneShot`); the next process reads what it committed.
#[test]
fn a_piped_message_is_in_the_wal_the_next_process_reads() {
    let site = Site::new(Backend::Sqlite, "").unwrap();
    let out = site.run(&["pipe"], MAIL);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let db = site.db.url.strip_prefix("sqlite://").unwrap().to_string();
    let wal = std::fs::metadata(format!("{db}-wal")).expect("the WAL is still there after pipe exited");
    assert!(wal.len() > 0, "the message is in the WAL, not checkpointed away on close");
    let list = site.run(&["ticket", "list"], b"");
    assert!(String::from_utf8_lossy(&list.stdout).contains("Printer on fire"), "{}", text(&list));
}

fn explain_prints_the_trace_and_writes_nothing(backend: Backend) {
    let site = site(backend, "");
    let file = site.dir.path().join("m.eml");
    std::fs::write(&file, MAIL).unwrap();
    let out = site.run(&["explain", file.to_str().unwrap()], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("classify") && stdout.contains("thread") && stdout.contains("dry run"),
        "{stdout}"
    );
    let list = site.run(&["ticket", "list"], b"");
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).lines().count(),
        1,
        "only the header line: {}",
        text(&list)
    );
}

fn check_config_reports_a_broken_template_override(backend: Backend) {
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(templates.path().join("new_ticket_alert.txt.tera"), "Hello {{ no_such_thing }}\n")
        .unwrap();
    let site = site(backend, &format!("\n[templates]\ndir = \"{}\"\n", templates.path().display()));
    let out = site.run(&["check-config"], b"");
    assert_eq!(code(&out), 78, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("new_ticket_alert.txt.tera") && stderr.contains("no_such_thing"), "{stderr}");

    std::fs::write(
        templates.path().join("new_ticket_alert.txt.tera"),
        "{{ reply_marker }}\nNew: {{ ticket.subject }}\n",
    )
    .unwrap();
    let out = site.run(&["check-config"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
}

fn admins_act_on_tickets_from_the_command_line(backend: Backend) {
    let site =
        site(backend, "[[agents]]\nkey = \"alice\"\nname = \"Alice\"\nemails = [\"alice@example.com\"]\n");
    let mail = "From: Ann <ann@acme.test>\r\nTo: support@example.com\r\nSubject: Broken\r\nMessage-ID: <a1@acme.test>\r\n\r\nIt broke.\r\n";
    assert_eq!(code(&site.run(&["pipe"], mail.as_bytes())), 0);
    let number = site.strings("SELECT number FROM tickets").remove(0);

    let out = site.run(&["ticket", "reply", &number, "--as", "alice"], b"#pending\nWe are on it.\n");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("response") && text(&out).contains("Status open -> pending by agent alice"),
        "{}",
        text(&out)
    );
    let out = site.run(&["ticket", "note", &number, "--as", "alice", "--text", "Known issue."], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = site.run(&["ticket", "assign", &number, "alice"], b"");
    assert!(text(&out).contains("Assigned to agent alice by an admin"), "{}", text(&out));
    let out = site.run(&["ticket", "status", &number, "closed"], b"");
    assert!(text(&out).contains("Status pending -> closed by an admin"), "{}", text(&out));

    let kinds = site.strings("SELECT kind FROM entries WHERE kind IN ('response', 'note') ORDER BY id");
    assert_eq!(kinds, ["response", "note"]);
    let relays = site.scalar("SELECT COUNT(*) FROM outbox WHERE template = 'response_relay'");
    assert_eq!(relays, 1, "the reply went to Ann");

    assert_eq!(code(&site.run(&["ticket", "status", "999999", "closed"], b"")), 66, "no such ticket");
    let out = site.run(&["ticket", "assign", &number, "zed"], b"");
    assert_eq!(code(&out), 65, "{}", text(&out));
    assert!(text(&out).contains("no active agent or team has the key \"zed\""), "{}", text(&out));
    assert_eq!(code(&site.run(&["ticket", "reply", &number, "--as", "zed", "--text", "x"], b"")), 65);
}

fn links_are_minted_and_revoked_from_the_command_line(backend: Backend) {
    let site = site(backend, "");
    let mail = "From: Ann <ann@acme.test>\r\nTo: support@example.com\r\nSubject: Broken\r\nMessage-ID: <l1@acme.test>\r\n\r\nIt broke.\r\n";
    assert_eq!(code(&site.run(&["pipe"], mail.as_bytes())), 0);
    let number = site.strings("SELECT number FROM tickets").remove(0);

    let out = site.run(&["link", "mint", &number, "ann@acme.test"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(url.starts_with("http://localhost:8080/t/") && url.len() > 40, "{url}");

    let epoch = || site.scalar("SELECT link_epoch FROM participants");
    assert_eq!(epoch(), 0);
    let out = site.run(&["link", "revoke", &number, "ann@acme.test"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(epoch(), 1, "every earlier link and reply address of Ann is void");

    let out = site.run(&["link", "mint", &number, "mallory@evil.test"], b"");
    assert_eq!(code(&out), 66);
    assert!(text(&out).contains("takes no part"), "{}", text(&out));
    assert_eq!(code(&site.run(&["link", "mint", "000000", "ann@acme.test"], b"")), 66);
}

fn agent_commands_set_a_password_from_stdin_and_reset_2fa(backend: Backend) {
    let site = site(backend, "[[agents]]\nkey = \"alice\"\nemails = [\"alice@example.com\"]\n");
    let weak = site.run(&["agent", "set-password", "alice"], b"password1\n");
    assert_eq!(code(&weak), 65, "{}", text(&weak));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 10"), "{}", text(&weak));
    let empty = site.run(&["agent", "set-password", "alice"], b"");
    assert_eq!(code(&empty), 65, "{}", text(&empty));
    let unknown = site.run(&["agent", "set-password", "mallory"], b"blue velvet staircase\n");
    assert_eq!(code(&unknown), 65, "{}", text(&unknown));

    let set = site.run(&["agent", "set-password", "alice"], b"blue velvet staircase\n");
    assert_eq!(code(&set), 0, "{}", text(&set));
    let hash = site.strings("SELECT password_hash FROM agents WHERE key = 'alice'").remove(0);
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    assert!(!hash.contains("blue velvet"));

    let reset = site.run(&["agent", "reset-2fa", "alice"], b"");
    assert_eq!(code(&reset), 0, "{}", text(&reset));
    assert!(String::from_utf8_lossy(&reset.stdout).contains("had no two-factor"), "{}", text(&reset));
}

/// The listings and records an admin reads, and the commands that act on quarantine and outbox.
fn every_listing_and_record_command_answers(backend: Backend) {
    let site = site(backend, "[[agents]]\nkey = \"alice\"\nemails = [\"alice@example.com\"]\n");
    let migrated = site.run(&["migrate"], b"");
    assert_eq!(code(&migrated), 0);
    let shipped =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap().count();
    assert!(
        stdout(&migrated).contains(&format!("{shipped} migrations, the newest 00")),
        "{}",
        text(&migrated)
    );
    assert_eq!(code(&site.run(&["check-config"], b"")), 0);
    let out = site.run(&["pipe"], MAIL);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let garbage: Vec<u8> = (0..3000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    assert_eq!(code(&site.run(&["pipe"], &garbage)), 0);
    let number = site.strings("SELECT number FROM tickets").remove(0);
    let quarantined = site.scalar("SELECT id FROM inbound WHERE outcome = 'quarantined'").to_string();
    let outbox = site.scalar("SELECT MIN(id) FROM outbox").to_string();

    let expectations: [(&[&str], &str); 11] = [
        (&["ticket", "list"], "Printer on fire"),
        (&["ticket", "list", "--status", "open"], "Printer on fire"),
        (&["ticket", "show", &number], "It is burning."),
        (&["user", "list"], "jane@example.org"),
        (&["user", "search", "jane"], "jane@example.org"),
        (&["user", "show", "jane@example.org"], &number),
        (&["quarantine", "list"], &quarantined),
        (&["quarantine", "show", &quarantined], "quarantined"),
        (&["outbox", "list"], "auto_response"),
        (&["outbox", "show", &outbox], "auto_response"),
        (&["quarantine", "replay", &quarantined], "quarantined"),
    ];
    for (args, expected) in expectations {
        let out = site.run(args, b"");
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out));
        assert!(stdout(&out).contains(expected), "{args:?} should mention {expected:?}: {}", text(&out));
    }
    let out = site.run(&["outbox", "retry"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(site.scalar("SELECT COUNT(*) FROM tickets"), 1, "replaying garbage opened no ticket");

    // Failed mail waits for `outbox retry`, not for a time.
    let id: i64 = outbox.parse().unwrap();
    site.write(move |tx| {
        tx.execute("UPDATE outbox SET status = 'failed' WHERE id = $1", mailgate::params![id])
    });
    let out = site.run(&["outbox", "show", &outbox], b"");
    assert!(stdout(&out).contains("Next try:   none (`mailgate outbox retry"), "{}", text(&out));
}
