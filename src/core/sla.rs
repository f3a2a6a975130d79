//! Due dates (`[[sla]]` plans): when a ticket opened (or reopened) at a moment is due, counting
//! either every hour or only business hours in the plan's time zone, skipping holidays. Pure:
//! times are UTC milliseconds in and out; the clock is the caller's.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// A validated `[[sla]]` plan.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    pub key: String,
    pub name: String,
    /// Hours to the due time (business hours when `hours` is set).
    pub grace_hours: u32,
    pub hours: Option<BusinessHours>,
    /// A pending ticket (waiting for the customer) is never overdue.
    pub pause_while_pending: bool,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BusinessHours {
    #[serde(serialize_with = "tz_name")]
    pub timezone: Tz,
    /// Working days, Monday first.
    #[serde(serialize_with = "weekday_names")]
    pub days: Vec<Weekday>,
    #[serde(serialize_with = "as_text")]
    pub open: NaiveTime,
    #[serde(serialize_with = "as_text")]
    pub close: NaiveTime,
    #[serde(serialize_with = "all_as_text")]
    pub holidays: Vec<NaiveDate>,
}

fn as_text<S: serde::Serializer, T: std::fmt::Display>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn all_as_text<S: serde::Serializer, T: std::fmt::Display>(
    values: &[T],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().map(ToString::to_string))
}

fn tz_name<S: serde::Serializer>(tz: &Tz, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(tz.name())
}

fn weekday_names<S: serde::Serializer>(days: &[Weekday], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(days.iter().map(|day| day.to_string()))
}

/// Days looked at before giving up on finding enough business time (a plan whose every day is
/// a holiday): then the due time is that far away rather than never.
const MAX_DAYS: u32 = 3 * 366;

impl Plan {
    /// The due time of a ticket opened (or reopened) at `start_ms`.
    pub fn due_at(&self, start_ms: i64) -> i64 {
        let grace_ms = i64::from(self.grace_hours) * 3_600_000;
        match &self.hours {
            None => start_ms.saturating_add(grace_ms),
            Some(hours) => hours.add_business_time(start_ms, grace_ms),
        }
    }
}

impl Plan {
    /// The time that counts (business time when the plan has hours) from `now_ms` to `due_ms`;
    /// 0 when the due time has passed. What a paused ticket keeps for when it resumes.
    pub fn left(&self, now_ms: i64, due_ms: i64) -> i64 {
        if due_ms <= now_ms {
            return 0;
        }
        match &self.hours {
            None => due_ms - now_ms,
            Some(hours) => hours.business_time_between(now_ms, due_ms),
        }
    }

    /// The due time of a ticket resumed at `now_ms` with `left_ms` of its time left.
    pub fn resumed_at(&self, now_ms: i64, left_ms: i64) -> i64 {
        match &self.hours {
            None => now_ms.saturating_add(left_ms),
            Some(hours) => hours.add_business_time(now_ms, left_ms),
        }
    }
}

