//! Due dates (`[[sla]]`) with a fixed clock: business hours in Europe/Berlin across closing time,
//! a weekend and a holiday; the janitor marks overdue exactly once and alerts the assignee (or
//! every agent); a hold (pending) pauses the clock and resumes it with the time left (or not, per plan), a reopen restarts it; the
//! console's queue sorts by due time. Both backends.

mod common;

use common::{Backend, Harness, Mail, created};
use mailgate::core::ids::AgentId;
use mailgate::core::ticket::{Status, TicketNumber};
use mailgate::store::console::{self as console_store, Queue, QueueSort, Seek};
use mailgate::workflow::ConsoleAction;

on_both_backends!(
    due_time_skips_closing_time_the_weekend_and_holidays_and_overdue_is_marked_once,
    a_hold_pauses_the_clock_and_a_reopen_restarts_it,
    a_plan_that_does_not_pause_alerts_every_agent_when_unassigned,
);

const SLA: &str = r#"
[[sla]]
key = "standard"
name = "Standard"
grace_hours = 4
timezone = "Europe/Berlin"
holidays = ["2026-11-30"]
default = true

[[sla]]
key = "rush"
name = "Rush"
grace_hours = 2
pause_while_pending = false

[[topics]]
key = "outage"
name = "Outage"
sla = "rush"

[[rules]]
name = "outages are rushed"
conditions = [{ field = "subject", contains = "outage" }]
topic = "outage"
"#;

/// Milliseconds of an RFC 3339 time.
fn at(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
}

async fn due(h: &Harness, number: &str) -> (Option<i64>, Option<i64>) {
    let number = number.to_string();
    h.read(move |tx| {
        tx.query_one(
            "SELECT due_at, overdue_at FROM tickets WHERE number = $1",
            mailgate::params![number.as_str()],
            |r| Ok((r.opt_i64(0)?, r.opt_i64(1)?)),
        )
    })
    .await
}

async fn overdue_alerts(h: &Harness) -> Vec<String> {
    h.strings("SELECT recipient FROM outbox WHERE template = $1 ORDER BY recipient", "overdue_alert").await
}

async fn due_time_skips_closing_time_the_weekend_and_holidays_and_overdue_is_marked_once(backend: Backend) {
    let Some(h) = Harness::with_config(backend, SLA).await else { return };
    // Friday 27 Nov 2026, 16:00 in Berlin: one business hour today, Monday 30 Nov is a holiday,
    // so the other three run on Tuesday from 09:00: due Tuesday 12:00 Berlin (11:00 UTC).
    h.clock.set_ms(at("2026-11-27T15:00:00Z"));
    let report = h.pipe(&Mail::new("Ann <ann@acme.com>", "Printer", "Broken again.").build()).await;
    let (_, number) = created(&report);
    assert!(
        report.trace.to_string().contains("standard (Standard): due at 2026-12-01 12:00 CET"),
        "{}",
        report.trace
    );
    assert_eq!(due(&h, &number).await, (Some(at("2026-12-01T11:00:00Z")), None));

    h.clock.set_ms(at("2026-12-01T10:59:00Z"));
    assert_eq!(h.workflows.mark_overdue().await.unwrap(), 0, "not due yet");
    h.clock.set_ms(at("2026-12-01T11:00:00Z"));
    assert_eq!(h.workflows.mark_overdue().await.unwrap(), 1);
    assert_eq!(due(&h, &number).await.1, Some(at("2026-12-01T11:00:00Z")));
    let entries = h.strings("SELECT body_text FROM entries WHERE kind = $1 ORDER BY id", "system").await;
    assert_eq!(
        entries.last().unwrap(),
        "Overdue: was due at 2026-12-01 12:00 CET (Standard (4 business hours)); marked by the janitor"
    );
    assert_eq!(overdue_alerts(&h).await, ["alice@example.com"], "acme's tickets are alice's");
    h.clock.advance_ms(3_600_000);
    assert_eq!(h.workflows.mark_overdue().await.unwrap(), 0, "marked exactly once");
    assert_eq!(overdue_alerts(&h).await.len(), 1);
}

