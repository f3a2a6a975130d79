//! `[log]`: how much mailgate logs and in which format. The level is checked against the
//! `tracing` filter grammar here so a typo fails at start, not silently at run time.

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Log {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "a [log] table")]
pub(super) struct RawLog {
    /// A `tracing` filter: `LEVEL` or `TARGET=LEVEL`, comma-separated
    /// (`"mailgate=debug,sqlx=warn"`). Default: `"info"`.
    pub level: String,
    /// `"text"` or `"json"` (one object per line). Default: `"text"`.
    pub format: LogFormat,
}

impl Default for RawLog {
    fn default() -> Self {
        Self { level: "info".to_string(), format: LogFormat::Text }
    }
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

pub(super) fn validate_log(raw: &RawLog, problems: &mut Problems<'_, '_>) -> Log {
    if let Err(message) = check_filter(&raw.level) {
        problems.report(&KeyPath::top("log").key("level"), message);
    }
    Log { level: raw.level.trim().to_string(), format: raw.format }
}

/// A subset of `EnvFilter`'s grammar: directives `LEVEL` or `TARGET[span]=LEVEL`. Stricter in one
/// way on purpose: a bare word must be a level, so `"inf"` is a typo, not a target named `inf`.
fn check_filter(filter: &str) -> Result<(), String> {
    let directives: Vec<&str> =
        filter.split(',').map(str::trim).filter(|directive| !directive.is_empty()).collect();
    if directives.is_empty() {
        return Err("must name a level, e.g. \"info\"".to_string());
    }
    for directive in directives {
        let (target, level) = match directive.rsplit_once('=') {
            Some((target, level)) => (Some(target), level),
            None => (None, directive),
        };
        if !is_level(level) {
            let hint = if target.is_some() { "" } else { " (or TARGET=LEVEL)" };
            return Err(format!("{level:?} is not a level; use one of {}{hint}", LEVELS.join(", ")));
        }
        if let Some(target) = target {
            check_target(target)?;
        }
    }
    Ok(())
}

fn is_level(word: &str) -> bool {
    LEVELS.iter().any(|level| level.eq_ignore_ascii_case(word))
        || matches!(word, "0" | "1" | "2" | "3" | "4" | "5")
}

fn check_target(target: &str) -> Result<(), String> {
    let (name, span) = match target.split_once('[') {
        Some((name, span)) => (name, Some(span)),
        None => (target, None),
    };
    let name_ok = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'));
    let span_ok = span.is_none_or(|span| span.ends_with(']'));
    if (name.is_empty() && span.is_none()) || !name_ok || !span_ok {
        return Err(format!("{target:?} is not a log target such as \"mailgate\" or \"sqlx::query\""));
    }
    Ok(())
}
