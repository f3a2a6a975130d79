//! The views of the agent console. Every console page is given everything under the one key
//! `console`, with the signed-in agent (`viewer`) and the current part of the navigation (`nav`),
//! so console pages share no variable with the other pages: [`Console`] wraps each page's own view.

use serde::Serialize;

use super::samples;
use super::{Timed, View};
use crate::core::command::Priority;
use crate::core::ids::UserId;
use crate::core::ticket::Status;
use crate::store::console::{
    Assignable, OrgLine, OrgPerson, TicketHeader, TicketLine, UserRecord, UserTicket,
};
use crate::store::users::{UserStatus, UserSummary};
use crate::store::web::{PageEntry, PagePerson};
use crate::web::console::Viewer;

/// A console page's own view: its template and the part of the navigation it belongs to.
pub trait ConsoleView: Serialize {
    const PAGE: &'static str;
    const NAV: Nav;

    /// As [`View::sample`].
    fn sample() -> Self;

    /// As [`View::variants`].
    fn variants() -> Vec<Self>
    where
        Self: Sized,
    {
        Vec::new()
    }
}

/// A console page: its view under `console`, beside the viewer and the navigation.
#[derive(Clone, Debug, Serialize)]
pub struct Console<T> {
    console: Framed<T>,
}

#[derive(Clone, Debug, Serialize)]
struct Framed<T> {
    viewer: ViewerCard,
    nav: Nav,
    #[serde(flatten)]
    page: T,
}

/// The signed-in agent as pages show them: the name, and the CSRF token every form posts.
#[derive(Clone, Debug, Serialize)]
pub struct ViewerCard {
    pub name: String,
    pub key: String,
    pub csrf: String,
}

/// The console's navigation: which part is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Nav {
    Queues,
    Users,
    Orgs,
    Search,
}

impl<T: ConsoleView> Console<T> {
    pub fn new(viewer: &Viewer, page: T) -> Console<T> {
        let viewer =
            ViewerCard { name: viewer.name.clone(), key: viewer.key.clone(), csrf: viewer.csrf.clone() };
        Console::framed(viewer, page)
    }

    fn framed(viewer: ViewerCard, page: T) -> Console<T> {
        Console { console: Framed { viewer, nav: T::NAV, page } }
    }
}

impl<T: ConsoleView> View for Console<T> {
    const PAGE: &'static str = T::PAGE;

    fn sample() -> Self {
        Console::framed(sample_viewer(), T::sample())
    }

    fn variants() -> Vec<Self> {
        T::variants().into_iter().map(|page| Console::framed(sample_viewer(), page)).collect()
    }
}

fn sample_viewer() -> ViewerCard {
    ViewerCard { name: "Alice".into(), key: "alice".into(), csrf: "csrf".into() }
}

/// A link that switches a list's view (a queue tab, a sort order).
#[derive(Clone, Debug, Serialize)]
pub struct Choice {
    pub name: &'static str,
    pub link: String,
    pub current: bool,
}

/// The queue being shown.
#[derive(Clone, Debug, Serialize)]
pub struct QueueName {
    pub name: &'static str,
    pub label: &'static str,
}

/// A queue's tab: its label and size.
#[derive(Clone, Debug, Serialize)]
pub struct Tab {
    pub name: &'static str,
    pub label: &'static str,
    pub count: i64,
    pub link: String,
    pub current: bool,
}

/// Links to the neighbouring pages of a list (`None` at either end).
#[derive(Clone, Debug, Serialize)]
pub struct Pager {
    /// 1-based.
    pub page: i64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

/// A queue's pager, which also knows how many pages there are.
#[derive(Clone, Debug, Serialize)]
pub struct QueuePager {
    pub page: i64,
    pub pages: i64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

/// `console/queue.html`: one queue, its tabs and sort links, a page of its tickets.
#[derive(Clone, Debug, Serialize)]
pub struct Queue {
    pub queue: QueueName,
    pub tabs: Vec<Tab>,
    pub sorts: Vec<Choice>,
    /// Shown by the `console/ticket_table.html` partial.
    pub rows: Timed<Vec<TicketLine>>,
    pub pager: QueuePager,
}

impl ConsoleView for Queue {
    const PAGE: &'static str = "console/queue.html";
    const NAV: Nav = Nav::Queues;

