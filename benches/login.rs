//! Password verification at login with the default argon2id parameters (OWASP: 19 MiB, t=2, p=1):
//! median and p90 for a correct password and for an unknown account (the dummy hash), which
//! should cost the same. Then a login storm against a real `mailgate serve`: `--storm N`
//! simultaneous sign-ins for unknown addresses, each from its own loopback address (so no
//! per-client limit applies), with the daemon's RSS idle, at its peak and two seconds after.
//!
//!   cargo bench --bench login [-- --runs N --storm N]

mod support;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailgate::auth::password::{PasswordPolicy, Verdict};

fn main() {
    let runs = support::arg("--runs").unwrap_or(20) as usize;
    let storm = support::arg("--storm").unwrap_or(150) as usize;
    argon2_timing(runs);
    login_storm(storm);
}

fn argon2_timing(runs: usize) {
    let policy = PasswordPolicy::default();
    let password = "correct horse battery staple";
    let started = Instant::now();
    let stored = policy.hash(password).unwrap();
    let hash_ms = started.elapsed().as_secs_f64() * 1000.0;
    let time = |stored: Option<&str>, expected: Verdict| {
        let t = Instant::now();
        assert_eq!(policy.verify(password, stored), expected);
        t.elapsed().as_secs_f64() * 1000.0
    };
    // Warm up: page in the 19 MiB block buffer's allocator arena.
    time(Some(&stored), Verdict::Match);
    time(None, Verdict::Mismatch);
    let mut known = Vec::with_capacity(runs);
    let mut unknown = Vec::with_capacity(runs);
    // Interleaved, so a noisy neighbour slows both alike.
    for _ in 0..runs {
        known.push(time(Some(&stored), Verdict::Match));
        unknown.push(time(None, Verdict::Mismatch));
    }
    let p = policy.params;
    println!(
        "login, argon2id m={} KiB t={} p={}, {runs} runs: correct password median {:.1} ms, p90 {:.1} ms; \
         unknown account median {:.1} ms, p90 {:.1} ms (first hash, cold: {hash_ms:.1} ms)",
        p.memory_kib,
        p.iterations,
        p.parallelism,
        support::median(known.clone()),
        support::percentile(known, 0.90),
        support::median(unknown.clone()),
        support::percentile(unknown, 0.90),
    );
}

fn login_storm(clients: usize) {
    let dir = tempfile::tempdir().unwrap();
    let port = support::ports::free_port();
    let config = dir.path().join("mailgate.toml");
    std::fs::write(
        &config,
        format!(
            "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"sqlite://{}\"\n\
             [smtp]\nport = 9\n[web]\nbind = \"127.0.0.1:{port}\"\nbase_url = \"http://127.0.0.1:{port}\"\n\
             [[agents]]\nkey = \"alice\"\nname = \"Alice\"\nemails = [\"alice@example.com\"]\n",
            dir.path().join("bench.db").display()
        ),
    )
    .unwrap();
    let daemon = support::Daemon(
        Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("MAILGATE_LOG", "error")
            .spawn()
            .unwrap(),
    );
    support::wait_for(port);
    std::thread::sleep(Duration::from_secs(2));
    let pid = daemon.0.id();
    let idle = proc_status_kib(pid, "VmRSS:");
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Every client first fetches the form (its CSRF cookie and token), then all post at once.
    let barrier = Arc::new(tokio::sync::Barrier::new(clients));
    let started = Instant::now();
    let statuses: Vec<String> = runtime.block_on(async {
        let workers: Vec<_> = (0..clients)
            .map(|n| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let source: IpAddr = format!("127.0.{}.{}", 1 + n / 250, 2 + n % 250).parse().unwrap();
                    let form =
                        http(source, server, "GET /login HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                            .await;
                    let cookie = form
                        .lines()
                        .find_map(|l| l.strip_prefix("set-cookie: "))
                        .and_then(|c| c.split(';').next())
                        .unwrap_or_default()
                        .to_string();
                    let csrf = form
                        .split("name=\"csrf\" value=\"")
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .unwrap_or_default()
                        .to_string();
                    let body =
                        format!("email=nobody{n}%40nowhere.example&password=wrong+password+{n}&csrf={csrf}");
                    let request = format!(
                        "POST /login HTTP/1.1\r\nHost: h\r\nConnection: close\r\nCookie: {cookie}\r\n\
                         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    barrier.wait().await;
                    let answer = http(source, server, &request).await;
                    answer.split_whitespace().nth(1).unwrap_or("none").to_string()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for worker in workers {
            statuses.push(worker.await.unwrap());
        }
        statuses
    });
    let storm_ms = started.elapsed().as_millis();
    let peak = proc_status_kib(pid, "VmHWM:");
    std::thread::sleep(Duration::from_secs(2));
    let after = proc_status_kib(pid, "VmRSS:");
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses {
        *counts.entry(status).or_insert(0) += 1;
    }
    println!(
        "login storm, {clients} simultaneous sign-ins for unknown addresses from {clients} client addresses \
         ({storm_ms} ms): daemon RSS idle {} MiB, peak {} MiB, 2 s after {} MiB; answers {counts:?}",
        idle / 1024,
        peak / 1024,
        after / 1024
    );
}

/// One HTTP/1.1 exchange from loopback address `source`; the whole answer as text.
async fn http(source: IpAddr, server: SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    String::from_utf8_lossy(&raw).to_string()
}

/// A `VmRSS:`/`VmHWM:` line of `/proc/<pid>/status`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}
