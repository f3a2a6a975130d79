//! `GET /agent`: a ticket queue (open, mine, my teams', unassigned, closed, all) with the size of each in its
//! tab, sorted by activity, priority or age, 50 to a page.

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::response::Response;
use serde_json::json;

use super::{PAGE_SIZE, Viewer, page_number, render, unavailable, with_times};
use crate::store::console::{self as console_store, Queue, QueueSort};
use crate::web::WebState;

#[derive(Debug, Default, serde::Deserialize)]
pub struct QueueQuery {
    queue: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

pub async fn show(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(query): Query<QueueQuery>,
) -> Response {
    let queue = query.queue.as_deref().and_then(Queue::parse).unwrap_or(Queue::Open);
    let sort = query.sort.as_deref().and_then(QueueSort::parse).unwrap_or(QueueSort::Updated);
    let page = page_number(query.page.as_deref());
    let agent = viewer.agent;
    let found = state
        .app
        .store()
        .read(move |tx| {
            let counts = console_store::queue_counts(tx, agent)?;
            let lines = console_store::queue_page(tx, queue, agent, sort, PAGE_SIZE, (page - 1) * PAGE_SIZE)?;
            Ok((counts, lines))
        })
        .await;
    let (counts, lines) = match found {
        Ok(found) => found,
        Err(error) => return unavailable(&error, "cannot read a queue").into_response(),
    };
    let link = |queue: Queue, sort: QueueSort, page: i64| {
        let mut link = format!("/agent?queue={}&sort={}", queue.as_str(), sort.as_str());
        if page > 1 {
            link += &format!("&page={page}");
        }
        link
    };
    let tabs: Vec<_> = Queue::ALL
        .into_iter()
        .map(|q| {
            json!({
                "name": q.as_str(),
                "label": queue_label(q),
                "count": counts.of(q),
                "link": link(q, sort, 1),
                "current": q == queue,
            })
        })
        .collect();
    let sorts: Vec<_> = QueueSort::ALL
        .into_iter()
        .map(|s| json!({ "name": s.as_str(), "link": link(queue, s, 1), "current": s == sort }))
        .collect();
    let pages = ((counts.of(queue) + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let pager = json!({
        "page": page,
        "pages": pages,
        "previous": (page > 1).then(|| link(queue, sort, (page - 1).min(pages))),
        "next": (page < pages).then(|| link(queue, sort, page + 1)),
    });
    render(
        &state,
        &viewer,
        "console/queue.html",
        "queues",
        json!({
            "queue": { "name": queue.as_str(), "label": queue_label(queue) },
            "tabs": tabs,
            "sorts": sorts,
            "rows": with_times(&lines),
            "pager": pager,
        }),
    )
}

fn queue_label(queue: Queue) -> &'static str {
    match queue {
        Queue::Open => "Open",
        Queue::Mine => "Mine",
        Queue::Teams => "My teams",
        Queue::Unassigned => "Unassigned",
        Queue::Done => "Closed",
        Queue::All => "All tickets",
    }
}
