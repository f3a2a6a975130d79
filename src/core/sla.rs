//! Due dates (`[[sla]]` plans): when a ticket opened (or reopened) at a moment is due, counting
//! either every hour or only business hours in the plan's time zone, skipping holidays. Pure:
//! times are UTC milliseconds in and out; the clock is the caller's.

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike, Weekday};
use jiff::tz::TimeZone;

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
    /// An IANA zone, as [`zone`] finds it.
    #[serde(serialize_with = "tz_name")]
    pub timezone: TimeZone,
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

fn tz_name<S: serde::Serializer>(tz: &TimeZone, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(tz.iana_name().unwrap_or("UTC"))
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
        let (Some(first), Some(last)) = (self.local_day(from_ms), self.local_day(to_ms)) else {
            return to_ms - from_ms;
        };
        let mut total = 0;
        let mut day = first;
        for _ in 0..MAX_DAYS {
            if day > last {
                break;
            }
            if let Some((open, close)) = self.opening(day) {
                let (begin, end) = (open.max(from_ms), close.min(to_ms));
                if begin < end {
                    total += end - begin;
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        total
    }

    /// `start_ms` plus `amount_ms` of business time.
    fn add_business_time(&self, start_ms: i64, amount_ms: i64) -> i64 {
        let Some(mut day) = self.local_day(start_ms) else { return start_ms.saturating_add(amount_ms) };
        let (mut now, mut remaining) = (start_ms, amount_ms);
        for _ in 0..MAX_DAYS {
            if let Some((open, close)) = self.opening(day) {
                let begin = now.max(open);
                if begin < close {
                    let available = close - begin;
                    if remaining <= available {
                        return begin + remaining;
                    }
                    remaining -= available;
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
            match self.instant(day, NaiveTime::MIN) {
                Some(midnight) => now = midnight,
                None => break,
            }
        }
        start_ms.saturating_add(i64::from(MAX_DAYS) * 86_400_000)
    }

    /// When `day` opens and closes (UTC milliseconds), if it is a working day.
    fn opening(&self, day: NaiveDate) -> Option<(i64, i64)> {
        if !self.days.contains(&day.weekday()) || self.holidays.contains(&day) {
            return None;
        }
        Some((self.instant(day, self.open)?, self.instant(day, self.close)?))
    }

    /// The day it is in the plan's zone at `ms`.
    fn local_day(&self, ms: i64) -> Option<NaiveDate> {
        let date = self.timezone.to_datetime(jiff::Timestamp::from_millisecond(ms).ok()?).date();
        NaiveDate::from_ymd_opt(
            date.year().into(),
            date.month().unsigned_abs().into(),
            date.day().unsigned_abs().into(),
        )
    }

    /// `time` on `day` in the plan's zone, in UTC milliseconds. In a DST gap the clock is read as
    /// if it had not moved yet (02:30 in a 02:00-03:00 gap is 03:30); in a fold, the first of
    /// the two (RFC 9557's "compatible").
    fn instant(&self, day: NaiveDate, time: NaiveTime) -> Option<i64> {
        let narrow = |value: u32| i8::try_from(value).ok();
        let civil = jiff::civil::DateTime::new(
            i16::try_from(day.year()).ok()?,
            narrow(day.month())?,
            narrow(day.day())?,
            narrow(time.hour())?,
            narrow(time.minute())?,
            narrow(time.second())?,
            0,
        )
        .ok()?;
        let instant = self.timezone.to_ambiguous_timestamp(civil).compatible().ok()?;
        Some(instant.as_millisecond())
    }
}

/// The IANA zone `name` ("Europe/Berlin"), from the zone data built into mailgate.
pub fn zone(name: &str) -> Option<TimeZone> {
    jiff::tz::db().get(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    fn berlin(grace_hours: u32) -> Plan {
        Plan {
            key: "standard".into(),
            name: "Standard".into(),
            grace_hours,
            hours: Some(BusinessHours {
                timezone: zone("Europe/Berlin").unwrap(),
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

    #[test]
    fn a_clock_time_in_a_dst_gap_or_fold_has_one_meaning() {
        let hours = berlin(1).hours.unwrap();
        let day = |month, day| NaiveDate::from_ymd_opt(2026, month, day).unwrap();
        let time = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        // 29 March 2026, 02:00 CET -> 03:00 CEST: 02:30 is read as 03:30 CEST.
        assert_eq!(hours.instant(day(3, 29), time), Some(ms("2026-03-29T01:30:00Z")));
        // 25 October 2026, 03:00 CEST -> 02:00 CET: 02:30 happens twice; the first counts.
        assert_eq!(hours.instant(day(10, 25), time), Some(ms("2026-10-25T00:30:00Z")));
        assert_eq!(hours.local_day(ms("2026-12-03T23:30:00Z")), Some(day(12, 4)), "already Friday in Berlin");
        assert_eq!(hours.local_day(i64::MAX), None, "out of range: the caller counts plain time");
        assert_eq!(berlin(1).due_at(i64::MAX - 5), i64::MAX, "saturates, never overflows");
    }

    #[test]
    fn zones_are_iana_names_from_the_built_in_data() {
        assert_eq!(zone("America/New_York").unwrap().iana_name(), Some("America/New_York"));
        assert!(zone("UTC").is_some());
        for name in ["Mars/Olympus", "", "../../etc/passwd", "Europe/Berlin\n", "+01:00"] {
            assert!(zone(name).is_none(), "{name:?}");
        }
    }
}
