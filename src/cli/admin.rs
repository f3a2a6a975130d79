//! Admin commands: check-config, migrate, explain, and the ticket, user and quarantine listings.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{
    Command, LinkCommand, OutboxCommand, QuarantineCommand, TicketCommand, UserCommand, exit, output,
    pipe::{describe, read_limited},
};
use crate::app;
use crate::app::App;
use crate::auth::token::Purpose;
use crate::clock::format_utc;
use crate::config::{self, Config, ConfigErrors};
use crate::core::ids::InboundId;
use crate::core::ticket::TicketNumber;
use crate::core::trace::Trace;
use crate::ingest::{Delivery, Ingestor};
use crate::outbox::render::Templates;
use crate::outbox::worker::{Attempt, SendNow};
use crate::store::inbound::{self as inbound_store, Source};
use crate::store::outbox::{self as outbox_store, GivenUp, OutboxId};
use crate::store::search as search_store;
use crate::store::tickets::{self as ticket_store, EntryClass};
use crate::store::users as user_store;
use crate::workflow::{ConsoleAction, Locking, NewForCustomer, Refused, UserFields, Workflows};

/// Every problem at once: the file's (syntax, unknown keys, types, rules), then what its sound
/// parts point at (template overrides, the database file).
pub async fn check_config(path: Option<&Path>, search: &[PathBuf]) -> u8 {
    let origin = path.map_or(config::DEFAULTS_ORIGIN.to_string(), |p| p.display().to_string());
    let (config, errors) = config::load_checked(path);
    let errors = errors.map(|errors| errors.errors).unwrap_or_default();
    // A key with a problem of its own holds its default: what it points at is not checked.
    let faulty = |key: &str| errors.iter().any(|error| error.key == key);
    let mut further = Vec::new();
    if let Some(config) = &config {
        if path.is_none() {
            eprintln!("mailgate: {}", super::defaults_notice(config, search));
        }
        if !faulty("templates.dir")
            && let Err(problems) = Templates::load(config.templates.dir.as_deref(), &config.wanted_variants())
        {
            further.extend(problems.iter().map(|problem| format!("templates.dir: {problem}")));
        }
        if !faulty("templates.web_dir")
            && let Err(problems) =
                crate::web::Pages::new(&config.instance.name, config.templates.web_dir.as_deref())
        {
            further.extend(problems.iter().map(|problem| format!("templates.web_dir: {problem}")));
        }
        if !faulty("database.url")
            && let Some(problem) = config.database.unusable_reason()
        {
            further.push(format!("database.url: {problem}"));
        }
    }
    if errors.is_empty() && further.is_empty() {
        println!("{origin}: ok");
        return exit::OK;
    }
    if !errors.is_empty() {
        eprintln!("{}", ConfigErrors { origin: origin.clone(), errors: errors.clone() });
    }
    for problem in &further {
        eprintln!("{origin}: {problem}");
    }
    eprintln!("{} problem(s) found", errors.len() + further.len());
    exit::CONFIG
}

pub async fn run(config: &Config, command: Command) -> u8 {
    let app = match app::open(config).await {
        Ok(app) => app,
        Err(err) => {
            eprintln!("mailgate: {err}");
            return if err.is_unavailable() { exit::TEMPFAIL } else { exit::SOFTWARE };
        }
    };
    let result = match command {
        Command::Migrate => {
            // Applied ones (if any) were logged as they ran, when the store was opened.
            let (latest, count) = crate::store::migrate::shipped();
            println!("database schema is up to date: {count} migrations, the newest {latest}");
            Ok(exit::OK)
        }
        Command::Explain { file } => explain(config, &app, &file).await,
        Command::Ticket(cmd) => ticket(&app, cmd).await,
        Command::User(cmd) => user(config, &app, cmd).await,
        Command::Quarantine(cmd) => quarantine(&app, cmd).await,
        Command::Outbox(cmd) => outbox(config, &app, cmd).await,
        Command::Link(LinkCommand::Mint { number, email }) => {
            super::link::mint(config, &app, &number, &email).await
        }
        Command::Link(LinkCommand::Revoke { number, email }) => {
            super::link::revoke(&app, &number, &email).await
        }
        Command::Agent(cmd) => super::agent::run(config, app, cmd).await,
        Command::Pipe { .. }
        | Command::CheckConfig
        | Command::Serve
        | Command::Mailbox(_)
        | Command::Ldap(_)
        | Command::Backup { .. }
        | Command::Import { .. }
        | Command::Smtp(_) => {
            unreachable!("dispatched in cli::run")
        }
    };

    result.unwrap_or_else(|err| {
        if output::is_closed_pipe(&err) {
            return exit::OK;
        }
        eprintln!("mailgate: {err:#}");
        exit::SOFTWARE
    })
}