    fn sample() -> Self {
        let link = "/agent?queue=open&sort=updated".to_string();
        Queue {
            queue: QueueName { name: "open", label: "Open" },
            tabs: vec![Tab { name: "open", label: "Open", count: 1, link: link.clone(), current: true }],
            sorts: vec![Choice { name: "updated", link, current: false }],
            rows: Timed(vec![samples::ticket_line()]),
            pager: QueuePager {
                page: 2,
                pages: 3,
                previous: Some("/agent?queue=open&sort=updated".into()),
                next: Some("/agent?queue=open&sort=updated&page=3".into()),
            },
        }
    }

    fn variants() -> Vec<Self> {
        let mut sparse = Self::sample();
        let mut line = samples::ticket_line();
        (line.requester_name, line.org_key, line.org_name, line.assignee) = (String::new(), None, None, None);
        (line.due_at, line.overdue_at) = (None, None);
        sparse.rows = Timed(vec![line]);
        sparse.pager = QueuePager { page: 1, pages: 1, previous: None, next: None };
        let empty = Queue { rows: Timed(Vec::new()), ..sparse.clone() };
        vec![sparse, empty]
    }
}

/// A status offered by the search's filter.
#[derive(Clone, Debug, Serialize)]
pub struct StatusChoice {
    pub name: Status,
    pub current: bool,
}

/// `console/search.html`: the search form and the best matches, in the queue's table.
#[derive(Clone, Debug, Serialize)]
pub struct Search {
    /// The words searched for (trimmed); empty before a search.
    pub search: String,
    pub status_filter: Vec<StatusChoice>,
    pub rows: Timed<Vec<TicketLine>>,
    /// At most this many matches are shown.
    pub limit: i64,
}

impl ConsoleView for Search {
    const PAGE: &'static str = "console/search.html";
    const NAV: Nav = Nav::Search;

    fn sample() -> Self {
        Search {
            search: "printer".into(),
            status_filter: vec![StatusChoice { name: Status::Open, current: true }],
            rows: Timed(vec![samples::ticket_line()]),
            limit: 50,
        }
    }

    fn variants() -> Vec<Self> {
        let nothing_found = Search { rows: Timed(Vec::new()), ..Self::sample() };
        vec![Search { search: String::new(), ..nothing_found.clone() }, nothing_found]
    }
}

/// A topic a ticket can be given.
#[derive(Clone, Debug, Serialize)]
pub struct TopicOption {
    pub key: String,
    pub name: String,
}

/// `console/ticket.html`: a ticket with its whole thread and the forms that act on it.
#[derive(Clone, Debug, Serialize)]
pub struct Ticket {
    pub ticket: Timed<TicketHeader>,
    pub people: Vec<PagePerson>,
    /// The whole thread: notes, held mail and system lines too.
    pub entries: Timed<Vec<PageEntry>>,
    pub assignables: Vec<Assignable>,
    pub statuses: Vec<Status>,
    pub priorities: Vec<Priority>,
    /// Every `[[topics]]` entry (empty: no topic form).
    pub topics: Vec<TopicOption>,
    /// The fixed text of the `?done=` code.
    pub notice: Option<&'static str>,
}

impl ConsoleView for Ticket {
    const PAGE: &'static str = "console/ticket.html";
    const NAV: Nav = Nav::Queues;

    fn sample() -> Self {
        use crate::store::tickets::EntryKind;
        Ticket {
            ticket: Timed(samples::ticket_header()),
            people: vec![samples::person()],
            entries: Timed(vec![samples::entry(EntryKind::Note)]),
            assignables: vec![samples::assignable()],
            statuses: Status::ALL.to_vec(),
            priorities: Priority::ALL.to_vec(),
            topics: vec![TopicOption { key: "billing".into(), name: "Billing".into() }],
            notice: Some("Your internal note was added."),
        }
    }

