//! The command line: argument definitions (clap), finding the configuration, and one function per
//! command. Commands print for people; exit codes follow sysexits so MTAs and scripts can act on
//! them.

/// Inside `cli`, `println!` and `print!` are [`output::write_stdout`]: control characters from
/// mail are replaced, and a closed pipe ends the command quietly instead of panicking.
macro_rules! println {
    () => {
        $crate::cli::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// See `println!` above.
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!($($arg)*))
    };
}

mod admin;
mod agent;
mod backup;
mod directory;
mod import;
mod ldap;
mod link;
mod mailbox;
mod output;
mod password;
mod pipe;
mod reload;
mod serve;
mod smtp;
mod systemd;
mod ticket;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::core::ticket::{Status, TicketNumber};
use crate::store::users::UserSort;

/// sysexits(3) codes.
pub mod exit {
    pub const OK: u8 = 0;
    /// The command does not apply here (`backup` on PostgreSQL).
    pub const USAGE: u8 = 64;
    /// Input refused by policy (over size).
    pub const DATAERR: u8 = 65;
    pub const NOINPUT: u8 = 66;
    /// A directory refused the login and password (`ldap test`).
    pub const NOUSER: u8 = 67;
    /// A service we need (an IMAP server) cannot be reached or refused us.
    pub const UNAVAILABLE: u8 = 69;
    pub const SOFTWARE: u8 = 70;
    /// Standard output could not be written (other than a closed pipe, which is no error).
    /// An output file cannot be created (`backup` onto an existing file without --force).
    pub const CANTCREAT: u8 = 73;
    pub const IOERR: u8 = 74;
    /// Could not be stored now; the MTA should retry.
    pub const TEMPFAIL: u8 = 75;
    pub const CONFIG: u8 = 78;
}

#[derive(Debug, Parser)]
#[command(name = "mailgate", version, about = "An email-first help desk")]
pub struct Cli {
    /// Configuration file. Default: $MAILGATE_CONFIG, else ./mailgate.toml, else
    /// /etc/mailgate/mailgate.toml, else built-in defaults (said on standard error).
    #[arg(long, global = true, env = "MAILGATE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: IMAP intake of every [[mailbox]] and the outbox worker, until SIGINT/SIGTERM.
    /// SIGHUP reloads the configuration, the directory and the templates.
    Serve,
    /// Read one message from standard input and ingest it (for an MTA's pipe transport).
    Pipe {
        /// The mailbox name recorded with the message.
        #[arg(long)]
        mailbox: Option<String>,
        /// An envelope recipient (the MTA's $RECIPIENT / ${original_recipient}); repeatable.
        #[arg(long)]
        recipient: Vec<String>,
    },
    /// Check the configuration: every problem with its key and line; exit 78 on error.
    CheckConfig,
    /// Create or update the database schema.
    Migrate,
    /// Print the decision trace for a message file, writing nothing.
    Explain { file: PathBuf },
    /// Tickets.
    #[command(subcommand)]
    Ticket(TicketCommand),
    /// The user directory.
    #[command(subcommand)]
    User(UserCommand),
    /// Messages kept for an admin.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Mail waiting to be sent, sent, or given up on.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// IMAP mailboxes of the configuration.
    #[command(subcommand)]
    Mailbox(MailboxCommand),
    /// [[ldap]] directories of the configuration.
    #[command(subcommand)]
    Ldap(LdapCommand),
    /// One-click ticket links.
    #[command(subcommand)]
    Link(LinkCommand),
    /// Agents' sign-in to the web console.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Bring in an existing mailbox: an mbox file, a Maildir or a directory of .eml files (any depth),
    /// oldest first, through the same pipeline as new mail. No automatic mail unless --notify;
    /// running it again stores nothing twice.
    Import {
        path: PathBuf,
        /// Show what would happen (the decisions, counted), writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Send the automatic mails (auto-responses, alerts) the imported messages cause.
        #[arg(long)]
        notify: bool,
        /// The mailbox name recorded with each message.
        #[arg(long)]
        mailbox: Option<String>,
    },
    /// The outgoing mail server ([smtp]).
    #[command(subcommand)]
    Smtp(SmtpCommand),
    /// Copy the SQLite database to FILE, consistently while `serve` runs, and check the copy.
    /// PostgreSQL: use pg_dump.
    Backup {
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Set the console password of agent KEY (ends their sessions). On a terminal it is asked for
    /// twice, not echoed; otherwise it is read from standard input, one line.
    SetPassword { key: String },
    /// Remove agent KEY's two-factor sign-in and recovery codes (a lost phone); they enroll again.
    #[command(name = "reset-2fa")]
    Reset2fa { key: String },
}

#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// Print a one-click link to ticket NUMBER for participant EMAIL (valid `links.view_days`).
    Mint { number: TicketNumber, email: String },
    /// End every link and reply address EMAIL was given on ticket NUMBER.
    Revoke { number: TicketNumber, email: String },
}

