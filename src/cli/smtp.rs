//! `mailgate smtp test ADDRESS`: for an admin setting up `[smtp]`, one short mail sent the way the
//! outbox worker sends (`outbox::smtp`), on a fresh session, with each step and the server's answers
//! printed plainly. Exit 0 when the server accepted the mail, 69 when it cannot be reached or
//! refused us or the mail, 65 for an address that is not one, 78 for an unreadable password file.
//! The password is never printed.

use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};

use super::exit;
use crate::clock::{self, Clock, SystemClock};
use crate::config::{Config, SmtpTls};
use crate::core::address::EmailAddress;
use crate::outbox::smtp::{SendError, SmtpSender};

pub async fn test(config: &Config, to: &str, from: Option<&str>) -> u8 {
    let smtp = &config.smtp;
    let Some(to) = EmailAddress::parse(to) else {
        eprintln!("mailgate: {to:?} is not an email address");
        return exit::DATAERR;
    };
    let from = match from {
        Some(given) => match EmailAddress::parse(given) {
            Some(address) => address,
            None => {
                eprintln!("mailgate: --from {given:?} is not an email address");
                return exit::DATAERR;
            }
        },
        None => match config.instance.support_addresses.first() {
            Some(address) => address.clone(),
            None => {
                eprintln!("mailgate: instance.support_addresses is empty; give --from ADDRESS");
                return exit::CONFIG;
            }
        },
    };
    let sender = match SmtpSender::new(smtp) {
        Ok(sender) => sender,
        Err(error) => {
            let file = smtp.password_file.as_ref().map_or(String::new(), |f| format!(" {}", f.display()));
            eprintln!("mailgate: smtp.password_file{file}: {error}");
            return exit::CONFIG;
        }
    };
    let tls = match smtp.tls {
        SmtpTls::None => "none",
        SmtpTls::Starttls => "starttls",
        SmtpTls::Tls => "tls",
    };
    println!("smtp {}:{}, tls {tls}, timeout {} ms", smtp.host, smtp.port, smtp.timeout_ms);
    let message = match test_message(config, &from, &to) {
        Ok(message) => message,
        Err(error) => {
            eprintln!("mailgate: cannot build the test mail: {error}");
            return exit::DATAERR;
        }
    };
    match sender.probe(&message).await {
        Ok(probe) => {
            let offers =
                if probe.offers.is_empty() { "nothing we use".to_string() } else { probe.offers.join(" ") };
            println!("connected: {} (offers {offers})", probe.server);
            println!("encrypted: {}", if probe.encrypted { "yes" } else { "no" });
            match (&smtp.username, probe.authenticated) {
                (Some(user), true) => println!("authenticated as {user}"),
                _ => println!("authenticated: no (no smtp.username and smtp.password_file)"),
            }
            println!("mail from {from} to {to} accepted: {} {}", code(probe.answer.code), probe.answer.text);
            exit::OK
        }
        Err(error) => {
            let whose = match &error {
                SendError::Connection(_) => "the server refused us or cannot be reached",
                SendError::Transient(_) => "the server did not take the mail for now",
                SendError::Permanent(_) => "the server refused the mail",
            };
            eprintln!("mailgate: {whose}: {error}");
            exit::UNAVAILABLE
        }
    }
}

fn code(code: Option<u16>) -> String {
    code.map_or_else(|| "-".to_string(), |c| c.to_string())
}

/// A short plain-text mail that says what it is.
fn test_message(config: &Config, from: &EmailAddress, to: &EmailAddress) -> anyhow::Result<lettre::Message> {
    let now = clock::format_utc(SystemClock.now_ms());
    let instance = &config.instance.name;
    Ok(lettre::Message::builder()
        .from(Mailbox::new(Some(instance.clone()), from.as_str().parse()?))
        .to(Mailbox::new(None, to.as_str().parse()?))
        .subject(format!("{instance}: SMTP test"))
        .message_id(Some(format!(
            "<smtp-test-{:032x}@{}>",
            rand::random::<u128>(),
            config.instance.message_id_domain
        )))
        .header(ContentType::TEXT_PLAIN)
        // Sent to our own support address, it comes back as our own mail (a loop), not a ticket.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(crate::ingest::LOOP_HEADER),
            config.instance.message_id_domain.clone(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ))
        .body(format!(
            "This is a test mail from {instance} (mailgate smtp test), sent at {now} UTC \
             through {}:{}.\nNo answer is needed.\n",
            config.smtp.host, config.smtp.port
        ))?)
}