/// The trace of a dry run. The file is read under the same size limit as `pipe`'s standard input,
/// so a huge file costs at most the limit in memory, and is refused the same way (65).
async fn explain(config: &Config, app: &App, file: &Path) -> anyhow::Result<u8> {
    let limit = config.limits.max_message_bytes;
    let raw = match std::fs::File::open(file).and_then(|opened| read_limited(opened, limit)) {
        Ok(Some(raw)) => raw,
        Ok(None) => {
            eprintln!(
                "mailgate: {}: over limits.max_message_bytes ({limit} bytes): `mailgate pipe` refuses it (65)",
                file.display()
            );
            return Ok(exit::DATAERR);
        }
        Err(err) => {
            eprintln!("mailgate: cannot read {}: {err}", file.display());
            return Ok(exit::NOINPUT);
        }
    };
    let report = Ingestor::new(app.clone()).explain(&raw, &Delivery::new(Source::Console)).await?;
    print!("{}", report.trace);
    println!("=> {} (dry run: nothing was written)", describe(&report.outcome, report.inbound.0));
    Ok(exit::OK)
}

/// One line per ticket, under a header.
fn print_tickets(tickets: Vec<ticket_store::TicketSummary>) {
    println!("{:<10} {:<9} {:<19} {:<30} {:<12} SUBJECT", "NUMBER", "STATUS", "UPDATED", "OWNER", "ORG");
    for t in tickets {
        println!(
            "{:<10} {:<9} {:<19} {:<30} {:<12} {}",
            t.number,
            t.status,
            format_utc(t.updated_at),
            t.owner_email,
            t.org_key.unwrap_or_default(),
            t.subject
        );
    }
}

