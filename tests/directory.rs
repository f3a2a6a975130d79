//! Managing the user directory: locking and unlocking a user from the console, the command line
//! and the workflow; a locked user's mail is taken in and marked for agents, or quarantined
//! (`registration.locked_mail`); every lock and unlock is in the audit log. Both backends.

mod common;

use common::{Backend, Harness, Mail, created};
use mailgate::core::ids::UserId;
use mailgate::ingest::Outcome;
use mailgate::workflow::Locking;

on_both_backends!(
    a_locked_users_mail_is_taken_in_and_marked,
    a_locked_users_mail_can_be_quarantined,
    the_console_locks_and_unlocks_with_a_reason,
    the_console_edits_a_user,
);

async fn user_id(h: &Harness, email: &'static str) -> UserId {
    UserId(
        h.read(move |tx| {
            tx.query_one("SELECT id FROM users WHERE email = $1", mailgate::params![email], |r| r.i64(0))
        })
        .await,
    )
}

async fn a_locked_users_mail_is_taken_in_and_marked(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    created(&h.pipe(&Mail::new("Sam <sam@spam.example>", "Buy", "Cheap pills.").build()).await);
    let sam = user_id(&h, "sam@spam.example").await;
    assert_eq!(h.workflows.lock_user(sam, "an admin", "sends spam").await.unwrap(), Locking::Done);
    assert_eq!(h.workflows.lock_user(sam, "an admin", "again").await.unwrap(), Locking::Already);
    assert_eq!(
        h.strings("SELECT status FROM users WHERE email = $1", "sam@spam.example").await,
        ["disabled"]
    );
    let audit = h.strings("SELECT actor || ' ' || action || ' ' || detail FROM audit_log", "").await;
    assert_eq!(audit, ["an admin lock sends spam"], "one row: the second lock changed nothing");

    let report = h.pipe(&Mail::new("Sam <sam@spam.example>", "Still cheap", "More pills.").build()).await;
    assert!(matches!(report.outcome, Outcome::Created { .. }), "taken in: {:?}", report.outcome);
    assert!(report.trace.to_string().contains("sam@spam.example is a locked user"), "{}", report.trace);
    let lines = h.strings("SELECT body_text FROM entries WHERE kind = $1 ORDER BY id", "system").await;
    assert!(lines.last().unwrap().starts_with("The message above is from a locked user"), "{lines:?}");
    let seen = h
        .strings(
            "SELECT COALESCE(customer_text, '') FROM entries WHERE kind = $1 ORDER BY id DESC LIMIT 1",
            "system",
        )
        .await;
    assert_eq!(seen, [""], "customers never read it");

    assert_eq!(h.workflows.unlock_user(sam, "agent alice").await.unwrap(), Locking::Done);
    assert_eq!(h.strings("SELECT status FROM users WHERE email = $1", "sam@spam.example").await, ["guest"]);
    assert_eq!(h.workflows.unlock_user(UserId(999_999), "an admin").await.unwrap(), Locking::NoUser);
}

async fn a_locked_users_mail_can_be_quarantined(backend: Backend) {
    let Some(h) = Harness::with_config(backend, "[registration]\nlocked_mail = \"quarantine\"\n").await
    else {
        return;
    };
    created(&h.pipe(&Mail::new("Sam <sam@spam.example>", "Buy", "Cheap pills.").build()).await);
    let sam = user_id(&h, "sam@spam.example").await;
    h.workflows.lock_user(sam, "an admin", "").await.unwrap();
    let report = h.pipe(&Mail::new("Sam <sam@spam.example>", "Again", "More pills.").build()).await;
    assert!(
        matches!(&report.outcome, Outcome::Quarantined { reason } if reason.contains("locked user")),
        "{:?}",
        report.outcome
    );
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 1);
    let told = h.scalar_i64("SELECT COUNT(*) FROM outbox WHERE recipient = 'sam@spam.example'").await;
    assert_eq!(told, 1, "only the first ticket's auto-response: a locked sender is not told");
}

