//! `[[sla]]`: due-date plans (grace hours, optional business hours in a time zone, holidays), named
//! by `[[topics]]` or made the default. Owns reading times, days and zones; `core::sla` computes.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::Deserialize;

use crate::core::sla::{BusinessHours, Plan};

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::{check_directory_key, earlier_claim, required};

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "an [[sla]] table")]
pub(super) struct RawSla {
    /// Unique key, `[a-z0-9_.-]`, named by `[[topics]] sla`. Required.
    pub key: Option<String>,
    /// Display name. Default: the key.
    pub name: Option<String>,
    /// Hours until a ticket is due (business hours when `timezone` is set). Required, at least 1.
    pub grace_hours: Option<u32>,
    /// IANA zone of the business hours, e.g. `"Europe/Berlin"`. Default: none (every hour counts).
    pub timezone: Option<String>,
    /// Working days, `"mon"` to `"sun"`. Default: Monday to Friday (with `timezone`).
    pub days: Option<Vec<String>>,
    /// Opening time, `"HH:MM"`. Default: `"09:00"` (with `timezone`).
    pub open: Option<String>,
    /// Closing time, `"HH:MM"`, after `open`. Default: `"17:00"` (with `timezone`).
    pub close: Option<String>,
    /// Days that do not count, `"YYYY-MM-DD"` (with `timezone`). Default: none.
    pub holidays: Vec<String>,
    /// A pending ticket (waiting for the customer) is never overdue. Default: `true`.
    pub pause_while_pending: Option<bool>,
    /// The plan of tickets whose topic names none (at most one plan). Default: `false`.
    pub default: bool,
}

/// The plans, and the key of the default one.
pub(super) fn validate_sla(raw: &[RawSla], problems: &mut Problems<'_, '_>) -> (Vec<Plan>, Option<String>) {
    let mut keys: HashMap<String, usize> = HashMap::new();
    let (mut plans, mut default): (Vec<Plan>, Option<(usize, String)>) = (Vec::new(), None);
    for (index, sla) in raw.iter().enumerate() {
        let path = KeyPath::top("sla").at(index);
        let key = required(&sla.key, &path.key("key"), problems);
        if sla.key.is_some() {
            check_directory_key(key, &path.key("key"), problems);
            if let Some(first) = earlier_claim(&mut keys, key.to_string(), index) {
                problems.report(&path.key("key"), format!("{key:?} is already the key of sla[{first}]"));
            }
        }
        let grace_hours = match sla.grace_hours {
            Some(0) => {
                problems.report(&path.key("grace_hours"), "must be at least 1");
                1
            }
            Some(hours) => hours,
            None => {
                problems.report(&path.key("grace_hours"), "is required: hours until a ticket is due");
                1
            }
        };
        if sla.default {
            match &default {
                Some((first, _)) => {
                    problems.report(&path.key("default"), format!("sla[{first}] is already the default"))
                }
                None => default = Some((index, key.to_string())),
            }
        }
        plans.push(Plan {
            key: key.to_string(),
            name: sla.name.clone().unwrap_or_else(|| key.to_string()),
            grace_hours,
            hours: business_hours(sla, &path, problems),
            pause_while_pending: sla.pause_while_pending.unwrap_or(true),
        });
    }
    (plans, default.map(|(_, key)| key))
}

fn business_hours(raw: &RawSla, path: &KeyPath, problems: &mut Problems<'_, '_>) -> Option<BusinessHours> {
    let Some(zone) = &raw.timezone else {
        let set =
            [("days", raw.days.is_some()), ("open", raw.open.is_some()), ("close", raw.close.is_some())]
                .into_iter()
                .chain([("holidays", !raw.holidays.is_empty())]);
        for (key, _) in set.filter(|(_, given)| *given) {
            problems.report(&path.key(key), "needs timezone: business hours are local times");
        }
        return None;
    };
    let timezone = crate::core::sla::zone(zone).ok_or_else(|| {
        problems.report(
            &path.key("timezone"),
            format!("{zone:?} is not an IANA time zone, e.g. \"Europe/Berlin\""),
        )
    });
    let time = |text: Option<&str>, fallback: &str, key: &str, problems: &mut Problems<'_, '_>| {
        let text = text.unwrap_or(fallback);
        NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| {
            problems.report(&path.key(key), format!("{text:?} is not a time \"HH:MM\""));
        })
    };
    let open = time(raw.open.as_deref(), "09:00", "open", problems);
    let close = time(raw.close.as_deref(), "17:00", "close", problems);
    if let (Ok(open), Ok(close)) = (open, close)
        && close <= open
    {
        problems.report(&path.key("close"), "must be after open");
    }
    let days = match &raw.days {
        None => vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
        Some(days) => days
            .iter()
            .enumerate()
            .filter_map(|(at, day)| {
                let parsed = day.parse::<Weekday>().ok();
                if parsed.is_none() {
                    problems.report(&path.key("days").at(at), format!("{day:?} is not a day, e.g. \"mon\""));
                }
                parsed
            })
            .collect(),
    };
    if raw.days.as_ref().is_some_and(Vec::is_empty) {
        problems.report(&path.key("days"), "needs at least one working day");
    }
    let holidays = raw
        .holidays
        .iter()
        .enumerate()
        .filter_map(|(at, day)| {
            let parsed = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok();
            if parsed.is_none() {
                problems
                    .report(&path.key("holidays").at(at), format!("{day:?} is not a date \"YYYY-MM-DD\""));
            }
            parsed
        })
        .collect();
    Some(BusinessHours { timezone: timezone.ok()?, days, open: open.ok()?, close: close.ok()?, holidays })
}
