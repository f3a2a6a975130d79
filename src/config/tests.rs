//! Tests for the whole config module: the example file, defaults, and one test per rule.

use std::path::Path;

use super::*;

pub(super) const EXAMPLE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml.example"));

/// Every error of `text`, which must be invalid.
pub(super) fn errors_of(text: &str) -> Vec<ConfigError> {
    match from_toml(text, "mailgate.toml") {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(errors) => errors.errors,
    }
}

/// Asserts `text` fails with an error at `key` on `line` whose message contains `fragment`.
#[track_caller]
pub(super) fn assert_error(text: &str, key: &str, line: Option<usize>, fragment: &str) {
    let errors = errors_of(text);
    assert!(
        errors.iter().any(|e| e.key == key && e.line == line && e.message.contains(fragment)),
        "no error {key} (line {line:?}) containing {fragment:?} in {errors:#?}"
    );
}

pub(super) fn valid(text: &str) -> Config {
    from_toml(text, "test.toml").unwrap_or_else(|errors| panic!("{errors}"))
}

/// The example with its commented-out directory entries (everything from the first
/// `# [[agents]]`) switched on.
fn example_with_directory() -> String {
    let start = EXAMPLE.find("# [[agents]]").expect("the example shows [[agents]]");
    let directory: Vec<&str> = EXAMPLE[start..]
        .lines()
        .map(|line| line.strip_prefix("# ").or_else(|| line.strip_prefix('#')).unwrap_or(line))
        .collect();
    format!("{}{}\n", &EXAMPLE[..start], directory.join("\n"))
}

const DIRECTORY: &str = r#"
[[agents]]
key = "alice"
emails = ["alice@example.com"]

[[agents]]
key = "bob"
emails = ["bob@example.com"]

[[teams]]
key = "billing"
members = ["alice"]
"#;

#[test]
fn canned_responses_need_their_text_and_its_variables() {
    assert_error("[[canned]]\nkey = \"restart\"\n", "canned[0].key", Some(2), "needs templates.dir");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("canned")).unwrap();
    std::fs::write(dir.path().join("canned/bad.tera"), "Hi {{ customer.nickname }}").unwrap();
    std::fs::write(dir.path().join("canned/ok.tera"), "Hi {{ customer.first_name }}").unwrap();
    let text = |entries: &str| format!("[templates]\ndir = \"{}\"\n{entries}", dir.path().display());
    let missing = text("[[canned]]\nkey = \"gone\"\n");
    assert_error(&missing, "canned[0].key", Some(4), "cannot read its text");
    assert_error(&text("[[canned]]\nkey = \"bad\"\n"), "canned[0].key", Some(4), "nickname");
    let doubled = text("[[canned]]\nkey = \"ok\"\n[[canned]]\nkey = \"ok\"\n");
    assert_error(&doubled, "canned[1].key", Some(6), "already the key of canned[0]");
    let config = valid(&text("[[canned]]\nkey = \"ok\"\ntitle = \"Greeting\"\n"));
    assert_eq!(
        (config.canned[0].title.as_str(), config.canned[0].text.as_str()),
        ("Greeting", "Hi {{ customer.first_name }}")
    );
}

#[test]
fn example_file_parses_and_states_the_defaults() {
    let example = valid(EXAMPLE);
    let defaults = load(None).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(example, defaults);
}

