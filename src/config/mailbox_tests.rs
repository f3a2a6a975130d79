//! Tests for `[[mailbox]]` and `[imap]`: defaults, one test per rule, the files read at validation.

use std::path::Path;
use std::time::Duration;

use super::tests::{EXAMPLE, assert_error, errors_of, valid};
use super::*;

/// A self-signed CA certificate (P-256, valid until 2126), made once with
/// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -subj /CN=mailgate-test-ca`.
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjjCCATOgAwIBAgIUFQAOADZv9/trml/nxwLNIb+m5EwwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQbWFpbGdhdGUtdGVzdC1jYTAgFw0yNjExMjMwOTQ4MzFaGA8y
MTI2MTAzMDA5NDgzMVowGzEZMBcGA1UEAwwQbWFpbGdhdGUtdGVzdC1jYTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABPgQSl0+uWyU9AKLlC1jx/6mb2Mmb2eVyCfr
vjWEkEexrzsQrhnl19siHrFFnR8j2kFNMAwU9AIRKqN9e9VUEj6jUzBRMB0GA1Ud
DgQWBBR83D435MJVm7MyJdeZUBclYKiDoDAfBgNVHSMEGDAWgBR83D435MJVm7My
JdeZUBclYKiDoDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQD3
NTqPGBOkrnBADyEyvCtSjBRTGKTUT9OAUclmo65evQIhAMuCI37KZ0aokgVgwWmM
VaF4o6cCd6+79MYL/O4PKt01
-----END CERTIFICATE-----
";

/// A valid mailbox (lines 1-6) followed by `extra` (from line 7).
fn mailbox_toml(extra: &str) -> String {
    format!(
        "[[mailbox]]\nname = \"support\"\naddresses = [\"support@example.com\"]\n\
         host = \"imap.example.com\"\nusername = \"support@example.com\"\npassword = \"hunter2\"\n{extra}"
    )
}

/// A mailbox without a password (lines 1-5), then `extra` (from line 6).
fn mailbox_toml_without_password(extra: &str) -> String {
    format!(
        "[[mailbox]]\nname = \"support\"\naddresses = [\"support@example.com\"]\n\
         host = \"imap.example.com\"\nusername = \"support@example.com\"\n{extra}"
    )
}

fn write_file(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write a test file");
    path
}

#[test]
fn no_mailboxes_and_imap_defaults_without_a_file() {
    let config = load(None).unwrap_or_else(|errors| panic!("{errors}"));
    assert!(config.mailboxes.is_empty());
    let imap = &config.imap;
    assert_eq!(imap.takeover, Duration::from_secs(30));
    assert_eq!(imap.command_timeout, Duration::from_secs(60));
    assert_eq!(imap.batch_size, 50);
}

#[test]
fn mailbox_defaults_fill_in() {
    let config = valid(&mailbox_toml(""));
    let mailbox = &config.mailboxes[0];
    assert_eq!(mailbox.name, "support");
    assert_eq!(mailbox.addresses[0].as_str(), "support@example.com");
    assert_eq!((mailbox.host.as_str(), mailbox.port, mailbox.tls), ("imap.example.com", 993, ImapTls::Tls));
    assert_eq!((mailbox.username.as_str(), mailbox.password.expose()), ("support@example.com", "hunter2"));
    assert_eq!((mailbox.ca_file.as_deref(), mailbox.extra_roots.len()), (None, 0));
    assert_eq!(mailbox.folder, "INBOX");
    assert_eq!(mailbox.after, AfterIngest::Move);
    assert_eq!(
        (mailbox.processed_folder.as_str(), mailbox.error_folder.as_str()),
        ("Processed", "Quarantine")
    );
    assert!(mailbox.idle);
    assert_eq!(mailbox.poll_interval, Duration::from_secs(60));

    assert_eq!(valid(&mailbox_toml("tls = \"starttls\"\n")).mailboxes[0].port, 143);
    for host in ["localhost", "127.0.0.1", "127.8.9.10", "::1"] {
        let text = format!(
            "[[mailbox]]\nname = \"local\"\naddresses = [\"help@example.com\"]\nhost = {host:?}\n\
                            username = \"u\"\npassword = \"p\"\ntls = \"none\"\n"
        );
        let local = &valid(&text).mailboxes[0];
        assert_eq!((local.tls, local.port), (ImapTls::None, 143), "{host}");
    }
    let set = valid(&mailbox_toml(
        "port = 1993\nafter = \"flag\"\nfolder = \"Support\"\nidle = false\npoll_interval_seconds = 5\n",
    ));
    let set = &set.mailboxes[0];
    assert_eq!((set.port, set.after, set.folder.as_str()), (1993, AfterIngest::Flag, "Support"));
    assert_eq!((set.idle, set.poll_interval), (false, Duration::from_secs(5)));
}

#[test]
fn plain_imap_only_to_loopback() {
    assert_error(&mailbox_toml("tls = \"none\"\n"), "mailbox[0].tls", Some(7), "is not a loopback address");
    assert_error(&mailbox_toml("tls = \"ssl\"\n"), "mailbox[0].tls", Some(7), "not a TLS mode");
    assert_error(&mailbox_toml("port = 0\n"), "mailbox[0].port", Some(7), "must be a port number");
}