async fn ticket(app: &App, cmd: TicketCommand) -> anyhow::Result<u8> {
    let workflows = &Workflows::new(app.clone());
    match cmd {
        TicketCommand::Assign { number, to } => {
            return super::ticket::change(workflows, &number, ConsoleAction::Assign(to)).await;
        }
        TicketCommand::Topic { number, topic } => {
            return super::ticket::change(workflows, &number, ConsoleAction::Topic(topic)).await;
        }
        TicketCommand::Status { number, status } => {
            return super::ticket::change(workflows, &number, ConsoleAction::Status(status)).await;
        }
        TicketCommand::Merge { source, target, across_customers } => {
            let action = ConsoleAction::Merge { into: target, across_customers };
            return super::ticket::change(workflows, &source, action).await;
        }
        TicketCommand::New { to, name, subject, text, agent, topic } => {
            let text = super::ticket::text_or_stdin(text)?;
            let new = NewForCustomer { to, name, subject, text, agent, topic };
            return super::ticket::open_new(workflows, new).await;
        }
        TicketCommand::Note { number, agent, text, attach } => {
            return super::ticket::write(workflows, &number, &agent, Purpose::Note, text, &attach).await;
        }
        TicketCommand::Reply { number, agent, text, attach } => {
            return super::ticket::write(workflows, &number, &agent, Purpose::Reply, text, &attach).await;
        }
        TicketCommand::Search { words, status, assignee, org, topic, team, since, until, limit } => {
            let filter =
                search_store::Filter { status, assignee, org, since_ms: since, until_ms: until, topic, team };
            let query = words.join(" ");
            let tickets =
                app.store().read(move |tx| search_store::search(tx, &query, &filter, limit)).await?;
            if tickets.is_empty() {
                eprintln!("no ticket matches");
                return Ok(exit::OK);
            }
            print_tickets(tickets);
        }
        TicketCommand::List { status, limit } => {
            let tickets = app.store().read(move |tx| ticket_store::list_tickets(tx, status, limit)).await?;
            print_tickets(tickets);
        }
        TicketCommand::Show { number, full } => {
            let shown = number.clone();
            let found = app
                .store()
                .read(move |tx| {
                    let Some(t) = ticket_store::find_ticket_summary(tx, &number)? else { return Ok(None) };
                    let merged_into = crate::store::merge::merged_into_number(tx, &number)?;
                    let participants = ticket_store::list_participants(tx, t.id)?;
                    let mut entries = Vec::new();
                    for e in ticket_store::list_entries(tx, t.id)? {
                        let attachments = ticket_store::list_attachments(tx, e.id)?;
                        entries.push((e, attachments));
                    }
                    Ok(Some((t, merged_into, participants, entries)))
                })
                .await?;
            let Some((t, merged_into, participants, entries)) = found else {
                eprintln!("no ticket #{shown}");
                return Ok(exit::NOINPUT);
            };
            println!("Ticket #{}  {}", t.number, t.subject);
            println!("Status:    {}   Priority: {}", t.status, t.priority);
            println!("Owner:     {}   Organization: {}", t.owner_email, t.org_key.as_deref().unwrap_or("-"));
            println!("Assignee:  {}", t.assignee.as_deref().unwrap_or("-"));
            if let Some(linked) = &t.linked_number {
                println!("Follows:   #{linked}");
            }
            if let Some(target) = &merged_into {
                println!("Merged:    into #{target} (its entries, people and mail are there)");
            }
            println!("Created:   {}   Updated: {}", format_utc(t.created_at), format_utc(t.updated_at));
            println!("Participants:");
            for p in participants {
                println!("  {:<16} {} {}", p.role, p.email, p.name);
            }
            for (e, attachments) in entries {
                let class =
                    if e.class == EntryClass::Normal { String::new() } else { format!(" [{}]", e.class) };
                println!(
                    "\n--- {} {}{} by {} via {}",
                    format_utc(e.created_at),
                    e.kind,
                    class,
                    e.author.as_deref().unwrap_or("mailgate"),
                    e.source
                );
                println!("{}", if full { &e.body_text } else { &e.stripped_text });
                for a in attachments {
                    println!(
                        "  [attachment] {} ({}, {} bytes{})",
                        a.filename.as_deref().unwrap_or("(unnamed)"),
                        a.content_type,
                        a.size,
                        if a.inline { ", inline" } else { "" }
                    );
                }
            }
        }
    }
    Ok(exit::OK)
}

async fn user(config: &Config, app: &App, cmd: UserCommand) -> anyhow::Result<u8> {
    let (query, sort, limit) = match cmd {
        UserCommand::List { sort, limit } => (String::new(), sort, limit),
        UserCommand::Search { query, sort, limit } => (query, sort, limit),
        UserCommand::Show { user } => return show_user(app, user).await,
        UserCommand::Lock { user, reason } => return lock_user(app, &user, Some(&reason)).await,
        UserCommand::Unlock { user } => return lock_user(app, &user, None).await,
        UserCommand::SetPassword { user, .. } => {
            return super::password::set_user_password(config, app.clone(), &user).await;
        }
        UserCommand::Delete { user, tickets } => {
            return super::directory::delete_user(app, &user, tickets).await;
        }
        UserCommand::Export { org } => return super::directory::export_users(app, org.as_deref()).await,
        UserCommand::ClearLockout { user } => return super::directory::clear_lockout(app, &user).await,
        UserCommand::Add { email, name, org, set, phone, emails } => {
            let Some(email) = crate::workflow::typed_address(&email) else {
                eprintln!("mailgate: {email:?} is not an email address");
                return Ok(exit::DATAERR);
            };
            let fields = UserFields { name, org: org.map(Some), phone, emails: Some(emails), set };
            return Ok(match Workflows::new(app.clone()).add_user(&email, fields, "an admin").await? {
                Ok(id) => {
                    println!("{email} added (user {})", id.0);
                    exit::OK
                }
                Err(refused) => refused_user(&refused),
            });
        }
        UserCommand::Import { file, dry_run } => return import_users(app, &file, dry_run).await,
        UserCommand::Edit { user, name, org, no_org, set, phone, emails, no_also } => {
            let key = user.clone();
            let Some(found) = app.store().read(move |tx| user_store::find_user(tx, &key)).await? else {
                eprintln!("mailgate: no user {user:?}");
                return Ok(exit::NOINPUT);
            };
            let org = if no_org { Some(None) } else { org.map(Some) };
            let emails = if no_also { Some(Vec::new()) } else { (!emails.is_empty()).then_some(emails) };
            let fields = UserFields { name, org, phone, emails, set };
            return Ok(match Workflows::new(app.clone()).edit_user(found.id, fields, "an admin").await? {
                Ok(changed) if changed.is_empty() => {
                    println!("{}: nothing to change", found.email);
                    exit::OK
                }
                Ok(changed) => {
                    println!("{}: {}", found.email, changed.join(", "));
                    exit::OK
                }
                Err(refused) => refused_user(&refused),
            });
        }
    };
    let users = app.store().read(move |tx| user_store::search_users(tx, &query, sort, limit)).await?;
    println!("{:<6} {:<34} {:<24} {:<12} {:<8} CREATED", "ID", "EMAIL", "NAME", "ORG", "TICKETS");
    for u in users {
        println!(
            "{:<6} {:<34} {:<24} {:<12} {:<8} {}",
            u.id,
            u.email,
            u.name,
            u.org_key.unwrap_or_default(),
            u.tickets,
            format_utc(u.created_at)
        );
    }
    Ok(exit::OK)
}