#[test]
fn example_directory_entries_validate_when_uncommented() {
    let config = valid(&example_with_directory());
    let keys = |list: Vec<&str>| list.join(",");
    assert_eq!(keys(config.agents.iter().map(|a| a.key.as_str()).collect()), "alice,bob");
    assert_eq!(config.teams[0].members, ["alice", "bob"]);
    let acme = &config.orgs[0];
    assert_eq!(acme.domains, ["acme.com", "acme.co.uk"]);
    assert_eq!(acme.account_manager, Some(Manager::Agent("alice".into())));
    assert_eq!(acme.manager_mode, ManagerMode::Assign);
    assert_eq!(acme.custom, serde_json::json!({ "tier": "gold", "seats": 250 }));
    assert_eq!(acme.share_tickets, super::orgs::ShareTickets::PrimaryContacts);
    let globex = &config.orgs[1];
    assert_eq!(globex.account_manager, Some(Manager::Team("billing".into())));
    assert_eq!(globex.manager_mode, ManagerMode::Alert);
    assert_eq!(globex.custom, serde_json::json!({ "tier": "silver", "renewal": "2026-09-30" }));
    let corp = &config.ldap[0];
    assert_eq!(
        (corp.name.as_str(), corp.url.as_str(), corp.starttls),
        ("corp", "ldaps://ldap.example.org", false)
    );
    let template = "uid={user},ou=people,dc=example,dc=org".to_string();
    assert_eq!(corp.bind, LdapBind::AsUser { dn_template: template });
    assert_eq!((corp.agents, corp.users, corp.timeout.as_secs()), (true, true, 5));
    assert_eq!(corp.attributes.phone.as_deref(), Some("telephoneNumber"));
    assert_eq!((corp.attributes.name.as_str(), corp.attributes.email.as_str()), ("cn", "mail"));
}

#[test]
fn no_file_means_defaults() {
    let config = load(None).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(config.instance.name, "mailgate");
    assert_eq!(config.instance.support_addresses[0].as_str(), "support@localhost");
    assert_eq!(config.instance.message_id_domain, "localhost");
    assert_eq!(config.database.url, "sqlite://mailgate.db");
    assert_eq!(config.database.backend, Backend::Sqlite);
    assert_eq!((config.database.max_connections, config.database.busy_timeout_ms), (8, 5000));
    assert_eq!(config.limits.max_message_bytes, 26_214_400);
    assert_eq!(config.limits.max_headers, 1000);
    assert_eq!(config.limits.max_header_bytes, 262_144);
    assert_eq!((config.limits.max_mime_depth, config.limits.max_mime_parts), (20, 500));
    assert_eq!(config.tickets.number_format, "######");
    assert_eq!((config.tickets.reopen_days, config.tickets.max_collaborators), (14, 10));
    assert_eq!((config.log.level.as_str(), config.log.format), ("info", LogFormat::Text));
    assert!(config.agents.is_empty() && config.teams.is_empty() && config.orgs.is_empty());
    assert_eq!(from_toml("", DEFAULTS_ORIGIN), Ok(config));
}

#[test]
fn a_file_is_loaded_from_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mailgate.toml");
    std::fs::write(&path, "[instance]\nsupport_addresses = [\"help@acme.test\"]\n").expect("write");
    let config = load(Some(&path)).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(config.instance.message_id_domain, "acme.test");
}

#[test]
fn a_missing_file_names_its_path() {
    let errors = load(Some(Path::new("/nonexistent/mailgate.toml"))).expect_err("no such file");
    assert_eq!(errors.origin, "/nonexistent/mailgate.toml");
    let shown = errors.to_string();
    assert!(shown.starts_with("/nonexistent/mailgate.toml: cannot read the configuration file"), "{shown}");
}

#[test]
fn every_unknown_key_is_reported_with_its_line() {
    let text = r#"
[instance]
nmae = "x"

[database]
url = "sqlite://x.db"
pool = 3

[smpt]
host = "mail"

[[agents]]
key = "alice"
emails = ["alice@example.com"]
email = "typo@example.com"
"#;
    let found: Vec<(String, Option<usize>, String)> =
        errors_of(text).into_iter().map(|e| (e.key, e.line, e.message)).collect();
    let unknown = |key: &str, line| (key.to_string(), Some(line), "unknown key".to_string());
    assert_eq!(
        found,
        [
            unknown("instance.nmae", 3),
            unknown("database.pool", 7),
            unknown("smpt", 9),
            unknown("agents[0].email", 15)
        ]
    );
}

