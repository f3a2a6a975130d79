//! What an import did, counted as it goes: shown by the progress display while it runs and printed
//! at the end, including for a run that was interrupted or stopped on an error.

use std::collections::BTreeMap;
use std::fmt;

use crate::ingest::Outcome;

/// Quarantine reasons shown one by one; the rest are summed on one line.
const MAX_REASONS: usize = 20;

#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Messages found in the source.
    pub total: usize,
    /// Messages taken from the source so far (refused ones included).
    pub read: usize,
    pub opened: usize,
    pub added: usize,
    pub duplicates: usize,
    /// Our own mail found in the mailbox: recorded, not acted on.
    pub loops: usize,
    /// Quarantined messages by reason (see [`reason_group`]).
    pub quarantined: BTreeMap<String, usize>,
    /// Messages over `limits.max_message_bytes`: neither stored nor read whole.
    pub refused: Vec<Refused>,
    /// Stopped by Ctrl-C: what was read is stored, the rest was not read.
    pub interrupted: bool,
    /// Stopped on an error: the rest was not read.
    pub failure: Option<Failure>,
    /// Nothing was written.
    pub dry_run: bool,
}

/// A message too large to take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// `FILE at byte N` or the message file's path.
    pub at: String,
    pub size: u64,
    pub limit: usize,
}

/// Why an import stopped before the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A message could not be read from the source (moved, truncated, an I/O error).
    Unreadable(String),
    /// The database is busy or unreachable: running the import again resumes it.
    Unavailable(String),
    /// The database refused a write that was not about the message.
    Database(String),
}

impl Summary {
    pub fn new(total: usize, dry_run: bool) -> Summary {
        Summary { total, dry_run, ..Summary::default() }
    }

    pub fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Created { .. } => self.opened += 1,
            Outcome::Added { .. } => self.added += 1,
            Outcome::Duplicate => self.duplicates += 1,
            Outcome::Loop => self.loops += 1,
            Outcome::Quarantined { reason } => self.quarantine(reason),
        }
    }

    pub fn quarantine(&mut self, reason: &str) {
        *self.quarantined.entry(reason_group(reason)).or_default() += 1;
    }

    pub fn quarantined_total(&self) -> usize {
        self.quarantined.values().sum()
    }

    /// Whether every message of the source was taken.
    pub fn complete(&self) -> bool {
        !self.interrupted && self.failure.is_none()
    }
}

/// The reason without its particulars (ids, addresses and limits come in parentheses or after a
/// colon; counts become `N`), so that like messages are counted together.
pub fn reason_group(reason: &str) -> String {
    let cut = [reason.find(" ("), reason.find(": ")].into_iter().flatten().min();
    let general = cut.map_or(reason, |at| &reason[..at]);
    let mut group = String::with_capacity(general.len());
    for c in general.chars() {
        match c {
            '0'..='9' if group.ends_with('N') => {}
            '0'..='9' => group.push('N'),
            c => group.push(c),
        }
    }
    group
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let note = if self.dry_run { " (dry run: nothing was written)" } else { "" };
        writeln!(f, "read {} of {} messages{note}", self.read, self.total)?;
        writeln!(f, "  tickets opened:   {}", self.opened)?;
        writeln!(f, "  added to tickets: {}", self.added)?;
        writeln!(f, "  duplicates:       {}", self.duplicates)?;
        if self.loops > 0 {
            writeln!(f, "  our own mail:     {}", self.loops)?;
        }
        writeln!(f, "  quarantined:      {}", self.quarantined_total())?;
        let mut reasons: Vec<(&String, &usize)> = self.quarantined.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (reason, count) in reasons.iter().take(MAX_REASONS) {
            writeln!(f, "    {count:>6}  {reason}")?;
        }
        if reasons.len() > MAX_REASONS {
            let rest: usize = reasons[MAX_REASONS..].iter().map(|(_, count)| **count).sum();
            writeln!(f, "    {rest:>6}  (other reasons: mailgate quarantine list)")?;
        }
        writeln!(f, "  refused:          {}", self.refused.len())?;
        for refused in &self.refused {
            writeln!(
                f,
                "    {}: {} bytes, over limits.max_message_bytes ({})",
                refused.at, refused.size, refused.limit
            )?;
        }
        if self.interrupted {
            writeln!(
                f,
                "interrupted: {} messages not read; run the same import again to go on",
                self.total - self.read
            )?;
        }
        match &self.failure {
            Some(Failure::Unreadable(error)) => writeln!(f, "stopped: cannot read a message: {error}")?,
            Some(Failure::Unavailable(error)) => writeln!(
                f,
                "stopped: database busy or unreachable ({error}); run the same import again to go on"
            )?,
            Some(Failure::Database(error)) => writeln!(f, "stopped: database error: {error}")?,
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_grouped_without_their_particulars() {
        assert_eq!(
            reason_group("bounce that returns no message of ours (quoted ids: <a@b>; failed: x@y)"),
            "bounce that returns no message of ours"
        );
        assert_eq!(reason_group("no sender address: the message has no valid From"), "no sender address");
        assert_eq!(reason_group("empty message"), "empty message");
        assert_eq!(
            reason_group("header block has 1200 fields, over limits.max_headers (1000)"),
            "header block has N fields, over limits.max_headers"
        );
    }

    #[test]
    fn prints_every_count_and_each_refusal() {
        let mut summary = Summary::new(5, false);
        summary.read = 5;
        summary.count(&Outcome::Duplicate);
        summary.quarantine("no sender address: x");
        summary.quarantine("no sender address: y");
        summary.refused.push(Refused { at: "box at byte 10".into(), size: 30, limit: 20 });
        let text = summary.to_string();
        assert!(text.contains("read 5 of 5 messages\n"), "{text}");
        assert!(text.contains("duplicates:       1"), "{text}");
        assert!(text.contains("quarantined:      2\n         2  no sender address\n"), "{text}");
        assert!(text.contains("box at byte 10: 30 bytes, over limits.max_message_bytes (20)"), "{text}");
    }
}
