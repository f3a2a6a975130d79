//! `/agent/orgs`: the active organizations, and one organization's page: domains, primary
//! contacts, account manager, members and recent tickets. Organizations are declared in the
//! configuration; these pages only show them.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::response::Response;

use super::{Viewer, custom, render, unavailable};
use crate::store::console as console_store;
use crate::web::WebError;
use crate::web::WebState;
use crate::web::views::Timed;
use crate::web::views::directory::{Manager, Org, OrgName, Orgs};

/// Members listed on an organization's page (the count says how many there are).
const MEMBERS_SHOWN: i64 = 200;
/// Tickets listed on an organization's page.
const RECENT_TICKETS: i64 = 50;

pub async fn list(State(state): State<WebState>, viewer: Viewer) -> Response {
    match state.app.store().read(console_store::org_lines).await {
        Ok(orgs) => render(&state, &viewer, Orgs { orgs }),
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
    let custom = custom(&org.custom_json);
    let manager = org.manager.map(|(kind, key, name)| Manager { kind, key, name, mode: org.manager_mode });
    let page = Org {
        org: OrgName { key: org.key, name: org.name },
        custom,
        domains,
        contacts,
        manager,
        members,
        member_count,
        tickets: Timed(tickets),
    };
    render(&state, &viewer, page)
}
