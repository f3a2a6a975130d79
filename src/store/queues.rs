//! The console's ticket queues: what each holds, how many tickets each holds, and its pages. Counts
//! read the `ticket_counts` table that triggers keep in step with `tickets` (never the tickets
//! themselves); a page is a keyset seek on the queue's indexes for its sort order (migrations
//! 0012_queue_indexes and 0021_queue_lanes), so page 20,000 costs what page 1 costs. Read-only.

use std::collections::HashMap;

use super::console::{LINE_COLUMNS, LINE_JOINS, TicketLine, ticket_line};
use super::{Backend, Result, Tx, Value};
use crate::core::ids::AgentId;
use crate::params;

/// A ticket's lane (the generated column `tickets.lane`, migration 0021): which of the queues
/// without a key of their own hold it. One index per sort order leads with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lane {
    Closed = 0,
    /// The janitor's auto-close reads this lane (`store::lifecycle::resolved_before`).
    Resolved = 1,
    /// Open or pending, assigned, not overdue; the lanes from here on are the waiting ones.
    Waiting = 2,
    WaitingOverdue = 3,
    /// Assigned to no agent and no team.
    Unassigned = 4,
    UnassignedOverdue = 5,
}

impl Lane {
    const DONE: [Lane; 2] = [Lane::Closed, Lane::Resolved];
    const WAITING: [Lane; 4] =
        [Lane::Waiting, Lane::WaitingOverdue, Lane::Unassigned, Lane::UnassignedOverdue];
    const ALL: [Lane; 6] = [
        Lane::Closed,
        Lane::Resolved,
        Lane::Waiting,
        Lane::WaitingOverdue,
        Lane::Unassigned,
        Lane::UnassignedOverdue,
    ];

    /// The condition `lane = N` over the table aliased `t`.
    pub(super) fn is(self, t: &str) -> String {
        format!("{t}.lane = {}", self as i64)
    }
}

/// Open or pending (`Lane::Waiting` and after): the condition the partial indexes of an agent's, a
/// team's and a topic's queue are written with (migration 0021), word for word, or SQLite cannot
/// use them.
const WAITING: &str = "q.lane >= 2";

/// The console's ticket queues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Queue {
    /// Every open or pending ticket.
    Open,
    /// Open or pending, assigned to the viewing agent.
    Mine,
    /// Open or pending, assigned to a team the viewing agent is a member of.
    Teams,
    /// Open or pending, assigned to no agent and no team.
    Unassigned,
    /// Open or pending and marked overdue by the janitor (`[[sla]]`).
    Overdue,
    /// Resolved or closed: done with, for looking back.
    Done,
    /// Every ticket, whatever its status.
    All,
    /// Open or pending, assigned to the team with this key.
    Team(String),
    /// Open or pending, of the `[[topics]]` topic with this key.
    Topic(String),
}

impl Queue {
    /// The queues every agent has, in the order of the console's tabs.
    pub const FIXED: [Queue; 7] =
        [Queue::Open, Queue::Mine, Queue::Teams, Queue::Unassigned, Queue::Overdue, Queue::Done, Queue::All];

    /// The `?queue=` value: a fixed queue's name, `team:KEY` or `topic:KEY`.
    pub fn param(&self) -> String {
        match self {
            Queue::Open => "open".into(),
            Queue::Mine => "mine".into(),
            Queue::Teams => "teams".into(),
            Queue::Unassigned => "unassigned".into(),
            Queue::Overdue => "overdue".into(),
            Queue::Done => "closed".into(),
            Queue::All => "all".into(),
            Queue::Team(key) => format!("team:{key}"),
            Queue::Topic(key) => format!("topic:{key}"),
        }
    }

    /// The queue a `?queue=` value names; a key must look like a directory or topic key.
    pub fn parse(text: &str) -> Option<Queue> {
        let key_ok = |key: &str| {
            !key.is_empty()
                && key.len() <= 64
                && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
        };
        if let Some(key) = text.strip_prefix("team:") {
            return key_ok(key).then(|| Queue::Team(key.to_string()));
        }
        if let Some(key) = text.strip_prefix("topic:") {
            return key_ok(key).then(|| Queue::Topic(key.to_string()));
        }
        Queue::FIXED.into_iter().find(|q| q.param() == text)
    }
}

/// Sort orders of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueSort {
    /// Most recently active first.
    Updated,
    /// Urgent, high, normal, low; then most recently active first.
    Priority,
    /// Newest first.
    Created,
    /// Soonest due first (`[[sla]]`); tickets without a due time last.
    Due,
}

