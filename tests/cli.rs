//! The `mailgate` binary as an admin and an MTA meet it: where the configuration is found, what a
//! configuration that can never work does, limits on `explain`, listings into a closed pipe, mail
//! text on the admin's terminal, the password prompt under a real pseudo-terminal, and the unwinder it
//! carries instead of loading libgcc_s.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Backend, TestDb};

const MAIL: &[u8] =
    b"From: Jane <jane@example.org>\r\nTo: support@example.com\r\nSubject: Printer on fire\r\n\
Message-ID: <cli-1@client.test>\r\n\r\nIt is burning.\r\n";

/// The binary with a clean environment for finding its configuration: no `$MAILGATE_CONFIG`, and
/// the search list `search` instead of ./mailgate.toml and /etc/mailgate/mailgate.toml.
fn mailgate(cwd: &Path, search: &[&Path]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mailgate"));
    command
        .current_dir(cwd)
        .env_remove("MAILGATE_CONFIG")
        .env_remove("MAILGATE_LOG")
        .env("MAILGATE_CONFIG_SEARCH", std::env::join_paths(search).unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run(command: &mut Command, stdin: &[u8]) -> Output {
    let mut child = command.spawn().unwrap();
    // A process that refuses early closes its stdin; that is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn text(out: &Output) -> String {
    format!("exit {:?}\nstdout: {}\nstderr: {}", out.status, stdout(out), stderr(out))
}

/// A configuration file on a fresh database of `backend`, and the commands run with it.
struct Site {
    dir: tempfile::TempDir,
    db: TestDb,
}

impl Site {
    async fn new(backend: Backend, extra: &str) -> Option<Site> {
        let db = TestDb::new(backend).await?;
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "[instance]\nsupport_addresses = [\"support@example.com\"]\n\n[database]\nurl = \"{}\"\n\
             busy_timeout_ms = 1000\n\n[[agents]]\nkey = \"alice\"\nname = \"Alice\"\n\
             emails = [\"alice@example.com\"]\n{extra}",
            db.url
        );
        std::fs::write(dir.path().join("mailgate.toml"), config).unwrap();
        Some(Site { dir, db })
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("mailgate.toml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = mailgate(self.dir.path(), &[]);
        command.arg("--config").arg(self.config()).args(args);
        command
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        run(&mut self.command(args), stdin)
    }

    /// One value from the database, read through the store (outside the test's runtime).
    fn scalar(&self, sql: &'static str) -> String {
        let url = self.db.url.clone();
        std::thread::spawn(move || {
            let store = mailgate::store::Store::connect(&url, &Default::default()).unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(store.read(move |tx| tx.query_one(sql, &[], |r| r.string(0)))).unwrap()
        })
        .join()
        .unwrap()
    }
}

/// A misused command is sysexits' 64 with clap's message, and touches no database; help is 0.
#[test]
fn a_misused_command_is_64_and_help_is_0() {
    let cwd = tempfile::tempdir().unwrap();
    for args in
        [&["ticket", "show", "12 34"][..], &["ticket", "show"], &["no-such-command"], &["pipe", "--bogus"]]
    {
        let out = run(mailgate(cwd.path(), &[]).args(args), b"");
        assert_eq!(code(&out), 64, "{args:?}: {}", text(&out));
        assert!(stderr(&out).starts_with("error:"), "{args:?}: {}", text(&out));
    }
    let out = run(mailgate(cwd.path(), &[]).args(["ticket", "show", "#12 34"]), b"");
    assert!(stderr(&out).contains("is not a ticket number"), "{}", text(&out));
    for args in [&["--help"][..], &["ticket", "--help"], &["--version"]] {
        let out = run(mailgate(cwd.path(), &[]).args(args), b"");
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out));
        assert!(!stdout(&out).is_empty(), "{args:?}");
    }
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0, "no database was made");
}

// §4: where the configuration is found, and what a command on the defaults says.

#[test]
fn a_command_on_the_defaults_says_so_with_its_database_file() {
    let cwd = tempfile::tempdir().unwrap();
    let nowhere = cwd.path().join("etc/mailgate/mailgate.toml");
    let out = run(mailgate(cwd.path(), &[Path::new("mailgate.toml"), &nowhere]).arg("pipe"), MAIL);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let said = stderr(&out);
    assert!(said.contains("no configuration file") && said.contains("built-in defaults"), "{said}");
    assert!(said.contains(&nowhere.display().to_string()), "names where it looked: {said}");
    let database = cwd.path().join("mailgate.db");
    assert!(said.contains(&database.display().to_string()), "names the database file: {said}");
    assert!(database.is_file());

    let check = run(mailgate(cwd.path(), &[&nowhere]).arg("check-config"), b"");
    assert_eq!(code(&check), 0, "{}", text(&check));
    assert!(stderr(&check).contains("built-in defaults"), "{}", text(&check));
}