/// The longest import file read.
const MAX_IMPORT_BYTES: u64 = 64 * 1024 * 1024;

/// `user import FILE [--dry-run]`: exit 0 when every row was added or skipped, 65 when some were
/// rejected (the others are added) or the file is not such a CSV, 66 when it cannot be read.
async fn import_users(app: &App, file: &Path, dry_run: bool) -> anyhow::Result<u8> {
    let read = std::fs::metadata(file).and_then(|meta| match meta.len() > MAX_IMPORT_BYTES {
        true => Err(std::io::Error::other("larger than 64 MiB: split it")),
        false => std::fs::read(file),
    });
    let csv = match read {
        Ok(csv) => csv,
        Err(error) => {
            eprintln!("mailgate: {}: {error}", file.display());
            return Ok(exit::NOINPUT);
        }
    };
    let report = match Workflows::new(app.clone()).import_users(csv, dry_run, "an admin").await? {
        Ok(report) => report,
        Err(why) => {
            eprintln!("mailgate: {}: {why}", file.display());
            return Ok(exit::DATAERR);
        }
    };
    for (line, why) in &report.rejected {
        println!("{}:{line}: rejected: {why}", file.display());
    }
    let verb = if dry_run { "would add" } else { "added" };
    println!(
        "{verb} {}, skipped {} (already users), rejected {}",
        report.added.len(),
        report.skipped.len(),
        report.rejected.len()
    );
    Ok(if report.rejected.is_empty() { exit::OK } else { exit::DATAERR })
}

/// An add or edit refused: the reason, and 66 for what does not exist, 65 for the rest.
fn refused_user(refused: &Refused) -> u8 {
    eprintln!("mailgate: {refused}");
    match refused {
        Refused::NoUser(_) | Refused::NoOrg(_) => exit::NOINPUT,
        Refused::Exists(_) | Refused::Invalid(_) => exit::DATAERR,
    }
}

/// `user lock` (with a reason) or `user unlock` (without): as an admin.
async fn lock_user(app: &App, user: &str, lock_reason: Option<&str>) -> anyhow::Result<u8> {
    let key = user.to_string();
    let Some(found) = app.store().read(move |tx| user_store::find_user(tx, &key)).await? else {
        eprintln!("mailgate: no user {user:?}");
        return Ok(exit::NOINPUT);
    };
    let workflows = Workflows::new(app.clone());
    let id = found.id;
    let (done, word) = match lock_reason {
        Some(reason) => (workflows.lock_user(id, "an admin", reason).await?, "locked"),
        None => (workflows.unlock_user(id, "an admin").await?, "unlocked"),
    };
    match done {
        Locking::Done => println!("{} {word}", found.email),
        Locking::Already => println!("{} was already {word}", found.email),
        Locking::NoUser => {
            eprintln!("mailgate: no user {user:?}");
            return Ok(exit::NOINPUT);
        }
    }
    Ok(exit::OK)
}

