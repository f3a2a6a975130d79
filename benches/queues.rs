//! The console at scale, SQLite and PostgreSQL side by side: 1,000,000 tickets and 3,000,000
//! entries (statuses, priorities, assignees, teams, topics, due times and message text drawn from
//! a Zipf-weighted vocabulary), built once straight through SQL and kept under
//! `target/bench-data/` (SQLite) or in the database `mg_bench_queues_<tickets>` of the server in
//! `MAILGATE_TEST_PG`, so reruns start at once. Measured:
//!
//! - queue pages through a real `mailgate serve` (its axum router over HTTP/1.1 keep-alive, one
//!   signed-in agent session, `--connections` clients for `--seconds` each): req/s, p50 and p99,
//!   with `/healthz` in the same run as the ceiling of server plus client on these cores;
//! - full-text search (`store::search` and the lines the console shows for it), in process, one
//!   query at a time over a mix of queries: p50 and p95 per query and over the mix.
//!
//!   cargo bench --bench queues [-- --tickets N --seconds S --connections C --only sqlite|postgres --build]

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const AGENTS: usize = 20;
const TEAMS: [&str; 4] = ["billing", "tech", "sales", "vip"];
const TOPICS: [&str; 6] = ["billing", "hardware", "account", "shipping", "returns", "outage"];
const CUSTOMERS: i64 = 50_000;
/// 2026-11-23, the bench's "now".
const NOW: i64 = 1_795_392_000_000;

fn main() {
    let tickets = support::arg("--tickets").unwrap_or(1_000_000) as i64;
    let seconds = support::arg("--seconds").unwrap_or(10);
    let connections = support::arg("--connections").unwrap_or(16) as usize;
    let only = std::env::args().skip_while(|a| a != "--only").nth(1);
    // `--build`: build (or find) the data sets, measure nothing.
    let build_only = std::env::args().any(|a| a == "--build");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&cache).unwrap();
    let mut results = Vec::new();
    if only.as_deref() != Some("postgres") {
        let db = cache.join(format!("queues-{tickets}.db"));
        let url = format!("sqlite://{}", db.display());
        let ready = cache.join(format!("queues-{tickets}.db.ready"));
        if !ready.exists() {
            let _ = std::fs::remove_file(&db);
            let started = Instant::now();
            prepare(&cache, &url);
            fill(&mut Sqlite(rusqlite::Connection::open(&db).unwrap()), tickets);
            std::fs::write(&ready, b"").unwrap();
            println!("SQLite: built {tickets} tickets in {:.0} s", started.elapsed().as_secs_f64());
        }
        if !build_only {
            results.push(("SQLite", measure(&cache, &url, seconds, connections, tickets)));
        }
    }
    match std::env::var("MAILGATE_TEST_PG") {
        Ok(admin) if only.as_deref() != Some("sqlite") => {
            let (admin_conn, url) = postgres_database(&admin, tickets);
            if let Some(admin_conn) = admin_conn {
                let started = Instant::now();
                prepare(&cache, &url);
                let (base, _) = admin.rsplit_once('/').unwrap();
                let client =
                    postgres::Client::connect(&format!("{base}/{}", pg_name(tickets)), postgres::NoTls);
                let mut pg = Postgres(client.unwrap());
                fill(&mut pg, tickets);
                pg.0.batch_execute("CREATE TABLE bench_ready (done INTEGER)").unwrap();
                admin_conn.close().unwrap();
                println!("PostgreSQL: built {tickets} tickets in {:.0} s", started.elapsed().as_secs_f64());
            }
            if !build_only {
                results.push(("PostgreSQL", measure(&cache, &url, seconds, connections, tickets)));
            }
        }
        _ => println!("MAILGATE_TEST_PG is not set (source /work/services.env): PostgreSQL not measured"),
    }
    print_side_by_side(&results);
}

/// What one backend measured: (label, req/s or ms, p50 ms, p99 ms) per line.
type Figures = Vec<(String, f64, f64, f64)>;

