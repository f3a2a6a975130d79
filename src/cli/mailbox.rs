//! `mailgate mailbox test NAME`: for an admin setting up a mailbox, the same connection the daemon
//! makes (TLS, login, folder), with what the server says printed plainly.

use async_imap::types::Capability;

use super::exit;
use crate::config::{AfterIngest, Config};
use crate::imap::connect::{self, Session};
use crate::imap::drain::within;

pub async fn test(config: &Config, name: &str) -> u8 {
    let Some(mailbox) = config.mailboxes.iter().find(|m| m.name == name) else {
        let known: Vec<&str> = config.mailboxes.iter().map(|m| m.name.as_str()).collect();
        eprintln!(
            "mailgate: no [[mailbox]] named {name:?}; configured: {}",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        );
        return exit::CONFIG;
    };
    let limit = config.imap.command_timeout;
    println!(
        "mailbox {name}: {}:{} ({:?}), user {}",
        mailbox.host, mailbox.port, mailbox.tls, mailbox.username
    );
    let tls = connect::tls_config(mailbox);
    let (mut session, capabilities) = match connect::connect(mailbox, &tls, limit).await {
        Ok(connected) => connected,
        Err(error) => {
            eprintln!("mailgate: {error}");
            return exit::UNAVAILABLE;
        }
    };
    println!("logged in");
    let mut offered: Vec<String> = capabilities
        .iter()
        .map(|c| match c {
            Capability::Imap4rev1 => "IMAP4rev1".to_string(),
            Capability::Auth(mechanism) => format!("AUTH={mechanism}"),
            Capability::Atom(atom) => atom.clone(),
        })
        .collect();
    offered.sort();
    println!("capabilities: {}", offered.join(" "));
    let idle = connect::offers(&capabilities, "IDLE");
    println!(
        "waiting for mail: {}",
        match (mailbox.idle, idle) {
            (true, true) => "IDLE (push)".to_string(),
            (true, false) =>
                format!("polling every {}s (the server has no IDLE)", mailbox.poll_interval.as_secs()),
            (false, _) => format!("polling every {}s (idle = false)", mailbox.poll_interval.as_secs()),
        }
    );
    if !connect::offers(&capabilities, "MOVE") {
        println!("no MOVE: messages are copied, flagged \\Deleted and expunged instead");
    }
    let code = match within(limit, "SELECT", session.select(&mailbox.folder)).await {
        Ok(folder) => {
            println!(
                "folder {}: {} messages ({} recent), UIDVALIDITY {}, next UID {}",
                mailbox.folder,
                folder.exists,
                folder.recent,
                folder.uid_validity.map_or("none".to_string(), |v| v.to_string()),
                folder.uid_next.map_or("unknown".to_string(), |v| v.to_string()),
            );
            report_folders(&mut session, mailbox, limit).await;
            exit::OK
        }
        Err(error) => {
            eprintln!("mailgate: folder {}: {error}", mailbox.folder);
            exit::UNAVAILABLE
        }
    };
    let _ = within(limit, "LOGOUT", session.logout()).await;
    code
}

/// Whether the folders mail is moved to exist (the daemon creates missing ones).
async fn report_folders(session: &mut Session, mailbox: &crate::config::Mailbox, limit: std::time::Duration) {
    let mut folders = vec![("error_folder", &mailbox.error_folder)];
    if mailbox.after == AfterIngest::Move {
        folders.push(("processed_folder", &mailbox.processed_folder));
    }
    for (key, folder) in folders {
        match within(limit, "STATUS", session.status(folder, "(MESSAGES)")).await {
            Ok(status) => println!("{key} {folder}: {} messages", status.exists),
            Err(_) => println!("{key} {folder}: missing; created on the first run"),
        }
    }
}