impl QueueSort {
    pub const ALL: [QueueSort; 4] =
        [QueueSort::Updated, QueueSort::Priority, QueueSort::Created, QueueSort::Due];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueSort::Updated => "updated",
            QueueSort::Priority => "priority",
            QueueSort::Created => "created",
            QueueSort::Due => "due",
        }
    }

    pub fn parse(text: &str) -> Option<QueueSort> {
        QueueSort::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The sort key's columns, most significant first, ending with the id (so every row's key is
    /// unique): what the queue indexes of migration 0021 hold after their lane or key. `urgency`
    /// is the priority as 3 (urgent) to 0 (low); `due_key` the due time, the largest integer when
    /// there is none (last in the ascending order).
    fn columns(self) -> &'static [&'static str] {
        match self {
            QueueSort::Updated => &["updated_at", "id"],
            QueueSort::Priority => &["urgency", "updated_at", "id"],
            QueueSort::Created => &["created_at", "id"],
            QueueSort::Due => &["due_key", "id"],
        }
    }

    /// The sort key over the ticket table aliased `t`.
    fn keys(self, t: &str) -> Vec<String> {
        self.columns().iter().map(|column| format!("{t}.{column}")).collect()
    }

    /// Whether the queue shows the largest key first (all but the due order).
    fn descending(self) -> bool {
        self != QueueSort::Due
    }
}

/// Where a page starts: the first page, or the rows after (or before) a row's sort key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seek {
    First,
    After(SortKey),
    Before(SortKey),
}

/// A row's position in a sort order: the values of `QueueSort::keys`, written `1.1733000000000.42`
/// in links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortKey(Vec<i64>);

impl SortKey {
    /// The key in a link, if it has as many numbers as `sort`'s key.
    pub fn parse(text: &str, sort: QueueSort) -> Option<SortKey> {
        let values: Option<Vec<i64>> = text.split('.').map(|part| part.parse::<i64>().ok()).collect();
        values.filter(|v| v.len() == sort.columns().len()).map(SortKey)
    }
}