#[test]
fn required_keys_are_named() {
    let text = "[[mailbox]]\naddresses = []\nhost = \" \"\n";
    assert_error(text, "mailbox[0].name", Some(1), "is required");
    assert_error(text, "mailbox[0].addresses", Some(2), "at least one address");
    assert_error(text, "mailbox[0].host", Some(3), "must not be empty");
    assert_error(text, "mailbox[0].username", Some(1), "is required");
    let text = mailbox_toml("addresses = [\"not an address\"]\n")
        .replace("addresses = [\"support@example.com\"]\n", "");
    assert_error(&text, "mailbox[0].addresses[0]", Some(6), "is not an e-mail address");
    assert_error(&mailbox_toml("pasword = \"x\"\n"), "mailbox[0].pasword", Some(7), "unknown key");
}

#[test]
fn exactly_one_of_password_and_password_file() {
    let both = mailbox_toml("password_file = \"/nonexistent/pw\"\n");
    assert_error(&both, "mailbox[0].password_file", Some(7), "so is password; keep one of them");
    let neither = mailbox_toml_without_password("");
    assert_error(&neither, "mailbox[0].password", Some(1), "is required (or password_file");
    assert_error(
        &mailbox_toml_without_password("password = \"\"\n"),
        "mailbox[0].password",
        Some(6),
        "must not be empty",
    );
}

#[test]
fn password_file_is_read_and_its_first_line_used() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write_file(dir.path(), "pw", "s3cret pass\r\nsecond line\n");
    let text = mailbox_toml_without_password(&format!("password_file = {:?}\n", file.display()));
    let mailbox = &valid(&text).mailboxes[0];
    assert_eq!(mailbox.password.expose(), "s3cret pass");

    let missing = dir.path().join("missing");
    let text = mailbox_toml_without_password(&format!("password_file = {:?}\n", missing.display()));
    assert_error(&text, "mailbox[0].password_file", Some(6), &format!("cannot read {}", missing.display()));
    let empty = write_file(dir.path(), "empty", "\nnot the first line\n");
    let text = mailbox_toml_without_password(&format!("password_file = {:?}\n", empty.display()));
    assert_error(&text, "mailbox[0].password_file", Some(6), "the first line (the password) is empty");
}

#[test]
fn ca_file_certificates_are_loaded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = write_file(dir.path(), "ca.pem", TEST_CA);
    let mailbox_with_ca = |file: &Path| mailbox_toml(&format!("ca_file = {:?}\n", file.display()));
    let config = valid(&mailbox_with_ca(&ca));
    let loaded = &config.mailboxes[0];
    assert_eq!(loaded.ca_file.as_deref(), Some(ca.as_path()));
    assert_eq!(loaded.extra_roots.len(), 1);
    let shown = serde_json::to_string(&config.mailboxes).expect("serializable");
    assert!(!shown.contains("extra_roots"), "{shown}");

    let key_only =
        write_file(dir.path(), "key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    assert_error(&mailbox_with_ca(&key_only), "mailbox[0].ca_file", Some(7), "holds no CERTIFICATE block");
    let text_only = write_file(dir.path(), "notes.txt", "not a certificate\n");
    assert_error(&mailbox_with_ca(&text_only), "mailbox[0].ca_file", Some(7), "holds no CERTIFICATE block");
    let not_der =
        write_file(dir.path(), "bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert_error(
        &mailbox_with_ca(&not_der),
        "mailbox[0].ca_file",
        Some(7),
        "certificate 1 is not usable as a CA",
    );
    let missing = dir.path().join("missing.pem");
    assert_error(&mailbox_with_ca(&missing), "mailbox[0].ca_file", Some(7), "cannot read");
}

#[test]
fn mailbox_names_are_checked_and_unique() {
    let two = format!("{}\n{}", mailbox_toml(""), mailbox_toml(""));
    assert_error(&two, "mailbox[1].name", Some(9), "\"support\" is already the name of mailbox[0]");
    for bad in ["Support", "sup.port", "", "a b"] {
        let text = mailbox_toml("").replace("name = \"support\"", &format!("name = {bad:?}"));
        assert_error(&text, "mailbox[0].name", Some(2), "must be 1 to 40 of a-z, 0-9, '_' and '-'");
    }
    let long = "x".repeat(41);
    let text = mailbox_toml("").replace("name = \"support\"", &format!("name = {long:?}"));
    assert_error(&text, "mailbox[0].name", Some(2), "must be 1 to 40");
    let fine = mailbox_toml("").replace("name = \"support\"", &format!("name = \"{}\"", "a_-9".repeat(10)));
    valid(&fine);
}

