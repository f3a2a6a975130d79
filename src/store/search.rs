//! Full-text search over tickets: subjects, message text (without quoted history), authors'
//! names and addresses, ticket numbers and participants' addresses, ranked, with filters. SQLite
//! reads the FTS5 table `entry_search`, PostgreSQL the `entries.search` tsvector (GIN); both are
//! kept by triggers in the transaction that stores each entry (migration 0008_search).

use super::tickets::{SUMMARY_COLUMNS, TicketSummary, ticket_summary};
use super::{Backend, Result, Tx};
use crate::core::ticket::{Status, TicketNumber};
use crate::params;

/// What narrows a search; empty fields narrow nothing.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub status: Option<Status>,
    /// An agent's or a team's key.
    pub assignee: Option<String>,
    /// An organization's key.
    pub org: Option<String>,
    /// Last activity at or after (unix ms).
    pub since_ms: Option<i64>,
    /// Last activity before (unix ms).
    pub until_ms: Option<i64>,
    /// A `[[topics]]` key.
    pub topic: Option<String>,
    /// A team's key: tickets assigned to that team.
    pub team: Option<String>,
}

/// The longest query taken; the rest is ignored (a pasted mail is not a search).
pub const MAX_QUERY_CHARS: usize = 200;

/// Tickets matching `query` under `filter`, best first (then most recently active): a ticket
/// number matches its ticket, an address its participants' tickets, words the text.
pub fn search(tx: &mut Tx<'_>, query: &str, filter: &Filter, limit: i64) -> Result<Vec<TicketSummary>> {
    let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
    let words = words(&query);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let number = TicketNumber::parse(query.trim()).map(|n| n.to_string()).unwrap_or_default();
    let address = if query.trim().contains('@') { query.trim().to_lowercase() } else { String::new() };
    let (hits, text) = match tx.backend() {
        Backend::Sqlite => (
            // bm25 (lower is better; subjects weigh most, then authors) is only usable where the
            // FTS table is read on its own, so it is ranked in a materialized step, grouped after.
            // Only the newest matches are ranked (FTS5 walks a doclist newest first and stops):
            // a word in half the desk's entries costs what a rare one does (docs/console.md).
            "ranked AS MATERIALIZED (SELECT rowid AS id, bm25(entry_search, 10.0, 1.0, 4.0) AS rank
                                       FROM entry_search WHERE entry_search MATCH $1
                                      ORDER BY rowid DESC LIMIT 5000),
             hits AS (SELECT e.ticket_id AS ticket_id, -MIN(m.rank) AS score
                        FROM ranked m JOIN entries e ON e.id = m.id GROUP BY e.ticket_id",
            fts5_query(&words),
        ),
        Backend::Postgres => (
            "hits AS (SELECT e.ticket_id AS ticket_id, MAX(ts_rank(e.search, websearch_to_tsquery('simple', $1))) AS score
                        FROM entries e WHERE e.search @@ websearch_to_tsquery('simple', $1) GROUP BY e.ticket_id",
            words.join(" "),
        ),
    };
    // Exact hits (the number, a participant's address) rank above any text match; a merged
    // ticket's number finds the ticket it was merged into.
    let sql = format!(
        "WITH {hits}
                      UNION ALL SELECT COALESCE(merged_into, id), 1000000.0 FROM tickets WHERE number = $2
                      UNION ALL SELECT p.ticket_id, 1000.0 FROM participants p JOIN users pu ON pu.id = p.user_id
                                 WHERE $3 <> '' AND pu.email = $3),
              best AS (SELECT ticket_id, MAX(score) AS score FROM hits GROUP BY ticket_id)
         SELECT {SUMMARY_COLUMNS} JOIN best h ON h.ticket_id = t.id
          WHERE ($4 = '' OR t.status = $4) AND ($5 = '' OR a.key = $5 OR tm.key = $5) AND ($6 = '' OR o.key = $6)
            AND (CAST($7 AS BIGINT) = 0 OR t.updated_at >= $7) AND (CAST($8 AS BIGINT) = 0 OR t.updated_at < $8)
            AND ($9 = '' OR t.topic = $9) AND ($10 = '' OR tm.key = $10)
          ORDER BY h.score DESC, t.updated_at DESC, t.id DESC LIMIT $11"
    );
    tx.query_all(
        &sql,
        params![
            text.as_str(),
            number.as_str(),
            address.as_str(),
            filter.status.map_or("", Status::as_str),
            filter.assignee.as_deref().unwrap_or(""),
            filter.org.as_deref().unwrap_or(""),
            filter.since_ms.unwrap_or(0),
            filter.until_ms.unwrap_or(0),
            filter.topic.as_deref().unwrap_or(""),
            filter.team.as_deref().unwrap_or(""),
            limit
        ],
        ticket_summary,
    )
}

/// The query's words: letters, digits and the characters of addresses; nothing an engine's query
/// syntax could read as an operator.
fn words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '@' | '.' | '_' | '-' | '+')))
        .map(|word| word.trim_matches(|c: char| matches!(c, '.' | '-' | '+')))
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Every word must occur; the last one may be the start of a word (typing "print" finds "printer").
/// Each is quoted, so FTS5 reads it as a string, never as syntax.
fn fts5_query(words: &[String]) -> String {
    let last = words.len().saturating_sub(1);
    words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let quoted = format!("\"{}\"", word.replace('"', "\"\""));
            if i == last { format!("{quoted}*") } else { quoted }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_words_and_never_syntax() {
        assert_eq!(words("Printer   on FIRE!"), ["printer", "on", "fire"]);
        assert_eq!(words("ann@acme.com"), ["ann@acme.com"]);
        assert_eq!(words("\"x\" OR y* NEAR(a b) -c ^d"), ["x", "or", "y", "near", "a", "b", "c", "d"]);
        assert!(words(" ()*\"^ ").is_empty());
        assert_eq!(fts5_query(&words("printer fire")), "\"printer\" \"fire\"*");
        assert_eq!(fts5_query(&words("größe Straße")), "\"größe\" \"straße\"*");
    }
}