#[test]
fn type_errors_are_all_reported_with_key_and_line() {
    let text = "[database]\nmax_connections = \"eight\"\n\n\
                [limits]\nmax_headers = -1\n\n\
                [log]\nformat = \"xml\"\nlevle = 1\n";
    let errors = errors_of(text);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert_error(text, "database.max_connections", Some(2), "invalid type: string \"eight\"");
    assert_error(text, "limits.max_headers", Some(5), "-1");
    assert_error(text, "log.format", Some(8), "unknown variant `xml`, expected `text` or `json`");
    assert_error(text, "log.levle", Some(9), "unknown key");
}

#[test]
fn a_type_error_inside_a_list_points_at_the_element() {
    let text =
        "[[agents]]\nkey = \"a\"\n\n[[agents]]\nkey = \"b\"\nemails = [\n  \"b@example.com\",\n  42,\n]\n";
    assert_error(text, "agents[1].emails[1]", Some(8), "invalid type: integer `42`");
}

#[test]
fn syntax_errors_are_all_reported_with_line_and_column() {
    let errors = errors_of("[instance]\nname = \"unterminated\n");
    assert_eq!(errors[0].line, Some(2), "{errors:#?}");
    assert!(errors[0].message.starts_with("column 21: invalid basic string"), "{errors:#?}");
    let errors = errors_of("a = 1\na = 2\nb = = 3\n");
    let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [Some(2), Some(3), Some(3)], "{errors:#?}");
    assert!(errors[0].message.contains("duplicate key"), "{errors:#?}");
}

#[test]
fn instance_rules() {
    let text = "[instance]\nname = \" \"\nsupport_addresses = []\nmessage_id_domain = \"bad_domain!\"\n";
    assert_error(text, "instance.name", Some(2), "must not be empty");
    assert_error(text, "instance.support_addresses", Some(3), "at least one address");
    assert_error(text, "instance.message_id_domain", Some(4), "not a plausible domain");
    let text = "[instance]\nsupport_addresses = [\"help@acme.test\", \"not an address\"]\n";
    assert_error(text, "instance.support_addresses[1]", Some(2), "is not an e-mail address");
    let config = valid(
        "[instance]\nsupport_addresses = [\"Help@ACME.test\"]\nmessage_id_domain = \"mid.acme.test\"\n",
    );
    assert_eq!(config.instance.support_addresses[0].as_str(), "help@acme.test");
    assert_eq!(config.instance.message_id_domain, "mid.acme.test");
}

#[test]
fn database_rules() {
    let text = "[database]\nurl = \"mysql://root:secret@db/mailgate\"\nmax_connections = 0\n";
    assert_error(text, "database.url", Some(2), "unsupported scheme \"mysql:\"; use sqlite://PATH");
    assert!(!errors_of(text).iter().any(|e| e.message.contains("secret")), "the password is never echoed");
    assert_error(text, "database.max_connections", Some(3), "greater than 0");
    assert_error("[database]\nurl = \"sqlite://\"\n", "database.url", Some(2), "names no database file");
    for (url, backend) in [
        ("sqlite::memory:", Backend::Sqlite),
        ("sqlite:data/mailgate.db", Backend::Sqlite),
        ("postgres://mg@localhost/mailgate", Backend::Postgres),
        ("postgresql://mg@localhost/mailgate", Backend::Postgres),
    ] {
        assert_eq!(valid(&format!("[database]\nurl = {url:?}\n")).database.backend, backend, "{url}");
    }
}

#[test]
fn limits_must_be_positive() {
    let text = "[limits]\nmax_message_bytes = 0\nmax_mime_parts = 0\n";
    assert_error(text, "limits.max_message_bytes", Some(2), "greater than 0");
    assert_error(text, "limits.max_mime_parts", Some(3), "greater than 0");
}