#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Connect, log in and select the folder of mailbox NAME; print what the server offers and holds.
    Test { name: String },
}

#[derive(Debug, Subcommand)]
pub enum LdapCommand {
    /// Check LOGIN's password (standard input, or a prompt) against directory NAME as a sign-in
    /// would; print the entry and its mapped attributes. Writes nothing.
    Test { name: String, login: String },
}

#[derive(Debug, Subcommand)]
pub enum SmtpCommand {
    /// Send a short test mail to ADDRESS through [smtp]; print each step and the server's answers.
    Test {
        address: String,
        /// The sender. Default: the first of instance.support_addresses.
        #[arg(long)]
        from: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Outgoing mail, newest first.
    List {
        /// Only rows in this state: queued, sending, sent, failed or dead.
        #[arg(long, value_parser = ["queued", "sending", "sent", "failed", "dead"])]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One outgoing mail with its template context and last error.
    Show { id: i64 },
    /// Queue failed or dead mail again, due now.
    Retry {
        /// Outbox ids; none means every failed and dead mail.
        ids: Vec<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicketCommand {
    /// Tickets, most recently active first.
    List {
        #[arg(long, value_parser = parse_status)]
        status: Option<Status>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Tickets whose subject, messages, authors, participants' addresses or number match the
    /// words (all of them; the last may be the start of a word), best match first.
    Search {
        #[arg(required = true)]
        words: Vec<String>,
        #[arg(long, value_parser = parse_status)]
        status: Option<Status>,
        /// An agent's or a team's key.
        #[arg(long)]
        assignee: Option<String>,
        /// An organization's key.
        #[arg(long)]
        org: Option<String>,
        /// A `[[topics]]` key.
        #[arg(long)]
        topic: Option<String>,
        /// A team's key: tickets assigned to the team.
        #[arg(long)]
        team: Option<String>,
        /// Last active on or after this day (YYYY-MM-DD, UTC).
        #[arg(long, value_parser = parse_day)]
        since: Option<i64>,
        /// Last active before this day (YYYY-MM-DD, UTC).
        #[arg(long, value_parser = parse_day)]
        until: Option<i64>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One ticket with its participants and thread.
    Show {
        number: TicketNumber,
        /// Show full message bodies instead of the stripped replies.
        #[arg(long)]
        full: bool,
    },
    /// Assign a ticket to an agent or a team (by key); the assignee is alerted.
    Assign { number: TicketNumber, to: String },
    /// Set a ticket's help topic (a `[[topics]]` key); a system entry records it.
    Topic { number: TicketNumber, topic: String },
    /// Set a ticket's status: open, pending, resolved or closed (closing tells the owner).
    Status {
        number: TicketNumber,
        #[arg(value_parser = parse_status)]
        status: Status,
    },
    /// Add an internal note as an agent (agents only; the assignee is alerted).
    Note {
        number: TicketNumber,
        /// The agent writing it (key).
        #[arg(long = "as")]
        agent: String,
        /// The text; `-` or absent reads standard input. Leading #commands apply as in email.
        #[arg(long)]
        text: Option<String>,
        /// A file to attach (repeat for several); sent as application/octet-stream.
        #[arg(long = "attach", value_name = "PATH")]
        attach: Vec<std::path::PathBuf>,
    },
    /// Merge ticket SOURCE into TARGET: its entries, people, Message-IDs and links move to TARGET,
    /// and SOURCE is closed and points there.
    Merge {
        source: TicketNumber,
        target: TicketNumber,
        /// Allow tickets of different customers (each then reads the other's messages).
        #[arg(long)]
        across_customers: bool,
    },
    /// Open a ticket for a customer: the agent's message is its first response, mailed to them.
    New {
        /// The customer's address (found or created, as for mail).
        #[arg(long)]
        to: String,
        /// The customer's name, for a new customer.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        subject: String,
        /// The text; `-` or absent reads standard input.
        #[arg(long)]
        text: Option<String>,
        /// The agent writing it (key).
        #[arg(long, visible_alias = "as")]
        agent: String,
        /// A `[[topics]]` key: the ticket is routed as the topic says.
        #[arg(long)]
        topic: Option<String>,
    },
    /// Answer the customer as an agent: relayed to the owner and collaborators, as by email.
    Reply {
        number: TicketNumber,
        /// The agent answering (key).
        #[arg(long = "as")]
        agent: String,
        /// The text; `-` or absent reads standard input. Leading #commands apply as in email.
        #[arg(long)]
        text: Option<String>,
        /// A file to attach (repeat for several); sent as application/octet-stream.
        #[arg(long = "attach", value_name = "PATH")]
        attach: Vec<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// All users.
    List {
        #[arg(long, value_enum, default_value_t = UserSort::Name)]
        sort: UserSort,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Users whose email or name contains QUERY (case-insensitive).
    Search {
        query: String,
        #[arg(long, value_enum, default_value_t = UserSort::Name)]
        sort: UserSort,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// One user (by email or id) with their tickets.
    Show { user: String },
    /// Lock a user (by email or id): they cannot sign in; their mail is still taken in (or
    /// quarantined, `registration.locked_mail`). Recorded in the audit log.
    Lock {
        user: String,
        /// Why, for the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Unlock a user: registered again if they have a password, else a guest.
    Unlock { user: String },
    /// Add a user (a customer not known from mail yet).
    Add {
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// An organization's key (set by hand: mail never changes it).
        #[arg(long)]
        org: Option<String>,
        /// Custom data `KEY=VALUE` for the user form (repeat for several).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_pair)]
        set: Vec<(String, String)>,
        /// A phone number (digits, spaces and `+-()./`).
        #[arg(long)]
        phone: Option<String>,
        /// An additional address: mail from it is this user's (repeat for several).
        #[arg(long = "also", value_name = "EMAIL")]
        emails: Vec<String>,
    },
    /// Add the users of a CSV file: a header with `email` and any of `name`, `org` and the user
    /// form's keys. Users that exist are skipped; every rejected row is reported with its line.
    Import {
        file: std::path::PathBuf,
        /// Check every row and report, writing nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Set a temporary password for a user (by email or id), asked for with echo off on a
    /// terminal, else one line of standard input: they must choose their own at the next sign-in;
    /// their sessions end. Recorded in the audit log (never the password).
    SetPassword {
        user: String,
        /// The password is temporary (required: an admin never sets a lasting one).
        #[arg(long, required = true)]
        temporary: bool,
    },
    /// Change a user's name, organization or custom data (an empty VALUE clears a field).
    Edit {
        user: String,
        #[arg(long)]
        name: Option<String>,
        /// An organization's key (set by hand: mail never changes it).
        #[arg(long, conflicts_with = "no_org")]
        org: Option<String>,
        /// No organization.
        #[arg(long)]
        no_org: bool,
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_pair)]
        set: Vec<(String, String)>,
        /// A phone number; empty clears it.
        #[arg(long)]
        phone: Option<String>,
        /// The additional addresses, all of them (repeat for several): mail from them is this user's.
        #[arg(long = "also", value_name = "EMAIL", conflicts_with = "no_also")]
        emails: Vec<String>,
        /// No additional addresses.
        #[arg(long)]
        no_also: bool,
    },
    /// Delete a user (by email or id) and erase their personal data; `--tickets` says what becomes
    /// of the tickets they own: `delete` (with everything in them) or `anonymize` (kept, the owner
    /// shown as "deleted user #N"). Recorded in the audit log.
    Delete {
        user: String,
        #[arg(long, value_enum)]
        tickets: crate::workflow::TicketsChoice,
    },
    /// Write the users (of one organization) as CSV to standard output, in the columns
    /// `user import` reads.
    Export {
        /// Only the members of this organization (by key).
        #[arg(long)]
        org: Option<String>,
    },
    /// Clear a user's failed sign-ins and throttle lockout (not a lock: see `user unlock`).
    ClearLockout { user: String },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Quarantined messages, newest first.
    List {
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// One quarantined message: reason, trace, and with --raw the stored bytes.
    Show {
        id: i64,
        #[arg(long)]
        raw: bool,
    },
    /// Run quarantined messages through the pipeline again (after a fix or a config change).
    Replay {
        /// Inbound ids; none means every quarantined message.
        ids: Vec<i64>,
    },
}

/// `KEY=VALUE` (the value may be empty).
fn parse_pair(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    Ok((key.trim().to_string(), value.to_string()))
}

/// `YYYY-MM-DD` as the unix milliseconds of its start (UTC).
fn parse_day(text: &str) -> Result<i64, String> {
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a day; write YYYY-MM-DD"))?;
    Ok(day.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis()))
}

fn parse_status(s: &str) -> Result<Status, String> {
    Status::parse(s).ok_or_else(|| format!("unknown status {s:?}: open, pending, resolved or closed"))
}

/// Where the configuration is looked for when neither `--config` nor `$MAILGATE_CONFIG` names a
/// file, in order: the working directory, then where a daemon's configuration lives.
pub const CONFIG_SEARCH: [&str; 2] = ["mailgate.toml", "/etc/mailgate/mailgate.toml"];

/// Replaces [`CONFIG_SEARCH`] (paths separated by `:`), so tests need not write to /etc. Not
/// documented for users: `--config` is their way.
const CONFIG_SEARCH_VAR: &str = "MAILGATE_CONFIG_SEARCH";

/// Runs the command and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let search = config_search();
    let config_path = locate_config(cli.config.as_deref(), &search);
    if let Command::CheckConfig = cli.command {
        return ExitCode::from(admin::check_config(config_path.as_deref(), &search).await);
    }
    let config = match config::load(config_path.as_deref()) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    if config_path.is_none() {
        eprintln!("mailgate: {}", defaults_notice(&config, &search));
    }
    // A database that can never be opened is a configuration error (78), not "try again" (75).
    if !matches!(cli.command, Command::Mailbox(_) | Command::Smtp(_) | Command::Ldap(_))
        && let Some(problem) = config.database.unusable_reason()
    {
        eprintln!("mailgate: database.url: {problem}");
        return ExitCode::from(exit::CONFIG);
    }
    init_logging(&config);
    let code = match cli.command {
        Command::Pipe { mailbox, recipient } => pipe::run(&config, mailbox, &recipient).await,
        Command::Serve => serve::run(&config, cli.config.clone(), search.clone()).await,
        Command::Mailbox(MailboxCommand::Test { name }) => mailbox::test(&config, &name).await,
        Command::Ldap(LdapCommand::Test { name, login }) => ldap::test(&config, &name, &login).await,
        Command::Backup { file, force } => backup::run(&config, &file, force).await,
        Command::Import { path, dry_run, notify, mailbox } => {
            import::run(&config, import::Request { path: &path, dry_run, notify, mailbox }).await
        }
        Command::Smtp(SmtpCommand::Test { address, from }) => {
            smtp::test(&config, &address, from.as_deref()).await
        }
        Command::CheckConfig => unreachable!("handled above"),
        other => admin::run(&config, other).await,
    };
    ExitCode::from(code)
}

/// `--config` / `$MAILGATE_CONFIG` when given, else the first file of `search` that exists, else
/// none (the built-in defaults).
pub fn locate_config(given: Option<&Path>, search: &[PathBuf]) -> Option<PathBuf> {
    given.map(Path::to_path_buf).or_else(|| search.iter().find(|candidate| candidate.is_file()).cloned())
}

/// [`CONFIG_SEARCH`], or the list in `$MAILGATE_CONFIG_SEARCH`.
fn config_search() -> Vec<PathBuf> {
    match std::env::var_os(CONFIG_SEARCH_VAR) {
        Some(list) => std::env::split_paths(&list).collect(),
        None => CONFIG_SEARCH.iter().map(PathBuf::from).collect(),
    }
}

/// What a command running on the built-in defaults says first: where it looked for a file, and
/// the database file it uses (an MTA's `pipe` would otherwise create one unseen).
fn defaults_notice(config: &Config, search: &[PathBuf]) -> String {
    let looked: Vec<String> = search.iter().map(|path| absolute_display(path)).collect();
    let database = config.database.sqlite_file().map_or_else(
        || "their database".to_string(),
        |file| format!("the SQLite file {}", absolute_display(&file)),
    );
    format!(
        "no configuration file (looked for {}; name one with --config FILE): using the built-in \
         defaults and {database}",
        looked.join(", ")
    )
}

/// `path` made absolute against the working directory, for messages.
fn absolute_display(path: &Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

/// Sets up logging to standard error from the config (`MAILGATE_LOG` overrides the level).
pub fn init_logging(config: &Config) {
    let filter = std::env::var("MAILGATE_LOG").unwrap_or_else(|_| config.log.level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match config.log.format {
        config::LogFormat::Json => builder.json().try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}
