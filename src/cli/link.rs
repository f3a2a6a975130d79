//! `mailgate link mint|revoke TICKET EMAIL`: a one-click link for a participant, or the end of
//! every link and reply address they were given on that ticket.

use super::exit;
use crate::app::App;
use crate::auth::token::{Claims, Purpose};
use crate::config::Config;
use crate::core::address::EmailAddress;
use crate::core::ticket::TicketNumber;
use crate::store::{links as link_store, tickets as ticket_store};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub async fn mint(config: &Config, app: &App, number: &TicketNumber, email: &str) -> anyhow::Result<u8> {
    let Some((ticket, participant, epoch)) = find(app, number, email).await? else {
        return Ok(exit::NOINPUT);
    };
    let claims = Claims {
        purpose: Purpose::View,
        ticket,
        participant,
        expires_at_ms: app.now_ms() + i64::from(config.links.view_days) * DAY_MS,
        epoch,
    };
    let token = app.settings().keyring.link(&claims);
    println!("{}/t/{token}", config.web.base_url);
    Ok(exit::OK)
}

pub async fn revoke(app: &App, number: &TicketNumber, email: &str) -> anyhow::Result<u8> {
    let Some((ticket, participant, _)) = find(app, number, email).await? else {
        return Ok(exit::NOINPUT);
    };
    app.store().write(move |tx| link_store::bump_epoch(tx, ticket, participant)).await?;
    println!("revoked every link and reply address of {email} on #{number}");
    Ok(exit::OK)
}

/// The ticket and the participant `email` is on it, or `None` after saying why.
async fn find(
    app: &App,
    number: &TicketNumber,
    email: &str,
) -> anyhow::Result<Option<(crate::core::ids::TicketId, crate::auth::token::Participant, u64)>> {
    let Some(address) = EmailAddress::parse(email) else {
        eprintln!("mailgate: {email:?} is not an email address");
        return Ok(None);
    };
    let shown = number.clone();
    let number = number.clone();
    let found = app
        .store()
        .read(move |tx| {
            let Some(state) = ticket_store::find_ticket_state_by_number(tx, &number)? else {
                return Ok(Err("ticket"));
            };
            match link_store::recipient(tx, state.id, &address)? {
                Some((participant, epoch)) => Ok(Ok((state.id, participant, epoch))),
                None => Ok(Err("participant")),
            }
        })
        .await?;
    match found {
        Ok(found) => Ok(Some(found)),
        Err("ticket") => {
            eprintln!("mailgate: no ticket #{shown}");
            Ok(None)
        }
        Err(_) => {
            eprintln!("mailgate: {email} takes no part in ticket #{shown}");
            Ok(None)
        }
    }
}