async fn a_hold_pauses_the_clock_and_a_reopen_restarts_it(backend: Backend) {
    let Some(h) = Harness::with_config(backend, SLA).await else { return };
    // Monday 23 Nov 2026 10:00 Berlin: due 14:00 Berlin (13:00 UTC).
    h.clock.set_ms(at("2026-11-23T09:00:00Z"));
    let first = Mail::new("joe@example.org", "Question", "How?").id("<q1@example.org>");
    let (_, number) = created(&h.pipe(&first.build()).await);
    // A second ticket, due later, to see the queue's order.
    h.clock.set_ms(at("2026-11-23T10:00:00Z"));
    let (_, later) = created(&h.pipe(&Mail::new("kim@example.org", "Other", "Hm").build()).await);
    let alice = AgentId(
        h.read(|tx| tx.query_one("SELECT id FROM agents WHERE key = 'alice'", &[], |r| r.i64(0))).await,
    );
    let order = h
        .read(move |tx| console_store::queue_page(tx, &Queue::Open, alice, QueueSort::Due, &Seek::First, 10))
        .await
        .lines
        .into_iter()
        .map(|line| line.number.to_string())
        .collect::<Vec<_>>();
    assert_eq!(order, [number.clone(), later], "soonest due first");

    let ticket = TicketNumber::parse(&number).unwrap();
    h.workflows.console_change(&ticket, ConsoleAction::Status(Status::Pending)).await.unwrap();
    h.clock.set_ms(at("2026-11-24T09:00:00Z"));
    assert_eq!(h.workflows.mark_overdue().await.unwrap(), 1, "only the other ticket: pending is paused");
    assert_eq!(due(&h, &number).await.1, None);

    // Put on hold at 11:00 Berlin with 3 of its 4 business hours left; Tuesday 10:00 Berlin the
    // customer answers: open again, resumed with those 3 hours: due 13:00 Berlin.
    let reply = Mail::new("joe@example.org", "Re: Question", "Here it is.").in_reply_to("<q1@example.org>");
    let report = h.pipe(&reply.build()).await;
    assert!(
        report.trace.to_string().contains("resumed after the hold: due at 2026-11-24 13:00 CET"),
        "{}",
        report.trace
    );
    assert_eq!(due(&h, &number).await, (Some(at("2026-11-24T12:00:00Z")), None));

    // Resolved, then reopened by a reply: due afresh, 4 business hours from the reopening.
    h.workflows.console_change(&ticket, ConsoleAction::Status(Status::Resolved)).await.unwrap();
    h.clock.set_ms(at("2026-11-24T10:00:00Z"));
    let again =
        Mail::new("joe@example.org", "Re: Question", "It broke again.").in_reply_to("<q1@example.org>");
    let report = h.pipe(&again.build()).await;
    assert!(
        report.trace.to_string().contains("reopened: due again at 2026-11-24 15:00 CET"),
        "{}",
        report.trace
    );
    assert_eq!(due(&h, &number).await, (Some(at("2026-11-24T14:00:00Z")), None));
}

async fn a_plan_that_does_not_pause_alerts_every_agent_when_unassigned(backend: Backend) {
    let Some(h) = Harness::with_config(backend, SLA).await else { return };
    // Saturday: the rush plan counts every hour.
    h.clock.set_ms(at("2026-11-28T12:00:00Z"));
    let (_, number) = created(&h.pipe(&Mail::new("joe@example.org", "Site outage", "Down!").build()).await);
    assert_eq!(due(&h, &number).await.0, Some(at("2026-11-28T14:00:00Z")));
    let ticket = TicketNumber::parse(&number).unwrap();
    h.workflows.console_change(&ticket, ConsoleAction::Status(Status::Pending)).await.unwrap();
    h.clock.set_ms(at("2026-11-28T14:00:00Z"));
    assert_eq!(h.workflows.mark_overdue().await.unwrap(), 1, "rush does not pause while pending");
    let alerted = overdue_alerts(&h).await;
    assert!(alerted.contains(&"alice@example.com".to_string()), "{alerted:?}");
    assert!(
        alerted.iter().any(|to| to.starts_with("bob")),
        "every agent when nobody is assigned: {alerted:?}"
    );
}
