//! `mailgate user set-password EMAIL|ID --temporary`: an admin gives a user a temporary password
//! (asked for twice with echo off on a terminal, else one line of standard input; never from the
//! command line, where `ps` shows it). The user must choose their own at the next sign-in.

use super::exit;
use crate::accounts::{AccountError, Accounts};
use crate::app::App;
use crate::config::Config;
use crate::store::users as user_store;

pub async fn set_user_password(config: &Config, app: App, user: &str) -> anyhow::Result<u8> {
    let key = user.to_string();
    let Some(found) = app.store().read(move |tx| user_store::find_user(tx, &key)).await? else {
        eprintln!("mailgate: no user {user:?}");
        return Ok(exit::NOINPUT);
    };
    let prompt = format!("Temporary password for {}: ", found.email);
    let Some(password) = super::agent::read_new_password(&prompt)? else {
        return Ok(exit::DATAERR);
    };
    let accounts = Accounts::new(config, app);
    match accounts.set_temporary_password(found.id, &password, "an admin").await {
        Ok(()) => {
            println!("temporary password of {} set; they choose their own at the next sign-in", found.email);
            Ok(exit::OK)
        }
        Err(AccountError::Store(error)) => Err(error.into()),
        Err(refused) => {
            eprintln!("mailgate: {refused}");
            Ok(exit::DATAERR)
        }
    }
}
