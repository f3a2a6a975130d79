//! The agent console under load: a real `mailgate serve` on a SQLite database holding 10,000
//! tickets (1,000 customers, mixed statuses, priorities and assignees), an agent signed in through
//! the real login form, and `wrk` (Debian package) on the queue pages with that session's cookie.
//!
//!   cargo bench --bench console [-- --seconds N --connections C --tickets T]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn main() {
    use support::{Daemon, arg, wait_for};
    let seconds = arg("--seconds").unwrap_or(10);
    let connections = arg("--connections").unwrap_or(32);
    let tickets = arg("--tickets").unwrap_or(10_000) as i64;
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: apt-get install wrk");
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().unwrap();
    let port = support::ports::free_port();
    let db = dir.path().join("bench.db");
    let config = dir.path().join("mailgate.toml");
    std::fs::write(
        &config,
        format!(
            "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"sqlite://{}\"\n\
             [smtp]\nport = 9\n[web]\nbind = \"127.0.0.1:{port}\"\nbase_url = \"http://127.0.0.1:{port}\"\n\
             [[agents]]\nkey = \"alice\"\nname = \"Alice\"\nemails = [\"alice@example.com\"]\n\
             [[agents]]\nkey = \"bob\"\nname = \"Bob\"\nemails = [\"bob@example.com\"]\n\
             [[teams]]\nkey = \"billing\"\nmembers = [\"alice\"]\n",
            db.display()
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_mailgate");
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        assert!(child.wait_with_output().unwrap().status.success(), "mailgate {args:?}");
    };
    run(&["migrate"], "");
    run(&["agent", "set-password", "alice"], "blue velvet staircase\n");
    fill(&db, tickets);

    let mut daemon = Daemon(
        Command::new(bin)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("MAILGATE_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    wait_for(port);
    let cookie = sign_in(port);
    let wrk = |path: &str| {
        let url = format!("http://127.0.0.1:{port}{path}");
        let out = Command::new("wrk")
            .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency"])
            .args(["-H", &format!("Cookie: mg_agent={cookie}"), &url])
            .output()
            .unwrap();
        let out = String::from_utf8(out.stdout).unwrap();
        let rate: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .unwrap_or("0")
            .trim()
            .parse()
            .unwrap_or(0.0);
        let latency =
            |q: &str| out.lines().find_map(|l| l.trim().strip_prefix(q)).unwrap_or("?").trim().to_string();
        let errors =
            out.lines().find(|l| l.contains("Non-2xx") || l.contains("Socket errors")).unwrap_or("none");
        println!(
            "GET {path:<40} {rate:>7.0} req/s  median {:>8}  p99 {:>8}  errors: {}",
            latency("50%"),
            latency("99%"),
            errors.trim()
        );
        rate
    };
    println!("{tickets} tickets, wrk -t2 -c{connections} -d{seconds}s, one signed-in agent session:");
    let open = wrk("/agent?queue=open");
    wrk("/agent?queue=open&sort=priority");
    wrk("/agent?queue=mine");
    wrk("/agent?queue=unassigned&page=20");
    wrk("/agent/users?sort=tickets");
    let ceiling = wrk("/healthz");
    println!("open queue / healthz (the server + wrk ceiling on these cores): {:.2}", open / ceiling);
    daemon.0.kill().ok();
}

/// `tickets` tickets over 1,000 customers: 60% open, 15% pending, 25% closed; a third assigned
/// to alice, a sixth to bob, a sixth to team billing; priorities mixed; activity spread over a year.
fn fill(db: &std::path::Path, tickets: i64) {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    let agent = |key: &str| -> i64 {
        tx.query_row("SELECT id FROM agents WHERE key = ?1", [key], |r| r.get(0)).unwrap()
    };
    let (alice, bob) = (agent("alice"), agent("bob"));
    let billing: i64 = tx.query_row("SELECT id FROM teams WHERE key = 'billing'", [], |r| r.get(0)).unwrap();
    let now = 1_795_392_000_000_i64;
    for user in 0..1000 {
        tx.execute(
            "INSERT INTO users (email, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
            rusqlite::params![format!("customer{user}@example.org"), format!("Customer {user}"), now],
        )
        .unwrap();
    }
    let first_user: i64 = tx.query_row("SELECT MIN(id) FROM users", [], |r| r.get(0)).unwrap();
    for n in 0..tickets {
        let status = match n % 20 {
            0..12 => "open",
            12..15 => "pending",
            _ => "closed",
        };
        let priority = ["normal", "normal", "high", "low", "urgent", "normal"][(n % 6) as usize];
        let (agent, team) = match n % 6 {
            0 | 1 => (Some(alice), None),
            2 => (Some(bob), None),
            3 => (None, Some(billing)),
            _ => (None, None),
        };
        let updated = now - (n * 7919 % 31_536_000) * 1000;
        tx.execute(
            "INSERT INTO tickets (number, subject, status, user_id, assignee_agent_id, assignee_team_id, priority,
                                  created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            rusqlite::params![
                format!("{:06}", 100_000 + n),
                format!("Question number {n} about the printer"),
                status,
                first_user + n % 1000,
                agent,
                team,
                priority,
                updated
            ],
        )
        .unwrap();
        let ticket = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO participants (ticket_id, user_id, role, created_at) VALUES (?1, ?2, 'owner', ?3)",
            rusqlite::params![ticket, first_user + n % 1000, updated],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    conn.execute_batch("ANALYZE").unwrap();
}

/// Signs alice in through the login form (anonymous CSRF cookie, then the form); returns the
/// session cookie's value.
fn sign_in(port: u16) -> String {
    let form = http(port, "GET /agent/login HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
    let anon = cookie(&form, "mg_csrf");
    let at = form.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = &form[at..at + form[at..].find('"').unwrap()];
    let body = format!("login=alice&password=blue+velvet+staircase&csrf={csrf}");
    let answer = http(
        port,
        &format!(
            "POST /agent/login HTTP/1.1\r\nHost: b\r\nConnection: close\r\nCookie: mg_csrf={anon}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(answer.contains("location: /agent\r\n"), "signed in: {answer}");
    cookie(&answer, "mg_agent")
}

fn cookie(response: &str, name: &str) -> String {
    let prefix = format!("set-cookie: {name}=");
    let line = response.lines().find(|l| l.to_ascii_lowercase().starts_with(&prefix)).unwrap();
    line[prefix.len()..].split(';').next().unwrap().to_string()
}

fn http(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}
