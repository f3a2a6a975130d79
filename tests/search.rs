//! Full-text search over tickets on both backends: words in subjects and messages (any language,
//! the last word as a prefix), authors, participants' addresses and ticket numbers; filters;
//! replies found as soon as they are stored; hostile queries are words, never syntax. And the
//! command line (`mailgate ticket search`) against a real binary.

mod common;

use common::site::{Site, code, stdout, text};
use common::{Backend, Harness, Mail, created};
use mailgate::core::ticket::{Status, TicketNumber};
use mailgate::store::search::{self, Filter};
use mailgate::workflow::ConsoleAction;

on_both_backends!(
    words_numbers_and_addresses_find_their_tickets,
    filters_narrow_and_hostile_queries_are_words,
    the_console_filters_by_topic_and_team,
    every_message_of_a_drained_batch_is_found_and_a_rolled_back_one_is_not
);

/// The real binary, one process per command, outside any async runtime.
mod command_line {
    use super::common::{Backend, test_pg_url};

    #[test]
    fn sqlite() {
        super::the_command_line_searches(Backend::Sqlite);
    }

    #[test]
    fn postgres() {
        if test_pg_url().is_none() {
            return;
        }
        super::the_command_line_searches(Backend::Postgres);
    }
}

async fn find(h: &Harness, query: &str, filter: Filter) -> Vec<String> {
    let query = query.to_string();
    h.read(move |tx| search::search(tx, &query, &filter, 20))
        .await
        .into_iter()
        .map(|t| t.number.to_string())
        .collect()
}

/// On SQLite the search index is written once per transaction, at its commit (migration 0020):
/// every message of an IMAP drain's batch is found afterwards, and nothing of a transaction that
/// rolled back is.
async fn every_message_of_a_drained_batch_is_found_and_a_rolled_back_one_is_not(backend: Backend) {
    use mailgate::ingest::{Arrival, Delivery};
    use mailgate::store::inbound::Source;
    let Some(h) = Harness::new(backend).await else { return };
    let words = ["quokka", "axolotl", "pangolin"];
    let arrivals = words
        .iter()
        .map(|word| {
            let raw = Mail::new(&format!("{word}@zoo.example"), &format!("About the {word}"), "See subject.")
                .build();
            Arrival { raw: raw.into_bytes(), delivery: Delivery::new(Source::Imap), oversized: None }
        })
        .collect();
    let report = h.ingestor.ingest_batch(arrivals).await;
    assert!(report.stopped.is_none() && report.taken.len() == 3, "{:?}", report.stopped);
    for word in words {
        assert_eq!(find(&h, word, Filter::default()).await.len(), 1, "{word}");
        assert_eq!(
            find(&h, &format!("{word}@zoo.example"), Filter::default()).await.len(),
            1,
            "{word}'s address"
        );
    }
    // `explain` runs the whole pipeline in a transaction that rolls back.
    let explained = Mail::new("okapi@zoo.example", "About the okapi", "See subject.").build();
    let report = h.ingestor.explain(explained.as_bytes(), &Delivery::new(Source::Pipe)).await.unwrap();
    assert!(matches!(report.outcome, mailgate::ingest::Outcome::Created { .. }), "{:?}", report.outcome);
    assert!(find(&h, "okapi", Filter::default()).await.is_empty(), "rolled back, not indexed");
    if backend == Backend::Sqlite {
        assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM entry_search_pending").await, 0, "notes are forgotten");
    }
}

async fn three_tickets(h: &Harness) -> [TicketNumber; 3] {
    let printer = created(
        &h.pipe(
            &Mail::new("Ann <ann@acme.com>", "Printer on fire", "The fuser smells of burnt toner.").build(),
        )
        .await,
    );
    let invoice = created(
        &h.pipe(&Mail::new("Ivy <ivy@globex.com>", "Invoice 2026-114", "We were charged twice.").build())
            .await,
    );
    let german = created(
        &h.pipe(
            &Mail::new(
                "Max <max@example.de>",
                "Lieferung beschädigt",
                "Die Größe der Straßenkarte stimmt nicht.",
            )
            .build(),
        )
        .await,
    );
    [printer.1, invoice.1, german.1].map(|n| n.parse().unwrap())
}

async fn words_numbers_and_addresses_find_their_tickets(backend: Backend) {
    let Some(h) = Harness::new(backend).await else { return };
    let [printer, invoice, german] = three_tickets(&h).await;
    assert_eq!(find(&h, "printer", Filter::default()).await, [printer.to_string()]);
    assert_eq!(find(&h, "burnt toner", Filter::default()).await, [printer.to_string()], "message text");
    assert_eq!(find(&h, "CHARGED", Filter::default()).await, [invoice.to_string()], "any case");
    assert_eq!(find(&h, "beschädigt", Filter::default()).await, [german.to_string()], "non-ASCII words");
    assert_eq!(find(&h, "ivy@globex.com", Filter::default()).await, [invoice.to_string()], "an address");
    assert_eq!(find(&h, "Ivy", Filter::default()).await, [invoice.to_string()], "an author's name");
    assert_eq!(find(&h, &printer.to_string(), Filter::default()).await[0], printer.to_string(), "a number");
    assert!(find(&h, "printer invoice", Filter::default()).await.is_empty(), "every word must occur");
    if backend == Backend::Sqlite {
        assert_eq!(
            find(&h, "print", Filter::default()).await,
            [printer.to_string()],
            "the last word as a prefix"
        );
    }

    // A reply is searchable as soon as it is stored (the index is written in its transaction).
    let reply = Mail::new(
        "Ann <ann@acme.com>",
        &format!("Re: [#{printer}] Printer on fire"),
        "Now the scanner jams too.",
    );
    common::added(&h.pipe(&reply.build()).await);
    assert_eq!(find(&h, "scanner", Filter::default()).await, [printer.to_string()]);
    // A ticket with many matches ranks above one with a passing mention.
    let passing = created(
        &h.pipe(&Mail::new("Bob <bob@other.org>", "Question", "Is the scanner under warranty?").build())
            .await,
    );
    let found = find(&h, "scanner", Filter::default()).await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&passing.1));
}

