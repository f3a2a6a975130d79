//! `mailgate ticket assign|status|merge|note|reply|new`: an admin acting on tickets through the
//! same code as email (see `workflow/console.rs`).

use std::io::Read;

use super::{exit, pipe::describe};
use crate::auth::token::Purpose;
use crate::core::ticket::TicketNumber;
use crate::outbox::compose::File;
use crate::workflow::{ConsoleAction, ConsoleError, NewForCustomer, Workflows};

pub async fn change(
    workflows: &Workflows,
    number: &TicketNumber,
    action: ConsoleAction,
) -> anyhow::Result<u8> {
    match workflows.console_change(number, action).await {
        Ok(done) if done.is_empty() => println!("nothing to change"),
        Ok(done) => done.iter().for_each(|line| println!("{line}")),
        Err(error) => return refused(error),
    }
    Ok(exit::OK)
}

pub async fn write(
    workflows: &Workflows,
    number: &TicketNumber,
    agent: &str,
    purpose: Purpose,
    text: Option<String>,
    attach: &[std::path::PathBuf],
) -> anyhow::Result<u8> {
    let mut files = Vec::new();
    for path in attach {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match std::fs::read(path) {
            Ok(content) if !name.is_empty() => {
                files.push(File { name, content_type: "application/octet-stream".to_string(), content });
            }
            Ok(_) => {
                eprintln!("mailgate: {}: not a file name", path.display());
                return Ok(exit::USAGE);
            }
            Err(error) => {
                eprintln!("mailgate: {}: {error}", path.display());
                return Ok(exit::NOINPUT);
            }
        }
    }
    let text = text_or_stdin(text)?;
    if text.trim().is_empty() && files.is_empty() {
        eprintln!("mailgate: nothing to write (empty text)");
        return Ok(exit::DATAERR);
    }
    match workflows.console_write(number, agent, purpose, &text, files).await {
        Ok(report) => {
            print!("{}", report.trace);
            println!("=> {}", describe(&report.outcome, report.inbound.0));
            Ok(exit::OK)
        }
        Err(error) => refused(error),
    }
}

/// `mailgate ticket new`: the new ticket's number on standard output.
pub async fn open_new(workflows: &Workflows, new: NewForCustomer) -> anyhow::Result<u8> {
    match workflows.open_for_customer(new).await {
        Ok(report) => {
            print!("{}", report.trace);
            println!("=> {}", describe(&report.outcome, report.inbound.0));
            Ok(exit::OK)
        }
        Err(error) => refused(error),
    }
}

/// `--text`, or standard input when it is absent or `-`.
pub fn text_or_stdin(text: Option<String>) -> std::io::Result<String> {
    match text.filter(|t| t != "-") {
        Some(text) => Ok(text),
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            Ok(text)
        }
    }
}

fn refused(error: ConsoleError) -> anyhow::Result<u8> {
    eprintln!("mailgate: {error}");
    Ok(match error {
        ConsoleError::NoTicket(_) => exit::NOINPUT,
        ConsoleError::NoAgent(_) | ConsoleError::Refused(_) | ConsoleError::TooLarge { .. } => exit::DATAERR,
        ConsoleError::Ingest(error) => return Err(error.into()),
    })
}
