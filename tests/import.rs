//! `mailgate import` end to end: the real binary on an mbox, a Maildir and a tree of .eml files, on
//! SQLite and PostgreSQL: oldest first (a reply before its parent in the file still threads), mbox
//! quoting undone, malformed mail quarantined, oversized mail refused with its offset, a rerun
//! storing nothing, --dry-run writing nothing, and automatic mail only with --notify.

mod common;

use std::path::Path;

use common::Backend;
use common::site::{Site, code, stdout, text};

/// Messages this small pass; `big()` does not.
const LIMITS: &str = "[limits]\nmax_message_bytes = 4000\n";

fn mail(from: &str, id: &str, date: Option<&str>, extra: &str, body: &str) -> String {
    let date = date.map(|d| format!("Date: {d}\n")).unwrap_or_default();
    format!(
        "From: {from}\nTo: support@example.com\nSubject: printer on fire\nMessage-ID: <{id}>\n{date}{extra}\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

fn original() -> String {
    let body = "It smokes.\nFrom the start it did.\n>From a quoted line.";
    mail("Carol <carol@client.test>", "m1@client.test", Some("Mon, 1 Jan 2024 10:00:00 +0000"), "", body)
}

fn reply() -> String {
    let extra = "In-Reply-To: <m1@client.test>\n";
    mail(
        "Carol <carol@client.test>",
        "m2@client.test",
        Some("Tue, 2 Jan 2024 10:00:00 +0000"),
        extra,
        "Still.",
    )
}

fn undated() -> String {
    mail("Dave <dave@other.test>", "m3@other.test", None, "", "No Date header here.")
}

fn no_sender() -> String {
    "To: support@example.com\nSubject: who am I\nMessage-ID: <m4@nowhere.test>\nDate: Wed, 3 Jan 2024 09:00:00 +0000\n\nbody\n"
        .to_string()
}

fn big() -> String {
    let body = "x".repeat(5000);
    mail("Eve <eve@client.test>", "m5@client.test", Some("Thu, 4 Jan 2024 10:00:00 +0000"), "", &body)
}

/// An mbox in which the reply comes before its parent, with mboxrd quoting, a message without Date
/// (its From line dates it), one without sender, an empty one, an oversized one and a duplicate.
fn write_mbox(path: &Path) {
    // mboxrd: every line that is `From ` after any number of `>` gets one more.
    let quote = |m: String| {
        let quoted = |line: &str| line.trim_start_matches('>').starts_with("From ");
        m.split_inclusive('\n')
            .map(|l| if quoted(l) { format!(">{l}") } else { l.to_string() })
            .collect::<String>()
    };
    let parts = [
        ("carol@client.test Tue Jan  2 10:00:01 2024", reply()),
        ("carol@client.test Mon Jan  1 10:00:01 2024", quote(original())),
        ("dave@other.test Wed Jan  3 12:00:00 2024", undated()),
        ("MAILER-DAEMON Wed Jan  3 09:00:00 2024", no_sender()),
        ("nobody Wed Jan  3 09:30:00 2024", String::new()),
        ("eve@client.test Thu Jan  4 10:00:00 2024", big()),
        ("carol@client.test Mon Jan  1 10:00:01 2024", quote(original())),
    ];
    let mut mbox = String::new();
    for (envelope, message) in parts {
        mbox += &format!("From {envelope}\n{message}\n");
    }
    std::fs::write(path, mbox).unwrap();
}

fn site(backend: Backend) -> Option<Site> {
    Site::new(backend, LIMITS)
}

fn import_mbox_threads_oldest_first_and_reruns_as_duplicates(backend: Backend) {
    let Some(site) = site(backend) else { return };
    let mbox = site.dir.path().join("support.mbox");
    write_mbox(&mbox);
    let out = site.run(&["import", mbox.to_str().unwrap(), "--mailbox", "old-support"], b"");
    let summary = stdout(&out);
    assert_eq!(code(&out), 65, "some refused: {}", text(&out));
    assert!(summary.contains("read 7 of 7 messages\n"), "{}", text(&out));
    assert!(summary.contains("tickets opened:   2\n"), "{summary}");
    assert!(summary.contains("added to tickets: 1\n"), "the reply threads although it came first: {summary}");
    assert!(summary.contains("duplicates:       1\n"), "{summary}");
    assert!(summary.contains("quarantined:      2\n"), "{summary}");
    assert!(summary.contains("1  no sender address\n"), "{summary}");
    assert!(summary.contains("1  message is empty\n"), "{summary}");
    assert!(summary.contains("refused:          1\n"), "{summary}");
    assert!(summary.contains(&format!("{} at byte ", mbox.display())), "the refusal says where: {summary}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("import: 7/7 messages in "), "plain progress when not a terminal: {stderr}");

    // The original's entry has its quoting undone by one level; the reply is on the same ticket.
    let bodies = site.strings(
        "SELECT e.body_text FROM entries e JOIN tickets t ON t.id = e.ticket_id \
         WHERE t.subject = 'printer on fire' AND e.kind = 'message' ORDER BY e.id",
    );
    assert_eq!(bodies.len(), 3, "two on carol's ticket, one on dave's: {bodies:?}");
    assert!(bodies[0].contains("\nFrom the start it did.\n>From a quoted line."), "{:?}", bodies[0]);
    assert!(bodies[1].contains("Still."), "the reply came second: {bodies:?}");
    assert_eq!(site.scalar("SELECT COUNT(DISTINCT ticket_id) FROM entries WHERE kind = 'message'"), 2);
    // Dated by the messages: the Date header, else the From line (dave's).
    let created = site.strings("SELECT CAST(created_at AS TEXT) FROM tickets ORDER BY id");
    assert_eq!(created, ["1704103200000", "1704283200000"], "2024-01-01 10:00 and 2024-01-03 12:00 UTC");
    let entries =
        site.strings("SELECT CAST(created_at AS TEXT) FROM entries WHERE kind = 'message' ORDER BY id");
    assert_eq!(entries[1], "1704189600000", "the reply: 2024-01-02 10:00 UTC");
    assert_eq!(site.strings("SELECT DISTINCT source FROM inbound"), ["import"]);
    assert_eq!(site.strings("SELECT DISTINCT mailbox FROM inbound"), ["old-support"]);
    assert_eq!(site.scalar("SELECT COUNT(*) FROM outbox"), 0, "no automatic mail without --notify");
    let traces = site.strings("SELECT trace FROM inbound WHERE outcome = 'ticket'");
    assert!(traces.iter().any(|t| t.contains("imported without --notify")), "{traces:?}");

    let stored = site.scalar("SELECT COUNT(*) FROM inbound");
    let again = site.run(&["import", mbox.to_str().unwrap()], b"");
    let summary = stdout(&again);
    assert!(summary.contains("tickets opened:   0\n"), "{}", text(&again));
    assert!(summary.contains("added to tickets: 0\n"), "{summary}");
    assert!(summary.contains("duplicates:       6\n"), "everything but the refused one: {summary}");
    assert_eq!(site.scalar("SELECT COUNT(*) FROM inbound"), stored, "a rerun stores nothing");
    assert_eq!(site.scalar("SELECT COUNT(*) FROM tickets"), 2);
}

fn dry_run_decides_without_writing(backend: Backend) {
    let Some(site) = site(backend) else { return };
    let mbox = site.dir.path().join("support.mbox");
    write_mbox(&mbox);
    let out = site.run(&["import", "--dry-run", mbox.to_str().unwrap()], b"");
    let summary = stdout(&out);
    assert!(summary.contains("(dry run: nothing was written)"), "{}", text(&out));
    assert!(summary.contains("tickets opened:   2\n"), "{summary}");
    assert!(summary.contains("added to tickets: 1\n"), "decisions see the messages before them: {summary}");
    assert!(summary.contains("duplicates:       1\n"), "{summary}");
    for table in
        ["SELECT COUNT(*) FROM inbound", "SELECT COUNT(*) FROM tickets", "SELECT COUNT(*) FROM users"]
    {
        assert_eq!(site.scalar(table), 0, "{table}");
    }
}

fn notify_queues_the_automatic_mail(backend: Backend) {
    let Some(site) = site(backend) else { return };
    let mbox = site.dir.path().join("support.mbox");
    write_mbox(&mbox);
    let out = site.run(&["import", "--notify", mbox.to_str().unwrap()], b"");
    assert_eq!(code(&out), 65, "{}", text(&out));
    let recipients = site.strings("SELECT recipient FROM outbox WHERE template = 'new_ticket_auto_response'");
    assert!(recipients.contains(&"carol@client.test".to_string()), "{recipients:?}");
}

fn maildir_and_eml_tree(backend: Backend) {
    let Some(site) = site(backend) else { return };
    let maildir = site.dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    // Names sort the reply first; its Date puts it second.
    std::fs::write(maildir.join("cur/1000.a:2,S"), reply()).unwrap();
    std::fs::write(maildir.join("new/2000.b"), original()).unwrap();
    std::fs::write(maildir.join("tmp/3000.c"), undated()).unwrap();
    let out = site.run(&["import", maildir.to_str().unwrap()], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let summary = stdout(&out);
    assert!(summary.contains("read 2 of 2 messages\n"), "tmp/ is skipped: {summary}");
    assert!(
        summary.contains("tickets opened:   1\n") && summary.contains("added to tickets: 1\n"),
        "{summary}"
    );

    let tree = site.dir.path().join("export");
    std::fs::create_dir_all(tree.join("2024/01")).unwrap();
    std::fs::write(tree.join("2024/01/dave.eml"), undated()).unwrap();
    // Without a Date, the file's modification time places it: 2024-01-03, before the follow-up.
    let january = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_704_240_000);
    std::fs::File::options()
        .write(true)
        .open(tree.join("2024/01/dave.eml"))
        .unwrap()
        .set_modified(january)
        .unwrap();
    let later = mail(
        "Dave <dave@other.test>",
        "m6@other.test",
        Some("Fri, 5 Jan 2024 10:00:00 +0000"),
        "References: <m3@other.test>\n",
        "Following up.",
    );
    std::fs::write(tree.join("followup.EML"), later).unwrap();
    std::fs::write(tree.join("notes.txt"), "not mail").unwrap();
    let out = site.run(&["import", tree.to_str().unwrap()], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let summary = stdout(&out);
    assert!(summary.contains("read 2 of 2 messages\n"), "{summary}");
    assert!(
        summary.contains("tickets opened:   1\n") && summary.contains("added to tickets: 1\n"),
        "{summary}"
    );
    assert_eq!(site.scalar("SELECT COUNT(*) FROM tickets"), 2);
    assert_eq!(site.scalar("SELECT COUNT(*) FROM outbox"), 0);
}

fn unreadable_paths_are_errors(backend: Backend) {
    let Some(site) = site(backend) else { return };
    let missing = site.dir.path().join("nothing-here.mbox");
    let out = site.run(&["import", missing.to_str().unwrap()], b"");
    assert_eq!(code(&out), 66, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"), "{}", text(&out));
    let empty = site.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = site.run(&["import", empty.to_str().unwrap()], b"");
    assert_eq!(code(&out), 66, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no messages found"), "{}", text(&out));
    let empty_file = site.dir.path().join("empty.mbox");
    std::fs::write(&empty_file, "").unwrap();
    let out = site.run(&["import", empty_file.to_str().unwrap()], b"");
    assert_eq!(code(&out), 66, "{}", text(&out));
}

fn ctrl_c_stores_what_was_read_and_a_rerun_goes_on(backend: Backend) {
    use std::io::BufRead;
    let Some(site) = site(backend) else { return };
    let mbox = site.dir.path().join("many.mbox");
    let mut text_of_mbox = String::new();
    for i in 0..600 {
        let from = format!("User {i} <user{i}@client.test>");
        let message = mail(&from, &format!("many-{i}@client.test"), None, "", "Hello.");
        text_of_mbox += &format!("From user{i}@client.test Mon Jan  1 10:00:00 2024\n{message}\n");
    }
    std::fs::write(&mbox, text_of_mbox).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["--config", site.config().to_str().unwrap(), "import", mbox.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("oldest first") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the import never started");
    }
    assert!(line.contains("600 messages, oldest first"), "{line}");
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let summary = stdout(&out);
    assert_eq!(code(&out), 75, "{summary}");
    assert!(summary.contains("interrupted: "), "{summary}");
    let read: i64 = summary.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap();
    assert!(read < 600, "{summary}");
    assert_eq!(site.scalar("SELECT COUNT(*) FROM inbound"), read, "every message read was stored");

    let out = site.run(&["import", mbox.to_str().unwrap()], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(stdout(&out).contains(&format!("duplicates:       {read}\n")), "{}", text(&out));
    assert_eq!(site.scalar("SELECT COUNT(*) FROM tickets"), 600);
}

fn a_message_the_pipeline_fails_on_is_kept_and_the_others_are_dated_by_their_own(backend: Backend) {
    let Some(site) = site(backend) else { return };
    assert_eq!(code(&site.run(&["migrate"], b"")), 0);
    site.write(move |tx| tx.batch(common::poison_entries(backend)));
    // On SQLite the three are one transaction: the failure rolls it back, it runs again up to the
    // poisoned message, keeps its bytes, and goes on; each message keeps its own date throughout.
    let mbox = site.dir.path().join("poisoned.mbox");
    let day = |n: u32| format!("Mon, {n} Jan 2024 10:00:00 +0000");
    let messages = [
        mail("Ann <ann@client.test>", "p1@client.test", Some(&day(1)), "", "First."),
        mail("Bob <bob@client.test>", "p2@client.test", Some(&day(2)), "", "POISON inside."),
        mail("Cid <cid@client.test>", "p3@client.test", Some(&day(3)), "", "Third."),
    ];
    let text_of_mbox: String =
        messages.iter().map(|m| format!("From x@client.test Mon Jan  1 10:00:00 2024\n{m}\n")).collect();
    std::fs::write(&mbox, text_of_mbox).unwrap();

    let out = site.run(&["import", mbox.to_str().unwrap()], b"");
    let summary = stdout(&out);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(summary.contains("read 3 of 3 messages\n"), "{summary}");
    assert!(summary.contains("tickets opened:   2\n"), "{summary}");
    assert!(summary.contains("quarantined:      1\n"), "{summary}");
    assert!(summary.contains("ingest failed"), "the reason is given: {summary}");
    let created = site.strings("SELECT CAST(created_at AS TEXT) FROM tickets ORDER BY created_at");
    assert_eq!(created, ["1704103200000", "1704276000000"], "2024-01-01 and 2024-01-03 10:00 UTC");
    let kept = site.strings(
        "SELECT CAST(received_at AS TEXT) || ' ' || reason FROM inbound WHERE outcome = 'quarantined'",
    );
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].starts_with("1704189600000 ingest failed"), "kept, dated 2024-01-02: {kept:?}");
    assert_eq!(site.scalar("SELECT COUNT(*) FROM inbound"), 3, "each message stored once");

    // Once the fault is gone, a rerun finds the kept message (a duplicate); replaying it opens its ticket.
    site.write(move |tx| tx.batch(common::cure(backend)));
    let again = site.run(&["import", mbox.to_str().unwrap()], b"");
    assert!(stdout(&again).contains("duplicates:       3\n"), "{}", text(&again));
    assert_eq!(site.scalar("SELECT COUNT(*) FROM inbound"), 3, "a rerun stores nothing");
    let replay = site.run(&["quarantine", "replay"], b"");
    assert_eq!(code(&replay), 0, "{}", text(&replay));
    assert_eq!(site.scalar("SELECT COUNT(*) FROM tickets"), 3, "{}", text(&replay));
}

on_both_backends_blocking!(
    a_message_the_pipeline_fails_on_is_kept_and_the_others_are_dated_by_their_own,
    ctrl_c_stores_what_was_read_and_a_rerun_goes_on,
    import_mbox_threads_oldest_first_and_reruns_as_duplicates,
    dry_run_decides_without_writing,
    notify_queues_the_automatic_mail,
    maildir_and_eml_tree,
    unreadable_paths_are_errors,
);
