//! Due dates: a new ticket gets the due time of its topic's `[[sla]]` plan (or the default plan),
//! a reopened one a fresh due time, and the janitor marks tickets past it overdue, exactly once,
//! with a system entry and the overdue alert to the assignee (or the team, or every agent).

use super::Pipeline;
use super::notify::Outgoing;
use crate::core::ids::TicketId;
use crate::core::notify::{Audience, Event};
use crate::core::sla::Plan;
use crate::core::ticket::Status;
use crate::core::trace::Trace;
use crate::outbox::context::Queued;
use crate::store::due::{self as due_store, Due};
use crate::store::outbox as outbox_store;
use crate::store::tickets as ticket_store;
use crate::store::{self, Tx};

/// Tickets marked overdue per janitor round; the rest wait for the next round.
const PER_ROUND: i64 = 500;

impl Pipeline {
    /// Sets the due time of the new `ticket` of `topic` from now, when a plan applies.
    pub(super) fn start_due(
        &self,
        tx: &mut Tx<'_>,
        ticket: TicketId,
        topic: Option<&str>,
        trace: &mut Trace,
    ) -> store::Result<()> {
        let key = match topic.and_then(|key| self.settings.topics.get(key)) {
            Some(topic) => topic.sla.clone(),
            None => self.settings.default_sla.clone(),
        };
        let Some(plan) = key.and_then(|key| self.plan(&key)) else { return Ok(()) };
        let due = plan.due_at(self.clock.now_ms());
        due_store::set_due(tx, ticket, &plan.key, due)?;
        trace.record("sla", "due", format!("{} ({}): due at {}", plan.key, plan.name, shown(plan, due)));
        Ok(())
    }

    /// A ticket that became open again from `from`: back from pending under a plan that pauses,
    /// it resumes with the time it had left; reopened after being resolved or closed, it is due
    /// afresh, counted from now.
    pub(crate) fn restart_due(
        &self,
        tx: &mut Tx<'_>,
        ticket: TicketId,
        from: Status,
        trace: &mut Trace,
    ) -> store::Result<()> {
        let Some(state) = due_store::due_state(tx, ticket)? else { return Ok(()) };
        let Some(plan) = self.plan(&state.sla) else { return Ok(()) };
        let now = self.clock.now_ms();
        let (due, how) = match state.left_ms {
            Some(left) if from == Status::Pending && plan.pause_while_pending => {
                (plan.resumed_at(now, left), "resumed after the hold: due at")
            }
            _ => (plan.due_at(now), "reopened: due again at"),
        };
        due_store::set_due(tx, ticket, &plan.key, due)?;
        trace.record("sla", "due", format!("{how} {}", shown(plan, due)));
        Ok(())
    }

    /// A ticket put on hold (pending) under a plan that pauses keeps the time it has left.
    pub(crate) fn pause_due(
        &self,
        tx: &mut Tx<'_>,
        ticket: TicketId,
        trace: &mut Trace,
    ) -> store::Result<()> {
        let Some(state) = due_store::due_state(tx, ticket)? else { return Ok(()) };
        let (Some(plan), Some(due_at)) = (self.plan(&state.sla), state.due_at) else { return Ok(()) };
        if !plan.pause_while_pending {
            return Ok(());
        }
        let left = plan.left(self.clock.now_ms(), due_at);
        due_store::pause_due(tx, ticket, left)?;
        trace.record("sla", "paused", format!("on hold with {} left", shown_duration(left)));
        Ok(())
    }

    /// The janitor's round: see [`crate::workflow::Workflows::mark_overdue`].
    pub(crate) fn mark_overdue(&self, tx: &mut Tx<'_>) -> store::Result<usize> {
        let now = self.clock.now_ms();
        let mut marked = 0;
        for due in due_store::past_due(tx, now, PER_ROUND)? {
            let plan = self.plan(&due.sla);
            // Waiting for the customer is not late, unless the plan says it is.
            if due.pending && plan.is_none_or(|plan| plan.pause_while_pending) {
                continue;
            }
            if due_store::mark_overdue(tx, due.ticket, now)? {
                self.tell_overdue(tx, &due, plan)?;
                marked += 1;
            }
        }
        Ok(marked)
    }

    fn tell_overdue(&self, tx: &mut Tx<'_>, due: &Due, plan: Option<&Plan>) -> store::Result<()> {
        let Some(state) = ticket_store::find_ticket_state(tx, due.ticket)? else { return Ok(()) };
        let when = plan.map_or_else(|| shown_utc(due.due_at), |plan| shown(plan, due.due_at));
        let plan_name = plan.map_or_else(|| due.sla.clone(), describe);
        let text = format!("Overdue: was due at {when} ({plan_name}); marked by the janitor");
        self.system_entry(tx, due.ticket, &text, None, self.clock.now_ms())?;
        let audience =
            Audience { agents: outbox_store::alert_recipients(tx, due.ticket, true)?, ..Audience::default() };
        let outgoing = Outgoing { event: Event::Overdue, is_normal: true, ticket: Some(due.ticket) };
        let mut trace = Trace::default();
        self.enqueue_planned(tx, &outgoing, &audience, false, &mut trace, |mail| Queued {
            due: Some(when.clone()),
            plan: Some(plan_name.clone()),
            ..Queued::on_ticket(mail, &state)
        })?;
        Ok(())
    }

    fn plan(&self, key: &str) -> Option<&Plan> {
        self.settings.sla_plans.iter().find(|plan| plan.key == key)
    }
}

/// "3 h 20 min", "45 min".
fn shown_duration(ms: i64) -> String {
    let minutes = ms / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// "Standard (8 business hours)".
fn describe(plan: &Plan) -> String {
    let kind = if plan.hours.is_some() { " business" } else { "" };
    format!("{} ({}{kind} hours)", plan.name, plan.grace_hours)
}

/// A due time in the plan's zone when it has business hours, else in UTC.
fn shown(plan: &Plan, ms: i64) -> String {
    match (&plan.hours, jiff::Timestamp::from_millisecond(ms)) {
        (Some(hours), Ok(at)) => {
            at.to_zoned_datetime(hours.timezone.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string()
        }
        _ => shown_utc(ms),
    }
}

fn shown_utc(ms: i64) -> String {
    use chrono::TimeZone;
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .map_or_else(|| ms.to_string(), |at| at.format("%Y-%m-%d %H:%M UTC").to_string())
}
