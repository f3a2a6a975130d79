//! The views of the ticket link's pages (`/t/<token>`, `/access`) and of the pages every part of
//! the site answers with: not found, too many requests, a refused request, a plain message.

use serde::Serialize;

use super::directory::CustomRow;
use super::samples;
use super::{Timed, View};
use crate::store::tickets::EntryKind;
use crate::store::web::{PageEntry, PagePerson, PageTicket};

/// `ticket.html`: the ticket as the participant a link names sees it.
#[derive(Clone, Debug, Serialize)]
pub struct TicketPage {
    /// The ticket's own fields (its topic's form), as this reader may see them.
    pub fields: Vec<CustomRow>,
    pub ticket: PageTicket,
    pub people: Vec<PagePerson>,
    pub thread: Timed<Vec<PageEntry>>,
    /// The link's token: the page's own links and forms carry it.
    pub token: String,
    /// The reply and resolve forms' tag (CSRF), bound to the token.
    pub form_tag: String,
    /// A customer-side reader (agents answer by mail).
    pub can_reply: bool,
    /// The owner, while the ticket is open or pending.
    pub can_resolve: bool,
}

impl View for TicketPage {
    const PAGE: &'static str = "ticket.html";

    fn sample() -> Self {
        TicketPage {
            fields: vec![CustomRow { key: "Product".into(), value: "Router".into() }],
            ticket: samples::page_ticket(),
            people: vec![samples::person()],
            thread: Timed(vec![samples::entry(EntryKind::Message)]),
            token: "tok".into(),
            form_tag: "tag".into(),
            can_reply: true,
            can_resolve: true,
        }
    }

    fn variants() -> Vec<Self> {
        let system = PageEntry {
            author: String::new(),
            has_html: false,
            files: Vec::new(),
            ..samples::entry(EntryKind::System)
        };
        let mut person = samples::person();
        person.name.clear();
        let reader = TicketPage {
            fields: Vec::new(),
            people: vec![person],
            thread: Timed(vec![system]),
            can_reply: true,
            can_resolve: false,
            ..Self::sample()
        };
        let agent =
            TicketPage { people: Vec::new(), thread: Timed(Vec::new()), can_reply: false, ..reader.clone() };
        vec![reader, agent]
    }
}

/// `formatted.html`: one message's HTML part, sanitized.
#[derive(Clone, Debug, Serialize)]
pub struct Formatted {
    pub ticket: PageTicket,
    pub token: String,
    /// The entry's id.
    pub entry: i64,
    /// Sanitized by `web::html` (printed with `| safe`).
    pub html: String,
    /// The reader asked for remote images (`?images=1`).
    pub remote_images: bool,
}

impl View for Formatted {
    const PAGE: &'static str = "formatted.html";

    fn sample() -> Self {
        Formatted {
            ticket: samples::page_ticket(),
            token: "tok".into(),
            entry: 1,
            html: "<p>Hello</p>".into(),
            remote_images: false,
        }
    }

    fn variants() -> Vec<Self> {
        vec![Formatted { remote_images: true, ..Self::sample() }]
    }
}

/// `link_gone.html` (410): an expired or revoked link, with the form that mails a fresh one.
#[derive(Clone, Debug, Serialize)]
pub struct LinkGone {
    pub token: String,
    /// The renew form's tag, bound to the token.
    pub form_tag: String,
}

impl View for LinkGone {
    const PAGE: &'static str = "link_gone.html";

    fn sample() -> Self {
        LinkGone { token: "tok".into(), form_tag: "tag".into() }
    }
}

/// `access.html`: the form asking for a link by ticket number and address, or (`sent`) the answer.
#[derive(Clone, Debug, Serialize)]
pub struct Access {
    pub sent: bool,
    /// The visitor's anonymous CSRF token; empty once sent (no form then).
    pub csrf: String,
}

impl View for Access {
    const PAGE: &'static str = "access.html";

    fn sample() -> Self {
        Access { sent: false, csrf: "csrf".into() }
    }

    fn variants() -> Vec<Self> {
        vec![Access { sent: true, csrf: String::new() }]
    }
}

/// `not_found.html` (404).
#[derive(Clone, Debug, Serialize)]
pub struct NotFound {}

impl View for NotFound {
    const PAGE: &'static str = "not_found.html";

    fn sample() -> Self {
        NotFound {}
    }
}

/// `too_many.html` (429).
#[derive(Clone, Debug, Serialize)]
pub struct TooMany {}

impl View for TooMany {
    const PAGE: &'static str = "too_many.html";

    fn sample() -> Self {
        TooMany {}
    }
}

/// `bad_request.html`: a request that was refused (400, 403, 413, a busy 503), and why.
#[derive(Clone, Debug, Serialize)]
pub struct BadRequest {
    /// A clause without its full stop ("the form is out of date; reload the page and try again").
    pub why: String,
}

impl View for BadRequest {
    const PAGE: &'static str = "bad_request.html";

    fn sample() -> Self {
        BadRequest { why: "the form is out of date; reload the page and try again".into() }
    }
}

/// `message.html`: a title and a sentence (sign-up sent, a spent link, "try again shortly").
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    pub title: String,
    pub text: String,
}

impl Message {
    pub fn new(title: &str, text: &str) -> Message {
        Message { title: title.to_string(), text: text.to_string() }
    }
}

impl View for Message {
    const PAGE: &'static str = "message.html";

    fn sample() -> Self {
        Message::new("Check your mail", "We have sent a mail to that address.")
    }
}
