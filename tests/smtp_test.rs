//! `mailgate smtp test ADDRESS` against a real SMTP server (aiosmtpd): accepted (the mail arrives),
//! refused with 554, AUTH accepted and refused (the password never printed), and nothing listening.
//! The command never touches the database, so one backend is enough.

mod common;

use common::Backend;
use common::ports::free_port;
use common::site::{Site, code, stdout, text};
use common::smtp::{self, SmtpSink};

const PASSWORD: &str = "s3cret-horse-battery";

fn site_for(port: u16, auth: Option<&str>) -> Option<Site> {
    let mut extra =
        format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_ms = 5000\n");
    let site = Site::new(Backend::Sqlite, "")?;
    if let Some(password) = auth {
        let file = site.dir.path().join("smtp-password");
        std::fs::write(&file, format!("{password}\n")).unwrap();
        extra += &format!("username = \"mailgate\"\npassword_file = \"{}\"\n", file.display());
    }
    let config = std::fs::read_to_string(site.config()).unwrap() + &extra;
    std::fs::write(site.config(), config).unwrap();
    Some(site)
}

#[test]
fn an_accepted_test_mail_arrives() {
    if !smtp::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(free_port(), dir.path().join("maildir"));
    let Some(site) = site_for(sink.port, None) else { return };
    let out = site.run(&["smtp", "test", "admin@client.test", "--from", "desk@example.com"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let said = stdout(&out);
    assert!(said.contains("connected: "), "{said}");
    assert!(said.contains("encrypted: no"), "{said}");
    assert!(said.contains("mail from desk@example.com to admin@client.test accepted: 250"), "{said}");
    let delivered = sink.messages();
    assert_eq!(delivered.len(), 1);
    assert_eq!(smtp::header(&delivered[0], "Subject").as_deref(), Some("mailgate: SMTP test"));
    assert!(
        smtp::header(&delivered[0], "X-Mailgate-Loop").is_some(),
        "it reads as our own mail if it comes back"
    );
}

#[test]
fn a_refused_mail_is_exit_69_with_the_servers_words() {
    if !smtp::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start_rejecting(free_port(), dir.path().join("maildir"));
    let Some(site) = site_for(sink.port, None) else { return };
    let out = site.run(&["smtp", "test", "admin@client.test"], b"");
    assert_eq!(code(&out), 69, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the server refused the mail: send: 554"), "{stderr}");
    assert!(stderr.contains("rejected by test policy"), "{stderr}");
}

#[test]
fn authentication_is_reported_and_the_password_never_shown() {
    if !smtp::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start_requiring_auth(free_port(), dir.path().join("maildir"), "mailgate", PASSWORD);
    let Some(site) = site_for(sink.port, Some(PASSWORD)) else { return };
    let out = site.run(&["smtp", "test", "admin@client.test"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(stdout(&out).contains("authenticated as mailgate"), "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD), "{}", text(&out));

    let Some(wrong) = site_for(sink.port, Some("not-the-password")) else { return };
    let out = wrong.run(&["smtp", "test", "admin@client.test"], b"");
    assert_eq!(code(&out), 69, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused us or cannot be reached: AUTH: 535"), "{stderr}");
    assert!(!text(&out).contains("not-the-password"), "{}", text(&out));
    assert_eq!(sink.messages().len(), 1, "only the authenticated test mail arrived");
}

#[test]
fn nothing_listening_is_exit_69() {
    let Some(site) = site_for(free_port(), None) else { return };
    let out = site.run(&["smtp", "test", "admin@client.test"], b"");
    assert_eq!(code(&out), 69, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("connect: cannot connect to 127.0.0.1:"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_bad_address_is_a_usage_error() {
    let Some(site) = site_for(free_port(), None) else { return };
    let out = site.run(&["smtp", "test", "not an address"], b"");
    assert_eq!(code(&out), 65, "{}", text(&out));
}
