//! `GET /t/<token>`: the ticket as the participant a `view` link was minted for sees it. The token
//! is checked (MAC in constant time, purpose, expiry), then the participant's current epoch: a
//! forged or altered link is a plain 404, an expired or revoked one a 410 page that says what to do.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::WebState;
use crate::auth::token::{Participant, Purpose, TokenError};
use crate::store::web as web_store;

pub async fn show(State(state): State<WebState>, Path(token): Path<String>) -> Response {
    let now = state.ingestor.now_ms();
    let keyring = &state.ingestor.settings().keyring;
    // A one-click link from mail, or the short-lived one the access page mails.
    let verified = match keyring.verify_link(&token, Purpose::View, now) {
        Err(TokenError::WrongPurpose(_)) => keyring.verify_link(&token, Purpose::Access, now),
        other => other,
    };
    let claims = match verified {
        Ok(claims) => claims,
        Err(TokenError::Expired) => return state.pages.link_gone(),
        Err(_) => return state.pages.not_found(),
    };
    let (ticket, participant) = (claims.ticket, claims.participant);
    let internal = matches!(participant, Participant::Agent(_));
    let found = state
        .ingestor
        .store()
        .read(move |tx| {
            let Some(epoch) = web_store::current_epoch(tx, ticket, participant)? else { return Ok(None) };
            let Some(page) = web_store::ticket(tx, ticket)? else { return Ok(None) };
            let people = web_store::people(tx, ticket)?;
            let thread = web_store::thread(tx, ticket, internal)?;
            Ok(Some((epoch, page, people, thread)))
        })
        .await;
    match found {
        Ok(Some((epoch, ticket, people, thread))) if claims.is_current(epoch) => state.pages.render(
            StatusCode::OK,
            "ticket.html",
            json!({ "ticket": ticket, "people": people, "thread": thread }),
        ),
        // Revoked (the epoch moved on), or the reader no longer takes part.
        Ok(_) => state.pages.link_gone(),
        Err(error) => {
            tracing::error!(%error, "web: cannot read a ticket page");
            state.pages.render(StatusCode::SERVICE_UNAVAILABLE, "not_found.html", json!({}))
        }
    }
}