#[test]
fn number_format_rules() {
    assert_error(
        "[tickets]\nnumber_format = \"mg_####\"\n",
        "tickets.number_format",
        Some(2),
        "contains \"mg_\"",
    );
    assert_error("[tickets]\nnumber_format = \"T-###\"\n", "tickets.number_format", Some(2), "hard to guess");
    assert_eq!(valid("[tickets]\nnumber_format = \"MG-2026-####\"\n").tickets.number_format, "MG-2026-####");
    assert_eq!(valid("[tickets]\nreopen_days = 0\nmax_collaborators = 0\n").tickets.reopen_days, 0);
}

#[test]
fn log_level_rules() {
    for level in
        ["info", "WARN", "mailgate=debug,sqlx=warn", "mailgate::intake=trace", "off", "h2[conn]=error", "3"]
    {
        valid(&format!("[log]\nlevel = {level:?}\n"));
    }
    for level in ["", "inof", "mailgate=loud", "bad target=info", "mailgate", "a[span=info"] {
        assert_error(&format!("[log]\nlevel = {level:?}\n"), "log.level", Some(2), "");
    }
    assert_eq!(valid("[log]\nformat = \"json\"\n").log.format, LogFormat::Json);
}

#[test]
fn agent_rules() {
    let text = r#"[instance]
support_addresses = ["support@acme.test"]

[[agents]]
key = "Alice!"
emails = ["alice@acme.test"]

[[agents]]
key = "bob"
emails = ["ALICE@acme.test", "support@acme.test", "nope"]

[[agents]]
key = "bob"

[[agents]]
name = "No Key"
emails = ["nokey@acme.test"]
"#;
    assert_error(text, "agents[0].key", Some(5), "may only contain a-z, 0-9");
    assert_error(text, "agents[1].emails[0]", Some(10), "already an address of agents[0]");
    assert_error(text, "agents[1].emails[1]", Some(10), "is a support address");
    assert_error(text, "agents[1].emails[2]", Some(10), "is not an e-mail address");
    assert_error(text, "agents[2].key", Some(13), "already the key of agents[1]");
    assert_error(text, "agents[2].emails", Some(12), "at least one address");
    assert_error(text, "agents[3].key", Some(15), "is required");
}

#[test]
fn team_rules() {
    let text = format!(
        "{DIRECTORY}\n[[teams]]\nkey = \"alice\"\n\n\
         [[teams]]\nkey = \"billing\"\nmembers = [\"carol\", \"bob\", \"bob\"]\n"
    );
    assert_error(
        &text,
        "teams[1].key",
        Some(15),
        "already the key of agents[0]; agents and teams share one namespace",
    );
    assert_error(&text, "teams[2].key", Some(18), "already the key of teams[0]");
    assert_error(&text, "teams[2].members[0]", Some(19), "\"carol\" is not the key of any [[agents]] entry");
    assert_error(&text, "teams[2].members[2]", Some(19), "listed twice");
    let team = &valid(DIRECTORY).teams[0];
    assert_eq!((team.key.as_str(), team.name.as_str()), ("billing", "billing"));
}

