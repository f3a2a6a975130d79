//! `mailgate pipe`, one process per message as an MTA runs it, next to its floor: a process that
//! only stores the message (`support/floor.rs`, this executable run with `--floor`), interleaved
//! run by run on the same database so both see the same machine. Reports wall time (p50, p95),
//! CPU per message and peak RSS for a new ticket and a reply; the start-up of `mailgate --version`
//! and `check-config` next to a minimal Rust process (this executable with `--noop`); and the whole
//! cost of a new ticket: the pipe's CPU plus what `mailgate serve` spends rendering and sending the
//! mails it caused into a local SMTP sink (aiosmtpd).
//!
//!   cargo bench --bench pipe [-- --runs N]
//!
//! `MAILGATE_BENCH_BIN=/path/to/mailgate` measures another build (an older one, for "before").

#[path = "support/floor.rs"]
mod floor;
mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--floor") => return floor::run(&args[2]),
        Some("--noop") => return,
        Some("--rss") => return report_child_rss(&args[2..]),
        _ => {}
    }
    let runs = support::arg("--runs").unwrap_or(300) as usize;
    let dir = tempfile::tempdir().unwrap();
    let smtp_port = support::ports::free_port();
    let me = std::env::current_exe().unwrap();
    let bench = Bench::new(&dir, "after", env!("CARGO_BIN_EXE_mailgate").into(), smtp_port);
    let before =
        std::env::var_os("MAILGATE_BENCH_BEFORE").map(|bin| Bench::new(&dir, "before", bin, smtp_port));
    let all: Vec<&Bench> = std::iter::once(&bench).chain(before.as_ref()).collect();
    for target in &all {
        target.warm_up();
    }

    let start_runs = 200;
    let mut minimal = Vec::new();
    let mut version = vec![Vec::new(); all.len()];
    let mut check = vec![Vec::new(); all.len()];
    for i in 0..start_runs {
        minimal.push(run(Command::new(&me).arg("--noop"), None).wall_ms);
        for (k, target) in all.iter().enumerate() {
            version[k].push(run(Command::new(&target.bin).arg("--version"), None).wall_ms);
            if i % 4 == 0 {
                check[k].push(run(target.mailgate().arg("check-config"), None).wall_ms);
            }
        }
    }
    let minimal = p50(&minimal);
    for (k, target) in all.iter().enumerate() {
        let (version, check) = (p50(&version[k]), p50(&check[k]));
        println!(
            "{}: start-up, {start_runs} runs: minimal Rust process {minimal:.2} ms, mailgate --version {version:.2} ms \
             ({:.2}x), check-config {check:.2} ms ({:.2}x)",
            target.name,
            version / minimal,
            check / minimal
        );
    }

    // Run by run: the floor, then each build on the same message, so all see the same machine.
    let mut floor_runs = Vec::new();
    let mut created = vec![Vec::new(); all.len()];
    let mut replies = vec![Vec::new(); all.len()];
    let mut parent = support::message_id(&support::message(900_000, None));
    for i in 0..runs {
        let raw = if i % 2 == 0 { support::message(i, None) } else { support::message(i, Some(&parent)) };
        floor_runs.push(run(Command::new(&me).args(["--floor", &bench.db]), Some(&raw)));
        for (k, target) in all.iter().enumerate() {
            let result = run(target.mailgate().arg("pipe"), Some(&raw));
            if i % 2 == 0 { created[k].push(result) } else { replies[k].push(result) }
        }
        if i % 2 == 0 {
            parent = support::message_id(&raw);
        }
    }
    let floor = Summary::of(&floor_runs);
    println!("floor (read stdin, open, insert the bytes, commit), {runs} runs: {floor}");
    for (k, target) in all.iter().enumerate() {
        for (what, runs) in [("new ticket", &created[k]), ("reply", &replies[k])] {
            let summary = Summary::of(runs);
            println!(
                "{}: mailgate pipe, {what}, {} runs: {summary}; {:.2}x the floor's p50, {:.2}x its CPU",
                target.name,
                runs.len(),
                summary.p50 / floor.p50,
                summary.cpu / floor.cpu
            );
        }
    }
    let floor_rss = (0..5)
        .map(|i| {
            peak_rss_mb(Command::new(&me).args(["--floor", &bench.db]), &support::message(700_000 + i, None))
        })
        .fold(0.0, f64::max);
    for target in &all {
        let pipe_rss = (0..10)
            .map(|i| peak_rss_mb(target.mailgate().arg("pipe"), &support::message(710_000 + i, None)))
            .fold(0.0, f64::max);
        println!("{}: peak RSS: mailgate pipe {pipe_rss:.1} MB, the floor {floor_rss:.1} MB", target.name);
    }

    let _sink = support::SmtpSink::start(smtp_port, &dir.path().join("Maildir"));
    for target in &all {
        let whole = target.whole_cost_of_new_tickets(100);
        println!(
            "{}: whole cost of a new ticket, 100 tickets, serve running: pipe {:.2} ms CPU (p50 {:.2} ms) + serve \
             {:.2} ms CPU rendering and sending its {:.1} mails = {:.2} ms CPU",
            target.name,
            whole.pipe_cpu,
            whole.pipe_p50,
            whole.serve_cpu,
            whole.mails_per_ticket,
            whole.pipe_cpu + whole.serve_cpu
        );
    }
}