async fn filters_narrow_and_hostile_queries_are_words(backend: Backend) {
    let topics = "[[topics]]\nkey = \"hardware\"\nname = \"Hardware\"\n";
    let Some(h) = Harness::with_config(backend, topics).await else { return };
    let [printer, invoice, _] = three_tickets(&h).await;
    h.workflows.console_change(&printer, ConsoleAction::Topic("hardware".into())).await.unwrap();
    h.workflows.console_change(&invoice, ConsoleAction::Assign("billing".into())).await.unwrap();
    let hardware = Filter { topic: Some("hardware".into()), ..Filter::default() };
    assert_eq!(find(&h, "printer", hardware.clone()).await, [printer.to_string()]);
    assert!(find(&h, "charged", hardware).await.is_empty());
    let billing = Filter { team: Some("billing".into()), ..Filter::default() };
    assert_eq!(find(&h, "charged", billing.clone()).await, [invoice.to_string()]);
    assert!(find(&h, "printer", billing).await.is_empty(), "assigned to alice, not the team");
    h.workflows.console_change(&invoice, ConsoleAction::Status(Status::Closed)).await.unwrap();
    let all = |q: &str| q.to_string();
    let closed = Filter { status: Some(Status::Closed), ..Filter::default() };
    assert!(find(&h, &all("printer"), closed.clone()).await.is_empty());
    assert_eq!(find(&h, "charged", closed).await, [invoice.to_string()]);
    // ACME's account manager (alice) is assigned their tickets; Globex's only alerted.
    let alice = Filter { assignee: Some("alice".into()), ..Filter::default() };
    assert_eq!(find(&h, "printer", alice.clone()).await, [printer.to_string()]);
    assert!(find(&h, "charged", alice).await.is_empty());
    let globex = Filter { org: Some("globex".into()), ..Filter::default() };
    assert_eq!(find(&h, "charged", globex).await, [invoice.to_string()]);
    let later = Filter { since_ms: Some(common::T0 + 1), ..Filter::default() };
    assert!(find(&h, "printer", later).await.is_empty(), "last active before the day asked");
    let before = Filter { until_ms: Some(common::T0 + 1), ..Filter::default() };
    assert_eq!(find(&h, "printer", before).await, [printer.to_string()]);

    for hostile in [
        "\"",
        "printer\" OR \"x",
        "NEAR(printer fire)",
        "fire*",
        "-printer",
        "^printer",
        "subject:printer",
        "'; DROP TABLE tickets; --",
        "( ) * ^ : \" '",
        "\u{0}\r\nprinter",
        &"printer ".repeat(500),
    ] {
        let found = find(&h, hostile, Filter::default()).await;
        assert!(found.len() <= 1, "{hostile:?}: {found:?}");
    }
    assert!(find(&h, "   ", Filter::default()).await.is_empty());
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 3, "nothing was dropped");
}

fn the_command_line_searches(backend: Backend) {
    let Some(site) = Site::new(backend, "") else { return };
    let mail = b"From: Ann <ann@acme.com>\r\nTo: support@example.com\r\nSubject: Printer on fire\r\n\
Message-ID: <search-cli@acme.com>\r\n\r\nThe fuser smells of burnt toner.\r\n";
    assert_eq!(code(&site.run(&["pipe"], mail)), 0);
    let number = site.strings("SELECT number FROM tickets").remove(0);
    let out = site.run(&["ticket", "search", "burnt", "toner"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(stdout(&out).contains(&number) && stdout(&out).contains("Printer on fire"), "{}", text(&out));
    let out = site.run(&["ticket", "search", "nothing-like-this", "--status", "open"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("no ticket matches"), "{}", text(&out));
    let out = site.run(&["ticket", "search", "printer", "--since", "yesterday"], b"");
    assert_eq!(code(&out), 64, "a bad day is a usage error: {}", text(&out));
    assert!(text(&out).contains("YYYY-MM-DD"), "{}", text(&out));
}

async fn the_console_filters_by_topic_and_team(backend: Backend) {
    let topics = "[[topics]]\nkey = \"hardware\"\nname = \"Hardware\"\n";
    let Some((h, mut client)) = common::http::agent_console(backend, topics).await else { return };
    let [printer, invoice, _] = three_tickets(&h).await;
    h.workflows.console_change(&printer, ConsoleAction::Topic("hardware".into())).await.unwrap();
    h.workflows.console_change(&invoice, ConsoleAction::Assign("billing".into())).await.unwrap();
    let form = client.get("/agent/search").await.body;
    assert!(form.contains("<option value=\"hardware\">Hardware</option>"), "{form}");
    assert!(form.contains("name=\"team\""), "{form}");
    let by_topic = client.get("/agent/search?q=printer+charged&topic=hardware").await.body;
    assert!(by_topic.contains("<option value=\"hardware\" selected>"), "{by_topic}");
    let by_topic = client.get("/agent/search?q=printer&topic=hardware").await.body;
    assert!(by_topic.contains(&printer.to_string()), "{by_topic}");
    let by_team = client.get("/agent/search?q=printer&team=billing").await.body;
    assert!(by_team.contains("No ticket matches"), "{by_team}");
    let by_team = client.get("/agent/search?q=charged&team=billing").await.body;
    assert!(by_team.contains(&invoice.to_string()), "{by_team}");
}
