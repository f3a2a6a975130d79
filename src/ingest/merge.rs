//! Merging a ticket into another (`#merge N`, the console's form, `mailgate ticket merge`): the
//! checks a merge must pass, and the merge itself in the caller's transaction. The store moves
//! entries, people, Message-IDs and mail (`store::merge`); a system entry on each ticket names the
//! other and who merged them. Nobody is mailed: the customers read the line on their ticket page.

use super::Pipeline;
use super::lifecycle::Actor;
use crate::core::customer_lines;
use crate::core::ids::EntryId;
use crate::core::thread::TicketState;
use crate::core::ticket::TicketNumber;
use crate::core::trace::Trace;
use crate::store::merge::{self as merge_store, MergeFacts};
use crate::store::tickets as ticket_store;
use crate::store::{self, StoreError, Tx};

/// Whether the tickets of `from` and `to` belong to the same customer: one owner, or one
/// organization.
fn same_customer(from: &MergeFacts, to: &MergeFacts) -> bool {
    from.owner == to.owner || (from.org.is_some() && from.org == to.org)
}

impl Pipeline {
    /// The ticket `source` may be merged into (ticket `into`), or why not: it is unknown, the source
    /// itself, already merged (the source or the target: the pointer is named, not followed), or of
    /// another customer while `across_customers` is false (only the admin's command line sets it).
    pub(crate) fn check_merge(
        &self,
        tx: &mut Tx<'_>,
        source: &TicketState,
        into: &TicketNumber,
        across_customers: bool,
    ) -> store::Result<Result<TicketState, String>> {
        let Some(target) = ticket_store::find_ticket_state_by_number(tx, into)? else {
            return Ok(Err(format!("no ticket #{into}")));
        };
        if target.id == source.id {
            return Ok(Err(format!("#{into} cannot be merged into itself")));
        }
        merge_store::lock_for_merge(tx, source.id, target.id)?;
        let from = merge_store::merge_facts(tx, source.id)?.ok_or(StoreError::NotFound)?;
        let to = merge_store::merge_facts(tx, target.id)?.ok_or(StoreError::NotFound)?;
        if let Some(pointer) = &from.merged_into {
            return Ok(Err(format!("#{} was already merged into #{pointer}", source.number)));
        }
        if let Some(pointer) = &to.merged_into {
            return Ok(Err(format!("#{into} was merged into #{pointer}: merge into #{pointer} instead")));
        }
        if !across_customers && !same_customer(&from, &to) {
            return Ok(Err(format!(
                "#{} ({}) and #{into} ({}) belong to different customers, who would read each other's \
                 messages; an admin can merge them with `mailgate ticket merge --across-customers`",
                source.number, from.owner_email, to.owner_email
            )));
        }
        Ok(Ok(target))
    }

    /// Merges `source` into `target` (checked by [`Pipeline::check_merge`]) as `actor`: the target's
    /// state after it and its system entry.
    pub(crate) fn merge(
        &self,
        tx: &mut Tx<'_>,
        source: &TicketState,
        target: &TicketState,
        actor: &Actor,
        trace: &mut Trace,
    ) -> store::Result<(TicketState, EntryId)> {
        let now = self.clock.now_ms();
        let moved = merge_store::merge_tickets(tx, source.id, target.id, now)?;
        let (from, into) = (&source.number, &target.number);
        let pointer = format!("Merged into #{into} by {}", actor.name());
        self.system_entry(tx, source.id, &pointer, Some(&customer_lines::merged_into(into.as_str())), now)?;
        let text = format!(
            "#{from} \"{}\" merged into this ticket by {} ({} entries, {} people and {} Message-IDs moved)",
            source.subject,
            actor.name(),
            moved.entries,
            moved.people,
            moved.message_ids
        );
        let seen = customer_lines::merged_from(from.as_str());
        let entry = self.system_entry(tx, target.id, &text, Some(&seen), now)?;
        trace.record("command", "applied", format!("#{from} merged into #{into} by {}", actor.name()));
        let after = ticket_store::find_ticket_state(tx, target.id)?.ok_or(StoreError::NotFound)?;
        Ok((after, entry))
    }
}