    fn variants() -> Vec<Self> {
        let mut header = samples::ticket_header();
        (header.assignee_kind, header.assignee_key, header.topic) = (None, None, None);
        let line = &mut header.line;
        (line.requester_name, line.org_key, line.org_name, line.assignee) = (String::new(), None, None, None);
        (line.due_at, line.overdue_at) = (None, None);
        use crate::store::tickets::EntryKind;
        let mut entry = samples::entry(EntryKind::Message);
        (entry.author, entry.from_outsider, entry.files) = (String::new(), false, Vec::new());
        let system =
            PageEntry { author: String::new(), files: Vec::new(), ..samples::entry(EntryKind::System) };
        let mut person = samples::person();
        person.name.clear();
        let sparse = Ticket {
            ticket: Timed(header),
            people: vec![person],
            entries: Timed(vec![entry, system]),
            topics: Vec::new(),
            notice: None,
            ..Self::sample()
        };
        vec![sparse]
    }
}

/// `console/users.html`: the user directory.
#[derive(Clone, Debug, Serialize)]
pub struct Users {
    /// The search text; empty: everyone.
    pub search: String,
    /// The sort in force (`name`, `email`, `created`, `tickets`).
    pub sort: &'static str,
    pub sorts: Vec<Choice>,
    pub users: Timed<Vec<UserSummary>>,
    pub pager: Pager,
}

impl ConsoleView for Users {
    const PAGE: &'static str = "console/users.html";
    const NAV: Nav = Nav::Users;

    fn sample() -> Self {
        let link = "/agent/users?q=ann&sort=name".to_string();
        Users {
            search: "ann".into(),
            sort: "name",
            sorts: vec![Choice { name: "name", link: link.clone(), current: true }],
            users: Timed(vec![samples::user_summary()]),
            pager: Pager { page: 2, previous: Some(link.clone()), next: Some(format!("{link}&page=3")) },
        }
    }

    fn variants() -> Vec<Self> {
        let mut user = samples::user_summary();
        (user.name, user.org_key) = (String::new(), None);
        let pager = Pager { page: 1, previous: None, next: None };
        let sparse = Users { search: String::new(), users: Timed(vec![user]), pager, ..Self::sample() };
        vec![Users { users: Timed(Vec::new()), ..sparse.clone() }, sparse]
    }
}

/// A user's record as the page shows it.
#[derive(Clone, Debug, Serialize)]
pub struct UserProfile {
    pub id: UserId,
    pub email: String,
    /// May be empty.
    pub name: String,
    pub status: UserStatus,
    pub created_at: i64,
    pub has_password: bool,
    pub last_login_at: Option<i64>,
    pub org_key: Option<String>,
    pub org_name: Option<String>,
}

impl From<&UserRecord> for UserProfile {
    fn from(user: &UserRecord) -> UserProfile {
        UserProfile {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            status: user.status,
            created_at: user.created_at,
            has_password: user.has_password,
            last_login_at: user.last_login_at,
            org_key: user.org_key.clone(),
            org_name: user.org_name.clone(),
        }
    }
}

/// A key and its value from a `custom` JSON column.
#[derive(Clone, Debug, Serialize)]
pub struct CustomRow {
    pub key: String,
    pub value: String,
}

/// `console/user.html`: one user's record, custom data, tickets, and the account actions.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub user: Timed<UserProfile>,
    pub custom: Vec<CustomRow>,
    pub tickets: Timed<Vec<UserTicket>>,
    /// The fixed text of the `?done=` code.
    pub notice: Option<&'static str>,
    /// The fixed text of the `?error=` code.
    pub error: Option<&'static str>,
}

impl ConsoleView for User {
    const PAGE: &'static str = "console/user.html";
    const NAV: Nav = Nav::Users;

