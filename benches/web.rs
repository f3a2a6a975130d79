//! The ticket page under load: `wrk` (Debian package) against `/t/<token>` for a ticket with 20
//! entries, served by a real `mailgate serve` process; requests/s, p99, and the daemon's RSS idle
//! and under load.
//!
//!   cargo bench --bench web [-- --seconds N --connections C]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn main() {
    use support::{Daemon, arg, wait_for};
    let seconds = arg("--seconds").unwrap_or(10);
    let connections = arg("--connections").unwrap_or(32);
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: apt-get install wrk");
        std::process::exit(1);
    }
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
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    // A ticket with 20 entries: the customer's first mail, then agent responses and customer replies.
    let first = support::message(1, None);
    run(&["pipe"], &first);
    let number =
        run(&["ticket", "list"], "").lines().nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    for i in 0..19 {
        if i % 2 == 0 {
            run(
                &["ticket", "reply", &number, "--as", "alice"],
                &format!("Answer {i}: {}", "We are looking into it. ".repeat(20)),
            );
        } else {
            let reply = support::message(1000 + i, Some(&support::message_id(&first)));
            run(&["pipe"], &reply);
        }
    }
    let owner = first.lines().find_map(|l| l.strip_prefix("From: ")).unwrap();
    let owner = owner.split('<').nth(1).unwrap().trim_end_matches('>');
    let url = run(&["link", "mint", &number, owner], "").trim().to_string();
    assert!(url.contains("/t/"), "{url}");

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
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_kib(daemon.0.id());
    let check = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url]).output();
    if let Ok(out) = check {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "the page answers");
    }

    let wrk = |url: &str, sample: bool| {
        let child = Command::new("wrk")
            .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", url])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let loaded = sample.then(|| {
            std::thread::sleep(Duration::from_secs(seconds / 2));
            rss_kib(daemon.0.id())
        });
        let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
        let rate: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .unwrap_or("0")
            .trim()
            .parse()
            .unwrap_or(0.0);
        let p99 = out.lines().find_map(|l| l.trim().strip_prefix("99%")).unwrap_or("?").trim().to_string();
        let errors = out
            .lines()
            .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
            .unwrap_or("none")
            .trim()
            .to_string();
        (rate, p99, errors, loaded)
    };
    let (rate, p99, errors, loaded) = wrk(&url, true);
    let base = url.split("/t/").next().unwrap();
    let (ceiling, ceiling_p99, _, _) = wrk(&format!("{base}/healthz"), false);
    println!(
        "GET /t/<token>, ticket with 20 entries, wrk -t2 -c{connections} -d{seconds}s on this machine: {rate:.0} req/s, \
         p99 {p99}; errors: {errors}\n/healthz on the same server (ceiling of server + wrk on these cores): {ceiling:.0} req/s, \
         p99 {ceiling_p99} (ratio {:.2})\ndaemon RSS idle {} MiB, under load {} MiB",
        rate / ceiling,
        idle / 1024,
        loaded.unwrap_or(0) / 1024
    );
    daemon.0.kill().ok();
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap()
}