fn print_side_by_side(results: &[(&str, Figures)]) {
    let Some((_, first)) = results.first() else { return };
    println!("\n{:<44} {}", "", results.iter().map(|(name, _)| format!("{name:>34}")).collect::<String>());
    for (i, (label, ..)) in first.iter().enumerate() {
        let cells: String = results
            .iter()
            .map(|(_, figures)| {
                let (_, value, p50, p99) = &figures[i];
                format!("{:>14.0} {:>8.2} {:>9.2}  ", value, p50, p99)
            })
            .collect();
        println!("{label:<44} {cells}");
    }
    println!("(queue lines: req/s, p50 ms, p99 ms; search lines: queries/s one at a time, p50 ms, p95 ms)");
}

fn pg_name(tickets: i64) -> String {
    format!("mg_bench_queues_{tickets}")
}

/// The cached database's URL; with an admin connection when it must be built (dropped and created
/// anew), `None` when a complete one is there.
fn postgres_database(admin_url: &str, tickets: i64) -> (Option<postgres::Client>, String) {
    let name = pg_name(tickets);
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let tls = std::env::var("MG_PG_CA")
        .map(|ca| format!("?sslmode=verify-full&sslrootcert={ca}"))
        .unwrap_or_default();
    let url = format!("{base}/{name}{tls}");
    let mut admin =
        postgres::Client::connect(admin_url, postgres::NoTls).expect("connect to MAILGATE_TEST_PG");
    let exists = !admin.query("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).unwrap().is_empty();
    if exists {
        let mut db = postgres::Client::connect(&format!("{base}/{name}"), postgres::NoTls).unwrap();
        let ready = db.query("SELECT 1 FROM pg_tables WHERE tablename = 'bench_ready'", &[]).unwrap();
        if !ready.is_empty() {
            return (None, url);
        }
        drop(db);
        admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")).unwrap();
    }
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    (Some(admin), url)
}

/// The configuration of the bench's instance; `port` is the web listener's. No autoclose: the
/// janitor of `serve` would close the resolved tickets of the cached data set a round at a time.
fn config_text(url: &str, port: u16) -> String {
    let mut text = format!(
        "[instance]\nsupport_addresses = [\"support@example.com\"]\n[database]\nurl = \"{url}\"\n\
         [tickets]\nautoclose_days = 0\n[smtp]\nport = 9\n[web]\nbind = \"127.0.0.1:{port}\"\nbase_url = \"http://127.0.0.1:{port}\"\n"
    );
    for a in 0..AGENTS {
        let key = agent_key(a);
        text += &format!(
            "[[agents]]\nkey = \"{key}\"\nname = \"Agent {key}\"\nemails = [\"{key}@example.com\"]\n"
        );
    }
    for (t, team) in TEAMS.iter().enumerate() {
        let members: Vec<String> =
            (0..AGENTS).filter(|a| a % TEAMS.len() == t).map(|a| format!("\"{}\"", agent_key(a))).collect();
        text += &format!(
            "[[teams]]\nkey = \"{team}\"\nname = \"Team {team}\"\nmembers = [{}]\n",
            members.join(", ")
        );
    }
    for topic in TOPICS {
        text += &format!("[[topics]]\nkey = \"{topic}\"\nname = \"Topic {topic}\"\n");
    }
    text
}

fn agent_key(a: usize) -> String {
    if a == 0 { "alice".into() } else { format!("agent{a:02}") }
}

fn mailgate(config: &Path, args: &[&str], stdin: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MAILGATE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "mailgate {args:?}");
}

/// Migrates the empty database and gives alice a password (the directory comes with `migrate`).
fn prepare(cache: &Path, url: &str) {
    let config = cache.join("prepare.toml");
    std::fs::write(&config, config_text(url, 9)).unwrap();
    mailgate(&config, &["migrate"], "");
    mailgate(&config, &["agent", "set-password", "alice"], "blue velvet staircase\n");
}

