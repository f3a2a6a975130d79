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
use crate::web::views::console::{Search, StatusChoice};

#[derive(Debug, Default, serde::Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    status: Option<String>,
}

pub async fn show(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(query): Query<SearchQuery>,
) -> Response {
    let text: String = query.q.unwrap_or_default().chars().take(search_store::MAX_QUERY_CHARS).collect();
    let status = query.status.as_deref().and_then(Status::parse);
    let filter = Filter { status, ..Filter::default() };
    let asked = text.clone();
    let found = state
        .app
        .store()
        .read(move |tx| {
            let hits = search_store::search(tx, &asked, &filter, PAGE_SIZE)?;
            console_store::lines_in_order(tx, &hits.iter().map(|t| t.id).collect::<Vec<_>>())
        })
        .await;
    let lines = match found {
        Ok(lines) => lines,
        Err(error) => return unavailable(&error, "cannot search tickets").into_response(),
    };
    let status_filter =
        Status::ALL.into_iter().map(|s| StatusChoice { name: s, current: Some(s) == status }).collect();
    let page =
        Search { search: text.trim().to_string(), status_filter, rows: Timed(lines), limit: PAGE_SIZE };
    render(&state, &viewer, page)
}
