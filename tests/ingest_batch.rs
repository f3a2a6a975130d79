//! The IMAP drain's batches: many messages in one synced transaction, each with its own outcome.
//! A message the pipeline fails on leaves nothing of it but its raw bytes, in quarantine, and the
//! messages before and after it are still taken in, each once.

mod common;

use common::{Backend, Harness, Mail};
use mailgate::ingest::{Arrival, BatchReport, Delivery, Outcome, Taken};
use mailgate::store::inbound::Source;

on_both_backends!(
    a_batch_threads_dedupes_and_quarantines_in_order,
    a_failing_message_is_rolled_back_alone_and_kept
);

fn arrival(raw: String) -> Arrival {
    Arrival { raw: raw.into_bytes(), delivery: Delivery::new(Source::Imap), oversized: None }
}

fn ran(taken: &Taken) -> &Outcome {
    match taken {
        Taken::Ran(report) => &report.outcome,
        Taken::Kept { reason, .. } => panic!("expected the pipeline to run, it failed: {reason}"),
    }
}

/// Each message sees what the ones before it in the batch wrote: a reply threads to the ticket
/// opened two messages earlier, a second copy is a duplicate, a malformed message is quarantined
/// as it would be alone, and an oversized one is refused from its header.
async fn a_batch_threads_dedupes_and_quarantines_in_order(backend: Backend) {
    let h = Harness::new(backend).await.unwrap();
    let first =
        Mail::new("Ann <ann@customer.test>", "Printer jam", "It jams.").id("<a1@customer.test>").build();
    let other = Mail::new("Bob <bob@other.test>", "Invoice", "Wrong total.").id("<b1@other.test>").build();
    let reply = Mail::new("Ann <ann@customer.test>", "Re: Printer jam", "Still jams.")
        .id("<a2@customer.test>")
        .in_reply_to("<a1@customer.test>")
        .build();
    let header = "From: Cy <cy@customer.test>\r\nSubject: Huge\r\nMessage-ID: <big@customer.test>\r\n\r\n";
    let arrivals = vec![
        arrival(first.clone()),
        arrival(other),
        arrival(reply),
        arrival(first),
        arrival("\u{0}\u{1}\u{2} this is not a mail message at all\r\n".to_string()),
        Arrival { oversized: Some(900_000_000), ..arrival(header.to_string()) },
    ];
    let BatchReport { taken, stopped } = h.ingestor.ingest_batch(arrivals).await;
    assert!(stopped.is_none(), "{stopped:?}");
    assert_eq!(taken.len(), 6);
    let Outcome::Created { ticket: ann, .. } = ran(&taken[0]) else { panic!("{:?}", taken[0]) };
    assert!(matches!(ran(&taken[1]), Outcome::Created { .. }), "{:?}", taken[1]);
    assert!(matches!(ran(&taken[2]), Outcome::Added { ticket, .. } if ticket == ann), "{:?}", taken[2]);
    assert_eq!(ran(&taken[3]), &Outcome::Duplicate);
    assert!(matches!(ran(&taken[4]), Outcome::Quarantined { .. }), "{:?}", taken[4]);
    assert!(
        matches!(ran(&taken[5]), Outcome::Quarantined { reason } if reason.contains("over limits.max_message_bytes")),
        "{:?}",
        taken[5]
    );
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 2);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound").await, 5, "one row per distinct message");
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound WHERE outcome = 'quarantined'").await, 2);
}

/// A trigger makes storing one message's entry fail, as a bug or a broken database would: that
/// message leaves no ticket, user or entry behind, its bytes are in quarantine under its
/// Message-ID, and the messages before and after it are on their tickets.
async fn a_failing_message_is_rolled_back_alone_and_kept(backend: Backend) {
    let h = Harness::new(backend).await.unwrap();
    let poison_entries = common::poison_entries(backend);
    h.write(move |tx| tx.batch(poison_entries)).await;
    let mail = |n: usize, body: &str| {
        Mail::new(&format!("User {n} <user{n}@customer.test>"), &format!("Question {n}"), body)
            .id(&format!("<q{n}@customer.test>"))
            .build()
    };
    let arrivals = vec![
        arrival(mail(1, "Fine.")),
        arrival(mail(2, "POISON here.")),
        arrival(mail(3, "Fine too.")),
        arrival(mail(4, "More POISON, last in the batch.")),
    ];
    let BatchReport { taken, stopped } = h.ingestor.ingest_batch(arrivals).await;
    assert!(stopped.is_none(), "{stopped:?}");
    assert_eq!(taken.len(), 4);
    assert!(matches!(ran(&taken[0]), Outcome::Created { .. }));
    let Taken::Kept { inbound, reason } = &taken[1] else { panic!("{:?}", taken[1]) };
    assert!(reason.contains("poisoned entry"), "{reason}");
    assert!(matches!(ran(&taken[2]), Outcome::Created { .. }));
    assert!(matches!(&taken[3], Taken::Kept { .. }), "{:?}", taken[3]);

    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM tickets").await, 2);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM entries").await, 2);
    let users = "SELECT COUNT(*) FROM users WHERE email IN ('user2@customer.test', 'user4@customer.test')";
    assert_eq!(h.scalar_i64(users).await, 0);
    assert_eq!(h.scalar_i64("SELECT COUNT(*) FROM inbound").await, 4, "each message stored once");
    let keys =
        h.strings("SELECT dedupe_key FROM inbound WHERE outcome = 'quarantined' ORDER BY id", "").await;
    assert_eq!(keys, ["message-id:q2@customer.test", "message-id:q4@customer.test"]);
    let kept = inbound.0;
    let raw = h
        .read(move |tx| {
            tx.query_one("SELECT raw FROM inbound WHERE id = $1", mailgate::params![kept], |r| r.bytes(0))
        })
        .await;
    assert!(String::from_utf8_lossy(&raw).contains("POISON here."), "the raw bytes are kept");

    // The same message, delivered again once the fault is gone, is a duplicate of the kept row;
    // replaying the row opens its ticket.
    let cure = common::cure(backend);
    h.write(move |tx| tx.batch(cure)).await;
    assert_eq!(h.pipe(&mail(2, "POISON here.")).await.outcome, Outcome::Duplicate);
    common::created(&h.ingestor.replay(*inbound).await.unwrap());
}
