//! `mailgate import PATH`: an existing mailbox through the pipeline (`crate::import`), with a
//! progress bar on a terminal and plain lines otherwise, Ctrl-C stopping once what was read is stored,
//! and the summary on standard output. Exit: 0 all taken, 65 some refused (too large), 66 PATH
//! unreadable or empty of messages, 74 a message unreadable midway, 75 interrupted or the database
//! unavailable (running it again resumes), 78 bad config.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::exit;
use crate::app;
use crate::clock::Stopwatch;
use crate::config::Config;
use crate::import::{self, Failure, ImportError, Plan, Progress, Summary};
use crate::ingest::{Delivery, Ingestor};
use crate::store::inbound::Source;

/// What `mailgate import` was asked to do.
pub struct Request<'a> {
    pub path: &'a Path,
    pub dry_run: bool,
    pub notify: bool,
    pub mailbox: Option<String>,
}

pub async fn run(config: &Config, request: Request<'_>) -> u8 {
    let ingestor = match app::open(config).await {
        Ok(app) if request.notify => Ingestor::new(app),
        Ok(app) => Ingestor::new(app).without_mail(),
        Err(error) => {
            eprintln!("mailgate: cannot open the database, try again later: {error}");
            return exit::TEMPFAIL;
        }
    };
    let plan = match Plan::scan(request.path, &ingestor.app().settings().limits) {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("mailgate: {error}");
            return exit::NOINPUT;
        }
    };
    // Watched before the announcement, so Ctrl-C at any moment after it stops cleanly.
    let stop = match stop_on_signals() {
        Ok(stop) => stop,
        Err(error) => {
            eprintln!("mailgate: cannot watch for Ctrl-C: {error}");
            return exit::SOFTWARE;
        }
    };
    eprintln!(
        "mailgate: {} {}: {} messages, oldest first{}{}",
        plan.format.name(),
        plan.path.display(),
        plan.len(),
        if request.dry_run { "; dry run: nothing is written" } else { "" },
        if request.notify { "; automatic mail is sent (--notify)" } else { "; no automatic mail" },
    );
    let mut delivery = Delivery::new(Source::Import);
    delivery.mailbox = request.mailbox;
    let mut progress = display(plan.len());
    let summary = if request.dry_run {
        match import::rehearse(&ingestor, plan, delivery, progress, stop).await {
            Ok(summary) => summary,
            Err(ImportError::Store(error)) => {
                eprintln!("mailgate: database busy or unreachable, try again later: {error}");
                return exit::TEMPFAIL;
            }
            Err(error) => {
                eprintln!("mailgate: {error}");
                return exit::SOFTWARE;
            }
        }
    } else {
        import::run(&ingestor, &plan, &delivery, progress.as_mut(), &stop).await
    };
    print!("{summary}");
    exit_code(&summary)
}

fn exit_code(summary: &Summary) -> u8 {
    match &summary.failure {
        Some(Failure::Unreadable(_)) => exit::IOERR,
        Some(Failure::Unavailable(_)) => exit::TEMPFAIL,
        Some(Failure::Database(_)) => exit::SOFTWARE,
        None if summary.interrupted => exit::TEMPFAIL,
        None if !summary.refused.is_empty() => exit::DATAERR,
        None => exit::OK,
    }
}

/// SIGINT and SIGTERM set the returned flag (the import stops reading and stores what it read); a second
/// one ends the process at once.
fn stop_on_signals() -> std::io::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, exit::TEMPFAIL.into(), stop.clone())?;
        signal_hook::flag::register(signal, stop.clone())?;
    }
    Ok(stop)
}

/// A progress bar when standard error is a terminal, else plain lines.
fn display(total: usize) -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar::new(total))
    } else {
        Box::new(Lines { total, started: Stopwatch::start(), last: Stopwatch::start(), last_read: 0 })
    }
}

/// indicatif's bar: messages done of total, rate, time left; cleared at the end for one plain line.
struct Bar {
    bar: ProgressBar,
    started: Stopwatch,
}

impl Bar {
    fn new(total: usize) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let rate = |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = write!(out, "{:.0}/s", state.per_sec());
        };
        if let Ok(style) =
            ProgressStyle::with_template("{wide_bar} {human_pos}/{human_len} messages  {rate}  ETA {eta}")
        {
            bar.set_style(style.with_key("rate", rate));
        }
        Bar { bar, started: Stopwatch::start() }
    }
}

impl Progress for Bar {
    fn advance(&mut self, summary: &Summary) {
        self.bar.set_position(summary.read as u64);
    }

    fn finish(&mut self, summary: &Summary) {
        self.bar.finish_and_clear();
        eprintln!("{}", last_line(summary, self.started));
    }
}

/// Every [`LINE_EVERY`] messages or [`LINE_INTERVAL`], and at the end, one line on standard error.
struct Lines {
    total: usize,
    started: Stopwatch,
    last: Stopwatch,
    last_read: usize,
}

const LINE_EVERY: usize = 1000;
const LINE_INTERVAL: Duration = Duration::from_secs(10);

impl Lines {
    fn rate(&self, read: usize) -> f64 {
        read as f64 / self.started.elapsed().as_secs_f64().max(0.001)
    }
}

impl Progress for Lines {
    fn advance(&mut self, summary: &Summary) {
        let read = summary.read;
        if read < self.last_read + LINE_EVERY && self.last.elapsed() < LINE_INTERVAL {
            return;
        }
        let rate = self.rate(read);
        let left = (self.total - read) as f64 / rate.max(0.001);
        eprintln!("import: {read}/{} messages, {rate:.0}/s, about {left:.0}s left", self.total);
        (self.last, self.last_read) = (Stopwatch::start(), read);
    }

    fn finish(&mut self, summary: &Summary) {
        eprintln!("{}", last_line(summary, self.started));
    }
}

/// `import: 120/120 messages in 0.4s, 300/s`.
fn last_line(summary: &Summary, started: Stopwatch) -> String {
    let elapsed = started.elapsed().as_secs_f64();
    let rate = summary.read as f64 / elapsed.max(0.001);
    format!("import: {}/{} messages in {elapsed:.1}s, {rate:.0}/s", summary.read, summary.total)
}