/// A small, fast, reproducible generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Words of support mail, then generated ones; drawn with Zipf weights (the first the most).
struct Vocabulary {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

const COMMON: &str = "the to and a i is it of for my on in not this we you have with can be that error \
    printer invoice order account password login email please help thanks issue problem since update \
    payment refund shipping delivery package vpn server connection screen laptop phone app crash slow \
    license renewal subscription cancel charge card billing address customer support ticket urgent \
    working again today yesterday morning office network wifi install upgrade version report attached";

impl Vocabulary {
    fn new() -> Vocabulary {
        let mut words: Vec<String> = COMMON.split_whitespace().map(str::to_string).collect();
        let syllables =
            ["ka", "lo", "mi", "ter", "sun", "bra", "vek", "dol", "ri", "pan", "zu", "gor", "fe", "tal"];
        for a in syllables {
            for b in syllables {
                for c in syllables {
                    words.push(format!("{a}{b}{c}"));
                }
            }
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Vocabulary { words, cumulative }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let i = self.cumulative.partition_point(|&c| c < x).min(self.words.len() - 1);
        &self.words[i]
    }

    fn text(&self, rng: &mut Rng, words: usize) -> String {
        let mut text = String::with_capacity(words * 8);
        for i in 0..words {
            if i > 0 {
                text.push(if i % 12 == 0 { '\n' } else { ' ' });
            }
            text += self.word(rng);
        }
        text
    }
}

/// Where the generated rows go: SQLite statements or PostgreSQL COPY.
trait Sink {
    fn ids(&mut self, sql: &str) -> Vec<i64>;
    fn begin(&mut self);
    fn user(&mut self, id: i64, email: &str, name: &str);
    fn ticket(&mut self, t: &Ticket);
    fn entry(&mut self, e: &Entry);
    fn commit(&mut self);
    fn finish(&mut self, tickets: i64, entries: i64);
}

struct Ticket {
    id: i64,
    number: String,
    subject: String,
    status: &'static str,
    user: i64,
    agent: Option<i64>,
    team: Option<i64>,
    priority: &'static str,
    topic: Option<&'static str>,
    created: i64,
    updated: i64,
    due: Option<i64>,
    overdue: Option<i64>,
}

struct Entry {
    id: i64,
    ticket: i64,
    kind: &'static str,
    user: Option<i64>,
    agent: Option<i64>,
    subject: String,
    body: String,
    created: i64,
}

/// 50,000 customers; tickets over three years: 10% open, 5% pending, 5% resolved, 80% closed;
/// 45% with an agent (the first agents busiest), 20% with a team, the rest unassigned; 60% with a
/// topic; priorities 70% normal, 15% high, 10% low, 5% urgent; half with a due time, the waiting
/// ones past it marked overdue; 1 to 5 entries each (3 on average), 15-45 words of text.
fn fill(sink: &mut dyn Sink, tickets: i64) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let vocabulary = Vocabulary::new();
    let agents = sink.ids("SELECT id FROM agents ORDER BY id");
    let teams = sink.ids("SELECT id FROM teams ORDER BY id");
    sink.begin();
    for u in 1..=CUSTOMERS {
        sink.user(
            u,
            &format!("customer{u}@example{}.org", u % 500),
            &format!("Customer {}", vocabulary.words[(u as usize * 7) % 300]),
        );
    }
    sink.commit();
    let mut entry_id = 0;
    let year_ms = 365 * 86_400_000_i64;
    for t in 1..=tickets {
        if t % 100_000 == 1 {
            sink.begin();
        }
        let status = match rng.below(100) {
            0..10 => "open",
            10..15 => "pending",
            15..20 => "resolved",
            _ => "closed",
        };
        let created = NOW - (rng.below(3 * year_ms as u64) as i64) * (tickets - t + 1) / tickets;
        let updated = (created + rng.below(30 * 86_400_000) as i64).min(NOW);
        let (agent, team) = match rng.below(100) {
            0..45 => (
                Some(agents[(rng.below(AGENTS as u64) * rng.below(AGENTS as u64) / AGENTS as u64) as usize]),
                None,
            ),
            45..65 => (None, Some(teams[rng.below(teams.len() as u64) as usize])),
            _ => (None, None),
        };
        let due = rng.chance(50).then(|| created + (1 + rng.below(72) as i64) * 3_600_000);
        let waiting = matches!(status, "open" | "pending");
        let subject_words = 3 + rng.below(5) as usize;
        let ticket = Ticket {
            id: t,
            number: format!("{:07}", 1_000_000 + t),
            subject: vocabulary.text(&mut rng, subject_words),
            status,
            user: 1 + rng.below(CUSTOMERS as u64) as i64,
            agent,
            team,
            priority: match rng.below(100) {
                0..70 => "normal",
                70..85 => "high",
                85..95 => "low",
                _ => "urgent",
            },
            topic: rng.chance(60).then(|| TOPICS[rng.below(TOPICS.len() as u64) as usize]),
            created,
            updated,
            due,
            overdue: due.filter(|&d| waiting && d < NOW).map(|d| d + 60_000),
        };
        sink.ticket(&ticket);
        let entries = 1 + rng.below(3) + rng.below(2) * 2;
        for e in 0..entries {
            entry_id += 1;
            let by_agent = e % 2 == 1;
            let words = 15 + rng.below(30) as usize;
            sink.entry(&Entry {
                id: entry_id,
                ticket: t,
                kind: if by_agent { if rng.chance(20) { "note" } else { "response" } } else { "message" },
                user: (!by_agent).then_some(ticket.user),
                agent: by_agent.then(|| agent.unwrap_or(agents[0])),
                subject: if e == 0 { ticket.subject.clone() } else { format!("Re: {}", ticket.subject) },
                body: vocabulary.text(&mut rng, words),
                created: created + (updated - created) * e as i64 / entries as i64,
            });
        }
        if t % 100_000 == 0 || t == tickets {
            sink.commit();
            eprint!("\r{t} tickets, {entry_id} entries");
        }
    }
    eprintln!();
    sink.finish(tickets, entry_id);
}

struct Sqlite(rusqlite::Connection);

impl Sink for Sqlite {
    fn ids(&mut self, sql: &str) -> Vec<i64> {
        let mut stmt = self.0.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }
    fn begin(&mut self) {
        // A page cache that holds the indexes being filled (the default 2 MB makes each insert read).
        self.0.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -2000000; BEGIN").unwrap();
    }
    fn user(&mut self, id: i64, email: &str, name: &str) {
        self.0
            .prepare_cached(
                "INSERT INTO users (id, email, name, created_at, updated_at) VALUES (?1, ?2, ?3, 0, 0)",
            )
            .unwrap()
            .execute(rusqlite::params![id, email, name])
            .unwrap();
    }
    fn ticket(&mut self, t: &Ticket) {
        self.0
            .prepare_cached(
                "INSERT INTO tickets (id, number, subject, status, user_id, assignee_agent_id, assignee_team_id,
                     priority, topic, created_at, updated_at, due_at, overdue_at, sla)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, CASE WHEN ?12 IS NULL THEN NULL ELSE 'standard' END)",
            )
            .unwrap()
            .execute(rusqlite::params![
                t.id, t.number, t.subject, t.status, t.user, t.agent, t.team, t.priority, t.topic, t.created,
                t.updated, t.due, t.overdue
            ])
            .unwrap();
        self.0
            .prepare_cached("INSERT INTO participants (ticket_id, user_id, role, created_at) VALUES (?1, ?2, 'owner', ?3)")
            .unwrap()
            .execute(rusqlite::params![t.id, t.user, t.created])
            .unwrap();
    }
    fn entry(&mut self, e: &Entry) {
        self.0
            .prepare_cached(
                "INSERT INTO entries (id, ticket_id, kind, author_user_id, author_agent_id, subject, body_text, source, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pipe', ?8)",
            )
            .unwrap()
            .execute(rusqlite::params![e.id, e.ticket, e.kind, e.user, e.agent, e.subject, e.body, e.created])
            .unwrap();
    }
    /// As `Tx::commit` does: the entries noted by the search trigger into the index, then commit.
    fn commit(&mut self) {
        self.0.execute(mailgate::store::db::INDEX_NOTED_ENTRIES, []).unwrap();
        self.0.execute_batch("DELETE FROM entry_search_pending; COMMIT").unwrap();
    }
    fn finish(&mut self, _tickets: i64, _entries: i64) {
        self.0.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    }
}

