//! `/agent/t/{number}`: a ticket as agents see it (the whole thread, internal notes and held mail
//! included) and its forms. A reply or note is written as the agent's mail and ingested, so the
//! customer gets a response by mail exactly as if the agent had answered an alert; assignment,
//! status and priority go through the lifecycle with the agent as actor.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::response::Response;

use super::{Viewer, WebError, notice, render, see_other, unavailable};
use crate::auth::token::Purpose;
use crate::core::address::EmailAddress;
use crate::core::command::Priority;
use crate::core::ticket::{Status, TicketNumber};
use crate::ingest::Outcome;
use crate::ingest::lifecycle::Actor;
use crate::store::{console as console_store, merge as merge_store, web as web_store};
use crate::web::WebState;
use crate::web::upload::{self, Posted, SpooledForm};
use crate::web::views::Timed;
use crate::web::views::console::{self as view, CannedChoice, TopicOption};
use crate::workflow::{ConsoleAction, ConsoleError};

#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
    /// A canned response to put in the reply form, filled for this ticket.
    canned: Option<String>,
}

pub async fn show(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(number): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let Some(number) = TicketNumber::parse(&number) else { return WebError::NotFound.into_response() };
    let (agent, instance) = (viewer.agent, state.app.settings().instance_name.clone());
    let found = state
        .app
        .store()
        .read(move |tx| {
            // A merged ticket's page is the page of the ticket it was merged into.
            if let Some(target) = merge_store::merged_into_number(tx, &number)? {
                return Ok(Some(Err(target)));
            }
            let Some(ticket) = console_store::ticket_header(tx, &number)? else { return Ok(None) };
            let people = web_store::people(tx, ticket.id)?;
            let thread = web_store::thread(tx, ticket.id, true)?;
            let assignables = console_store::assignables(tx)?;
            let canned = console_store::canned_context(tx, ticket.id, agent, &instance)?;
            Ok(Some(Ok((ticket, people, thread, assignables, canned))))
        })
        .await;
    let (ticket, people, thread, assignables, canned_context) = match found {
        Ok(Some(Ok(found))) => found,
        Ok(Some(Err(target))) => {
            let done = query.done.as_deref().filter(|done| notice(Some(done)).is_some());
            return see_other(format!(
                "/agent/t/{target}{}",
                done.map_or(String::new(), |d| format!("?done={d}"))
            ));
        }
        Ok(None) => return WebError::NotFound.into_response(),
        Err(error) => return unavailable(&error, "cannot read a ticket").into_response(),
    };
    let settings = state.app.settings();
    // A key that is not (any more) a canned response leaves the form empty.
    let reply_text = match (query.canned.as_deref(), canned_context) {
        (Some(key), Some(context)) => {
            crate::canned::fill(&settings.canned, key, &context).unwrap_or_default()
        }
        _ => String::new(),
    };
    let canned = settings
        .canned
        .iter()
        .map(|c| CannedChoice {
            key: c.key.clone(),
            title: c.title.clone(),
            chosen: query.canned.as_deref() == Some(c.key.as_str()),
        })
        .collect();
    let fields = super::field_rows(&settings.topics, ticket.topic.as_deref(), &ticket.custom, false);
    let page = view::Ticket {
        fields,
        canned,
        reply_text,
        ticket: Timed(ticket),
        people,
        entries: Timed(thread),
        assignables,
        statuses: Status::ALL.to_vec(),
        priorities: Priority::ALL.to_vec(),
        topics: settings
            .topics
            .topics
            .iter()
            .map(|topic| TopicOption { key: topic.key.clone(), name: topic.name.clone() })
            .collect(),
        notice: notice(query.done.as_deref()),
    };
    render(&state, &viewer, page)
}

/// What the ticket page's forms post: the session's CSRF token and one value.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct TicketForm {
    csrf: String,
    /// reply and note
    text: String,
    /// assign: an agent's or team's key
    to: String,
    status: String,
    priority: String,
    /// a `[[topics]]` key
    topic: String,
    /// merge: the number of the ticket to merge into
    into: String,
    /// cc and uncc: a collaborator's address
    address: String,
}

/// `POST /agent/t/{number}/reply`: a response to the customer side, by mail, with its files.
pub async fn reply(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(number): Path<String>,
    Posted(form): Posted,
) -> Response {
    write(&state, &viewer, &number, form, Purpose::Reply).await.unwrap_or_else(|f| f.into_response())
}

/// `POST /agent/t/{number}/note`: an internal note, with its files.
pub async fn note(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(number): Path<String>,
    Posted(form): Posted,
) -> Response {
    write(&state, &viewer, &number, form, Purpose::Note).await.unwrap_or_else(|f| f.into_response())
}