impl BusinessHours {
    /// The business time between `from_ms` and `to_ms` (`from_ms` < `to_ms`).
    fn business_time_between(&self, from_ms: i64, to_ms: i64) -> i64 {
        let (Some(from), Some(to)) =
            (Utc.timestamp_millis_opt(from_ms).single(), Utc.timestamp_millis_opt(to_ms).single())
        else {
            return to_ms - from_ms;
        };
        let (from, to) = (from.with_timezone(&self.timezone), to.with_timezone(&self.timezone));
        let mut total = Duration::zero();
        let mut day = from.date_naive();
        for _ in 0..MAX_DAYS {
            if day > to.date_naive() {
                break;
            }
            if self.is_working_day(day)
                && let (Some(open), Some(close)) = (self.local(day, self.open), self.local(day, self.close))
            {
                let begin = open.max(from);
                let end = close.min(to);
                if begin < end {
                    total += end - begin;
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        total.num_milliseconds()
    }

    /// `start_ms` plus `amount_ms` of business time.
    fn add_business_time(&self, start_ms: i64, amount_ms: i64) -> i64 {
        let Some(start) = Utc.timestamp_millis_opt(start_ms).single() else { return start_ms + amount_ms };
        let mut remaining = Duration::milliseconds(amount_ms);
        let mut now = start.with_timezone(&self.timezone);
        let mut day = now.date_naive();
        for _ in 0..MAX_DAYS {
            if self.is_working_day(day)
                && let (Some(open), Some(close)) = (self.local(day, self.open), self.local(day, self.close))
            {
                let begin = if now > open { now } else { open };
                if begin < close {
                    let available = close - begin;
                    if remaining <= available {
                        return (begin + remaining).with_timezone(&Utc).timestamp_millis();
                    }
                    remaining -= available;
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
            match self.local(day, NaiveTime::MIN) {
                Some(midnight) => now = midnight,
                None => break,
            }
        }
        start_ms.saturating_add(i64::from(MAX_DAYS) * 86_400_000)
    }

    fn is_working_day(&self, day: NaiveDate) -> bool {
        self.days.contains(&day.weekday()) && !self.holidays.contains(&day)
    }

    /// `time` on `day` in the plan's zone; in a DST gap, the first moment after it.
    fn local(&self, day: NaiveDate, time: NaiveTime) -> Option<DateTime<Tz>> {
        let naive = day.and_time(time);
        self.timezone
            .from_local_datetime(&naive)
            .earliest()
            .or_else(|| self.timezone.from_local_datetime(&(naive + Duration::hours(1))).earliest())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    fn berlin(grace_hours: u32) -> Plan {
        Plan {
            key: "standard".into(),
            name: "Standard".into(),
            grace_hours,
            hours: Some(BusinessHours {
                timezone: chrono_tz::Europe::Berlin,
                days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
                open: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                close: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
                holidays: vec![NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()],
            }),
            pause_while_pending: true,
        }
    }

    #[test]
    fn without_business_hours_every_hour_counts() {
        let plan = Plan { hours: None, ..berlin(24) };
        assert_eq!(plan.due_at(ms("2026-12-05T10:00:00Z")), ms("2026-12-06T10:00:00Z"));
    }

    #[test]
    fn business_hours_stop_at_closing_and_resume_next_morning() {
        // Thursday 15:00 Berlin (14:00 UTC) + 4 business hours: 2 today, 2 on Friday from 09:00.
        assert_eq!(berlin(4).due_at(ms("2026-12-03T14:00:00Z")), ms("2026-12-04T10:00:00Z"));
        // Before opening counts from the opening.
        assert_eq!(berlin(1).due_at(ms("2026-12-03T05:00:00Z")), ms("2026-12-03T09:00:00Z"));
    }

    #[test]
    fn weekends_and_holidays_do_not_count() {
        // Friday 16:00 Berlin + 2 business hours: 1 on Friday, the weekend skipped, 1 on Monday.
        assert_eq!(berlin(2).due_at(ms("2026-12-04T15:00:00Z")), ms("2026-12-07T09:00:00Z"));
        // Opened on Saturday: due Monday 09:00 + 8 h = Monday 17:00 Berlin.
        assert_eq!(berlin(8).due_at(ms("2026-12-05T12:00:00Z")), ms("2026-12-07T16:00:00Z"));
        // Thursday 24 Dec 16:00 + 2 h: Christmas (Friday) and the weekend skipped.
        assert_eq!(berlin(2).due_at(ms("2026-12-24T15:00:00Z")), ms("2026-12-28T09:00:00Z"));
    }

    #[test]
    fn time_left_counts_what_the_due_time_counts() {
        let plan = berlin(4);
        // Thursday 15:00 Berlin, due Friday 11:00: 2 h on Thursday, 2 h on Friday morning.
        let (now, due) = (ms("2026-12-03T14:00:00Z"), ms("2026-12-04T10:00:00Z"));
        assert_eq!(plan.left(now, due), 4 * 3_600_000);
        assert_eq!(plan.resumed_at(now, plan.left(now, due)), due, "resuming at once changes nothing");
        // Paused Friday 16:00 Berlin with 3 h left of a due time on Monday: resumed Monday 09:00
        // Berlin, due 12:00 Berlin.
        assert_eq!(plan.left(ms("2026-12-04T15:00:00Z"), ms("2026-12-07T10:00:00Z")), 3 * 3_600_000);
        assert_eq!(plan.resumed_at(ms("2026-12-07T08:00:00Z"), 3 * 3_600_000), ms("2026-12-07T11:00:00Z"));
        assert_eq!(plan.left(due, now), 0, "past due: nothing left");
        let plain = Plan { hours: None, ..berlin(24) };
        assert_eq!(plain.left(0, 5_000), 5_000);
        assert_eq!(plain.resumed_at(10, 5_000), 5_010);
    }

    #[test]
    fn daylight_saving_time_is_the_zone_s() {
        // Friday 27 March 2026 16:00 CET + 2 h: Monday 30 March 10:00 CEST (08:00 UTC).
        assert_eq!(berlin(2).due_at(ms("2026-03-27T15:00:00Z")), ms("2026-03-30T08:00:00Z"));
    }
}