#[test]
fn org_rules() {
    let text = format!(
        r#"{DIRECTORY}
[[orgs]]
key = "acme"
domains = ["ACME.com.", "gmail.com", "localhost", "acme.com"]
primary_contacts = ["cto at acme"]
account_manager = "alice"

[[orgs]]
key = "acme"
domains = ["acme.com", "mail.yahoo.com"]
account_manager = "team:nobody"
custom = "gold"

[[orgs]]
key = "initech"
manager_mode = "alert"
custom = {{ score = nan }}
"#
    );
    let text = text.as_str();
    assert_error(
        text,
        "orgs[0].domains[1]",
        Some(16),
        "\"gmail.com\" is a free-mail domain; organizations never match free-mail domains",
    );
    assert_error(text, "orgs[0].domains[2]", Some(16), "not a domain name");
    assert_error(text, "orgs[0].domains[3]", Some(16), "listed twice");
    assert_error(text, "orgs[0].primary_contacts[0]", Some(17), "not an e-mail address");
    assert_error(text, "orgs[0].account_manager", Some(18), "must be \"agent:KEY\" or \"team:KEY\"");
    assert_error(text, "orgs[1].key", Some(21), "already the key of orgs[0]");
    assert_error(text, "orgs[1].domains[0]", Some(22), "already belongs to orgs[0]");
    assert_error(text, "orgs[1].domains[1]", Some(22), "free-mail");
    assert_error(text, "orgs[1].account_manager", Some(23), "names no [[teams]] entry");
    assert_error(text, "orgs[1].custom", Some(24), "must be a table");
    assert_error(text, "orgs[2].manager_mode", Some(28), "is set but account_manager is not");
    assert_error(text, "orgs[2].custom.score", Some(29), "nan and inf");
    let config = valid(&format!("{DIRECTORY}\n[[orgs]]\nkey = \"acme\"\ndomains = [\"ACME.com.\"]\n"));
    assert_eq!(config.orgs[0].domains, ["acme.com"]);
    assert_eq!(config.orgs[0].custom, serde_json::json!({}));
}

#[test]
fn display_is_one_line_per_error_in_file_order() {
    let text = r#"[instance]
support_addresses = ["nobody"]

[database]
url = "mysql://db/mailgate"

[tickets]
number_format = "T-##"

[[orgs]]
key = "acme"
domains = ["gmail.com"]
account_manager = "agent:alice"
"#;
    let errors = from_toml(text, "mailgate.toml").expect_err("invalid");
    assert_eq!(
        errors.to_string(),
        "mailgate.toml:2: instance.support_addresses[0]: \"nobody\" is not an e-mail address\n\
         mailgate.toml:5: database.url: unsupported scheme \"mysql:\"; use sqlite://PATH (relative to the working directory), postgres://... or postgresql://...\n\
         mailgate.toml:8: tickets.number_format: \"T-##\" has 2 '#'; at least 4 are needed so ticket numbers in subject tags are hard to guess\n\
         mailgate.toml:12: orgs[0].domains[0]: \"gmail.com\" is a free-mail domain; organizations never match free-mail domains\n\
         mailgate.toml:13: orgs[0].account_manager: \"agent:alice\" names no [[agents]] entry"
    );
    let error = &errors.errors[0];
    assert_eq!(
        error.to_string(),
        "line 2: instance.support_addresses[0]: \"nobody\" is not an e-mail address"
    );
}

#[test]
fn a_section_of_the_wrong_type_is_named() {
    assert_error("instance = 5\n", "instance", Some(1), "expected an [instance] table");
    assert_error("agents = [1]\n", "agents[0]", Some(1), "expected an [[agents]] table");
}

#[test]
fn the_directory_serializes_for_fingerprints() {
    let config = valid(&example_with_directory());
    let json = serde_json::to_value(&config.orgs).expect("serializable");
    assert_eq!(json[0]["account_manager"], serde_json::json!({ "agent": "alice" }));
    assert_eq!(json[0]["primary_contacts"], serde_json::json!(["cto@acme.com"]));
}

#[test]
fn smtp_rules() {
    let plain_remote = "[smtp]\nhost = \"mail.example.com\"\n";
    // `tls` is absent: the error points at its table.
    assert_error(plain_remote, "smtp.tls", Some(1), "not a loopback address");
    let bad_mode = "[smtp]\ntls = \"ssl\"\n";
    assert_error(bad_mode, "smtp.tls", Some(2), "not a TLS mode");
    let half_auth = "[smtp]\nhost = \"mail.example.com\"\ntls = \"starttls\"\nusername = \"u\"\n";
    assert_error(half_auth, "smtp.username", Some(4), "go together");
    let missing_file = "[smtp]\nhost = \"mail.example.com\"\ntls = \"tls\"\nusername = \"u\"\npassword_file = \"/nonexistent/pw\"\n";
    assert_error(missing_file, "smtp.password_file", Some(5), "cannot read /nonexistent/pw");
    let fine = "[smtp]\nhost = \"mail.example.com\"\nport = 587\ntls = \"starttls\"\n";
    assert_eq!(valid(fine).smtp.tls, SmtpTls::Starttls);
}

