//! The directory's actions in the console and on the command line: adding a user from the
//! directory page, deleting one from their record (a choice and the address typed again), the
//! lockout on the record and its clearing, the CSV export (and its round trip through `user
//! import`), and `user delete|export|clear-lockout`. Both backends.

mod common;

use common::{Backend, Mail, created};

on_both_backends!(
    the_console_adds_a_user,
    the_console_deletes_a_user_after_a_choice_and_a_confirmation,
    the_console_shows_and_clears_a_lockout,
    the_console_exports_csv_and_searches_custom_data,
);

const USER_FORM: &str = r#"
[[forms]]
key = "customer"
applies_to = "user"
fields = [
  { key = "plan", label = "Plan", type = "choice", choices = ["basic", "enterprise"], required = true },
  { key = "seats", label = "Seats", type = "number" },
]
"#;

async fn the_console_adds_a_user(backend: Backend) {
    let Some((h, mut client)) = common::http::agent_console(backend, USER_FORM).await else { return };
    let shown = client.get("/agent/users").await.body;
    assert!(
        shown.contains("action=\"/agent/users/new\"") && shown.contains("name=\"field.plan\""),
        "{shown}"
    );
    let refused = client
        .submit(
            "/agent/users",
            "/agent/users/new",
            "email=kim%40example.org&name=Kim&phone=%2B49+30+1234&org=acme&field.seats=3",
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("The user was not added: Plan (plan): is required."), "{}", refused.body);
    assert!(
        refused.body.contains("value=\"kim@example.org\"") && refused.body.contains("value=\"3\""),
        "kept"
    );
    let hostile = client
        .submit("/agent/users", "/agent/users/new", "email=%3Cb%3E%40example.org&name=x&field.plan=basic")
        .await;
    assert_eq!(hostile.status, 400);
    assert!(hostile.body.contains("&lt;b&gt;@example.org") && !hostile.body.contains("<b>@"), "escaped");
    let bad_phone = client
        .submit("/agent/users", "/agent/users/new", "email=kim%40example.org&phone=call+me&field.plan=basic")
        .await;
    assert!(
        bad_phone.body.contains("phone: &quot;call me&quot; is not a phone number"),
        "{}",
        bad_phone.body
    );
    let added = client
        .submit(
            "/agent/users",
            "/agent/users/new",
            "email=Kim%40Example.org&name=Kim+%3Cb%3ELee%3C%2Fb%3E%0D%0ABcc%3A+x&phone=%2B49+30+1234&emails=kim.lee%40home.example%0D%0Ak2%40example.org&org=acme&field.plan=enterprise&field.seats=3",
        )
        .await;
    assert!(added.location().ends_with("?done=add"), "{} {}", added.status, added.body);
    let row = h
        .strings(
            "SELECT email || '|' || name || '|' || phone || '|' || custom FROM users WHERE email = $1",
            "kim@example.org",
        )
        .await;
    assert_eq!(
        row,
        ["kim@example.org|Kim <b>Lee</b> Bcc: x|+49 30 1234|{\"plan\":\"enterprise\",\"seats\":3}"]
    );
    let record = client.get(added.location()).await.body;
    assert!(record.contains("The user was added.") && record.contains("+49 30 1234"), "{record}");
    assert!(record.contains("k2@example.org, kim.lee@home.example"), "{record}");
    let emails = h.strings("SELECT email FROM user_emails ORDER BY email", "").await;
    assert_eq!(emails, ["k2@example.org", "kim.lee@home.example"]);
    let again =
        client.submit("/agent/users", "/agent/users/new", "email=kim%40example.org&field.plan=basic").await;
    assert!(again.body.contains("kim@example.org is already a user"), "{}", again.body);
    let forged = client.post("/agent/users/new", "email=eve%40example.org").await;
    assert_eq!(forged.status, 403);
    assert_eq!(h.strings("SELECT actor || ':' || action FROM audit_log", "").await, ["agent alice:add"]);
}

