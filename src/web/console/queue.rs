//! `GET /agent`: a ticket queue (open, mine, my teams', unassigned, overdue, closed, all, each
//! team's, each topic's) with the size of each in its tab, sorted by activity, priority, age or due
//! time, 50 to a page. Pages are keyset pages: "next" carries the last row's sort key (`after=`),
//! "previous" the first row's (`before=`).

use super::{PAGE_SIZE, Viewer, render, unavailable};
use crate::store::console::{self as console_store, Queue, QueueSort, Seek, SortKey};
use crate::store::queues::active_teams;
use crate::web::WebState;
use crate::web::views::Timed;
use crate::web::views::console::{self as view, Choice, QueueName, QueuePager, Tab};
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::response::Response;

#[derive(Debug, Default, serde::Deserialize)]
pub struct QueueQuery {
    queue: Option<String>,
    sort: Option<String>,
    after: Option<String>,
    before: Option<String>,
}

pub async fn show(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(query): Query<QueueQuery>,
) -> Response {
    let queue = query.queue.as_deref().and_then(Queue::parse).unwrap_or(Queue::Open);
    let sort = query.sort.as_deref().and_then(QueueSort::parse).unwrap_or(QueueSort::Updated);
    // An unreadable key is the first page.
    let seek = match (query.after.as_deref(), query.before.as_deref()) {
        (Some(after), _) => SortKey::parse(after, sort).map_or(Seek::First, Seek::After),
        (None, Some(before)) => SortKey::parse(before, sort).map_or(Seek::First, Seek::Before),
        (None, None) => Seek::First,
    };
    let agent = viewer.agent;
    let wanted = queue.clone();
    let found = state
        .app
        .store()
        .read(move |tx| {
            let counts = console_store::queue_counts(tx, agent)?;
            let teams = active_teams(tx)?;
            let page = console_store::queue_page(tx, &wanted, agent, sort, &seek, PAGE_SIZE)?;
            Ok((counts, teams, page))
        })
        .await;
    let (counts, teams, page) = match found {
        Ok(found) => found,
        Err(error) => return unavailable(&error, "cannot read a queue").into_response(),
    };
    let topics: Vec<(String, String)> =
        state.app.settings().topics.topics.iter().map(|t| (t.key.clone(), t.name.clone())).collect();
    let team_id = |key: &str| teams.iter().find(|t| t.key == key).map(|t| t.id);
    let link =
        |queue: &Queue, sort: QueueSort| format!("/agent?queue={}&sort={}", queue.param(), sort.as_str());
    let label = |queue: &Queue| match queue {
        Queue::Team(key) => teams.iter().find(|t| &t.key == key).map_or(key.clone(), |t| t.name.clone()),
        Queue::Topic(key) => {
            topics.iter().find(|(k, _)| k == key).map_or(key.clone(), |(_, name)| name.clone())
        }
        fixed => fixed_label(fixed).to_string(),
    };
    let tab = |q: Queue| Tab {
        name: q.param(),
        label: label(&q),
        count: counts.of(&q, team_id),
        link: link(&q, sort),
        current: q == queue,
    };
    let tabs: Vec<_> = Queue::FIXED.into_iter().map(tab).collect();
    let team_tabs: Vec<_> = teams.iter().map(|t| tab(Queue::Team(t.key.clone()))).collect();
    let topic_tabs: Vec<_> = topics.iter().map(|(key, _)| tab(Queue::Topic(key.clone()))).collect();
    let sorts = QueueSort::ALL
        .into_iter()
        .map(|s| Choice { name: s.as_str(), link: link(&queue, s), current: s == sort })
        .collect();
    let pager = QueuePager {
        count: counts.of(&queue, team_id),
        previous: page.previous.map(|key| format!("{}&before={key}", link(&queue, sort))),
        next: page.next.map(|key| format!("{}&after={key}", link(&queue, sort))),
    };
    let view = view::Queue {
        queue: QueueName { name: queue.param(), label: label(&queue) },
        tabs,
        team_tabs,
        topic_tabs,
        sorts,
        rows: Timed(page.lines),
        pager,
    };
    render(&state, &viewer, view)
}

fn fixed_label(queue: &Queue) -> &'static str {
    match queue {
        Queue::Open => "Open",
        Queue::Mine => "Mine",
        Queue::Teams => "My teams",
        Queue::Unassigned => "Unassigned",
        Queue::Overdue => "Overdue",
        Queue::Done => "Closed",
        Queue::All => "All tickets",
        Queue::Team(_) | Queue::Topic(_) => "",
    }
}
