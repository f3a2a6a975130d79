//! Database ids as distinct types, so a ticket id can never be passed where a user id is meant.

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // Delegate, so width and alignment flags apply (`{:<6}` in listings).
                std::fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}

id_type! {
    /// `tickets.id` (internal; customers see the `TicketNumber`).
    TicketId,
    /// `users.id`: an end user in the directory.
    UserId,
    /// `agents.id`.
    AgentId,
    /// `teams.id`.
    TeamId,
    /// `orgs.id`.
    OrgId,
    /// `entries.id`: one message, response, note or system event on a ticket.
    EntryId,
    /// `inbound.id`: one accepted raw message.
    InboundId,
}