async fn the_console_locks_and_unlocks_with_a_reason(backend: Backend) {
    let Some((h, mut client)) = common::http::agent_console(backend, "").await else { return };
    created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer", "Broken.").build()).await);
    let ann = user_id(&h, "ann@acme.com").await.0;
    let page = format!("/agent/users/{ann}");
    assert!(client.get(&page).await.body.contains(&format!("action=\"/agent/users/{ann}/lock\"")));
    let locked = client.submit(&page, &format!("{page}/lock"), "reason=Abusive+%3Cb%3Emails%3C%2Fb%3E").await;
    assert_eq!(locked.location(), format!("/agent/users/{ann}?done=lock"));
    let shown = client.get(locked.location()).await.body;
    assert!(shown.contains("The user is locked"), "{shown}");
    assert!(
        shown.contains("lock by agent alice: Abusive &lt;b&gt;mails&lt;&#x2F;b&gt;")
            || shown.contains("lock by agent alice: Abusive &lt;b&gt;mails&lt;/b&gt;"),
        "{shown}"
    );
    assert!(shown.contains(&format!("action=\"/agent/users/{ann}/unlock\"")), "{shown}");
    let unlocked = client.submit(&page, &format!("{page}/unlock"), "x=1").await;
    assert_eq!(unlocked.location(), format!("/agent/users/{ann}?done=unlock"));
    assert_eq!(h.strings("SELECT status FROM users WHERE email = $1", "ann@acme.com").await, ["guest"]);
    let forged = client.post(&format!("{page}/lock"), "reason=x").await;
    assert_eq!(forged.status, 403, "no CSRF token, no lock");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM audit_log").await, 2);
}

const USER_FORM: &str = r#"
[[forms]]
key = "customer"
applies_to = "user"
fields = [
  { key = "plan", label = "Plan", type = "choice", choices = ["basic", "enterprise"] },
  { key = "seats", label = "Seats", type = "number" },
]
"#;

async fn the_console_edits_a_user(backend: Backend) {
    let Some((h, mut client)) = common::http::agent_console(backend, USER_FORM).await else { return };
    created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer", "Broken.").build()).await);
    let ann = user_id(&h, "ann@acme.com").await.0;
    let page = format!("/agent/users/{ann}");
    let shown = client.get(&page).await.body;
    assert!(
        shown.contains("name=\"field.plan\"") && shown.contains("<option value=\"acme\" selected>"),
        "{shown}"
    );
    let refused = client
        .submit(&page, &format!("{page}/edit"), "name=Ann&org=acme&field.plan=gold&field.seats=3")
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains(
            "The changes were not saved: Plan (plan): &quot;gold&quot; is not one of basic, enterprise"
        ),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"3\""), "what was typed is kept: {}", refused.body);
    let saved = client
        .submit(
            &page,
            &format!("{page}/edit"),
            "name=Ann+%3Cb%3EExample%3C%2Fb%3E%0D%0ABcc%3A+x&org=&field.plan=enterprise&field.seats=12",
        )
        .await;
    assert_eq!(saved.location(), format!("/agent/users/{ann}?done=edit"), "{}", saved.body);
    let row = h.strings("SELECT name || '|' || COALESCE(CAST(org_id AS TEXT), 'none') || '|' || custom FROM users WHERE email = $1", "ann@acme.com").await;
    assert_eq!(row, ["Ann <b>Example</b> Bcc: x|none|{\"plan\":\"enterprise\",\"seats\":12}"]);
    let shown = client.get(saved.location()).await.body;
    assert!(
        shown.contains("Ann &lt;b&gt;Example&lt;&#x2F;b&gt; Bcc: x")
            || shown.contains("Ann &lt;b&gt;Example&lt;/b&gt; Bcc: x"),
        "escaped: {shown}"
    );
    assert!(shown.contains("edit by agent alice: name"), "{shown}");
    let again = client
        .submit(
            &page,
            &format!("{page}/edit"),
            "name=Ann+%3Cb%3EExample%3C%2Fb%3E+Bcc%3A+x&org=&field.plan=enterprise&field.seats=12",
        )
        .await;
    assert_eq!(again.location(), format!("/agent/users/{ann}?done=nothing_user"));
    let forged = client.post(&format!("{page}/edit"), "name=Mallory").await;
    assert_eq!(forged.status, 403);
}

/// The command line, one process per command.
mod command_line {
    use super::common::{self, Backend, Mail};

    crate::on_both_backends_blocking!(
        the_command_line_locks_and_unlocks,
        the_command_line_adds_and_edits_users,
        a_csv_import_reports_every_rejected_row_and_adds_nothing_twice
    );