#[test]
fn folders_rules() {
    assert_error(
        &mailbox_toml("processed_folder = \"INBOX\"\n"),
        "mailbox[0].processed_folder",
        Some(7),
        "is the folder fetched",
    );
    assert_error(
        &mailbox_toml("error_folder = \"inbox\"\n"),
        "mailbox[0].error_folder",
        Some(7),
        "is the folder fetched",
    );
    assert_error(&mailbox_toml("folder = \"\"\n"), "mailbox[0].folder", Some(7), "must not be empty");
    assert_error(&mailbox_toml("after = \"archive\"\n"), "mailbox[0].after", Some(7), "not one of \"move\"");
    // processed_folder is only used by after = "move".
    let flagged = valid(&mailbox_toml("after = \"flag\"\nfolder = \"Processed\"\n"));
    assert_eq!(flagged.mailboxes[0].after, AfterIngest::Flag);
    assert_error(
        &mailbox_toml("poll_interval_seconds = 0\n"),
        "mailbox[0].poll_interval_seconds",
        Some(7),
        "at least 1",
    );
}

#[test]
fn mailbox_addresses_are_our_own() {
    let text = format!(
        "[instance]\nsupport_addresses = [\"help@example.com\"]\n\n{}\
         addresses = [\"Support@Example.com\", \"help@example.com\", \"sales@example.com\"]\n",
        mailbox_toml_without_password("password = \"p\"\n")
    )
    .replace("addresses = [\"support@example.com\"]\n", "");
    let config = valid(&text);
    let own: Vec<String> = config.own_addresses().iter().map(ToString::to_string).collect();
    assert_eq!(own, ["help@example.com", "support@example.com", "sales@example.com"]);

    let agent =
        format!("{}\n[[agents]]\nkey = \"alice\"\nemails = [\"support@example.com\"]\n", mailbox_toml(""));
    assert_error(&agent, "agents[0].emails[0]", Some(10), "is a support address");
}

#[test]
fn imap_rules() {
    let config = valid("[imap]\ntakeover_seconds = 5\ncommand_timeout_seconds = 1\nbatch_size = 1000\n");
    assert_eq!(config.imap.takeover, Duration::from_secs(5));
    assert_eq!(config.imap.command_timeout, Duration::from_secs(1));
    assert_eq!(config.imap.batch_size, 1000);
    let text = "[imap]\ntakeover_seconds = 4\ncommand_timeout_seconds = 0\nbatch_size = 1001\n";
    assert_error(text, "imap.takeover_seconds", Some(2), "at least 5");
    assert_error(text, "imap.command_timeout_seconds", Some(3), "at least 1");
    assert_error(text, "imap.batch_size", Some(4), "between 1 and 1000");
    assert_error("[imap]\nbatch_size = 0\n", "imap.batch_size", Some(2), "between 1 and 1000");
    let shown = serde_json::to_value(&config.imap).expect("serializable");
    assert_eq!(shown, serde_json::json!({ "takeover": 5, "command_timeout": 1, "batch_size": 1000 }));
}

#[test]
fn secrets_are_never_shown() {
    let config = valid(&mailbox_toml(""));
    let password = &config.mailboxes[0].password;
    assert_eq!(format!("{password:?}"), "<redacted>");
    assert!(!format!("{config:?}").contains("hunter2"));
    let shown = serde_json::to_string(&config).expect("serializable");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("\"password\":\"<redacted>\""), "{shown}");
}

#[test]
fn example_mailbox_validates_when_uncommented() {
    let start = EXAMPLE.find("\n# [[mailbox]]\n").expect("the example shows a [[mailbox]]") + 1;
    let end = EXAMPLE[start..].find("\n\n").map_or(EXAMPLE.len(), |end| start + end);
    let dir = tempfile::tempdir().expect("temp dir");
    let password = write_file(dir.path(), "pw", "secret\n");
    let ca = write_file(dir.path(), "ca.pem", TEST_CA);
    let uncommented: Vec<&str> =
        EXAMPLE[start..end].lines().map(|line| line.strip_prefix("# ").unwrap_or(line)).collect();
    let text = uncommented
        .join("\n")
        .replace("/etc/mailgate/imap-support-password", &password.display().to_string())
        .replace("/etc/mailgate/private-ca.pem", &ca.display().to_string());
    let config = valid(&text);
    let mailbox = &config.mailboxes[0];
    assert_eq!((mailbox.name.as_str(), mailbox.port, mailbox.tls), ("support", 993, ImapTls::Tls));
    assert_eq!(mailbox.password.expose(), "secret");
    assert_eq!(mailbox.extra_roots.len(), 1);
    assert_eq!(mailbox.poll_interval, Duration::from_secs(60));
    assert_eq!(config.own_addresses().len(), 2);
}

#[test]
fn errors_of_an_invalid_mailbox_are_all_reported() {
    let text = "[[mailbox]]\nname = \"Bad Name\"\ntls = \"none\"\nhost = \"imap.example.com\"\n";
    let keys: Vec<String> = errors_of(text).into_iter().map(|error| error.key).collect();
    for key in [
        "mailbox[0].name",
        "mailbox[0].addresses",
        "mailbox[0].tls",
        "mailbox[0].username",
        "mailbox[0].password",
    ] {
        assert!(keys.iter().any(|found| found == key), "{key} missing from {keys:?}");
    }
}
