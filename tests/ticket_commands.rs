//! `mailgate ticket merge` and `mailgate ticket new`, the real binary on both backends: what they
//! print, their exit codes (65 for a refusal with its reason, 66 for an unknown ticket), and what
//! they leave in the database.

mod common;

use common::site::{Site, code, stdout, text};
use common::{Backend, Mail};

on_both_backends_blocking!(ticket_merge_merges_and_refuses_with_exit_codes, ticket_new_opens_and_mails);

/// Pipes `mail` in and returns the number of the ticket it opened.
fn open(site: &Site, mail: &Mail) -> String {
    let out = site.run(&["pipe"], mail.build().as_bytes());
    assert_eq!(code(&out), 0, "{}", text(&out));
    site.strings("SELECT number FROM tickets ORDER BY id DESC LIMIT 1").remove(0)
}

fn ticket_merge_merges_and_refuses_with_exit_codes(backend: Backend) {
    let Some(site) = Site::new(backend, common::DIRECTORY) else { return };
    let a = open(&site, &Mail::new("ann@acme.com", "Printer jams", "Page 2."));
    let b = open(&site, &Mail::new("ann@acme.com", "Printer broken", "No page at all."));
    let gus = open(&site, &Mail::new("gus@globex.com", "VPN", "Down."));

    let itself = site.run(&["ticket", "merge", &a, &a], b"");
    assert_eq!(code(&itself), 65, "{}", text(&itself));
    assert!(text(&itself).contains("cannot be merged into itself"), "{}", text(&itself));
    let unknown = site.run(&["ticket", "merge", "999999", &a], b"");
    assert_eq!(code(&unknown), 66, "{}", text(&unknown));
    let across = site.run(&["ticket", "merge", &gus, &a], b"");
    assert_eq!(code(&across), 65);
    assert!(text(&across).contains("--across-customers"), "{}", text(&across));

    let merged = site.run(&["ticket", "merge", &format!("#{a}"), &b], b"");
    assert_eq!(code(&merged), 0, "{}", text(&merged));
    assert_eq!(stdout(&merged).trim(), format!("#{a} merged into #{b} by an admin"));
    let shown = site.run(&["ticket", "show", &a], b"");
    assert!(stdout(&shown).contains(&format!("Merged:    into #{b}")), "{}", text(&shown));
    let across = site.run(&["ticket", "merge", &gus, &b, "--across-customers"], b"");
    assert_eq!(code(&across), 0, "{}", text(&across));
    let pointers =
        site.strings("SELECT t.number FROM tickets s JOIN tickets t ON t.id = s.merged_into ORDER BY s.id");
    assert_eq!(pointers, [b.clone(), b.clone()]);
    assert_eq!(site.scalar("SELECT COUNT(*) FROM entries WHERE kind = 'message' AND ticket_id = (SELECT id FROM tickets WHERE merged_into IS NULL)"), 3);
}

fn ticket_new_opens_and_mails(backend: Backend) {
    let Some(site) = Site::new(backend, common::DIRECTORY) else { return };
    let args = [
        "ticket",
        "new",
        "--to",
        "nina@example.org",
        "--name",
        "Nina",
        "--subject",
        "Your order",
        "--agent",
        "alice",
    ];
    let out = site.run(&args, b"Hello Nina,\nyour order ships on Monday.\n");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let number = site.strings("SELECT number FROM tickets").remove(0);
    assert!(stdout(&out).contains(&format!("=> ticket #{number} created")), "{}", text(&out));
    let response = site.strings("SELECT body_text FROM entries WHERE kind = 'response'");
    assert_eq!(
        response.iter().map(|t| t.trim()).collect::<Vec<_>>(),
        ["Hello Nina,\nyour order ships on Monday."]
    );
    assert_eq!(
        site.strings("SELECT recipient FROM outbox WHERE template = 'response_relay'"),
        ["nina@example.org"]
    );
    assert_eq!(site.strings("SELECT name FROM users WHERE email = 'nina@example.org'"), ["Nina"]);

    let refused = site.run(
        &["ticket", "new", "--to", "alice@example.com", "--subject", "Hi", "--agent", "alice", "--text", "x"],
        b"",
    );
    assert_eq!(code(&refused), 65, "{}", text(&refused));
    assert!(text(&refused).contains("an agent's address"), "{}", text(&refused));
    let nobody = site.run(
        &["ticket", "new", "--to", "zoe@example.org", "--subject", "Hi", "--agent", "zed", "--text", "x"],
        b"",
    );
    assert_eq!(code(&nobody), 65, "{}", text(&nobody));
    let empty = site
        .run(&["ticket", "new", "--to", "zoe@example.org", "--subject", "Hi", "--agent", "alice"], b"  \n");
    assert_eq!(code(&empty), 65, "{}", text(&empty));
    assert_eq!(site.scalar("SELECT COUNT(*) FROM tickets"), 1);
}
