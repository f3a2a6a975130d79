//! Commands an agent writes on the leading lines of a mail (`#close`, `#assign billing`, ...): parsed
//! from the new text only (quoted history is never read), all or nothing. Pure: names are resolved
//! by the caller.

use super::address::EmailAddress;
use super::ticket::{Status, TicketNumber};

/// Ticket priorities, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(text: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(text))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `#close`, `#resolve`, `#reopen`, `#pending`.
    Status(Status),
    /// `#assign KEY`: an agent or team key, resolved by the caller.
    Assign(String),
    Priority(Priority),
    /// `#cc ADDRESS`: add a collaborator.
    Cc(EmailAddress),
    /// `#uncc ADDRESS`: remove a collaborator.
    Uncc(EmailAddress),
    /// `#note`: this mail is an internal note, not a response.
    Note,
    /// `#topic KEY`: a `[[topics]]` key, resolved by the caller.
    Topic(String),
    /// `#canned KEY`: a `[[canned]]` response added to the mail's text, resolved by the caller.
    Canned(String),
    /// `#merge NUMBER`: this ticket is merged into ticket `NUMBER` (checked by the caller).
    Merge(TicketNumber),
}

/// A command line that cannot be applied: its 1-based line number in the new text, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CommandError {
    pub line: usize,
    pub reason: String,
}

/// A command and its 1-based line number in the text (for error replies).
pub type Line = (usize, Command);

/// The commands on the leading lines of `text` and the text without them. Leading blank lines are
/// skipped; the first line that is not a command (`#` and a word of letters) ends them.
pub fn parse(text: &str) -> Result<(Vec<Line>, String), CommandError> {
    let mut commands = Vec::new();
    let mut rest_from = 0;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            rest_from = index + 1;
            continue;
        }
        let Some(word_and_args) = trimmed.strip_prefix('#') else { break };
        let (word, argument) = match word_and_args.split_once(char::is_whitespace) {
            Some((word, argument)) => (word, argument.trim()),
            None => (word_and_args, ""),
        };
        if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphabetic()) {
            break; // `#1 priority is ...`, `# heading`: text, not a command
        }
        let fail = |reason: String| CommandError { line: index + 1, reason };
        commands.push((index + 1, command(&word.to_ascii_lowercase(), argument).map_err(fail)?));
        rest_from = index + 1;
    }
    let rest: Vec<&str> = text.lines().skip(rest_from).collect();
    Ok((commands, rest.join("\n").trim_start_matches('\n').to_string()))
}

fn command(word: &str, argument: &str) -> Result<Command, String> {
    let none = |command: Command| {
        if argument.is_empty() { Ok(command) } else { Err(format!("#{word} takes no argument")) }
    };
    let address = |what: &str| {
        EmailAddress::parse(argument)
            .ok_or_else(|| format!("#{word} needs an email address, not {argument:?} ({what})"))
    };
    match word {
        "close" => none(Command::Status(Status::Closed)),
        "resolve" => none(Command::Status(Status::Resolved)),
        "reopen" => none(Command::Status(Status::Open)),
        "pending" => none(Command::Status(Status::Pending)),
        "note" => none(Command::Note),
        "assign" if argument.is_empty() => Err("#assign needs an agent or team key".to_string()),
        "assign" => Ok(Command::Assign(argument.to_ascii_lowercase())),
        "priority" => Priority::parse(argument)
            .map(Command::Priority)
            .ok_or_else(|| format!("#priority takes low, normal, high or urgent, not {argument:?}")),
        "cc" => address("the collaborator to add").map(Command::Cc),
        "uncc" => address("the collaborator to remove").map(Command::Uncc),
        "topic" if argument.is_empty() => Err("#topic needs a topic key".to_string()),
        "topic" => Ok(Command::Topic(argument.to_ascii_lowercase())),
        "canned" if argument.is_empty() => Err("#canned needs the key of a canned response".to_string()),
        "canned" => Ok(Command::Canned(argument.to_ascii_lowercase())),
        "merge" => TicketNumber::parse(argument)
            .map(Command::Merge)
            .ok_or_else(|| format!("#merge needs the number of the ticket to merge into, not {argument:?}")),
        other => Err(format!(
            "unknown command #{other}; known: #close #resolve #reopen #pending #assign #priority #topic #cc #uncc #merge #note #canned"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_commands_are_read_and_removed() {
        let (commands, rest) =
            parse("\n#close\n#priority HIGH\n#cc sam@example.org\nThanks, fixed.\n#note later").unwrap();
        assert_eq!(
            commands,
            [
                (2, Command::Status(Status::Closed)),
                (3, Command::Priority(Priority::High)),
                (4, Command::Cc(EmailAddress::parse("sam@example.org").unwrap())),
            ]
        );
        assert_eq!(rest, "Thanks, fixed.\n#note later", "only leading lines are commands");
    }

    #[test]
    fn every_command_parses() {
        let all = "#close\n#resolve\n#reopen\n#pending\n#assign Billing\n#priority low\n#cc a@b.example\n#uncc a@b.example\n#note\n#topic Sales\n#merge #000123\n#canned Restart";
        let (commands, rest) = parse(all).unwrap();
        assert_eq!(commands.len(), 12);
        assert_eq!(commands[11], (12, Command::Canned("restart".to_string())));
        assert_eq!(commands[9], (10, Command::Topic("sales".to_string())));
        assert_eq!(commands[10], (11, Command::Merge(TicketNumber::parse("000123").unwrap())));
        assert_eq!(commands[4], (5, Command::Assign("billing".to_string())));
        assert_eq!(rest, "");
    }

    #[test]
    fn text_that_only_looks_like_a_command_is_text() {
        for text in ["#1 priority is the printer", "# Heading", "Hello\n#close"] {
            let (commands, rest) = parse(text).unwrap();
            assert!(commands.is_empty(), "{text}");
            assert_eq!(rest, text);
        }
    }

    #[test]
    fn an_invalid_command_names_its_line() {
        let error = parse("#close\n#priority soon\nText").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.reason.contains("low, normal, high or urgent"), "{error}");
        assert_eq!(
            parse("#frobnicate").unwrap_err().reason.split(';').next().unwrap(),
            "unknown command #frobnicate"
        );
        assert_eq!(parse("#close now").unwrap_err().reason, "#close takes no argument");
        assert!(parse("#cc not-an-address").unwrap_err().reason.contains("email address"));
        assert!(parse("#assign").unwrap_err().reason.contains("agent or team key"));
        assert!(parse("#topic").unwrap_err().reason.contains("topic key"));
        assert!(parse("#canned").unwrap_err().reason.contains("canned response"));
        assert!(parse("#merge").unwrap_err().reason.contains("number of the ticket"));
        assert!(parse("#merge no such").unwrap_err().reason.contains("number of the ticket"));
    }
}
