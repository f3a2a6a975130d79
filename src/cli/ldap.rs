//! `mailgate ldap test NAME LOGIN`: for an admin setting up an `[[ldap]]` directory, the same
//! check a sign-in makes (TLS, binds, search), with what the directory says printed plainly. The
//! password comes from standard input (one line) or, on a terminal, a prompt without echo; it is
//! never printed. Nothing is written to the database.

use std::io::{BufRead, IsTerminal};

use super::exit;
use crate::auth::ldap::Directory;
use crate::config::{Config, LdapBind};

pub async fn test(config: &Config, name: &str, login: &str) -> u8 {
    let Some(settings) = config.ldap.iter().find(|d| d.name == name) else {
        let known: Vec<&str> = config.ldap.iter().map(|d| d.name.as_str()).collect();
        eprintln!(
            "mailgate: no [[ldap]] named {name:?}; configured: {}",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        );
        return exit::CONFIG;
    };
    let password = match read_password(login) {
        Ok(Some(password)) => password,
        Ok(None) => return exit::USAGE,
        Err(error) => {
            eprintln!("mailgate: cannot read the password: {error}");
            return exit::IOERR;
        }
    };
    let mode = match &settings.bind {
        LdapBind::AsUser { dn_template } => format!("bind as {dn_template}"),
        LdapBind::SearchThenBind { service_dn, base, filter, .. } => {
            format!("search {filter} under {base} as {service_dn}, then bind")
        }
    };
    let tls = if settings.starttls { ", StartTLS" } else { "" };
    println!("ldap {name}: {}{tls}, {mode}, timeout {} s", settings.url, settings.timeout.as_secs());
    let directory = Directory::new(settings);
    match directory.authenticate(login.trim(), &password).await {
        Ok(Some(entry)) => {
            println!("accepted: {}", entry.dn);
            let attributes = &settings.attributes;
            let mut shown = vec![("name", &attributes.name), ("email", &attributes.email)];
            shown.extend(attributes.phone.as_ref().map(|phone| ("phone", phone)));
            shown.extend(attributes.custom.iter().map(|(key, attribute)| (key.as_str(), attribute)));
            for (field, attribute) in shown {
                let values = entry.values(attribute);
                let text = if values.is_empty() { "(none)".to_string() } else { values.join(", ") };
                println!("  {field} ({attribute}): {text}");
            }
            exit::OK
        }
        Ok(None) => {
            println!("refused: the directory does not know {login:?} or the password is wrong");
            exit::NOUSER
        }
        Err(down) => {
            eprintln!("mailgate: {down}");
            exit::UNAVAILABLE
        }
    }
}

/// One line of standard input, or a prompt without echo on a terminal. `None` after saying why.
fn read_password(login: &str) -> std::io::Result<Option<String>> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Directory password of {login}: "))?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        eprintln!("mailgate: give the password on standard input (one line) or at the prompt");
        return Ok(None);
    }
    Ok(Some(password))
}
