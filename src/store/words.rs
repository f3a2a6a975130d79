//! The closed vocabularies stored as words (`tickets.status = 'open'`), decoded here and nowhere
//! else: code outside `store/` sees `Status::Open`, never the string. Also: ids become `Value`s
//! without `.0`.

use super::db::{Stored, Value};
use super::inbound::{Outcome, Source};
use super::tickets::{EntryClass, EntryKind};
use super::users::UserStatus;
use crate::core::command::Priority;
use crate::core::ids::{AgentId, EntryId, InboundId, OrgId, TeamId, TicketId, UserId};
use crate::core::ticket::{Role, Status, TicketNumber};

macro_rules! stored {
    ($($ty:ident in $column:literal: [$($variant:ident),+ $(,)?];)*) => {$(
        impl Stored for $ty {
            const COLUMN: &'static str = $column;

            fn as_str(self) -> &'static str {
                $ty::as_str(self)
            }

            fn parse(text: &str) -> Option<Self> {
                [$($ty::$variant),+].into_iter().find(|word| word.as_str() == text)
            }
        }

        impl From<$ty> for Value<'_> {
            fn from(word: $ty) -> Self {
                Value::Text(word.as_str())
            }
        }
    )*};
}

stored! {
    Status in "tickets.status": [Open, Pending, Resolved, Closed];
    Priority in "tickets.priority": [Low, Normal, High, Urgent];
    Role in "participants.role": [Owner, Cc, PrimaryContact];
    EntryKind in "entries.kind": [Message, Response, Note, System, Held];
    EntryClass in "entries.class": [Normal, AutoReply, AbuseReport, List, Bounce, Loop, NonParticipant];
    Source in "inbound.source": [Pipe, Imap, Web, Console, Import];
    Outcome in "inbound.outcome": [Processing, Ticket, Loop, Quarantined];
    UserStatus in "users.status": [Guest, Registered, Disabled];
}

macro_rules! id_values {
    ($($id:ident),*) => {$(
        impl From<$id> for Value<'_> {
            fn from(id: $id) -> Self {
                Value::Int(id.0)
            }
        }

        impl From<Option<$id>> for Value<'_> {
            fn from(id: Option<$id>) -> Self {
                id.map_or(Value::Null, |id| Value::Int(id.0))
            }
        }
    )*};
}

id_values!(AgentId, EntryId, InboundId, OrgId, TeamId, TicketId, UserId);

impl<'a> From<&'a TicketNumber> for Value<'a> {
    fn from(number: &'a TicketNumber) -> Self {
        Value::Text(number.as_str())
    }
}

/// Displayed and serialized (into page and mail contexts) as their stored word. `Status` has its
/// own, in `core::ticket`.
macro_rules! shown_as_word {
    ($($ty:ident),*) => {$(
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    )*};
}

shown_as_word!(Priority, Role, EntryKind, EntryClass, Source, Outcome, UserStatus);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Stored + PartialEq + std::fmt::Debug>(words: &[T]) {
        for &word in words {
            assert_eq!(T::parse(word.as_str()), Some(word), "{}", T::COLUMN);
        }
        assert_eq!(T::parse("bogus"), None);
        assert_eq!(T::parse(""), None);
    }

    #[test]
    fn every_word_reads_back_as_itself_and_nothing_else_reads() {
        round_trips(&Status::ALL);
        round_trips(&Priority::ALL);
        round_trips(&[Role::Owner, Role::Cc, Role::PrimaryContact]);
        round_trips(&[
            EntryKind::Message,
            EntryKind::Response,
            EntryKind::Note,
            EntryKind::System,
            EntryKind::Held,
        ]);
        round_trips(&[
            EntryClass::Normal,
            EntryClass::AutoReply,
            EntryClass::AbuseReport,
            EntryClass::List,
            EntryClass::Bounce,
            EntryClass::Loop,
            EntryClass::NonParticipant,
        ]);
        round_trips(&[Source::Pipe, Source::Imap, Source::Web, Source::Console, Source::Import]);
        round_trips(&[Outcome::Processing, Outcome::Ticket, Outcome::Loop, Outcome::Quarantined]);
        round_trips(&[UserStatus::Guest, UserStatus::Registered, UserStatus::Disabled]);
        // Priorities are stored lower-case; `#priority HIGH` is the command parser's business.
        assert_eq!(<Priority as Stored>::parse("HIGH"), None);
    }
}