/// `POST /agent/t/{number}/{assign|status|priority|topic|cc|uncc|merge}`: one change by the
/// signed-in agent.
pub async fn change_one(
    State(state): State<WebState>,
    viewer: Viewer,
    Path((number, what)): Path<(String, String)>,
    Form(form): Form<TicketForm>,
) -> Response {
    // Judged after the CSRF check in `change`, like every form.
    let (done, action) = match what.as_str() {
        "assign" => {
            let key = form.to.trim();
            let assign = (!key.is_empty()).then(|| ConsoleAction::Assign(key.to_string()));
            ("assign", assign.ok_or("choose an agent or a team to assign the ticket to"))
        }
        "status" => (
            "status",
            Status::parse(&form.status)
                .map(ConsoleAction::Status)
                .ok_or("choose open, pending, resolved or closed"),
        ),
        "priority" => (
            "priority",
            Priority::parse(&form.priority)
                .map(ConsoleAction::Priority)
                .ok_or("choose low, normal, high or urgent"),
        ),
        "topic" => {
            let key = form.topic.trim();
            let topic = (!key.is_empty()).then(|| ConsoleAction::Topic(key.to_string()));
            ("topic", topic.ok_or("choose a topic"))
        }
        "cc" | "uncc" => {
            let address = EmailAddress::parse(form.address.trim());
            let action = match what.as_str() {
                "cc" => address.map(ConsoleAction::Cc),
                _ => address.map(ConsoleAction::Uncc),
            };
            (if what == "cc" { "cc" } else { "uncc" }, action.ok_or("type the collaborator's email address"))
        }
        "merge" => {
            let into = TicketNumber::parse(&form.into);
            let merge = into.map(|into| ConsoleAction::Merge { into, across_customers: false });
            ("merge", merge.ok_or("type the number of the ticket to merge this one into"))
        }
        _ => return WebError::NotFound.into_response(),
    };
    change(&state, &viewer, &number, &form, || action, done).await.unwrap_or_else(|f| f.into_response())
}

/// A reply or note: checked, then ingested as the agent's mail to their signed address.
async fn write(
    state: &WebState,
    viewer: &Viewer,
    number: &str,
    form: SpooledForm,
    purpose: Purpose,
) -> Result<Response, WebError> {
    if !viewer.csrf_ok(form.value("csrf")) {
        return Err(WebError::Forbidden);
    }
    let number = TicketNumber::parse(number).ok_or(WebError::NotFound)?;
    let text = form.value("text").to_string();
    if text.trim().is_empty() && form.files.is_empty() {
        return Err(WebError::BadRequest("there was nothing to send: the text was empty".to_string()));
    }
    // Large messages take turns: the budget bounds the memory of messages being turned into mail.
    let _permit = state.uploads.reserve(form.mail_bytes).await.ok_or(WebError::Unavailable)?;
    let files = upload::load_files(form.files)
        .await
        .map_err(|error| unavailable(&error, "an uploaded file could not be read back"))?;
    let report = state
        .workflows
        .console_write(&number, &viewer.key, purpose, &text, files)
        .await
        .map_err(|error| refused(error, "cannot write on a ticket"))?;
    // The page says what happened: a reply that was held (an invalid command) is not on its way.
    let held = matches!(report.outcome, Outcome::Added { held: true, .. });
    let done = match purpose {
        _ if held => "held",
        Purpose::Note => "note",
        _ => "reply",
    };
    Ok(see_other(format!("/agent/t/{number}?done={done}")))
}

/// An assignment, status or priority change by the signed-in agent.
async fn change(
    state: &WebState,
    viewer: &Viewer,
    number: &str,
    form: &TicketForm,
    action: impl FnOnce() -> Result<ConsoleAction, &'static str>,
    done: &str,
) -> Result<Response, WebError> {
    let number = checked(viewer, number, form)?;
    let action = action().map_err(|why| WebError::BadRequest(why.to_string()))?;
    let actor = Actor::Agent { id: viewer.agent, key: viewer.key.clone() };
    let changed = state
        .workflows
        .console_change_as(&number, actor, action)
        .await
        .map_err(|error| refused(error, "cannot change a ticket"))?;
    let done = if changed.is_empty() { "nothing" } else { done };
    Ok(see_other(format!("/agent/t/{number}?done={done}")))
}

/// Every POST: this session's CSRF token first, then a number that can be a ticket's (anything
/// else names no ticket and never reaches a query or a `Location` header).
fn checked(viewer: &Viewer, number: &str, form: &TicketForm) -> Result<TicketNumber, WebError> {
    if !viewer.csrf_ok(&form.csrf) {
        return Err(WebError::Forbidden);
    }
    TicketNumber::parse(number).ok_or(WebError::NotFound)
}

fn refused(error: ConsoleError, what: &str) -> WebError {
    match error {
        ConsoleError::NoTicket(_) => WebError::NotFound,
        ConsoleError::NoAgent(_) => {
            WebError::BadRequest("your agent account is inactive or has no address to write from".to_string())
        }
        ConsoleError::Refused(why) => WebError::BadRequest(why),
        error @ ConsoleError::TooLarge { .. } => WebError::BadRequest(error.to_string()),
        ConsoleError::Ingest(error) => unavailable(&error, what),
    }
}