/// COPY in text format: the generated text has no tab, backslash or carriage return.
struct Postgres(postgres::Client);

thread_local! {
    static BUFFERS: std::cell::RefCell<[String; 4]> = Default::default();
}

fn null_or<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or("\\N".to_string(), |v| v.to_string())
}

impl Postgres {
    fn flush(&mut self) {
        let [users, tickets, participants, entries] = BUFFERS.with(|b| std::mem::take(&mut *b.borrow_mut()));
        for (sql, data) in [
            ("COPY users (id, email, name, created_at, updated_at) FROM STDIN", users),
            (
                "COPY tickets (id, number, subject, status, user_id, assignee_agent_id, assignee_team_id, priority, topic,
                               created_at, updated_at, due_at, overdue_at, sla) FROM STDIN",
                tickets,
            ),
            ("COPY participants (ticket_id, user_id, role, created_at) FROM STDIN", participants),
            (
                "COPY entries (id, ticket_id, kind, author_user_id, author_agent_id, subject, body_text, source, created_at)
                 FROM STDIN",
                entries,
            ),
        ] {
            if data.is_empty() {
                continue;
            }
            let mut writer = self.0.copy_in(sql).unwrap();
            writer.write_all(data.as_bytes()).unwrap();
            writer.finish().unwrap();
        }
    }
}