#[test]
fn notifications_rules() {
    let zero = "[notifications]\nmax_automatic_per_address_per_hour = 0\n";
    assert_error(
        zero,
        "notifications.max_automatic_per_address_per_hour",
        Some(2),
        "holds back every automatic mail",
    );
    let off = "[notifications]\nauto_response = false\ncollaborator_notice = false\nmax_automatic_per_address_per_hour = 0\n";
    assert!(!valid(off).notifications.auto_response);
}

#[test]
fn templates_dir_must_exist() {
    let text = "[templates]\ndir = \"/nonexistent/templates\"\n";
    assert_error(text, "templates.dir", Some(2), "is not a directory");
}

#[test]
fn link_keys_are_read_and_bad_ones_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.key");
    std::fs::write(&good, "0123456789abcdef0123456789abcdef0123456789abcdef\n").unwrap();
    let short = dir.path().join("short.key");
    std::fs::write(&short, "tiny").unwrap();
    let keys = |entries: &[(&str, &Path)]| -> String {
        entries
            .iter()
            .map(|(id, file)| format!("[[links.keys]]\nid = {id:?}\nsecret_file = {:?}\n", file.display()))
            .collect()
    };

    let config = valid(&keys(&[("2026", &good), ("2025", &good)]));
    let ids: Vec<&str> = config.links.keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["2026", "2025"]);
    let shown = serde_json::to_string(&config.links).unwrap();
    assert!(!shown.contains("0123456789"), "secrets are never serialized: {shown}");

    let missing = dir.path().join("missing.key");
    assert_error(
        &keys(&[("old", &missing)]),
        "links.keys[0].secret_file",
        Some(3),
        "key \"old\": cannot read",
    );
    assert_error(&keys(&[("k", &short)]), "links.keys[0].secret_file", Some(3), "at least 32");
    assert_error(&keys(&[("k", &good), ("k", &good)]), "links.keys[1].id", Some(5), "listed twice");
    assert_error("[[links.keys]]\nsecret_file = \"x\"\n", "links.keys[0].id", Some(1), "required");
}

#[test]
fn web_base_url_must_be_http() {
    assert_eq!(
        valid("[web]\nbase_url = \"https://help.example.com/\"\n").web.base_url,
        "https://help.example.com"
    );
    assert_error("[web]\nbase_url = \"help.example.com\"\n", "web.base_url", Some(2), "not an http");
}

#[test]
fn auth_names_one_trusted_server() {
    assert_eq!(load(None).unwrap().auth.trusted_authserv_id, None);
    let config = valid("[auth]\ntrusted_authserv_id = \"mx.example.com\"\n");
    assert_eq!(config.auth.trusted_authserv_id.as_deref(), Some("mx.example.com"));
    assert_error(
        "[auth]\ntrusted_authserv_id = \"mx example\"\n",
        "auth.trusted_authserv_id",
        Some(2),
        "not an authserv-id",
    );
    assert_error("[tickets]\nautoclose_days = -1\n", "tickets.autoclose_days", Some(2), "");
}

