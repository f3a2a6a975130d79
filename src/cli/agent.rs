//! `mailgate agent set-password|reset-2fa KEY`: an admin sets an agent's console password (asked
//! for with echo off on a terminal, else read from standard input; never from the command line,
//! where `ps` shows it) or removes their 2FA.

use std::io::{BufRead, IsTerminal};

use super::{AgentCommand, exit};
use crate::accounts::{AccountError, Accounts};
use crate::app::App;
use crate::config::Config;

pub async fn run(config: &Config, app: App, command: AgentCommand) -> anyhow::Result<u8> {
    let accounts = Accounts::new(config, app);
    let outcome = match &command {
        AgentCommand::SetPassword { key } => {
            let Some(password) = read_new_password(&format!("New console password for agent {key}: "))?
            else {
                return Ok(exit::DATAERR);
            };
            accounts.set_agent_password(key, &password).await.map(|()| format!("password of agent {key} set"))
        }
        AgentCommand::Reset2fa { key } => accounts.reset_agent_2fa(key).await.map(|had| {
            if had {
                format!("two-factor sign-in of agent {key} removed; they enroll again on /agent/2fa")
            } else {
                format!("agent {key} had no two-factor sign-in")
            }
        }),
    };
    match outcome {
        Ok(message) => {
            println!("{message}");
            Ok(exit::OK)
        }
        Err(AccountError::Store(error)) => Err(error.into()),
        Err(refused) => {
            eprintln!("mailgate: {refused}");
            Ok(exit::DATAERR)
        }
    }
}

/// The new password: on a terminal asked for twice with echo off (rpassword), otherwise one line
/// of standard input (a script). `None` after saying why there is none.
pub(super) fn read_new_password(prompt: &str) -> std::io::Result<Option<String>> {
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            eprintln!("mailgate: give the password on standard input (one line)");
            return Ok(None);
        }
        return Ok(Some(password));
    }
    let password = rpassword::prompt_password(prompt)?;
    if password.is_empty() {
        eprintln!("mailgate: no password given; nothing changed");
        return Ok(None);
    }
    if rpassword::prompt_password("The same password again: ")? != password {
        eprintln!("mailgate: the two passwords differ; nothing changed");
        return Ok(None);
    }
    Ok(Some(password))
}