#[test]
fn the_daemon_configuration_is_found_after_the_working_directory() {
    let root = tempfile::tempdir().unwrap();
    let (cwd, etc) = (root.path().join("spool"), root.path().join("etc/mailgate"));
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::create_dir_all(&etc).unwrap();
    let daemon_db = root.path().join("daemon.db");
    let daemon_config = etc.join("mailgate.toml");
    std::fs::write(&daemon_config, format!("[database]\nurl = \"sqlite://{}\"\n", daemon_db.display()))
        .unwrap();
    let search = [Path::new("mailgate.toml"), daemon_config.as_path()];

    let out = run(mailgate(&cwd, &search).arg("pipe"), MAIL);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(!stderr(&out).contains("defaults"), "{}", text(&out));
    assert!(daemon_db.is_file(), "stored where /etc/mailgate/mailgate.toml says");
    assert!(!cwd.join("mailgate.db").exists(), "nothing created in the MTA's directory");

    // A mailgate.toml in the working directory comes first.
    let local_db = root.path().join("local.db");
    std::fs::write(
        cwd.join("mailgate.toml"),
        format!("[database]\nurl = \"sqlite://{}\"\n", local_db.display()),
    )
    .unwrap();
    let out = run(mailgate(&cwd, &search).args(["ticket", "list"]), b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(local_db.is_file() && !stdout(&out).contains("Printer on fire"), "{}", text(&out));
}

/// An empty configuration file (half-written, truncated), or one of comments only, is refused,
/// found or named: the defaults would put mail in a database in whatever directory the command
/// runs in. So is anything that is not a regular file, or a huge one.
#[test]
fn an_empty_configuration_file_is_refused_not_taken_for_the_defaults() {
    let root = tempfile::tempdir().unwrap();
    let empty = root.path().join("mailgate.toml");
    std::fs::write(&empty, "# mailgate configuration\n\n  # [database]\n").unwrap();
    let out = run(mailgate(root.path(), &[]).arg("--config").arg(&empty).arg("pipe"), MAIL);
    assert_eq!(code(&out), 78, "{}", text(&out));
    assert!(stderr(&out).contains("has no settings"), "{}", text(&out));
    for strange in ["/dev/zero", "/dev/null"] {
        let out = run(mailgate(root.path(), &[]).args(["--config", strange, "check-config"]), b"");
        assert_eq!(code(&out), 78, "{strange}: {}", text(&out));
    }
    let fifo = root.path().join("fifo.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = run(mailgate(root.path(), &[]).arg("--config").arg(&fifo).arg("check-config"), b"");
    assert_eq!(code(&out), 78, "a FIFO is refused, not waited on: {}", text(&out));
    let big = root.path().join("big.toml");
    std::fs::write(&big, format!("# {}\n", "x".repeat(5 << 20))).unwrap();
    let out = run(mailgate(root.path(), &[]).arg("--config").arg(&big).arg("check-config"), b"");
    assert_eq!(code(&out), 78, "{}", text(&out));
    assert!(stderr(&out).contains("larger than"), "{}", text(&out));
    let out = run(mailgate(root.path(), &[&empty]).arg("pipe"), MAIL);
    assert_eq!(code(&out), 78, "found by the search: {}", text(&out));
    let out = run(mailgate(root.path(), &[&empty]).arg("check-config"), b"");
    assert_eq!(code(&out), 78, "{}", text(&out));
    assert!(!root.path().join("mailgate.db").exists(), "no database made");
}

#[test]
fn pipe_never_creates_a_database_in_the_root_directory() {
    let database = Path::new("/mailgate.db");
    assert!(!database.exists(), "this test needs /mailgate.db not to exist");
    let nowhere = tempfile::tempdir().unwrap();
    let out = run(mailgate(Path::new("/"), &[&nowhere.path().join("none.toml")]).arg("pipe"), MAIL);
    let created = database.exists();
    if created {
        let _ = std::fs::remove_file(database);
    }
    assert!(!created, "pipe created /mailgate.db: {}", text(&out));
    assert_eq!(code(&out), 78, "{}", text(&out));
    assert!(stderr(&out).contains("root directory"), "{}", text(&out));
}

/// `build.rs` links GCC's unwinder into the executables: a piped message does not load
/// `libgcc_s.so.1` (a library to map and relocate, and 12 `CPUID` traps on a virtual machine in its
/// constructor). Seen in the maps of a real `pipe` waiting for its message, on both engines; panics
/// still unwind (every `#[should_panic]` test and this one's `catch_unwind`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod unwinder {
    use super::*;

    async fn pipe_carries_its_unwinder_instead_of_loading_libgcc_s(backend: Backend) {
        let site = Site::new(backend, "").await.unwrap();
        let mut child = site.command(&["pipe"]).spawn().unwrap();
        let maps_path = format!("/proc/{}/maps", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // The loader maps every library the executable names before `main` runs; libc is one.
        let maps = loop {
            let maps = std::fs::read_to_string(&maps_path).unwrap_or_default();
            if maps.contains("/libc.so") {
                break maps;
            }
            assert!(std::time::Instant::now() < deadline, "pipe never started:\n{maps}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        child.stdin.take().unwrap().write_all(MAIL).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert!(!maps.contains("libgcc_s"), "pipe loaded libgcc_s:\n{maps}");
        let unwound = std::panic::catch_unwind(|| std::hint::black_box(Vec::<u8>::new())[1]);
        assert!(unwound.is_err(), "a panic unwinds to catch_unwind");
    }

    on_both_backends!(pipe_carries_its_unwinder_instead_of_loading_libgcc_s);
}

// §5: a configuration that can never work is a configuration error, not "try again".

#[test]
fn a_database_that_can_never_work_makes_pipe_exit_78_and_check_config_say_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a database at all\n").unwrap();
    let cases = [
        (dir.path().join("missing/mailgate.db"), "does not exist"),
        (dir.path().to_path_buf(), "is a directory"),
        (dir.path().join("notes.txt"), "not a SQLite database"),
    ];
    for (file, why) in cases {
        let config = dir.path().join("mailgate.toml");
        std::fs::write(&config, format!("[database]\nurl = \"sqlite://{}\"\n", file.display())).unwrap();
        let out = run(mailgate(dir.path(), &[]).arg("--config").arg(&config).arg("pipe"), MAIL);
        assert_eq!(code(&out), 78, "{}: {}", file.display(), text(&out));
        assert!(stderr(&out).contains(why), "{}", text(&out));
        let check = run(mailgate(dir.path(), &[]).arg("--config").arg(&config).arg("check-config"), b"");
        assert_eq!(code(&check), 78, "{}", text(&check));
        assert!(stderr(&check).contains("database.url") && stderr(&check).contains(why), "{}", text(&check));
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(), "not a database at all\n");
}

#[tokio::test]
async fn a_postgresql_server_that_is_down_stays_try_again_later() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mailgate.toml");
    // Port 1 on loopback: nothing listens there.
    std::fs::write(
        &config,
        "[database]\nurl = \"postgres://mailgate@127.0.0.1:1/mailgate\"\nbusy_timeout_ms = 200\n",
    )
    .unwrap();
    let check = run(mailgate(dir.path(), &[]).arg("--config").arg(&config).arg("check-config"), b"");
    assert_eq!(code(&check), 0, "{}", text(&check));
    let out = run(mailgate(dir.path(), &[]).arg("--config").arg(&config).arg("pipe"), MAIL);
    assert_eq!(code(&out), 75, "{}", text(&out));
}

// §7: check-config reports everything in one run.

#[test]
fn check_config_reports_every_kind_of_problem_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mailgate.toml");
    let toml = format!(
        "[database]\nurl = \"sqlite://{}/missing/m.db\"\npool = 3\n\n[limits]\nmax_message_bytes = \"big\"\n\
         max_mime_parts = 0\n",
        dir.path().display()
    );
    std::fs::write(&config, toml).unwrap();
    let out = run(mailgate(dir.path(), &[]).arg("--config").arg(&config).arg("check-config"), b"");
    assert_eq!(code(&out), 78, "{}", text(&out));
    let said = stderr(&out);
    for expected in [
        "database.pool: unknown key",
        "limits.max_message_bytes: invalid type",
        "limits.max_mime_parts: must be greater than 0",
        "database.url: the directory",
        "4 problem(s) found",
    ] {
        assert!(said.contains(expected), "{expected:?} missing from:\n{said}");
    }
}

#[test]
fn check_config_names_an_auto_response_variant_that_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("new_ticket_auto_response.vip.txt.tera"), "{{ reply_marker }}\nHi")
        .unwrap();
    let config = dir.path().join("mailgate.toml");
    let toml = format!(
        "[database]\nurl = \"sqlite://{}/m.db\"\n[templates]\ndir = \"{}\"\n\n\
         [[topics]]\nkey = \"billing\"\nauto_response = \"billing\"\n\n\
         [[topics]]\nkey = \"bad\"\nauto_response = \"../etc\"\n\n\
         [[rules]]\nname = \"vip\"\nconditions = [{{ field = \"subject\", contains = \"VIP\" }}]\nauto_response = \"vip\"\n",
        dir.path().display(),
        templates.display()
    );
    std::fs::write(&config, toml).unwrap();
    let out = run(mailgate(dir.path(), &[]).arg("--config").arg(&config).arg("check-config"), b"");
    assert_eq!(code(&out), 78, "{}", text(&out));
    let said = stderr(&out);
    for expected in [
        "topics[1].auto_response: \"../etc\" must be \"skip\" or a template variant name",
        "topics[0].auto_response names the template new_ticket_auto_response.billing, which templates.dir does not have",
        "the variant new_ticket_auto_response.vip also needs",
    ] {
        assert!(said.contains(expected), "{expected:?} missing from:\n{said}");
    }
}