#[test]
fn web_bind_is_an_address_or_empty() {
    assert_eq!(load(None).unwrap().web.bind, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(valid("[web]\nbind = \"\"\n").web.bind, None);
    assert_error("[web]\nbind = \"localhost\"\n", "web.bind", Some(2), "not an address and port");
}

#[test]
fn metrics_are_off_by_default_and_never_on_the_web_port() {
    assert_eq!(load(None).unwrap().metrics.bind, None);
    assert_eq!(
        valid("[metrics]\nbind = \"127.0.0.1:9464\"\n").metrics.bind,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert_error("[metrics]\nbind = \"9464\"\n", "metrics.bind", Some(2), "not an address and port");
    assert_error("[metrics]\nbind = \"127.0.0.1:8080\"\n", "metrics.bind", Some(2), "web.bind");
    assert_error(
        "[web]\nbind = \"0.0.0.0:8080\"\n[metrics]\nbind = \"127.0.0.1:8080\"\n",
        "metrics.bind",
        Some(4),
        "a port of their own",
    );
}

/// The example with every commented-out table example switched on: each `# [header]` or
/// `# [[header]]` line that is TOML, with the commented TOML lines after it, up to the first line
/// that is prose or live. Also how many table headers were switched on.
fn example_with_every_table_uncommented() -> (String, usize) {
    let is_toml = |code: &str| code.parse::<toml::Table>().is_ok();
    let mut examples = 0;
    let mut in_example = false;
    let mut lines = Vec::new();
    for line in EXAMPLE.lines() {
        let code = line.strip_prefix("# ").or_else(|| line.strip_prefix('#'));
        match code {
            Some(code) if code.trim_start().starts_with('[') && is_toml(code) => {
                examples += 1;
                in_example = true;
                lines.push(code);
            }
            Some(code) if in_example && is_toml(code) => lines.push(code),
            _ => {
                in_example = false;
                lines.push(line);
            }
        }
    }
    (lines.join("\n") + "\n", examples)
}

#[test]
fn every_commented_table_example_parses_where_it_stands_when_uncommented() {
    let (text, examples) = example_with_every_table_uncommented();
    // [[mailbox]], [[canned]], [[links.keys]], [[agents]] x2, [[teams]], [[orgs]] x2, [orgs.custom],
    // [[forms]], [[sla]] x2, [[topics]] x2, [[rules]] x3, [[oidc]], [[ldap]], [ldap.attributes].
    assert_eq!(examples, 20, "{text}");
    let (config, errors) = check_toml(&text);
    // The example's files (/etc/mailgate/...) need not exist here; keys and types must be right.
    let misplaced: Vec<_> = errors
        .iter()
        .filter(|e| e.message.contains("unknown key") || e.message.starts_with("invalid type"))
        .collect();
    assert!(misplaced.is_empty(), "{misplaced:#?}");
    let config = config.expect("the uncommented example reads");
    assert_eq!(config.links.reply_days, 365, "[links] keys after [[links.keys]] stay in [links]");
    assert_eq!((config.mailboxes.len(), config.agents.len(), config.teams.len()), (1, 2, 1));
    assert_eq!(config.orgs.len(), 2);
    assert_eq!((config.sla.len(), config.topics.len(), config.rules.len()), (2, 2, 3));
    assert_eq!(config.forms[0].fields.len(), 2);
    assert_eq!(config.default_sla.as_deref(), Some("standard"));
    assert_eq!(config.ldap.len(), 1);
}

#[test]
fn unknown_keys_type_errors_and_rule_violations_come_in_one_run() {
    let text = "[database]\nurl = \"mysql://db/mailgate\"\npool = 3\n\n\
                [limits]\nmax_message_bytes = \"big\"\nmax_mime_parts = 0\n";
    let errors = errors_of(text);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert_error(text, "database.url", Some(2), "unsupported scheme");
    assert_error(text, "database.pool", Some(3), "unknown key");
    assert_error(text, "limits.max_message_bytes", Some(6), "invalid type");
    assert_error(text, "limits.max_mime_parts", Some(7), "greater than 0");
}

#[test]
fn a_value_of_the_wrong_type_is_not_judged_again_as_its_default() {
    // `key` and `emails` are removed after their type errors; their defaults (empty) would break
    // rules of their own, which are not reported a second time.
    let text = "[[agents]]\nkey = 5\nemails = \"a@example.com\"\n";
    let errors = errors_of(text);
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["agents[0].key", "agents[0].emails"], "{errors:#?}");
}

#[test]
fn a_sqlite_file_that_can_never_work_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let database =
        |path: &Path| valid(&format!("[database]\nurl = \"sqlite://{}\"\n", path.display())).database;
    assert_eq!(database(&dir.path().join("new.db")).unusable_reason(), None, "created on first use");
    let missing = database(&dir.path().join("no/such/dir/m.db")).unusable_reason().unwrap();
    assert!(missing.contains("directory") && missing.contains("does not exist"), "{missing}");
    let directory = database(dir.path()).unusable_reason().unwrap();
    assert!(directory.contains("is a directory"), "{directory}");
    std::fs::write(dir.path().join("notes.txt"), "just text\n").unwrap();
    let not_sqlite = database(&dir.path().join("notes.txt")).unusable_reason().unwrap();
    assert!(not_sqlite.contains("not a SQLite database"), "{not_sqlite}");
    std::fs::write(dir.path().join("empty.db"), "").unwrap();
    assert_eq!(database(&dir.path().join("empty.db")).unusable_reason(), None, "SQLite fills an empty file");
    let in_root = database(Path::new("/mailgate-never-there.db")).unusable_reason().unwrap();
    assert!(in_root.contains("root directory"), "{in_root}");
    let postgres = valid("[database]\nurl = \"postgres://mg@127.0.0.1:1/none\"\n").database;
    assert_eq!(postgres.unusable_reason(), None, "a server that is down may come back");
}

