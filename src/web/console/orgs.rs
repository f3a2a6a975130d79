//! `/agent/orgs`: the active organizations, and one organization's page: domains, primary
//! contacts, account manager, members and recent tickets. Organizations are declared in the
//! configuration; these pages only show them.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::response::Response;
use serde_json::json;

use super::{Viewer, custom_rows, render, unavailable, with_times};
use crate::store::console as console_store;
use crate::web::WebError;
use crate::web::WebState;

/// Members listed on an organization's page (the count says how many there are).
const MEMBERS_SHOWN: i64 = 200;
/// Tickets listed on an organization's page.
const RECENT_TICKETS: i64 = 50;

pub async fn list(State(state): State<WebState>, viewer: Viewer) -> Response {
    match state.app.store().read(console_store::org_lines).await {
        Ok(orgs) => render(&state, &viewer, "console/orgs.html", "orgs", json!({ "orgs": orgs })),
        Err(error) => unavailable(&error, "cannot list organizations").into_response(),
    }
}

pub async fn show(State(state): State<WebState>, viewer: Viewer, Path(key): Path<String>) -> Response {
    let found = state
        .app
        .store()
        .read(move |tx| {
            let Some(org) = console_store::org_record(tx, &key)? else { return Ok(None) };
            let domains = console_store::org_domains(tx, org.id)?;
            let contacts = console_store::org_contacts(tx, org.id)?;
            let members = console_store::org_members(tx, org.id, MEMBERS_SHOWN)?;
            let tickets = console_store::org_tickets(tx, org.id, RECENT_TICKETS)?;
            Ok(Some((org, domains, contacts, members, tickets)))
        })
        .await;
    let (org, domains, contacts, (members, member_count), tickets) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return WebError::NotFound.into_response(),
        Err(error) => return unavailable(&error, "cannot read an organization").into_response(),
    };
    let manager = org
        .manager
        .as_ref()
        .map(|(kind, key, name)| json!({ "kind": kind, "key": key, "name": name, "mode": org.manager_mode }));
    let custom: Vec<_> = custom_rows(&org.custom_json)
        .into_iter()
        .map(|(key, value)| json!({ "key": key, "value": value }))
        .collect();
    render(
        &state,
        &viewer,
        "console/org.html",
        "orgs",
        json!({
            "org": { "key": org.key, "name": org.name },
            "custom": custom,
            "domains": domains,
            "contacts": contacts,
            "manager": manager,
            "members": members,
            "member_count": member_count,
            "tickets": with_times(&tickets),
        }),
    )
}
