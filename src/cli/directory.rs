//! `mailgate user delete|export|clear-lockout`: the directory's actions an admin runs, each one
//! workflow call (`workflow::erase`, `workflow::export`), as "an admin" in the audit log.

use super::exit;
use crate::app::App;
use crate::store::users::{self as user_store, UserSummary};
use crate::workflow::{Deletion, ExportError, TicketsChoice, Workflows};

/// `user delete EMAIL|ID --tickets delete|anonymize`: 0 done, 66 no such user, 65 refused.
pub(super) async fn delete_user(app: &App, user: &str, tickets: TicketsChoice) -> anyhow::Result<u8> {
    let Some(found) = find(app, user).await? else { return Ok(exit::NOINPUT) };
    let done = Workflows::new(app.clone()).delete_user(found.id, tickets, "an admin", None).await?;
    Ok(match done {
        Deletion::Done { tickets: owned } => {
            println!("user #{} deleted (tickets: {}, {owned})", found.id.0, tickets.done_word());
            exit::OK
        }
        Deletion::NoUser => {
            eprintln!("mailgate: no user {user:?}");
            exit::NOINPUT
        }
        Deletion::AlreadyDeleted => {
            eprintln!("mailgate: user #{} is already deleted", found.id.0);
            exit::DATAERR
        }
        Deletion::PrimaryContact(orgs) => {
            eprintln!(
                "mailgate: {} is a primary contact of {} ([[orgs]] primary_contacts): remove them there, reload, then delete",
                found.email,
                orgs.join(", ")
            );
            exit::DATAERR
        }
        Deletion::Themselves => {
            eprintln!("mailgate: an agent cannot delete their own address");
            exit::DATAERR
        }
    })
}

/// `user export [--org KEY]`: the CSV on standard output; 66 for an unknown organization.
pub(super) async fn export_users(app: &App, org: Option<&str>) -> anyhow::Result<u8> {
    let stdout = std::io::BufWriter::new(std::io::stdout());
    match Workflows::new(app.clone()).export_users(org, stdout).await {
        Ok(_) => Ok(exit::OK),
        Err(ExportError::NoOrg(key)) => {
            eprintln!("mailgate: no organization has the key {key:?}");
            Ok(exit::NOINPUT)
        }
        Err(ExportError::Write(error)) => {
            eprintln!("mailgate: cannot write the CSV: {error}");
            Ok(exit::IOERR)
        }
        Err(ExportError::Store(error)) => Err(error.into()),
    }
}

/// `user clear-lockout EMAIL|ID`.
pub(super) async fn clear_lockout(app: &App, user: &str) -> anyhow::Result<u8> {
    let Some(found) = find(app, user).await? else { return Ok(exit::NOINPUT) };
    match Workflows::new(app.clone()).clear_lockout(found.id, "an admin").await? {
        Some(true) => println!("{}: failed sign-ins cleared", found.email),
        Some(false) => println!("{}: no failed sign-ins to clear", found.email),
        None => {
            eprintln!("mailgate: no user {user:?}");
            return Ok(exit::NOINPUT);
        }
    }
    Ok(exit::OK)
}

/// The user named by address or id; says so on stderr when there is none.
async fn find(app: &App, user: &str) -> anyhow::Result<Option<UserSummary>> {
    let key = user.to_string();
    let found = app.store().read(move |tx| user_store::find_user(tx, &key)).await?;
    if found.is_none() {
        eprintln!("mailgate: no user {user:?}");
    }
    Ok(found)
}