    const DIRECTORY: &str = r#"
[[orgs]]
key = "acme"
name = "ACME"
domains = ["acme.com"]

[[orgs]]
key = "globex"
domains = ["globex.com"]

[[forms]]
key = "customer"
applies_to = "user"
fields = [
  { key = "plan", label = "Plan", type = "choice", choices = ["basic", "enterprise"], required = true },
  { key = "seats", label = "Seats", type = "number" },
]
"#;

    fn out(output: &std::process::Output) -> String {
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    }

    fn the_command_line_adds_and_edits_users(backend: Backend) {
        let Some(site) = common::site::Site::new(backend, DIRECTORY) else { return };
        let add = site.run(
            &[
                "user",
                "add",
                "kim@example.org",
                "--name",
                "Kim\r\nBcc: x",
                "--org",
                "acme",
                "--set",
                "plan=Enterprise",
                "--set",
                "seats=12",
            ],
            b"",
        );
        assert_eq!(add.status.code(), Some(0), "{}", out(&add));
        assert_eq!(
            site.strings("SELECT name || '|' || custom FROM users"),
            ["Kim Bcc: x|{\"plan\":\"enterprise\",\"seats\":12}"]
        );
        assert_eq!(
            site.strings("SELECT o.key FROM users u JOIN orgs o ON o.id = u.org_id"),
            ["acme"],
            "set by hand, not by domain"
        );
        let again = site.run(&["user", "add", "kim@example.org", "--set", "plan=basic"], b"");
        assert_eq!(again.status.code(), Some(65), "{}", out(&again));
        assert!(out(&again).contains("kim@example.org is already a user"));
        let missing_plan = site.run(&["user", "add", "lee@example.org"], b"");
        assert_eq!(
            missing_plan.status.code(),
            Some(65),
            "the user form requires a plan: {}",
            out(&missing_plan)
        );
        assert!(out(&missing_plan).contains("Plan (plan): is required"), "{}", out(&missing_plan));
        let bad = site.run(&["user", "edit", "kim@example.org", "--set", "plan=gold"], b"");
        assert_eq!(bad.status.code(), Some(65));
        assert!(out(&bad).contains("\"gold\" is not one of basic, enterprise"), "{}", out(&bad));
        let unknown = site.run(&["user", "edit", "kim@example.org", "--set", "tier=gold"], b"");
        assert!(out(&unknown).contains("tier: no such field"), "{}", out(&unknown));
        let no_org = site.run(&["user", "edit", "kim@example.org", "--org", "nowhere"], b"");
        assert_eq!(no_org.status.code(), Some(66), "{}", out(&no_org));

        let edit = site.run(
            &["user", "edit", "kim@example.org", "--name", "Kim Lee", "--org", "globex", "--set", "seats="],
            b"",
        );
        assert_eq!(edit.status.code(), Some(0), "{}", out(&edit));
        assert_eq!(
            String::from_utf8_lossy(&edit.stdout).trim(),
            "kim@example.org: name \"Kim Bcc: x\" -> \"Kim Lee\", organization, custom seats"
        );
        assert_eq!(
            site.strings("SELECT custom FROM users"),
            ["{\"plan\":\"enterprise\"}"],
            "an empty value clears the field"
        );
        let same = site.run(&["user", "edit", "kim@example.org", "--name", "Kim Lee"], b"");
        assert_eq!(String::from_utf8_lossy(&same.stdout).trim(), "kim@example.org: nothing to change");
        let audit = site.strings("SELECT actor || ':' || action FROM audit_log ORDER BY id");
        assert_eq!(audit, ["an admin:add", "an admin:edit"]);

        // Mail from the user later does not undo the organization set by hand.
        let mail = Mail::new("Kim <kim@example.org>", "Hello", "Hi.").build();
        assert_eq!(site.run(&["pipe"], mail.as_bytes()).status.code(), Some(0));
        assert_eq!(site.strings("SELECT o.key FROM users u JOIN orgs o ON o.id = u.org_id"), ["globex"]);
    }

