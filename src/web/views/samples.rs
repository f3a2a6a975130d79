//! The sample rows views are checked with: one of each store row a page shows, every field filled.

use crate::core::command::Priority;
use crate::core::ids::{TicketId, UserId};
use crate::core::ticket::{Role, Status, TicketNumber};
use crate::store::console::{Assignable, OrgLine, OrgPerson, TicketHeader, TicketLine, UserTicket};
use crate::store::tickets::EntryKind;
use crate::store::users::{UserStatus, UserSummary};
use crate::store::web::{MyTicket, PageEntry, PageFile, PagePerson, PageTicket};

/// 2026-12-04 10:00 UTC.
pub const AT: i64 = 1_796_378_400_000;

pub fn number() -> TicketNumber {
    TicketNumber::from_stored("123456".into())
}

pub fn page_ticket() -> PageTicket {
    PageTicket {
        number: number(),
        subject: "Printer on fire".into(),
        status: Status::Open,
        created_at: AT,
        topic: None,
        custom: String::new(),
    }
}

pub fn person() -> PagePerson {
    PagePerson { name: "Ann Example".into(), email: "ann@acme.com".into(), role: Role::Owner }
}

pub fn entry(kind: EntryKind) -> PageEntry {
    PageEntry {
        id: 1,
        has_html: true,
        kind,
        from_outsider: true,
        author: "Ann Example".into(),
        text: "Hello,\nthe printer in room 4 is on fire.".into(),
        created_at: AT,
        files: vec![PageFile { id: 1, name: "photo.jpg".into() }],
    }
}

pub fn ticket_line() -> TicketLine {
    TicketLine {
        number: number(),
        subject: "Printer on fire".into(),
        requester_id: 1,
        requester_name: "Ann Example".into(),
        requester_email: "ann@acme.com".into(),
        org_key: Some("acme".into()),
        org_name: Some("ACME".into()),
        assignee: Some("Alice".into()),
        priority: Priority::High,
        status: Status::Open,
        created_at: AT,
        updated_at: AT,
        due_at: Some(AT),
        overdue_at: Some(AT),
    }
}

pub fn ticket_header() -> TicketHeader {
    TicketHeader {
        id: TicketId(1),
        line: ticket_line(),
        assignee_kind: Some("agent".into()),
        assignee_key: Some("alice".into()),
        topic: Some("billing".into()),
        custom: String::new(),
    }
}

pub fn assignable() -> Assignable {
    Assignable { kind: "agent".into(), key: "alice".into(), name: "Alice".into() }
}

pub fn user_summary() -> UserSummary {
    UserSummary {
        id: UserId(1),
        email: "ann@acme.com".into(),
        name: "Ann Example".into(),
        org_key: Some("acme".into()),
        status: UserStatus::Guest,
        tickets: 1,
        created_at: AT,
    }
}

pub fn user_ticket() -> UserTicket {
    UserTicket {
        number: number(),
        subject: "Printer on fire".into(),
        status: Status::Open,
        priority: Priority::High,
        role: Role::Owner,
        updated_at: AT,
    }
}

pub fn org_line() -> OrgLine {
    OrgLine { key: "acme".into(), name: "ACME".into(), domains: 1, members: 2, open_tickets: 3 }
}

pub fn org_person() -> OrgPerson {
    OrgPerson { id: 1, email: "ann@acme.com".into(), name: "Ann Example".into(), status: UserStatus::Guest }
}

pub fn my_ticket() -> MyTicket {
    MyTicket {
        id: 1,
        number: number(),
        subject: "Printer on fire".into(),
        status: Status::Open,
        role: Role::Owner,
        updated_at: AT,
        epoch: 0,
        shared: false,
    }
}