async fn the_console_deletes_a_user_after_a_choice_and_a_confirmation(backend: Backend) {
    let Some((h, mut client)) = common::http::agent_console(backend, "").await else { return };
    created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer", "Broken.").build()).await);
    let ann =
        h.strings("SELECT CAST(id AS TEXT) FROM users WHERE email = $1", "ann@acme.com").await.remove(0);
    let page = format!("/agent/users/{ann}");
    let action = format!("{page}/delete");
    let shown = client.get(&page).await.body;
    assert!(shown.contains(&format!("action=\"{action}\"")), "{shown}");
    let no_choice = client.submit(&page, &action, "confirm=ann%40acme.com").await;
    assert_eq!(no_choice.location(), format!("{page}?error=delete_choice"));
    let wrong = client.submit(&page, &action, "tickets=anonymize&confirm=ann%40acme.co").await;
    assert_eq!(wrong.location(), format!("{page}?error=delete_confirm"));
    let said = client.get(wrong.location()).await.body;
    assert!(said.contains("type their address exactly to confirm"), "{said}");
    let hostile = client.submit(&page, &action, "tickets=delete&confirm=ann%40acme.com%0D%0A%3Cb%3E").await;
    assert_eq!(
        hostile.location(),
        format!("{page}?error=delete_confirm"),
        "only the address itself confirms"
    );
    let unknown = client.submit(&page, &action, "tickets=everything&confirm=ann%40acme.com").await;
    assert_eq!(unknown.location(), format!("{page}?error=delete_choice"));
    let forged = client.post(&action, "tickets=delete&confirm=ann%40acme.com").await;
    assert_eq!(forged.status, 403);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 1, "nothing deleted yet");

    let deleted = client.submit(&page, &action, "tickets=anonymize&confirm=ANN%40acme.com").await;
    assert_eq!(deleted.location(), format!("{page}?done=delete"));
    let record = client.get(deleted.location()).await.body;
    assert!(
        record.contains(&format!("deleted user #{ann}")) && record.contains("This user was deleted"),
        "{record}"
    );
    assert!(!record.contains(&format!("action=\"{action}\"")), "no actions on a tombstone");
    assert!(!record.contains("ann@acme.com"), "{record}");
    let ticket = h.strings("SELECT number FROM tickets", "").await.remove(0);
    let thread = client.get(&format!("/agent/t/{ticket}")).await.body;
    assert!(thread.contains(&format!("deleted user #{ann}")) && !thread.contains("ann@acme.com"), "{thread}");
    let audit = h.strings("SELECT actor || ': ' || detail FROM audit_log WHERE action = 'delete'", "").await;
    assert_eq!(audit, [format!("agent alice: user #{ann} deleted (tickets: anonymized, 1)")]);

    // A primary contact of an organization in the configuration is refused with the reason.
    let boss =
        h.strings("SELECT CAST(id AS TEXT) FROM users WHERE email = $1", "boss@acme.com").await.remove(0);
    let boss_page = format!("/agent/users/{boss}");
    let refused = client
        .submit(&boss_page, &format!("{boss_page}/delete"), "tickets=delete&confirm=boss%40acme.com")
        .await;
    assert_eq!(refused.location(), format!("{boss_page}?error=delete_contact"));
}