impl std::fmt::Display for SortKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(i64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// One page of a queue, with the keys its "previous" and "next" links carry.
#[derive(Clone, Debug, Default)]
pub struct QueuePage {
    pub lines: Vec<TicketLine>,
    /// The first row's key, when rows come before it.
    pub previous: Option<SortKey>,
    /// The last row's key, when rows come after it.
    pub next: Option<SortKey>,
}

/// One page of `queue` as `agent` sees it, `limit` rows from `seek`.
pub fn queue_page(
    tx: &mut Tx<'_>,
    queue: &Queue,
    agent: AgentId,
    sort: QueueSort,
    seek: &Seek,
    limit: i64,
) -> Result<QueuePage> {
    let Some(ranges) = ranges(tx, queue, agent)? else { return Ok(QueuePage::default()) };
    match seek {
        Seek::First => {
            let mut rows = rows(tx, &ranges, sort, None, true, limit + 1)?;
            let next = more(&mut rows, limit);
            Ok(QueuePage { next, previous: None, lines: rows.into_iter().map(|(line, _)| line).collect() })
        }
        Seek::After(key) => {
            let mut rows = rows(tx, &ranges, sort, Some(key), true, limit + 1)?;
            let next = more(&mut rows, limit);
            let previous = rows.first().map(|(_, key)| key.clone());
            Ok(QueuePage { next, previous, lines: rows.into_iter().map(|(line, _)| line).collect() })
        }
        Seek::Before(key) => {
            let mut rows = rows(tx, &ranges, sort, Some(key), false, limit + 1)?;
            if (rows.len() as i64) <= limit {
                // Back at the start: the first page, whole.
                return queue_page(tx, queue, agent, sort, &Seek::First, limit);
            }
            rows.truncate(limit as usize);
            rows.reverse();
            let previous = rows.first().map(|(_, key)| key.clone());
            let next = rows.last().map(|(_, key)| key.clone());
            Ok(QueuePage { next, previous, lines: rows.into_iter().map(|(line, _)| line).collect() })
        }
    }
}

/// Drops the row past `limit`, if there is one, and answers the key of the page's last row then.
fn more(rows: &mut Vec<(TicketLine, SortKey)>, limit: i64) -> Option<SortKey> {
    if (rows.len() as i64) <= limit {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(|(_, key)| key.clone())
}

/// A queue's tickets as index ranges read in order: the condition (over `tickets q`) of each, with
/// its one parameter. More than one for a queue of several lanes and for "my teams" (one per
/// team), merged by the page query;
/// `None` when the queue is empty by definition (no such team, an agent in no team).
fn ranges(tx: &mut Tx<'_>, queue: &Queue, agent: AgentId) -> Result<Option<Vec<Range>>> {
    let one = |index: &'static str, condition: String, bound: Bound| Range { index, condition, bound };
    let lanes = |lanes: &[Lane]| lanes.iter().map(|lane| one("lane", lane.is("q"), Bound::None)).collect();
    let team = |id: i64| one("team", format!("{WAITING} AND q.assignee_team_id = $1"), Bound::Int(id));
    let ranges = match queue {
        Queue::Open => lanes(&Lane::WAITING),
        Queue::Unassigned => lanes(&[Lane::Unassigned, Lane::UnassignedOverdue]),
        Queue::Overdue => lanes(&[Lane::WaitingOverdue, Lane::UnassignedOverdue]),
        Queue::Done => lanes(&Lane::DONE),
        Queue::All => lanes(&Lane::ALL),
        Queue::Mine => {
            vec![one("agent", format!("{WAITING} AND q.assignee_agent_id = $1"), Bound::Int(agent.0))]
        }
        Queue::Teams => tx
            .query_all(
                "SELECT team_id FROM team_members WHERE agent_id = $1 ORDER BY team_id",
                params![agent.0],
                |r| r.i64(0),
            )?
            .into_iter()
            .map(team)
            .collect(),
        Queue::Team(key) => tx
            .query_opt("SELECT id FROM teams WHERE key = $1", params![key.as_str()], |r| r.i64(0))?
            .into_iter()
            .map(team)
            .collect(),
        Queue::Topic(key) => {
            vec![one("topic", format!("{WAITING} AND q.topic = $1"), Bound::Text(key.clone()))]
        }
    };
    Ok((!ranges.is_empty()).then_some(ranges))
}

/// One index range of a queue: the queue's part of the index names `queue_{index}_{sort}`
/// (migration 0021), the condition over `tickets q` and the value of its `$1`.
struct Range {
    index: &'static str,
    condition: String,
    bound: Bound,
}

/// The one parameter of a range's condition (`$1` in it).
enum Bound {
    None,
    Int(i64),
    Text(String),
}

/// Up to `limit` rows of `ranges` in `sort` order (`forward`) or against it, after `from`.
///
/// Keyset paging over a key (k0, ..., kn) is a union of index seeks: for each i, the rows whose
/// first i keys equal `from`'s and whose key i comes after it. Each arm reads at most `limit` rows
/// of one index in order; the union is merged in order and cut at `limit`.
fn rows(
    tx: &mut Tx<'_>,
    ranges: &[Range],
    sort: QueueSort,
    from: Option<&SortKey>,
    forward: bool,
    limit: i64,
) -> Result<Vec<(TicketLine, SortKey)>> {
    let keys = sort.keys("q");
    let descending = sort.descending() == forward;
    let (direction, beyond) = if descending { ("DESC", "<") } else { ("ASC", ">") };
    let order =
        |keys: &[String]| keys.iter().map(|k| format!("{k} {direction}")).collect::<Vec<_>>().join(", ");
    let selected: Vec<String> =
        keys.iter().enumerate().map(|(i, k)| format!("CAST({k} AS BIGINT) AS k{i}")).collect();
    let mut values: Vec<Value<'_>> = vec![limit.into()];
    let mut arms = Vec::new();
    for Range { index, condition, bound: value } in ranges {
        // SQLite without `ANALYZE` statistics may take another index of the condition's columns
        // and sort every row it finds: the index is named. PostgreSQL plans by its statistics
        // (kept by autovacuum) and finds the same index.
        let indexed = match tx.backend() {
            Backend::Sqlite => format!(" INDEXED BY queue_{index}_{}", sort.as_str()),
            Backend::Postgres => String::new(),
        };
        // `$1` of a range's condition is its own parameter.
        let bound = match value {
            Bound::None => None,
            Bound::Int(id) => Some(Value::Int(*id)),
            Bound::Text(text) => Some(Value::Text(text)),
        };
        let bound = match bound {
            None => condition.clone(),
            Some(value) => {
                values.push(value);
                condition.replace("$1", &format!("${}", values.len()))
            }
        };
        // Each seek with the number of leading keys it holds equal: the arm orders by the rest
        // only, or SQLite does not see that the index already gives that order.
        let seeks: Vec<(String, usize)> = match from {
            None => vec![(String::new(), 0)],
            Some(SortKey(from)) => (0..keys.len())
                .map(|i| {
                    let mut terms = Vec::new();
                    for (j, key) in keys.iter().enumerate().take(i + 1) {
                        values.push(from[j].into());
                        let op = if j == i { beyond } else { "=" };
                        terms.push(format!(" AND {key} {op} ${}", values.len()));
                    }
                    (terms.concat(), i)
                })
                .collect(),
        };
        for (seek, equal) in seeks {
            arms.push(format!(
                "SELECT * FROM (SELECT q.id AS id, {} FROM tickets q{indexed} WHERE {bound}{seek} ORDER BY {} LIMIT $1) arm{}",
                selected.join(", "),
                order(&keys[equal..]),
                arms.len()
            ));
        }
    }
    // The arms are merged and cut to the page before the ticket lines are joined: with the join
    // outside an uncut union, SQLite joins every arm's rows (four lanes by priority after a key:
    // 12 arms of 51 rows for a page of 50; docs/performance.md, sixth pass).
    let arm_keys: Vec<String> = (0..keys.len()).map(|i| format!("k{i}")).collect();
    let page_keys: Vec<String> = arm_keys.iter().map(|k| format!("page.{k}")).collect();
    let sql = format!(
        "SELECT {LINE_COLUMNS}, {} FROM ({} ORDER BY {} LIMIT $1) page
           JOIN tickets t ON t.id = page.id {LINE_JOINS} ORDER BY {}",
        page_keys.join(", "),
        arms.join(" UNION ALL "),
        order(&arm_keys),
        order(&page_keys),
    );
    let first_key = 14;
    tx.query_all(&sql, &values, |r| {
        let key: Result<Vec<i64>> = (0..keys.len()).map(|i| r.i64(first_key + i)).collect();
        Ok((ticket_line(r)?, SortKey(key?)))
    })
}

/// How many tickets each queue holds for one agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub open: i64,
    pub mine: i64,
    pub teams: i64,
    pub unassigned: i64,
    pub overdue: i64,
    pub done: i64,
    pub all: i64,
    /// Open or pending per team id, and per topic key.
    pub by_team: HashMap<i64, i64>,
    pub by_topic: HashMap<String, i64>,
    /// The teams `agent` is a member of.
    pub my_teams: Vec<i64>,
}

impl QueueCounts {
    /// The size of `queue`; `team_id` resolves a team's key.
    pub fn of(&self, queue: &Queue, team_id: impl Fn(&str) -> Option<i64>) -> i64 {
        match queue {
            Queue::Open => self.open,
            Queue::Mine => self.mine,
            Queue::Teams => self.teams,
            Queue::Unassigned => self.unassigned,
            Queue::Overdue => self.overdue,
            Queue::Done => self.done,
            Queue::All => self.all,
            Queue::Team(key) => team_id(key).and_then(|id| self.by_team.get(&id).copied()).unwrap_or(0),
            Queue::Topic(key) => self.by_topic.get(key).copied().unwrap_or(0),
        }
    }
}

/// The size of every queue as `agent` sees them, from the few hundred rows of `ticket_counts`
/// (one per status, assignee, topic and overdue mark in use), never from the tickets: the fixed
/// queues summed in one pass, then the waiting tickets per team and per topic.
pub fn queue_counts(tx: &mut Tx<'_>, agent: AgentId) -> Result<QueueCounts> {
    const WAITING: &str = "status IN ('open', 'pending')";
    let sum = |condition: &str| format!("CAST(SUM(CASE WHEN {condition} THEN tickets ELSE 0 END) AS BIGINT)");
    let sql = format!(
        "SELECT {}, {}, {}, {}, {}, {} FROM ticket_counts",
        sum("1 = 1"),
        sum("status IN ('resolved', 'closed')"),
        sum(WAITING),
        sum(&format!("{WAITING} AND agent_id = $1")),
        sum(&format!("{WAITING} AND agent_id = 0 AND team_id = 0")),
        sum(&format!("{WAITING} AND overdue = 1")),
    );
    let mut counts = tx.query_one(&sql, params![agent.0], |r| {
        // SUM over no rows is NULL: an empty desk.
        Ok(QueueCounts {
            all: r.opt_i64(0)?.unwrap_or(0),
            done: r.opt_i64(1)?.unwrap_or(0),
            open: r.opt_i64(2)?.unwrap_or(0),
            mine: r.opt_i64(3)?.unwrap_or(0),
            unassigned: r.opt_i64(4)?.unwrap_or(0),
            overdue: r.opt_i64(5)?.unwrap_or(0),
            ..QueueCounts::default()
        })
    })?;
    counts.by_team = tx
        .query_all(
            &format!(
                "SELECT team_id, CAST(SUM(tickets) AS BIGINT) FROM ticket_counts
                  WHERE {WAITING} AND team_id <> 0 GROUP BY team_id"
            ),
            &[],
            |r| Ok((r.i64(0)?, r.i64(1)?)),
        )?
        .into_iter()
        .collect();
    counts.by_topic = tx
        .query_all(
            &format!(
                "SELECT topic, CAST(SUM(tickets) AS BIGINT) FROM ticket_counts
                  WHERE {WAITING} AND topic <> '' GROUP BY topic"
            ),
            &[],
            |r| Ok((r.string(0)?, r.i64(1)?)),
        )?
        .into_iter()
        .collect();
    counts.my_teams = tx.query_all(
        "SELECT team_id FROM team_members WHERE agent_id = $1 ORDER BY team_id",
        params![agent.0],
        |r| r.i64(0),
    )?;
    counts.teams = counts.my_teams.iter().filter_map(|team| counts.by_team.get(team)).sum();
    Ok(counts)
}

/// An active team, for the console's tab of its queue.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TeamTab {
    #[serde(skip)]
    pub id: i64,
    pub key: String,
    pub name: String,
}