impl Sink for Postgres {
    fn ids(&mut self, sql: &str) -> Vec<i64> {
        self.0.query(sql, &[]).unwrap().iter().map(|r| r.get(0)).collect()
    }
    fn begin(&mut self) {
        self.0.batch_execute("BEGIN; DROP INDEX IF EXISTS entries_search_idx").unwrap();
    }
    fn user(&mut self, id: i64, email: &str, name: &str) {
        BUFFERS.with(|b| b.borrow_mut()[0] += &format!("{id}\t{email}\t{name}\t0\t0\n"));
    }
    fn ticket(&mut self, t: &Ticket) {
        BUFFERS.with(|b| {
            let mut b = b.borrow_mut();
            b[1] += &format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                t.id,
                t.number,
                t.subject.replace('\n', " "),
                t.status,
                t.user,
                null_or(t.agent),
                null_or(t.team),
                t.priority,
                null_or(t.topic),
                t.created,
                t.updated,
                null_or(t.due),
                null_or(t.overdue),
                if t.due.is_some() { "standard" } else { "\\N" },
            );
            b[2] += &format!("{}\t{}\towner\t{}\n", t.id, t.user, t.created);
        });
    }
    fn entry(&mut self, e: &Entry) {
        BUFFERS.with(|b| {
            b.borrow_mut()[3] += &format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\tpipe\t{}\n",
                e.id,
                e.ticket,
                e.kind,
                null_or(e.user),
                null_or(e.agent),
                e.subject.replace('\n', " "),
                e.body.replace('\n', "\\n"),
                e.created
            )
        });
    }
    fn commit(&mut self) {
        self.flush();
        self.0.batch_execute("COMMIT").unwrap();
    }
    fn finish(&mut self, _tickets: i64, _entries: i64) {
        // One statement each: a multi-statement batch is one transaction, which VACUUM refuses.
        for sql in [
            "CREATE INDEX entries_search_idx ON entries USING GIN (search)",
            "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))",
            "SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT MAX(id) FROM tickets))",
            "SELECT setval(pg_get_serial_sequence('entries', 'id'), (SELECT MAX(id) FROM entries))",
            "VACUUM ANALYZE",
            // A million upserts through the counting trigger left a million dead versions of
            // its few thousand rows; a running instance spreads them out and autovacuum keeps up.
            "VACUUM FULL ANALYZE ticket_counts",
        ] {
            self.0.batch_execute(sql).unwrap();
        }
    }
}