async fn show_user(app: &App, user: String) -> anyhow::Result<u8> {
    let key = user.clone();
    let found = app
        .store()
        .read(move |tx| {
            let Some(u) = user_store::find_user(tx, &key)? else { return Ok(None) };
            let tickets = ticket_store::list_user_tickets(tx, u.id, 50)?;
            let extra = (user_store::phone(tx, u.id)?, user_store::additional_emails(tx, u.id)?);
            Ok(Some((u, tickets, extra)))
        })
        .await?;
    let Some((u, tickets, (phone, also))) = found else {
        eprintln!("no user {user}");
        return Ok(exit::NOINPUT);
    };
    println!("User #{}  {} <{}>", u.id, u.name, u.email);
    println!("Status:       {}", u.status);
    println!("Organization: {}", u.org_key.as_deref().unwrap_or("-"));
    println!("Phone:        {}", if phone.is_empty() { "-" } else { &phone });
    println!("Also:         {}", if also.is_empty() { "-".to_string() } else { also.join(", ") });
    println!("Created:      {}", format_utc(u.created_at));
    println!("Tickets ({}):", u.tickets);
    for t in tickets {
        println!("  #{:<10} {:<9} {}", t.number, t.status, t.subject);
    }
    Ok(exit::OK)
}

async fn quarantine(app: &App, cmd: QuarantineCommand) -> anyhow::Result<u8> {
    match cmd {
        QuarantineCommand::List { limit } => {
            let items = app.store().read(move |tx| inbound_store::list_quarantined(tx, limit)).await?;
            println!("{:<6} {:<19} {:<7} {:>9}  REASON", "ID", "RECEIVED", "SOURCE", "BYTES");
            for q in items {
                println!(
                    "{:<6} {:<19} {:<7} {:>9}  {}",
                    q.id,
                    format_utc(q.received_at),
                    q.source,
                    q.size,
                    q.reason
                );
            }
        }
        QuarantineCommand::Show { id, raw } => {
            let Some(record) =
                app.store().read(move |tx| inbound_store::find_inbound(tx, InboundId(id))).await?
            else {
                eprintln!("no inbound message #{id}");
                return Ok(exit::NOINPUT);
            };
            if raw {
                output::write_stdout_raw(&record.raw);
                return Ok(exit::OK);
            }
            println!(
                "Inbound #{}  {} via {}  {} bytes",
                record.id,
                format_utc(record.received_at),
                record.source,
                record.size
            );
            println!("Outcome: {}  {}", record.outcome, record.reason);
            print!("{}", Trace::from_json(&record.trace_json));
        }
        QuarantineCommand::Replay { ids } => {
            let ids: Vec<InboundId> = if ids.is_empty() {
                let all = app.store().read(|tx| inbound_store::list_quarantined(tx, i64::MAX)).await?;
                all.into_iter().map(|q| q.id).collect()
            } else {
                ids.into_iter().map(InboundId).collect()
            };
            for id in ids {
                let report = Ingestor::new(app.clone()).replay(id).await?;
                println!("#{id}: {}", describe(&report.outcome, id.0));
            }
        }
    }
    Ok(exit::OK)
}