// §5: explain reads no more than pipe would.

#[tokio::test]
async fn explain_applies_the_size_limit_of_pipe() {
    let site = Site::new(Backend::Sqlite, "\n[limits]\nmax_message_bytes = 1000\n").await.unwrap();
    let file = site.dir.path().join("big.eml");
    let mut big = MAIL.to_vec();
    big.extend(std::iter::repeat_n(b'x', 5000));
    std::fs::write(&file, &big).unwrap();
    let out = site.run(&["explain", file.to_str().unwrap()], b"");
    assert_eq!(code(&out), 65, "{}", text(&out));
    assert!(stderr(&out).contains("limits.max_message_bytes"), "{}", text(&out));
    let small = site.dir.path().join("small.eml");
    std::fs::write(&small, MAIL).unwrap();
    let out = site.run(&["explain", small.to_str().unwrap()], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
}

// §7: listings into a closed pipe; mail text on the terminal; the password prompt.

/// Runs `args` with standard output closed before anything is written (`| head -0`).
fn run_into_closed_pipe(site: &Site, args: &[&str]) -> Output {
    let mut child = site.command(args).stdin(Stdio::null()).spawn().unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

async fn listings_end_quietly_on_a_closed_pipe(backend: Backend) {
    let Some(site) = Site::new(backend, "").await else { return };
    let garbage: Vec<u8> = (0..3000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    assert_eq!(code(&site.run(&["pipe"], MAIL)), 0);
    assert_eq!(code(&site.run(&["pipe"], &garbage)), 0);
    let number = site.scalar("SELECT number FROM tickets");
    let eml = site.dir.path().join("m.eml");
    std::fs::write(&eml, MAIL).unwrap();
    let listings: [&[&str]; 10] = [
        &["ticket", "list"],
        &["ticket", "show", &number],
        &["user", "list"],
        &["user", "show", "jane@example.org"],
        &["quarantine", "list"],
        &["quarantine", "show", "2"],
        &["quarantine", "show", "2", "--raw"],
        &["outbox", "list"],
        &["explain", eml.to_str().unwrap()],
        &["check-config"],
    ];
    for args in listings {
        let out = run_into_closed_pipe(&site, args);
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out));
        // Quiet: no panic, no complaint about the pipe (the PostgreSQL client may log a NOTICE).
        let said = stderr(&out);
        assert!(!said.contains("panicked") && !said.contains("pipe"), "{args:?}: {said}");
    }
}

async fn mail_cannot_drive_the_admins_terminal(backend: Backend) {
    let Some(site) = Site::new(backend, "").await else { return };
    // Encoded words decode to ESC and BEL: clear the screen, set the window title.
    let mail = b"From: =?utf-8?q?Eve=1B[2J?= <eve@example.org>\r\nTo: support@example.com\r\n\
Subject: =?utf-8?q?Hi=1B]0;owned=07_there?=\r\nMessage-ID: <cli-esc@client.test>\r\n\r\nText \x1b[31mred\r\n";
    assert_eq!(code(&site.run(&["pipe"], mail)), 0);
    let number = site.scalar("SELECT number FROM tickets");
    let stored = site.scalar("SELECT subject FROM tickets");
    assert!(stored.contains('\u{1b}'), "the stored subject keeps what was sent: {stored:?}");
    for args in [
        &["ticket", "list"][..],
        &["ticket", "show", &number],
        &["user", "list"],
        &["user", "show", "eve@example.org"],
    ] {
        let out = site.run(args, b"");
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out));
        let shown = stdout(&out);
        assert!(
            !shown.contains(['\u{1b}', '\u{7}', '\u{9b}']),
            "{args:?} printed a control character: {shown:?}"
        );
        assert!(shown.contains("eve@example.org"), "{args:?}: {shown}");
    }
    let shown = stdout(&site.run(&["ticket", "show", &number], b""));
    assert!(
        shown.contains("Hi\u{FFFD}]0;owned\u{FFFD} there") && shown.contains("Text \u{FFFD}[31mred"),
        "{shown}"
    );

    // The stored bytes: unchanged into a file, made safe on a terminal.
    let raw = site.run(&["quarantine", "show", "1", "--raw"], b"");
    assert_eq!(raw.stdout, mail, "{}", text(&raw));
    let shown = on_terminal(&site, &["quarantine", "show", "1", "--raw"], &[]);
    assert_eq!(code(&shown), 0, "{}", text(&shown));
    assert!(stdout(&shown).contains("Text \u{FFFD}[31mred"), "{}", text(&shown));
}