    fn the_command_line_locks_and_unlocks(backend: Backend) {
        let Some(site) = common::site::Site::new(backend, "") else { return };
        let mail = Mail::new("Sam <sam@spam.example>", "Buy", "Cheap pills.").build();
        assert_eq!(site.run(&["pipe"], mail.as_bytes()).status.code(), Some(0));
        let out = site.run(&["user", "lock", "sam@spam.example", "--reason", "spam"], b"");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sam@spam.example locked");
        assert_eq!(site.strings("SELECT status FROM users"), ["disabled"]);
        let again = site.run(&["user", "lock", "sam@spam.example"], b"");
        assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "sam@spam.example was already locked");
        let out = site.run(&["user", "unlock", "sam@spam.example"], b"");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sam@spam.example unlocked");
        assert_eq!(
            site.strings("SELECT actor || ':' || action FROM audit_log ORDER BY id"),
            ["an admin:lock", "an admin:unlock"]
        );
        let missing = site.run(&["user", "lock", "nobody@example.org"], b"");
        assert_eq!(missing.status.code(), Some(66));
    }

    fn a_csv_import_reports_every_rejected_row_and_adds_nothing_twice(backend: Backend) {
        let Some(site) = common::site::Site::new(backend, DIRECTORY) else { return };
        let mail = Mail::new("Old <old@acme.com>", "Hello", "Hi.").build();
        assert_eq!(site.run(&["pipe"], mail.as_bytes()).status.code(), Some(0));
        let csv = "\u{feff}Email,Name,org,plan,seats\r\n\
                   kim@example.org,\"Lee, Kim\",acme,enterprise,12\r\n\
                   old@acme.com,Old,,basic,\r\n\
                   not-an-address,X,,basic,\r\n\
                   ann@example.org,\"Ann\r\nBcc: all@x\",globex,basic,\r\n\
                   bob@example.org,Bob,nowhere,basic,\r\n\
                   cy@example.org,Cy,,gold,\r\n\
                   kim@example.org,Kim again,,basic,\r\n\
                   <b>@example.org,Eve,,basic,\r\n";
        let file = site.dir.path().join("users.csv");
        std::fs::write(&file, csv).unwrap();
        let file = file.to_str().unwrap();

        let dry = site.run(&["user", "import", file, "--dry-run"], b"");
        assert_eq!(dry.status.code(), Some(65), "{}", out(&dry));
        assert!(out(&dry).contains("would add 2, skipped 2 (already users), rejected 4"), "{}", out(&dry));
        assert_eq!(
            site.strings("SELECT email FROM users ORDER BY email"),
            ["old@acme.com"],
            "a dry run writes nothing"
        );

        let real = site.run(&["user", "import", file], b"");
        let said = out(&real);
        assert_eq!(real.status.code(), Some(65), "{said}");
        assert!(said.contains("added 2, skipped 2 (already users), rejected 4"), "{said}");
        assert!(said.contains(":4: rejected: \"not-an-address\" is not an email address"), "{said}");
        assert!(said.contains(":7: rejected: no organization has the key \"nowhere\""), "{said}");
        assert!(
            said.contains(":8: rejected: Plan (plan): \"gold\" is not one of basic, enterprise"),
            "{said}"
        );
        assert!(said.contains(":10: rejected: \"<b>@example.org\" is not an email address"), "{said}");
        assert_eq!(
            site.strings("SELECT email || '|' || name FROM users ORDER BY email"),
            ["ann@example.org|Ann Bcc: all@x", "kim@example.org|Lee, Kim", "old@acme.com|Old"]
        );
        let rerun = site.run(&["user", "import", file], b"");
        assert!(out(&rerun).contains("added 0, skipped 4 (already users), rejected 4"), "{}", out(&rerun));
        assert_eq!(site.scalar("SELECT COUNT(*) FROM users"), 3, "nothing twice");

        std::fs::write(site.dir.path().join("bad.csv"), "email,mail\r\nx@y.z,X\r\n").unwrap();
        let bad = site.run(&["user", "import", site.dir.path().join("bad.csv").to_str().unwrap()], b"");
        assert_eq!(bad.status.code(), Some(65));
        assert!(
            out(&bad).contains(
                "column \"mail\" is neither email, emails, name, org, phone nor a field of the user form"
            ),
            "{}",
            out(&bad)
        );
        let missing = site.run(&["user", "import", "/no/such.csv"], b"");
        assert_eq!(missing.status.code(), Some(66));
    }
}