/// `outbox retry`: sends the mails now, from this process, and says what became of each. Exit 0
/// when every mail went out (or had already); else the highest of 66 (no such mail), 69 (refused
/// or dead) and 75 (still queued).
async fn retry_outbox(config: &Config, app: &App, ids: Vec<OutboxId>) -> anyhow::Result<u8> {
    let templates = Templates::load(config.templates.dir.as_deref(), &config.wanted_variants())
        .map_err(|errors| anyhow::anyhow!("templates.dir: {} problem(s); run check-config", errors.len()))?;
    let smtp = crate::outbox::smtp::SmtpSender::new(&config.smtp).context("smtp")?;
    let worker = crate::outbox::worker::Worker::new(
        app.store().clone(),
        std::sync::Arc::new(templates),
        smtp,
        app::worker_settings(config, app.settings().keyring.clone()),
        std::sync::Arc::new(crate::clock::SystemClock),
    );
    let mut code = exit::OK;
    for (id, done) in worker.send_now(ids).await? {
        let (line, outcome) = match done {
            SendNow::Attempted(Attempt::Sent) => ("sent".to_string(), exit::OK),
            SendNow::Attempted(Attempt::Postponed { at_ms, error }) => (
                format!(
                    "not sent, the server refused us ({error}); still queued, next try {}",
                    format_utc(at_ms)
                ),
                exit::TEMPFAIL,
            ),
            SendNow::Attempted(Attempt::Retry { at_ms, error }) => {
                (format!("not sent ({error}); queued again, next try {}", format_utc(at_ms)), exit::TEMPFAIL)
            }
            SendNow::Attempted(Attempt::GaveUp { status: GivenUp::Failed, error }) => {
                (format!("refused ({error}); failed"), exit::UNAVAILABLE)
            }
            SendNow::Attempted(Attempt::GaveUp { status: GivenUp::Dead, error }) => {
                (format!("not sent ({error}); out of attempts: dead"), exit::UNAVAILABLE)
            }
            SendNow::AlreadySent => ("already sent; left as it is".to_string(), exit::OK),
            SendNow::InFlight => ("being sent by a running daemon; left as it is".to_string(), exit::OK),
            SendNow::Unknown => ("no such mail".to_string(), exit::NOINPUT),
        };
        println!("#{id}: {line}");
        code = code.max(outcome);
    }
    Ok(code)
}

async fn outbox(config: &Config, app: &App, cmd: OutboxCommand) -> anyhow::Result<u8> {
    let store = app.store();
    match cmd {
        OutboxCommand::List { status, limit } => {
            let rows = store.read(move |tx| outbox_store::list_outbox(tx, status.as_deref(), limit)).await?;
            println!(
                "{:<6} {:<8} {:<19} {:<9} {:<26} {:<30} LAST ERROR",
                "ID", "STATUS", "CREATED", "TICKET", "TEMPLATE", "TO"
            );
            for o in rows {
                println!(
                    "{:<6} {:<8} {:<19} {:<9} {:<26} {:<30} {}",
                    o.id,
                    o.status,
                    format_utc(o.created_at),
                    o.ticket_number.as_ref().map_or("", TicketNumber::as_str),
                    o.template,
                    o.recipient,
                    o.last_error.unwrap_or_default()
                );
            }
        }
        OutboxCommand::Show { id } => {
            let Some(o) = store.read(move |tx| outbox_store::find_outbox(tx, OutboxId(id))).await? else {
                eprintln!("no outbox mail #{id}");
                return Ok(exit::NOINPUT);
            };
            println!("Outbox #{}  {}  to {}", o.id, o.template, o.recipient);
            println!("Message-ID: <{}>", o.message_id);
            println!("Ticket:     {}", o.ticket_number.as_ref().map_or("-".to_string(), |n| format!("#{n}")));
            println!("Status:     {} after {} attempt(s)", o.status, o.attempts);
            println!("Created:    {}", format_utc(o.created_at));
            match o.sent_at {
                Some(at) => println!("Sent:       {}", format_utc(at)),
                // Failed and dead mail waits for `outbox retry`, not for a time.
                None if matches!(o.status.as_str(), "failed" | "dead") => {
                    println!("Next try:   none (`mailgate outbox retry {}` queues it again)", o.id)
                }
                None => println!("Next try:   {}", format_utc(o.next_attempt_at)),
            }
            if let Some(error) = &o.last_error {
                println!("Last error: {error}");
            }
            let context: serde_json::Value = serde_json::from_str(&o.context_json).unwrap_or_default();
            println!("Context:\n{}", serde_json::to_string_pretty(&context).unwrap_or(o.context_json));
        }
        OutboxCommand::Retry { ids } => {
            let ids: Vec<OutboxId> = if ids.is_empty() {
                let mut all =
                    store.read(|tx| outbox_store::list_outbox(tx, Some("failed"), i64::MAX)).await?;
                all.extend(store.read(|tx| outbox_store::list_outbox(tx, Some("dead"), i64::MAX)).await?);
                all.into_iter().map(|o| o.id).collect()
            } else {
                ids.into_iter().map(OutboxId).collect()
            };
            return retry_outbox(config, app, ids).await;
        }
    }
    Ok(exit::OK)
}
