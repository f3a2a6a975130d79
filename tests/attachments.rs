//! Files written on the web and the command line: the console's reply and note forms, the portal's
//! new-ticket form and `mailgate ticket reply --attach` store them on the entry and relay them
//! like mail would; a message too large as mail is refused whole. Both backends.

mod common;

use common::http::{Client, agent_console, serve};
use common::{Backend, Mail, created};

on_both_backends!(
    the_console_attaches_files_to_a_reply_and_to_a_note,
    the_portal_takes_files_with_a_new_ticket,
    a_console_reply_too_large_as_mail_is_refused_whole,
);

/// `(entry kind, file name)` of every stored attachment, oldest first.
async fn files(h: &common::Harness) -> Vec<(String, String)> {
    h.read(|tx| {
        tx.query_all(
            "SELECT e.kind, a.filename FROM attachments a JOIN entries e ON e.id = a.entry_id ORDER BY a.id",
            &[],
            |r| Ok((r.string(0)?, r.string(1)?)),
        )
    })
    .await
}

async fn the_console_attaches_files_to_a_reply_and_to_a_note(backend: Backend) {
    let Some((h, mut client)) = agent_console(backend, "").await else { return };
    let (_, number) = created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer", "Broken.").build()).await);
    let page = format!("/agent/t/{number}");
    assert!(client.get(&page).await.body.contains("enctype=\"multipart/form-data\""));
    let sent = client
        .submit_multipart(
            &page,
            &format!("{page}/reply"),
            &[("text", "The manual, page 12.")],
            &[("manual.txt", "Press the green button.")],
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let noted = client
        .submit_multipart(&page, &format!("{page}/note"), &[("text", "")], &[("vendor-log.txt", "E42 fuser")])
        .await;
    assert_eq!(noted.status, 303, "a file alone is a note: {}", noted.body);
    assert_eq!(
        files(&h).await,
        [
            ("response".to_string(), "manual.txt".to_string()),
            ("note".to_string(), "vendor-log.txt".to_string())
        ]
    );
    let relays = h.strings("SELECT recipient FROM outbox WHERE template = $1", "response_relay").await;
    assert!(relays.contains(&"ann@acme.com".to_string()), "{relays:?}");
    let shown = client.get(&page).await.body;
    assert!(shown.contains("manual.txt") && shown.contains("vendor-log.txt"), "{shown}");
    // Without the session's token, nothing is stored.
    let forged = client.post(&format!("{page}/reply"), "text=forged").await;
    assert_eq!(forged.status, 403);
}

async fn the_portal_takes_files_with_a_new_ticket(backend: Backend) {
    let Some(h) = common::Harness::new(backend).await else { return };
    let mut guest = Client::new(serve(&h).await);
    let form = guest.get("/tickets/new").await.body;
    assert!(form.contains("enctype=\"multipart/form-data\"") && form.contains("name=\"files\""), "{form}");
    let fields = [
        ("name", "Gus"),
        ("email", "gus@guest.example"),
        ("subject", "Scanner"),
        ("message", "See the log."),
    ];
    let sent = guest
        .submit_multipart("/tickets/new", "/tickets/new", &fields, &[("scan.log", "jam at tray 2")])
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(files(&h).await, [("message".to_string(), "scan.log".to_string())]);
    // The urlencoded form (a client without files) still works.
    let plain = "name=Hal&email=hal%40guest.example&subject=Fax&message=No+tone";
    assert_eq!(guest.submit("/tickets/new", "/tickets/new", plain).await.status, 200);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 2);
}

async fn a_console_reply_too_large_as_mail_is_refused_whole(backend: Backend) {
    let extra = "[limits]\nmax_message_bytes = 20000\n";
    let Some((h, mut client)) = agent_console(backend, extra).await else { return };
    let (_, number) = created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer", "Broken.").build()).await);
    let page = format!("/agent/t/{number}");
    let before = h.scalar_i64("SELECT COUNT(*) FROM entries").await;
    let big = "x".repeat(16_000); // 16 kB of file is over 21 kB as mail
    let sent = client
        .submit_multipart(&page, &format!("{page}/reply"), &[("text", "Here.")], &[("big.txt", &big)])
        .await;
    assert_eq!(sent.status, 413, "{}", sent.body);
    assert!(sent.body.contains("too large"), "{}", sent.body);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM entries").await, before, "nothing stored");
}

/// The command line's tests run the binary (blocking), in a module of their own.
mod command_line {
    use super::common::{self, Backend, Mail};

    crate::on_both_backends_blocking!(the_command_line_attaches_files);

    fn the_command_line_attaches_files(backend: Backend) {
        let Some(site) = common::site::Site::new(
            backend,
            "[[agents]]\nkey = \"alice\"\nemails = [\"alice@example.com\"]\n",
        ) else {
            return;
        };
        let mail = Mail::new("Ann <ann@acme.com>", "Printer", "Broken.").build();
        assert_eq!(site.run(&["pipe"], mail.as_bytes()).status.code(), Some(0));
        let number = site.strings("SELECT number FROM tickets").remove(0);
        let file = site.dir.path().join("manual.pdf");
        std::fs::write(&file, b"%PDF-1.4 the manual").unwrap();
        let file = file.to_str().unwrap();
        let out = site.run(
            &["ticket", "reply", &number, "--as", "alice", "--text", "The manual.", "--attach", file],
            b"",
        );
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(site.strings("SELECT filename FROM attachments"), ["manual.pdf"]);
        let missing = site.run(
            &["ticket", "note", &number, "--as", "alice", "--text", "x", "--attach", "/no/such/file"],
            b"",
        );
        assert_eq!(missing.status.code(), Some(66), "{}", String::from_utf8_lossy(&missing.stderr));
        assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/file"));
    }
}