/// Search in process, then queue pages through `mailgate serve`.
fn measure(cache: &Path, url: &str, seconds: u64, connections: usize, tickets: i64) -> Figures {
    let mut figures = Figures::new();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let port = support::ports::free_port();
    let config_path = cache.join(format!("serve-{port}.toml"));
    std::fs::write(&config_path, config_text(url, port)).unwrap();
    let config = mailgate::config::from_toml(&config_text(url, port), "<bench>").unwrap();
    let counted = runtime.block_on(async {
        let app =
            mailgate::app::open_with_clock(&config, Arc::new(mailgate::clock::SystemClock)).await.unwrap();
        app.store().read(|tx| tx.query_one("SELECT COUNT(*) FROM entries", &[], |r| r.i64(0))).await.unwrap()
    });
    println!("\n{url}: {tickets} tickets, {counted} entries");
    figures.extend(search(&runtime, &config));
    figures.extend(steps(&runtime, &config));

    let mut daemon = support::Daemon(
        Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .arg("--config")
            .arg(&config_path)
            .arg("serve")
            .env("MAILGATE_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    support::wait_for(port);
    let cookie = runtime.block_on(sign_in(port));
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deep = runtime.block_on(deep_link(address, &cookie));
    let paths = [
        "/agent?queue=open".to_string(),
        "/agent?queue=open&sort=priority".to_string(),
        "/agent?queue=open&sort=due".to_string(),
        "/agent?queue=mine".to_string(),
        "/agent?queue=teams&sort=created".to_string(),
        "/agent?queue=topic:billing".to_string(),
        "/agent?queue=overdue".to_string(),
        // Waiting and done merged: two index ranges (migration 0019).
        "/agent?queue=all".to_string(),
        "/agent?queue=all&sort=priority".to_string(),
        deep,
        "/healthz".to_string(),
    ];
    let mut open = 0.0;
    for path in paths {
        let (rate, p50, p99) = runtime.block_on(load(address, &cookie, &path, connections, seconds));
        println!("GET {path:<60} {rate:>7.0} req/s  p50 {p50:>6.2} ms  p99 {p99:>6.2} ms");
        if path == "/agent?queue=open" {
            open = rate;
        }
        if path == "/healthz" {
            println!("open queue / healthz (server and client share these cores): {:.2}", open / rate);
        }
        let label = if path.contains("after=") {
            "GET closed queue, halfway down (keyset)".to_string()
        } else {
            format!("GET {path}")
        };
        figures.push((label, rate, p50, p99));
    }
    daemon.0.kill().ok();
    let _ = std::fs::remove_file(&config_path);
    figures
}

/// What one queue page costs in the store, in process, one call at a time: the counts, and the
/// open queue's first page and a page halfway down the closed queue.
fn steps(runtime: &tokio::runtime::Runtime, config: &mailgate::config::Config) -> Figures {
    use mailgate::store::console::{Queue, QueueSort, Seek, SortKey, queue_counts, queue_page};
    const RUNS: usize = 200;
    let app = runtime
        .block_on(mailgate::app::open_with_clock(config, Arc::new(mailgate::clock::SystemClock)))
        .unwrap();
    let alice = runtime
        .block_on(
            app.store()
                .read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))),
        )
        .unwrap();
    let alice = mailgate::core::ids::AgentId(alice);
    let halfway =
        SortKey::parse(&format!("{}.{}", NOW - 540 * 86_400_000, i64::MAX), QueueSort::Updated).unwrap();
    let mut figures = Figures::new();
    let cases: [(&str, Option<(Queue, Seek)>); 3] = [
        ("store: queue counts (ticket_counts)", None),
        ("store: open queue, first page", Some((Queue::Open, Seek::First))),
        ("store: closed queue, halfway down", Some((Queue::Done, Seek::After(halfway)))),
    ];
    for (label, case) in cases {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let case = case.clone();
            let started = Instant::now();
            runtime
                .block_on(app.store().read(move |tx| match case {
                    None => queue_counts(tx, alice).map(drop),
                    Some((queue, seek)) => {
                        queue_page(tx, &queue, alice, QueueSort::Updated, &seek, 50).map(drop)
                    }
                }))
                .unwrap();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50, p95) = (support::median(times.clone()), support::percentile(times, 0.95));
        println!("{label:<40} p50 {p50:>7.2} ms  p95 {p95:>7.2} ms");
        figures.push((label.to_string(), 1000.0 / p50, p50, p95));
    }
    figures
}

