//! `mailgate pipe`: one message on standard input, ingested, with an exit code the MTA acts on:
//! 0 stored or quarantined, 65 refused (over size), 75 try again later, 78 bad config.

use std::io::Read;

use super::exit;
use crate::app;
use crate::config::Config;
use crate::core::address::EmailAddress;
use crate::ingest::{Delivery, IngestError, Ingestor, Outcome};
use crate::store::inbound::Source;

pub async fn run(config: &Config, mailbox: Option<String>, recipients: &[String]) -> u8 {
    let limit = config.limits.max_message_bytes;
    let raw = match read_limited(std::io::stdin().lock(), limit) {
        Ok(Some(raw)) => raw,
        Ok(None) => {
            eprintln!("mailgate: message refused: over limits.max_message_bytes ({limit} bytes)");
            return exit::DATAERR;
        }
        Err(err) => {
            eprintln!("mailgate: cannot read the message from standard input: {err}");
            return exit::TEMPFAIL;
        }
    };
    let mut delivery = Delivery::new(Source::Pipe);
    delivery.mailbox = mailbox;
    delivery.recipients = recipients.iter().filter_map(|r| EmailAddress::parse(r)).collect();

    let ingestor = match app::open_one_shot(config).await {
        Ok(app) => Ingestor::new(app),
        Err(err) => {
            eprintln!("mailgate: cannot open the database, try again later: {err}");
            return exit::TEMPFAIL;
        }
    };
    let code = match ingestor.ingest(&raw, &delivery).await {
        Ok(report) => {
            println!("{}", describe(&report.outcome, report.inbound.0));
            exit::OK
        }
        Err(IngestError::Unavailable(err)) => {
            eprintln!("mailgate: database busy or unreachable, try again later: {err}");
            exit::TEMPFAIL
        }
        Err(err) => {
            // The pipeline failed on this message; keep the bytes so nothing is lost.
            tracing::error!(error = %err, "ingest failed; quarantining the raw message");
            match ingestor.quarantine_raw(&raw, &delivery, &format!("ingest failed: {err}")).await {
                Ok(id) => {
                    println!("quarantined as inbound #{id}: ingest failed: {err}");
                    exit::OK
                }
                Err(err) => {
                    eprintln!("mailgate: cannot store the message, try again later: {err}");
                    exit::TEMPFAIL
                }
            }
        }
    };
    exit_without_closing(ingestor);
    code
}

/// Ends a `pipe` whose outcome is decided. On SQLite its commit is on disk (or nothing was
/// written): closing the connection and freeing the pipeline would only do what the exit does,
/// for 0.9 M instructions (~9% of a new ticket's, measured), so they are left to it, as SQLite
/// allows (a process may end at any moment). PostgreSQL's connection is closed properly: the server logs
/// a connection that just drops.
fn exit_without_closing(ingestor: Ingestor) {
    if ingestor.app().store().backend() == crate::store::Backend::Sqlite {
        std::mem::forget(ingestor);
    }
}

/// Reads all of `input`, or `None` as soon as it exceeds `limit` bytes.
pub fn read_limited(input: impl Read, limit: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut raw = Vec::with_capacity(64 * 1024);
    input.take(limit as u64 + 1).read_to_end(&mut raw)?;
    Ok((raw.len() <= limit).then_some(raw))
}

pub fn describe(outcome: &Outcome, inbound: i64) -> String {
    match outcome {
        Outcome::Created { number, .. } => format!("ticket #{number} created (inbound #{inbound})"),
        Outcome::Added { number, .. } => format!("added to ticket #{number} (inbound #{inbound})"),
        Outcome::Duplicate => format!("duplicate of inbound #{inbound}: not stored again"),
        Outcome::Loop => format!("our own mail came back: recorded as inbound #{inbound}, not acted on"),
        Outcome::Quarantined { reason } => format!("quarantined as inbound #{inbound}: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_only() {
        assert_eq!(read_limited(&b"12345"[..], 5).unwrap(), Some(b"12345".to_vec()));
        assert_eq!(read_limited(&b"123456"[..], 5).unwrap(), None);
    }
}
