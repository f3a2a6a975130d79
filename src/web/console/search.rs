//! `GET /agent/search?q=...&status=...`: full-text search over every ticket (subject, messages,
//! notes, authors, participants' addresses, numbers), best match first, in the queue's table.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

use super::{PAGE_SIZE, Viewer, render, unavailable};
use crate::core::ticket::Status;
use crate::store::console as console_store;
use crate::store::search::{self as search_store, Filter};
use crate::web::WebState;
use crate::web::views::Timed;
use crate::web::views::console::{FilterChoice, Search, StatusChoice};

#[derive(Debug, Default, serde::Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    status: Option<String>,
    /// A `[[topics]]` key.
    topic: Option<String>,
    /// A team's key.
    team: Option<String>,
}

pub async fn show(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(query): Query<SearchQuery>,
) -> Response {
    let text: String = query.q.unwrap_or_default().chars().take(search_store::MAX_QUERY_CHARS).collect();
    let status = query.status.as_deref().and_then(Status::parse);
    let chosen = |key: Option<String>| key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
    let (topic, team) = (chosen(query.topic), chosen(query.team));
    let filter = Filter { status, topic: topic.clone(), team: team.clone(), ..Filter::default() };
    let asked = text.clone();
    let found = state
        .app
        .store()
        .read(move |tx| {
            let hits = search_store::search(tx, &asked, &filter, PAGE_SIZE)?;
            let lines = console_store::lines_in_order(tx, &hits.iter().map(|t| t.id).collect::<Vec<_>>())?;
            Ok((lines, console_store::assignables(tx)?))
        })
        .await;
    let (lines, assignables) = match found {
        Ok(found) => found,
        Err(error) => return unavailable(&error, "cannot search tickets").into_response(),
    };
    let status_filter =
        Status::ALL.into_iter().map(|s| StatusChoice { name: s, current: Some(s) == status }).collect();
    let topic_filter = state
        .app
        .settings()
        .topics
        .topics
        .iter()
        .map(|t| FilterChoice {
            key: t.key.clone(),
            name: t.name.clone(),
            current: topic.as_ref() == Some(&t.key),
        })
        .collect();
    let team_filter = assignables
        .into_iter()
        .filter(|a| a.kind == "team")
        .map(|a| FilterChoice { current: team.as_ref() == Some(&a.key), key: a.key, name: a.name })
        .collect();
    let page = Search {
        search: text.trim().to_string(),
        status_filter,
        topic_filter,
        team_filter,
        rows: Timed(lines),
        limit: PAGE_SIZE,
    };
    render(&state, &viewer, page)
}
