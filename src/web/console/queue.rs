//! `GET /agent`: a ticket queue (open, mine, my teams', unassigned, closed, all) with the size of each in its
//! tab, sorted by activity, priority or age, 50 to a page.

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::response::Response;

use super::{PAGE_SIZE, Viewer, page_number, render, unavailable};
use crate::store::console::{self as console_store, Queue, QueueSort};
use crate::web::WebState;
use crate::web::views::Timed;
use crate::web::views::console::{self as view, Choice, QueueName, QueuePager, Tab};

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
    let tabs = Queue::ALL
        .into_iter()
        .map(|q| Tab {
            name: q.as_str(),
            label: queue_label(q),
            count: counts.of(q),
            link: link(q, sort, 1),
            current: q == queue,
        })
        .collect();
    let sorts = QueueSort::ALL
        .into_iter()
        .map(|s| Choice { name: s.as_str(), link: link(queue, s, 1), current: s == sort })
        .collect();
    let pages = ((counts.of(queue) + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let pager = QueuePager {
        page,
        pages,
        previous: (page > 1).then(|| link(queue, sort, (page - 1).min(pages))),
        next: (page < pages).then(|| link(queue, sort, page + 1)),
    };
    let page = view::Queue {
        queue: QueueName { name: queue.as_str(), label: queue_label(queue) },
        tabs,
        sorts,
        rows: Timed(lines),
        pager,
    };
    render(&state, &viewer, page)
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