/// Runs a command on a pseudo-terminal (python3's pty module) and answers its prompts: arguments
/// are `PROMPT ANSWER ...` pairs, `--`, then the command. Each answer is typed only once the
/// prompt is shown and the terminal's echo is off, so a program that never turns echo off fails
/// here ("echo stayed on"), and one that turns it off too late cannot be caught between the two.
/// Prints everything the terminal showed; exits with the command's exit code.
const TERMINAL: &str = r#"
import os, pty, select, sys, termios, time
split = sys.argv.index("--")
pairs, command = sys.argv[1:split], sys.argv[split + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(command[0], command)
seen = b""
def read_some(timeout):
    global seen
    if select.select([fd], [], [], timeout)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        seen += chunk
        return bool(chunk)
    return True
def fail(why):
    sys.stdout.write(why + ": " + repr(seen))
    sys.exit(99)
for prompt, answer in zip(pairs[0::2], pairs[1::2]):
    deadline = time.time() + 30
    while prompt.encode() not in seen:
        if time.time() > deadline or not read_some(0.05):
            fail("no prompt " + repr(prompt))
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        if time.time() > deadline:
            fail("echo stayed on at " + repr(prompt))
        time.sleep(0.01)
    os.write(fd, answer.encode() + b"\n")
while read_some(30):
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;

/// `mailgate --config CONFIG ARGS` on a terminal, answering `dialogue` (prompt, answer) pairs.
fn on_terminal(site: &Site, args: &[&str], dialogue: &[(&str, &str)]) -> Output {
    let mut command = Command::new("python3");
    command.arg("-c").arg(TERMINAL);
    for (prompt, answer) in dialogue {
        command.args([prompt, answer]);
    }
    command.arg("--").arg(env!("CARGO_BIN_EXE_mailgate")).arg("--config").arg(site.config()).args(args);
    command.env_remove("MAILGATE_CONFIG").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    run(&mut command, b"")
}

async fn set_password_on_a_terminal_prompts_without_echo(backend: Backend) {
    let Some(site) = Site::new(backend, "").await else { return };
    let password = "blue velvet staircase";
    let dialogue =
        [("New console password for agent alice: ", password), ("The same password again: ", password)];
    let out = on_terminal(&site, &["agent", "set-password", "alice"], &dialogue);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let screen = stdout(&out);
    assert!(screen.contains("password of agent alice set"), "{screen}");
    assert!(!screen.contains(password), "the password was echoed: {screen:?}");
    let hash = site.scalar("SELECT password_hash FROM agents WHERE key = 'alice'");
    assert!(hash.starts_with("$argon2id$"), "{hash}");

    // Two different answers change nothing.
    let dialogue = [("New console password", "green velvet staircase"), ("again", "green velvet staircasf")];
    let out = on_terminal(&site, &["agent", "set-password", "alice"], &dialogue);
    assert_eq!(code(&out), 65, "{}", text(&out));
    assert!(stdout(&out).contains("differ"), "{}", text(&out));
    assert_eq!(site.scalar("SELECT password_hash FROM agents WHERE key = 'alice'"), hash);
}

on_both_backends!(
    listings_end_quietly_on_a_closed_pipe,
    mail_cannot_drive_the_admins_terminal,
    set_password_on_a_terminal_prompts_without_echo,
);