/// One build of `mailgate` with its own configuration and database.
struct Bench {
    name: &'static str,
    bin: std::ffi::OsString,
    config: String,
    db: String,
}

/// One process: wall time, and CPU (user + system) from `getrusage(RUSAGE_CHILDREN)`.
#[derive(Clone, Copy)]
struct Run {
    wall_ms: f64,
    cpu_ms: f64,
}

impl Bench {
    fn new(dir: &tempfile::TempDir, name: &'static str, bin: std::ffi::OsString, smtp_port: u16) -> Bench {
        let db = dir.path().join(format!("{name}.db")).display().to_string();
        let config = dir.path().join(format!("{name}.toml")).display().to_string();
        std::fs::write(
            &config,
            format!(
                "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"sqlite://{db}\"\n\
                 [smtp]\nport = {smtp_port}\n[web]\nbind = \"\"\n\
                 [notifications]\nmax_automatic_per_address_per_hour = 1000000\n\
                 [[agents]]\nkey = \"alice\"\nemails = [\"alice@example.com\"]\n"
            ),
        )
        .unwrap();
        Bench { name, bin, config, db }
    }

    fn mailgate(&self) -> Command {
        let mut command = Command::new(&self.bin);
        command.args(["--config", &self.config]);
        command
    }

    /// Creates and migrates the database and the floor's table, and fills the page cache.
    fn warm_up(&self) {
        for i in 0..20 {
            run(self.mailgate().arg("pipe"), Some(&support::message(900_000 + i, None)));
        }
        floor::open(&self.db).execute_batch(floor::TABLE).unwrap();
    }

    /// Pipes `tickets` new tickets while `mailgate serve` sends their mail into the SMTP sink, and
    /// measures serve's CPU for it (less what it spends idle over the same time).
    fn whole_cost_of_new_tickets(&self, tickets: usize) -> WholeCost {
        let serve = self.mailgate().arg("serve").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let serve = support::Daemon(serve);
        let pid = serve.0.id();
        // Start-up and the mail queued by the runs before: not part of the measure.
        self.wait_until_sent();
        std::thread::sleep(Duration::from_millis(500));
        let idle_from = (Instant::now(), process_cpu_ms(pid));
        std::thread::sleep(Duration::from_secs(2));
        let idle_rate = (process_cpu_ms(pid) - idle_from.1) / idle_from.0.elapsed().as_secs_f64();

        let sent_before = self.sent();
        let (t, cpu_before) = (Instant::now(), process_cpu_ms(pid));
        let runs: Vec<Run> = (0..tickets)
            .map(|i| run(self.mailgate().arg("pipe"), Some(&support::message(500_000 + 2 * i, None))))
            .collect();
        self.wait_until_sent();
        let serve_cpu = process_cpu_ms(pid) - cpu_before - idle_rate * t.elapsed().as_secs_f64();
        let mails = self.sent() - sent_before;
        let pipe = Summary::of(&runs);
        WholeCost {
            pipe_cpu: pipe.cpu,
            pipe_p50: pipe.p50,
            serve_cpu: serve_cpu / tickets as f64,
            mails_per_ticket: mails as f64 / tickets as f64,
        }
    }

