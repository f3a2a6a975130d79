//! What a customer reads on their ticket page for a change agents made: plain words, decided from
//! the change itself (never parsed back from the agents' line). `None`: the change is not the
//! customer's business (a priority, an internal move between open and pending, an alert).

use crate::core::ticket::Status;

/// Who a ticket was given to, as the customer may see it.
pub enum Handler<'a> {
    Agent(&'a str),
    Team(&'a str),
}

/// The customer's line for a status change from `from` to `to`.
pub fn status_changed(from: Status, to: Status) -> Option<String> {
    let line = match (from, to) {
        (_, Status::Resolved) => "Marked as resolved",
        (_, Status::Closed) => "Closed",
        (Status::Resolved | Status::Closed, Status::Open | Status::Pending) => "Reopened",
        _ => return None,
    };
    Some(line.to_string())
}

/// The customer's line for an assignment; an agent or team without a name is not shown.
pub fn assigned(to: Handler<'_>) -> Option<String> {
    match to {
        Handler::Agent(name) if !name.trim().is_empty() => {
            Some(format!("{} is looking into this", name.trim()))
        }
        Handler::Team(name) if !name.trim().is_empty() => {
            Some(format!("The {} team is looking into this", name.trim()))
        }
        _ => None,
    }
}

/// The customer's line for a collaborator added (`true`) or removed.
pub fn copied(address: &str, added: bool) -> String {
    if added {
        format!("{address} now receives the replies")
    } else {
        format!("{address} no longer receives the replies")
    }
}

/// The customer's line on a ticket that another one (`source`) was merged into.
pub fn merged_from(source: &str) -> String {
    format!("Request #{source} was merged into this one")
}

/// The customer's line on a ticket merged into `target`.
pub fn merged_into(target: &str) -> String {
    format!("Merged into request #{target}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_read_plain_words_for_what_concerns_them() {
        assert_eq!(status_changed(Status::Open, Status::Closed).as_deref(), Some("Closed"));
        assert_eq!(status_changed(Status::Pending, Status::Resolved).as_deref(), Some("Marked as resolved"));
        assert_eq!(status_changed(Status::Closed, Status::Open).as_deref(), Some("Reopened"));
        assert_eq!(status_changed(Status::Open, Status::Pending), None, "an internal move");
        assert_eq!(merged_from("000042"), "Request #000042 was merged into this one");
        assert_eq!(merged_into("000043"), "Merged into request #000043");
        assert_eq!(status_changed(Status::Pending, Status::Open), None, "their own reply reopened it");
        assert_eq!(
            assigned(Handler::Agent("Alice Agent")).as_deref(),
            Some("Alice Agent is looking into this")
        );
        assert_eq!(
            assigned(Handler::Team("Billing")).as_deref(),
            Some("The Billing team is looking into this")
        );
        assert_eq!(assigned(Handler::Agent(" ")), None);
        assert_eq!(copied("sam@example.org", true), "sam@example.org now receives the replies");
    }
}