    fn sample() -> Self {
        User {
            user: Timed(UserProfile {
                id: UserId(1),
                email: "ann@acme.com".into(),
                name: "Ann Example".into(),
                status: UserStatus::Registered,
                created_at: samples::AT,
                has_password: true,
                last_login_at: Some(samples::AT),
                org_key: Some("acme".into()),
                org_name: Some("ACME".into()),
            }),
            custom: vec![CustomRow { key: "tier".into(), value: "gold".into() }],
            tickets: Timed(vec![samples::user_ticket()]),
            notice: Some("A password reset link is on its way."),
            error: Some("No invitation was sent."),
        }
    }

    fn variants() -> Vec<Self> {
        let mut sparse = Self::sample();
        let profile = &mut sparse.user.0;
        (profile.name, profile.status, profile.has_password) = (String::new(), UserStatus::Guest, false);
        (profile.last_login_at, profile.org_key, profile.org_name) = (None, None, None);
        (sparse.custom, sparse.tickets, sparse.notice, sparse.error) =
            (Vec::new(), Timed(Vec::new()), None, None);
        vec![sparse]
    }
}

/// `console/orgs.html`: the organizations.
#[derive(Clone, Debug, Serialize)]
pub struct Orgs {
    pub orgs: Vec<OrgLine>,
}

impl ConsoleView for Orgs {
    const PAGE: &'static str = "console/orgs.html";
    const NAV: Nav = Nav::Orgs;

    fn sample() -> Self {
        Orgs { orgs: vec![samples::org_line()] }
    }

    fn variants() -> Vec<Self> {
        vec![Orgs { orgs: Vec::new() }]
    }
}

/// An organization's key and name.
#[derive(Clone, Debug, Serialize)]
pub struct OrgName {
    pub key: String,
    pub name: String,
}

/// An organization's account manager.
#[derive(Clone, Debug, Serialize)]
pub struct Manager {
    /// `agent` or `team`.
    pub kind: String,
    pub key: String,
    pub name: String,
    /// `assign` (new tickets go to them) or `alert` (they are told).
    pub mode: String,
}

/// `console/org.html`: one organization.
#[derive(Clone, Debug, Serialize)]
pub struct Org {
    pub org: OrgName,
    pub custom: Vec<CustomRow>,
    pub domains: Vec<String>,
    pub contacts: Vec<OrgPerson>,
    pub manager: Option<Manager>,
    /// The first members (`member_count` says how many there are).
    pub members: Vec<OrgPerson>,
    pub member_count: i64,
    /// Recent tickets.
    pub tickets: Timed<Vec<TicketLine>>,
}

impl ConsoleView for Org {
    const PAGE: &'static str = "console/org.html";
    const NAV: Nav = Nav::Orgs;

    fn sample() -> Self {
        Org {
            org: OrgName { key: "acme".into(), name: "ACME".into() },
            custom: vec![CustomRow { key: "tier".into(), value: "gold".into() }],
            domains: vec!["acme.com".into()],
            contacts: vec![samples::org_person()],
            manager: Some(Manager {
                kind: "agent".into(),
                key: "alice".into(),
                name: "Alice".into(),
                mode: "assign".into(),
            }),
            members: vec![samples::org_person()],
            member_count: 1,
            tickets: Timed(vec![samples::ticket_line()]),
        }
    }

    fn variants() -> Vec<Self> {
        let mut person = samples::org_person();
        person.name.clear();
        let mut line = samples::ticket_line();
        (line.requester_name, line.assignee) = (String::new(), None);
        let sparse = Org {
            custom: Vec::new(),
            contacts: vec![person.clone()],
            manager: None,
            members: vec![person],
            tickets: Timed(vec![line]),
            ..Self::sample()
        };
        let empty = Org {
            domains: Vec::new(),
            contacts: Vec::new(),
            members: Vec::new(),
            member_count: 0,
            tickets: Timed(Vec::new()),
            ..sparse.clone()
        };
        vec![sparse, empty]
    }
}