    fn outbox_count(&self, condition: &str) -> i64 {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.query_row(&format!("SELECT COUNT(*) FROM outbox WHERE {condition}"), [], |r| r.get(0)).unwrap()
    }

    fn sent(&self) -> i64 {
        self.outbox_count("status = 'sent'")
    }

    fn wait_until_sent(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.outbox_count("status <> 'sent'") > 0 {
            assert_eq!(self.outbox_count("status IN ('failed', 'dead')"), 0, "mail failed to send");
            assert!(Instant::now() < deadline, "serve did not send the queued mail");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `command` to its end (it must succeed), `input` on its standard input.
fn run(command: &mut Command, input: Option<&str>) -> Run {
    let cpu_before = children_cpu_ms();
    let t = Instant::now();
    let mut child = command
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::null())
        // mailgate logs each message at info, as it would for the MTA.
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    assert!(child.wait().unwrap().success());
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    Run { wall_ms, cpu_ms: children_cpu_ms() - cpu_before }
}

/// The peak RSS of `command` run on `input`, in MB: measured by a fresh copy of this executable
/// that runs it (`--rss`), because a child's peak counts the memory of the process that spawned
/// it, and this one holds the runs' figures.
fn peak_rss_mb(command: &Command, input: &str) -> f64 {
    let mut wrapper = Command::new(std::env::current_exe().unwrap());
    wrapper.arg("--rss").arg(command.get_program()).args(command.get_args());
    let mut child =
        wrapper.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().unwrap() / 1024.0
}

struct WholeCost {
    pipe_cpu: f64,
    pipe_p50: f64,
    serve_cpu: f64,
    mails_per_ticket: f64,
}

struct Summary {
    p50: f64,
    p95: f64,
    cpu: f64,
}

impl Summary {
    fn of(runs: &[Run]) -> Summary {
        let wall: Vec<f64> = runs.iter().map(|r| r.wall_ms).collect();
        let cpu: Vec<f64> = runs.iter().map(|r| r.cpu_ms).collect();
        Summary { p50: p50(&wall), p95: support::percentile(wall, 0.95), cpu: p50(&cpu) }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p50 {:.2} ms, p95 {:.2} ms, CPU p50 {:.2} ms/msg", self.p50, self.p95, self.cpu)
    }
}

fn p50(xs: &[f64]) -> f64 {
    support::median(xs.to_vec())
}

/// User + system CPU of every waited-for child so far, in ms.
fn children_cpu_ms() -> f64 {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    let ms = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1000.0 + t.tv_usec() as f64 / 1000.0;
    ms(usage.user_time()) + ms(usage.system_time())
}

/// `--rss PROGRAM ARGS...`: runs it on this process's standard input and prints its peak RSS in
/// KiB (this process is small when it spawns it: its memory counts in the child's peak).
fn report_child_rss(command: &[String]) {
    let status = Command::new(&command[0]).args(&command[1..]).stdout(Stdio::null()).status().unwrap();
    assert!(status.success());
    println!("{}", getrusage(UsageWho::RUSAGE_CHILDREN).unwrap().max_rss());
}

/// User + system CPU of a running process (all its threads), in ms, from /proc (USER_HZ = 100).
fn process_cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks * 10.0
}
