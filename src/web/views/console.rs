//! The views of the agent console's queues, search and ticket pages, and what every console page
//! shares (the user directory's and organizations' pages are in `directory.rs`). A console page is
//! given everything under the one key `console`, with the signed-in agent (`viewer`) and the
//! current part of the navigation (`nav`), so console pages share no variable with the other
//! pages: [`Console`] wraps each page's own view.

use serde::Serialize;

use super::directory::CustomRow;
use super::samples;
use super::{Timed, View};
use crate::core::command::Priority;
use crate::core::ticket::Status;
use crate::store::console::{Assignable, TicketHeader, TicketLine};
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
    New,
    /// The agent's own account (`/agent/account`).
    Account,
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
    /// `open`, `team:billing`, `topic:hardware`, ...
    pub name: String,
    pub label: String,
}

/// A queue's tab: its label and size.
#[derive(Clone, Debug, Serialize)]
pub struct Tab {
    pub name: String,
    pub label: String,
    pub count: i64,
    pub link: String,
    pub current: bool,
}

/// A queue's keyset pager: how many tickets the queue holds, and the links to the pages around.
#[derive(Clone, Debug, Serialize)]
pub struct QueuePager {
    pub count: i64,
    /// Carries the first row's sort key (`&before=`).
    pub previous: Option<String>,
    /// Carries the last row's sort key (`&after=`).
    pub next: Option<String>,
}

/// `console/queue.html`: one queue, its tabs and sort links, a page of its tickets.
#[derive(Clone, Debug, Serialize)]
pub struct Queue {
    pub queue: QueueName,
    /// The fixed queues (open, mine, ...).
    pub tabs: Vec<Tab>,
    /// One per active team.
    pub team_tabs: Vec<Tab>,
    /// One per `[[topics]]` entry.
    pub topic_tabs: Vec<Tab>,
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
            queue: QueueName { name: "open".into(), label: "Open".into() },
            tabs: vec![Tab {
                name: "open".into(),
                label: "Open".into(),
                count: 1,
                link: link.clone(),
                current: true,
            }],
            team_tabs: vec![Tab {
                name: "team:billing".into(),
                label: "Billing".into(),
                count: 2,
                link: link.clone(),
                current: false,
            }],
            topic_tabs: vec![Tab {
                name: "topic:hardware".into(),
                label: "Hardware".into(),
                count: 0,
                link: link.clone(),
                current: false,
            }],
            sorts: vec![Choice { name: "updated", link, current: false }],
            rows: Timed(vec![samples::ticket_line()]),
            pager: QueuePager {
                count: 120,
                previous: Some("/agent?queue=open&sort=updated&before=x".into()),
                next: Some("/agent?queue=open&sort=updated&after=y".into()),
            },
        }
    }

    fn variants() -> Vec<Self> {
        let mut sparse = Self::sample();
        let mut line = samples::ticket_line();
        (line.requester_name, line.org_key, line.org_name, line.assignee) = (String::new(), None, None, None);
        (line.due_at, line.overdue_at) = (None, None);
        sparse.rows = Timed(vec![line]);
        sparse.pager = QueuePager { count: 1, previous: None, next: None };
        (sparse.team_tabs, sparse.topic_tabs) = (Vec::new(), Vec::new());
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
    /// The `[[topics]]` to narrow to (empty: no topics configured).
    pub topic_filter: Vec<FilterChoice>,
    /// The active teams to narrow to (tickets assigned to the team).
    pub team_filter: Vec<FilterChoice>,
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
            topic_filter: vec![FilterChoice { key: "billing".into(), name: "Billing".into(), current: true }],
            team_filter: vec![FilterChoice {
                key: "billing".into(),
                name: "Billing team".into(),
                current: false,
            }],
            rows: Timed(vec![samples::ticket_line()]),
            limit: 50,
        }
    }

    fn variants() -> Vec<Self> {
        let nothing_found = Search {
            rows: Timed(Vec::new()),
            topic_filter: Vec::new(),
            team_filter: Vec::new(),
            ..Self::sample()
        };
        vec![Search { search: String::new(), ..nothing_found.clone() }, nothing_found]
    }
}

/// `console/new.html`: an agent opens a ticket for a customer.
#[derive(Clone, Debug, Serialize)]
pub struct NewTicket {
    /// What was typed (shown again when the form is refused).
    pub form: NewTicketDraft,
    /// Every `[[topics]]` entry (empty: no topic choice).
    pub topics: Vec<TopicOption>,
    /// Why the form was refused.
    pub error: Option<String>,
}

/// What the new-ticket form holds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NewTicketDraft {
    pub to: String,
    pub name: String,
    pub subject: String,
    pub text: String,
    pub topic: String,
}

impl ConsoleView for NewTicket {
    const PAGE: &'static str = "console/new.html";
    const NAV: Nav = Nav::New;

    fn sample() -> Self {
        NewTicket {
            form: NewTicketDraft {
                to: "ann@acme.com".into(),
                name: "Ann Example".into(),
                subject: "Your invoice".into(),
                text: "Hi Ann,".into(),
                topic: "billing".into(),
            },
            topics: vec![TopicOption { key: "billing".into(), name: "Billing".into() }],
            error: Some("that address is one of ours".into()),
        }
    }

    fn variants() -> Vec<Self> {
        vec![NewTicket { form: NewTicketDraft::default(), topics: Vec::new(), error: None }]
    }
}

/// A choice of a search filter (a topic, a team).
#[derive(Clone, Debug, Serialize)]
pub struct FilterChoice {
    pub key: String,
    pub name: String,
    pub current: bool,
}

/// A topic a ticket can be given.
#[derive(Clone, Debug, Serialize)]
pub struct TopicOption {
    pub key: String,
    pub name: String,
}

/// A canned response in the console's list.
#[derive(Clone, Debug, Serialize)]
pub struct CannedChoice {
    pub key: String,
    pub title: String,
    /// The one just inserted.
    pub chosen: bool,
}

/// `console/ticket.html`: a ticket with its whole thread and the forms that act on it.
#[derive(Clone, Debug, Serialize)]
pub struct Ticket {
    /// The ticket's own fields (its topic's form), by their labels.
    pub fields: Vec<CustomRow>,
    /// The `[[canned]]` responses offered above the reply form.
    pub canned: Vec<CannedChoice>,
    /// The reply form's text: a canned response filled for this ticket (`?canned=KEY`), or empty.
    pub reply_text: String,
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
            fields: vec![CustomRow { key: "Product".into(), value: "Router".into() }],
            canned: vec![CannedChoice {
                key: "restart".into(),
                title: "Restart the router".into(),
                chosen: true,
            }],
            reply_text: "Hello Ann,".into(),
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
            fields: Vec::new(),
            canned: Vec::new(),
            reply_text: String::new(),
            ..Self::sample()
        };
        vec![sparse]
    }
}
