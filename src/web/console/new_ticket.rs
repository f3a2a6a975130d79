//! `/agent/new`: an agent opens a ticket for a customer. The form's message becomes the ticket's
//! first response, mailed to the customer from the agent (`Workflows::open_for_customer`); a
//! refused form is shown again with what to fix.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::{Viewer, WebError, render, see_other, unavailable};
use crate::ingest::Outcome;
use crate::web::WebState;
use crate::web::views::console::{NewTicket, NewTicketDraft, TopicOption};
use crate::workflow::{ConsoleError, NewForCustomer};

/// What the form posts.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct NewForm {
    csrf: String,
    to: String,
    name: String,
    subject: String,
    text: String,
    topic: String,
}

/// `GET /agent/new`: the empty form.
pub async fn form(State(state): State<WebState>, viewer: Viewer) -> Response {
    page(&state, &viewer, &NewForm::default(), None)
}

/// `POST /agent/new`: opens the ticket and goes to it.
pub async fn open(State(state): State<WebState>, viewer: Viewer, Form(form): Form<NewForm>) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return WebError::Forbidden.into_response();
    }
    let new = NewForCustomer {
        to: form.to.clone(),
        name: Some(form.name.clone()).filter(|name| !name.trim().is_empty()),
        subject: form.subject.clone(),
        text: form.text.clone(),
        agent: viewer.key.clone(),
        topic: Some(form.topic.clone()).filter(|topic| !topic.trim().is_empty()),
    };
    match state.workflows.open_for_customer(new).await {
        Ok(report) => match report.outcome {
            Outcome::Created { number, .. } => see_other(format!("/agent/t/{number}?done=opened")),
            Outcome::Quarantined { reason } => page(&state, &viewer, &form, Some(&reason)),
            _ => page(&state, &viewer, &form, Some("the message was not stored as a new ticket")),
        },
        Err(ConsoleError::NoAgent(_)) => {
            let why = "your agent account is inactive or has no address to write from";
            page(&state, &viewer, &form, Some(why))
        }
        Err(ConsoleError::Refused(why)) => page(&state, &viewer, &form, Some(&why)),
        Err(error @ ConsoleError::TooLarge { .. }) => page(&state, &viewer, &form, Some(&error.to_string())),
        Err(ConsoleError::NoTicket(_)) => WebError::NotFound.into_response(),
        Err(ConsoleError::Ingest(error)) => unavailable(&error, "cannot open a ticket").into_response(),
    }
}

fn page(state: &WebState, viewer: &Viewer, form: &NewForm, error: Option<&str>) -> Response {
    let topics = state
        .app
        .settings()
        .topics
        .topics
        .iter()
        .map(|topic| TopicOption { key: topic.key.clone(), name: topic.name.clone() })
        .collect();
    let form = NewTicketDraft {
        to: form.to.clone(),
        name: form.name.clone(),
        subject: form.subject.clone(),
        text: form.text.clone(),
        topic: form.topic.clone(),
    };
    render(state, viewer, NewTicket { form, topics, error: error.map(str::to_string) })
}