async fn the_console_shows_and_clears_a_lockout(backend: Backend) {
    let Some((h, mut client)) = common::http::agent_console(backend, "").await else { return };
    created(&h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer", "Broken.").build()).await);
    let ann =
        h.strings("SELECT CAST(id AS TEXT) FROM users WHERE email = $1", "ann@acme.com").await.remove(0);
    let now = mailgate::clock::Clock::now_ms(&h.clock);
    let key = format!("login:user:{ann}@192.0.2.7");
    h.write(move |tx| {
        tx.execute(
            "INSERT INTO rate_limits (key, failures, window_start, blocked_until) VALUES ($1, 6, $2, $3)",
            mailgate::params![key.as_str(), now, now + 900_000],
        )?;
        Ok(())
    })
    .await;
    let page = format!("/agent/users/{ann}");
    let shown = client.get(&page).await.body;
    assert!(shown.contains("<dt>Failed sign-ins</dt><dd>6</dd>"), "{shown}");
    assert!(shown.contains(&format!("action=\"{page}/clear-lockout\"")), "{shown}");
    let forged = client.post(&format!("{page}/clear-lockout"), "x=1").await;
    assert_eq!(forged.status, 403, "no CSRF token, nothing cleared");
    let cleared = client.submit(&page, &format!("{page}/clear-lockout"), "x=1").await;
    assert_eq!(cleared.location(), format!("{page}?done=clear_lockout"));
    let shown = client.get(cleared.location()).await.body;
    assert!(
        shown.contains("<dt>Failed sign-ins</dt><dd>0</dd>") && shown.contains("not throttled"),
        "{shown}"
    );
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM rate_limits WHERE key LIKE 'login:user:%'").await, 0);
    assert_eq!(h.strings("SELECT action FROM audit_log", "").await, ["clear lockout"]);
}

async fn the_console_exports_csv_and_searches_custom_data(backend: Backend) {
    let Some((h, mut client)) = common::http::agent_console(backend, USER_FORM).await else { return };
    let kim = mailgate::core::address::EmailAddress::parse("kim@example.org").unwrap();
    let fields = mailgate::workflow::UserFields {
        name: Some("=HYPERLINK(\"http://evil\")".into()),
        set: vec![("plan".into(), "enterprise".into())],
        ..Default::default()
    };
    h.workflows.add_user(&kim, fields, "an admin").await.unwrap().unwrap();
    let found = client.get("/agent/users?q=enterprise").await.body;
    assert!(found.contains("kim@example.org") && !found.contains("boss@acme.com"), "{found}");
    let csv = client.get("/agent/users/export.csv").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(csv.body.starts_with("email,name,org,phone,emails,plan,seats\n"), "{}", csv.body);
    assert!(
        csv.body.contains("kim@example.org,\"'=HYPERLINK(\"\"http://evil\"\")\",,,,enterprise,"),
        "{}",
        csv.body
    );
    let acme = client.get("/agent/users/export.csv?org=acme").await.body;
    assert_eq!(acme.lines().count(), 2, "the header and boss@acme.com: {acme}");
    assert_eq!(client.get("/agent/users/export.csv?org=nowhere").await.status, 404);
}

/// The command line, one process per command.
mod command_line {
    use super::common::{self, Backend, Mail};

    crate::on_both_backends_blocking!(
        the_command_line_deletes_and_clears_a_lockout,
        an_export_imports_back_unchanged
    );

    const DIRECTORY: &str = r#"
[[orgs]]
key = "acme"
name = "ACME"
domains = ["acme.com"]

[[forms]]
key = "customer"
applies_to = "user"
fields = [
  { key = "plan", label = "Plan", type = "choice", choices = ["basic", "enterprise"], required = true },
  { key = "ports", label = "Ports", type = "multi_choice", choices = ["wan", "lan", "dmz"] },
  { key = "vip", label = "VIP", type = "bool" },
  { key = "seats", label = "Seats", type = "number" },
  { key = "note", label = "Note", type = "long_text" },
]
"#;

    fn out(output: &std::process::Output) -> String {
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    }

    fn the_command_line_deletes_and_clears_a_lockout(backend: Backend) {
        let Some(site) = common::site::Site::new(backend, "") else { return };
        let mail = Mail::new("Sam <sam@example.org>", "Hello", "Hi.").build();
        assert_eq!(site.run(&["pipe"], mail.as_bytes()).status.code(), Some(0));
        let no_choice = site.run(&["user", "delete", "sam@example.org"], b"");
        assert_eq!(no_choice.status.code(), Some(64), "a usage error: {}", out(&no_choice));
        assert!(out(&no_choice).contains("--tickets"), "{}", out(&no_choice));
        let id = site.scalar("SELECT id FROM users WHERE email = 'sam@example.org'");
        site.write(move |tx| {
            tx.execute(
                "INSERT INTO rate_limits (key, failures, window_start, blocked_until) VALUES ($1, 4, 0, 0)",
                mailgate::params![format!("login:user:{id}").as_str()],
            )?;
            Ok(())
        });
        let cleared = site.run(&["user", "clear-lockout", "sam@example.org"], b"");
        assert_eq!(
            String::from_utf8_lossy(&cleared.stdout).trim(),
            "sam@example.org: failed sign-ins cleared"
        );
        let again = site.run(&["user", "clear-lockout", &id.to_string()], b"");
        assert_eq!(
            String::from_utf8_lossy(&again.stdout).trim(),
            "sam@example.org: no failed sign-ins to clear"
        );

        let deleted = site.run(&["user", "delete", "sam@example.org", "--tickets", "delete"], b"");
        assert_eq!(deleted.status.code(), Some(0), "{}", out(&deleted));
        assert_eq!(
            String::from_utf8_lossy(&deleted.stdout).trim(),
            format!("user #{id} deleted (tickets: deleted, 1)")
        );
        assert_eq!(site.scalar("SELECT COUNT(*) FROM tickets"), 0);
        let twice = site.run(&["user", "delete", &id.to_string(), "--tickets", "anonymize"], b"");
        assert_eq!(twice.status.code(), Some(65), "{}", out(&twice));
        let missing = site.run(&["user", "delete", "nobody@example.org", "--tickets", "delete"], b"");
        assert_eq!(missing.status.code(), Some(66));
        assert_eq!(
            site.strings("SELECT actor || ':' || action FROM audit_log ORDER BY id"),
            ["an admin:clear lockout", "an admin:delete"]
        );
    }

    fn an_export_imports_back_unchanged(backend: Backend) {
        let Some(site) = common::site::Site::new(backend, DIRECTORY) else { return };
        let add = |args: &[&str]| {
            let added = site.run(&[&["user", "add"], args].concat(), b"");
            assert_eq!(added.status.code(), Some(0), "{}", out(&added));
        };
        add(&[
            "kim@acme.com",
            "--org",
            "acme",
            "--name",
            "Lee, Kim",
            "--phone",
            "+49 30 1234",
            "--also",
            "kim.lee@home.example",
            "--also",
            "k@acme.com",
            "--set",
            "plan=enterprise",
            "--set",
            "ports=wan",
            "--set",
            "vip=yes",
            "--set",
            "seats=12",
        ]);
        add(&[
            "eve@example.org",
            "--name",
            "=1+2",
            "--set",
            "plan=basic",
            "--set",
            "note=@SUM(A1)\nline two",
        ]);
        let exported = site.run(&["user", "export"], b"");
        assert_eq!(exported.status.code(), Some(0), "{}", out(&exported));
        let csv = String::from_utf8(exported.stdout).unwrap();
        assert_eq!(
            csv,
            "email,name,org,phone,emails,plan,ports,vip,seats,note\n\
             eve@example.org,'=1+2,,,,basic,,,,\"'@SUM(A1)\nline two\"\n\
             kim@acme.com,\"Lee, Kim\",acme,'+49 30 1234,k@acme.com; kim.lee@home.example,enterprise,wan,yes,12,\n"
        );
        let shown =
            String::from_utf8_lossy(&site.run(&["user", "show", "k@acme.com"], b"").stdout).to_string();
        assert!(
            shown.contains("Phone:        +49 30 1234")
                && shown.contains("Also:         k@acme.com, kim.lee@home.example"),
            "found by an additional address: {shown}"
        );
        let acme = site.run(&["user", "export", "--org", "acme"], b"");
        assert_eq!(String::from_utf8_lossy(&acme.stdout).lines().count(), 2);
        let unknown = site.run(&["user", "export", "--org", "nowhere"], b"");
        assert_eq!(unknown.status.code(), Some(66));

        let Some(other) = common::site::Site::new(backend, DIRECTORY) else { return };
        let file = other.dir.path().join("users.csv");
        std::fs::write(&file, &csv).unwrap();
        let imported = other.run(&["user", "import", file.to_str().unwrap()], b"");
        assert_eq!(imported.status.code(), Some(0), "{}", out(&imported));
        let again = other.run(&["user", "export"], b"");
        assert_eq!(String::from_utf8(again.stdout).unwrap(), csv, "export -> import -> export is the same");
    }
}