#[test]
fn forms_topics_rules_and_sla_are_checked_with_their_lines() {
    let text = r#"[[forms]]
key = "org-data"
applies_to = "org"
fields = [{ key = "tier", type = "choice", choices = ["gold", "silver"] }, { key = "seats", type = "count" }]

[[orgs]]
key = "acme"
domains = ["acme.com"]
custom = { tier = "platinum" }

[[sla]]
key = "std"
grace_hours = 8
open = "09:00"

[[topics]]
key = "billing"
sla = "nope"
form = "org-data"
priority = "soon"
addresses = ["billing@example.com"]
"#;
    assert_error(text, "forms[0].fields[1].type", Some(4), "must be text, long_text");
    assert_error(text, "orgs[0].custom", Some(9), "\"platinum\" is not one of gold, silver");
    assert_error(text, "sla[0].open", Some(14), "needs timezone");
    assert_error(text, "topics[0].sla", Some(18), "\"nope\" names no [[sla]] entry");
    assert_error(text, "topics[0].form", Some(19), "is not a ticket form");
    assert_error(text, "topics[0].priority", Some(20), "must be \"low\"");
    assert_error(text, "topics[0].addresses[0]", Some(21), "is not one of ours");
    let rules =
        "[[rules]]\nname = \"x\"\nconditions = [{ field = \"subject\", equals = \"a\", contains = \"b\" }]\n";
    assert_error(rules, "rules[0].conditions[0]", Some(3), "exactly one of equals");
    assert_error(rules, "rules[0]", Some(1), "has no action");
}

#[test]
fn a_valid_routing_configuration_reads() {
    let config = valid(
        r#"[[forms]]
key = "ticket-details"
applies_to = "ticket"
fields = [{ key = "order", label = "Order number", type = "text", required = true, editable_by = "user" }]

[[sla]]
key = "std"
grace_hours = 8
timezone = "Europe/Berlin"
default = true

[[topics]]
key = "orders"
form = "ticket-details"

[[rules]]
name = "orders"
conditions = [{ field = "subject", regex = "(?i)order" }]
topic = "orders"
"#,
    );
    assert_eq!(config.forms[0].fields[0].label, "Order number");
    assert_eq!(config.topics[0].form.as_deref(), Some("ticket-details"));
    assert_eq!(config.default_sla.as_deref(), Some("std"));
    assert_eq!(config.rules[0].name, "orders");
}