/// The search mix, each query `RUNS` times, one at a time, as the console runs it.
fn search(runtime: &tokio::runtime::Runtime, config: &mailgate::config::Config) -> Figures {
    const RUNS: usize = 15;
    let app = runtime
        .block_on(mailgate::app::open_with_clock(config, Arc::new(mailgate::clock::SystemClock)))
        .unwrap();
    let queries = [
        "printer",                     // among the most common words
        "refund card",                 // two common words
        "vekdolri",                    // a mid-frequency generated word
        "talgorfe kaloter",            // two rarer words
        "subscription renew",          // a word and a prefix
        "1250000",                     // a ticket number
        "customer4242@example242.org", // a participant's address
        "zuzuzu",                      // a word in no ticket
    ];
    let mut all = Vec::new();
    let mut figures = Figures::new();
    for query in queries {
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..RUNS {
            let asked = query.to_string();
            let started = Instant::now();
            found = runtime
                .block_on(app.store().read(move |tx| {
                    let filter = mailgate::store::search::Filter::default();
                    let hits = mailgate::store::search::search(tx, &asked, &filter, 50)?;
                    let ids: Vec<_> = hits.iter().map(|t| t.id).collect();
                    mailgate::store::console::lines_in_order(tx, &ids)
                }))
                .unwrap()
                .len();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        // A data set whose search index was not written (its entries only noted) finds nothing.
        assert!(found > 0 || query != "printer", "search {query:?} finds tickets in the data set");
        all.extend(times.iter().copied());
        let (p50, p95) = (support::median(times.clone()), support::percentile(times, 0.95));
        println!("search {query:<30} {found:>3} hits  p50 {p50:>8.2} ms  p95 {p95:>8.2} ms");
        figures.push((format!("search \"{query}\""), 1000.0 / p50, p50, p95));
    }
    let (p50, p95) = (support::median(all.clone()), support::percentile(all, 0.95));
    println!("search, the whole mix: p50 {p50:.2} ms, p95 {p95:.2} ms");
    figures.push(("search, the whole mix".into(), 1000.0 / p50, p50, p95));
    figures
}

/// Signs alice in through the login form; the session cookie's value.
async fn sign_in(port: u16) -> String {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect(address).await.unwrap();
    let form = get(&mut stream, "/agent/login", "").await;
    let anon = cookie(&form, "mg_csrf");
    let at = form.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = &form[at..at + form[at..].find('"').unwrap()];
    let body = format!("login=alice&password=blue+velvet+staircase&csrf={csrf}");
    let request = format!(
        "POST /agent/login HTTP/1.1\r\nHost: b\r\nCookie: mg_csrf={anon}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(&mut stream, &request).await;
    assert!(answer.contains("location: /agent\r\n"), "signed in: {answer}");
    cookie(&answer, "mg_agent")
}

fn cookie(response: &str, name: &str) -> String {
    let prefix = format!("set-cookie: {name}=");
    let line = response.lines().find(|l| l.to_ascii_lowercase().starts_with(&prefix)).unwrap();
    line[prefix.len()..].split(';').next().unwrap().to_string()
}

/// A link about halfway down the closed queue (~8,000 pages of 50 in): the first page's "next"
/// link with its activity time moved 540 days back (following 8,000 links would take too long).
async fn deep_link(address: std::net::SocketAddr, cookie: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let first = get(&mut stream, "/agent?queue=closed", cookie).await;
    let next = first
        .find("\" rel=\"next\"")
        .and_then(|end| first[..end].rfind("href=\"").map(|start| first[start + 6..end].to_string()))
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#x2F;", "/");
    // `after=UPDATED.ID`: step back in time to about half of the closed tickets.
    let (before, key) = next.split_once("after=").unwrap();
    let (updated, _) = key.split_once('.').unwrap();
    let updated: i64 = updated.parse().unwrap();
    format!("{before}after={}.{}", updated - 540 * 86_400_000, i64::MAX)
}

async fn get(stream: &mut TcpStream, path: &str, cookie: &str) -> String {
    let cookie = if cookie.is_empty() { String::new() } else { format!("Cookie: mg_agent={cookie}\r\n") };
    exchange(stream, &format!("GET {path} HTTP/1.1\r\nHost: b\r\n{cookie}\r\n")).await
}

/// One request on a keep-alive connection; the whole response (headers and a Content-Length body).
async fn exchange(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buffer.len() >= end + 4 + length {
                return String::from_utf8_lossy(&buffer).into_owned();
            }
        }
    }
}

/// `connections` keep-alive clients on `path` for `seconds`: req/s, p50 and p99 in ms. Every
/// answer must be 200.
async fn load(
    address: std::net::SocketAddr,
    cookie: &str,
    path: &str,
    connections: usize,
    seconds: u64,
) -> (f64, f64, f64) {
    let until = Instant::now() + Duration::from_secs(seconds);
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            let (cookie, path) = (cookie.to_string(), path.to_string());
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(address).await.unwrap();
                let mut times = Vec::new();
                while Instant::now() < until {
                    let started = Instant::now();
                    let answer = get(&mut stream, &path, &cookie).await;
                    assert!(
                        answer.starts_with("HTTP/1.1 200"),
                        "{path}: {}",
                        &answer[..answer.len().min(300)]
                    );
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                times
            })
        })
        .collect();
    let started = Instant::now();
    let mut times = Vec::new();
    for client in clients {
        times.extend(client.await.unwrap());
    }
    let rate = times.len() as f64 / started.elapsed().as_secs_f64();
    (rate, support::median(times.clone()), support::percentile(times, 0.99))
}