/// Active teams by name: agents see every team's queue.
pub fn active_teams(tx: &mut Tx<'_>) -> Result<Vec<TeamTab>> {
    tx.query_all("SELECT id, key, name FROM teams WHERE active = 1 ORDER BY LOWER(name), key", &[], |r| {
        Ok(TeamTab { id: r.i64(0)?, key: r.string(1)?, name: r.string(2)? })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_parameters_round_trip_and_keys_are_checked() {
        for queue in
            Queue::FIXED.into_iter().chain([Queue::Team("billing".into()), Queue::Topic("a.b-c_1".into())])
        {
            assert_eq!(Queue::parse(&queue.param()), Some(queue));
        }
        assert_eq!(Queue::parse("done"), None, "the closed queue is `closed`");
        assert_eq!(Queue::parse("team:"), None);
        assert_eq!(Queue::parse("topic:Billing"), None);
        assert_eq!(Queue::parse("topic:x' OR 1=1"), None);
        assert_eq!(Queue::parse(&format!("team:{}", "a".repeat(65))), None);
    }

    #[test]
    fn the_waiting_condition_is_the_partial_indexes_and_starts_at_the_waiting_lane() {
        assert_eq!(WAITING, format!("q.lane >= {}", Lane::Waiting as i64));
        assert!(Lane::WAITING.iter().all(|&lane| lane as i64 >= Lane::Waiting as i64));
        assert!(Lane::DONE.iter().all(|&lane| (lane as i64) < Lane::Waiting as i64));
        for migration in [
            include_str!("../../migrations/sqlite/0021_queue_lanes.sql"),
            include_str!("../../migrations/postgres/0021_queue_lanes.sql"),
        ] {
            let partial: Vec<&str> = migration.lines().filter(|l| l.contains(" WHERE ")).collect();
            assert_eq!(partial.len(), 12, "the agent, team and topic indexes");
            assert!(partial.iter().all(|l| l.contains(&format!("WHERE {} AND", &WAITING["q.".len()..]))));
        }
    }

    #[test]
    fn sort_keys_have_one_number_per_key() {
        let key = SortKey::parse("3.1733000000000.42", QueueSort::Priority).unwrap();
        assert_eq!(key.to_string(), "3.1733000000000.42");
        assert_eq!(SortKey::parse("3.1733000000000.42", QueueSort::Updated), None);
        assert_eq!(SortKey::parse("1.x", QueueSort::Created), None);
        assert_eq!(SortKey::parse("", QueueSort::Created), None);
        assert_eq!(
            SortKey::parse(&format!("{}.7", i64::MAX), QueueSort::Due),
            Some(SortKey(vec![i64::MAX, 7]))
        );
    }
}
