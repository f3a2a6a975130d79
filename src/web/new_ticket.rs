//! `/tickets/new`: opening a ticket on the portal, as the registration mode allows (a signed-in
//! user writes as themselves; a guest gives their address when accounts are not required). The
//! ticket is written as the visitor's mail and goes through the email ingest path.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::agent_auth::with_cookie;
use super::session::{self, USER_COOKIE, anon_csrf, anon_csrf_ok, forbidden, session_csrf_ok};
use crate::accounts::Session;
use crate::core::address::EmailAddress;
use crate::core::email::clean_display_name;
use crate::ingest::Outcome;
use crate::store::accounts as account_store;
use crate::store::sessions::{Holder, Stage};
use crate::store::users::UserStatus;
use crate::web::WebError;
use crate::web::views::portal::{Me, NewTicket, TicketDraft, TopicChoice};
use crate::web::views::ticket::Message;

#[derive(Default, serde::Deserialize)]
pub struct TicketForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    message: String,
    /// A public topic's key; empty: none chosen.
    #[serde(default)]
    topic: String,
    #[serde(default)]
    csrf: String,
}

/// The longest subject kept (the rest of a pasted text belongs in the message).
const MAX_SUBJECT: usize = 200;

/// Who is writing: a signed-in user (address, name, session) or a guest.
type Writer = Option<(String, String, Session)>;

async fn writer(state: &WebState, headers: &HeaderMap) -> Result<Writer, Response> {
    let Some(session) = session::current(state, headers, USER_COOKIE).await? else { return Ok(None) };
    let Session { holder: Holder::User(user), stage: Stage::Full, .. } = session else { return Ok(None) };
    match state.app.store().read(move |tx| account_store::user_login_by_id(tx, user)).await {
        Ok(Some(me)) if me.status == UserStatus::Registered => Ok(Some((me.email, me.name, session))),
        Ok(_) => Ok(None),
        Err(error) => {
            tracing::error!(%error, "web: user lookup failed");
            Err(WebError::Unavailable.into_response())
        }
    }
}

/// The refusal when the mode does not let this visitor open a ticket here, if it does not.
fn refusal(state: &WebState, writer: &Writer) -> Option<Response> {
    let registration = state.accounts.registration();
    if !registration.web_tickets() {
        let support = state.app.settings().own_addresses.first().map(|a| a.to_string()).unwrap_or_default();
        let text = format!("This portal does not open new tickets. Write to {support} instead.");
        return Some(
            state.pages.show(StatusCode::FORBIDDEN, &Message::new("Tickets are opened by mail", &text)),
        );
    }
    (registration.web_tickets_need_login() && writer.is_none())
        .then(|| Redirect::to("/login").into_response())
}

fn form_page(
    state: &WebState,
    headers: &HeaderMap,
    writer: &Writer,
    status: StatusCode,
    form: &TicketForm,
    error: &str,
) -> Response {
    let (csrf, cookie) = match writer {
        Some((_, _, session)) => (session.csrf.clone(), None),
        None => anon_csrf(state, headers),
    };
    let me = writer.as_ref().map(|(email, name, _)| Me { name: name.clone(), email: email.clone() });
    let settings = state.app.settings();
    let topics = settings
        .topics
        .public()
        .map(|topic| TopicChoice {
            key: topic.key.clone(),
            name: topic.name.clone(),
            chosen: topic.key == form.topic,
        })
        .collect();
    let form = TicketDraft {
        email: form.email.clone(),
        name: form.name.clone(),
        subject: form.subject.clone(),
        message: form.message.clone(),
    };
    let view = NewTicket { me, csrf, error: error.into(), topics, form };
    with_cookie(state.pages.show(status, &view), cookie)
}

pub async fn form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let writer = match writer(&state, &headers).await {
        Ok(writer) => writer,
        Err(response) => return response,
    };
    if let Some(response) = refusal(&state, &writer) {
        return response;
    }
    form_page(&state, &headers, &writer, StatusCode::OK, &TicketForm::default(), "")
}

pub async fn submit(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<TicketForm>,
) -> Response {
    let writer = match writer(&state, &headers).await {
        Ok(writer) => writer,
        Err(response) => return response,
    };
    let csrf_ok = match &writer {
        Some((_, _, session)) => session_csrf_ok(session, &form.csrf),
        None => anon_csrf_ok(&state, &headers, &form.csrf),
    };
    if !csrf_ok {
        return forbidden();
    }
    if let Some(response) = refusal(&state, &writer) {
        return response;
    }
    // A name typed here, or stored before names were cleaned, never reaches a header raw.
    let (email, name) = match &writer {
        Some((email, name, _)) => (email.clone(), clean_display_name(name)),
        None => (form.email.trim().to_string(), clean_display_name(&form.name)),
    };
    let invalid = |error: &str| form_page(&state, &headers, &writer, StatusCode::BAD_REQUEST, &form, error);
    let Some(address) = EmailAddress::parse(&email) else {
        return invalid("Please give your email address.");
    };
    let subject: String =
        form.subject.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(MAX_SUBJECT).collect();
    if subject.is_empty() || form.message.trim().is_empty() {
        return invalid("Please give a subject and describe your request.");
    }
    if !state.account_limits.admit(state.accounts.client_address(peer.ip(), &headers), address.as_str()) {
        return WebError::TooMany.into_response();
    }
    let Ok(lettre_address) = address.as_str().parse::<lettre::Address>() else {
        return invalid("That email address cannot be used; please check it.");
    };
    let topic = form.topic.trim();
    if !topic.is_empty() && state.app.settings().topics.public().all(|t| t.key != topic) {
        return invalid("Please choose one of the topics offered.");
    }
    let from = lettre::message::Mailbox::new(name, lettre_address).to_string();
    let topic = (!topic.is_empty()).then_some(topic);
    match state.workflows.open_from_web(&from, &subject, &form.message, writer.is_some(), topic).await {
        Ok(report) => match report.outcome {
            Outcome::Created { number, .. } | Outcome::Added { number, .. } if writer.is_some() => {
                Redirect::to(&format!("/tickets?opened={number}")).into_response()
            }
            Outcome::Created { .. } | Outcome::Added { .. } => state.pages.show(
                StatusCode::OK,
                &Message::new(
                    "Thank you",
                    "We have your request. A confirmation with a link to follow the ticket is on its way to your mailbox.",
                ),
            ),
            _ => state.pages.show(
                StatusCode::OK,
                &Message::new("Received", "We have your message; our staff will look at it."),
            ),
        },
        Err(error) => {
            tracing::error!(%error, "web: a ticket from the portal could not be stored");
            WebError::Unavailable.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::core::email::clean_display_name;

    #[test]
    fn a_cleaned_name_always_displays_as_a_mailbox() {
        let address: lettre::Address = "eve@example.org".parse().unwrap();
        for typed in
            ["Eve\r\nBcc: all@x", "\"Eve\" \\ <x>", "Ève, Ünïcode; (x)", "\u{0}\u{7f}\t", "a\u{2028}b"]
        {
            let name = clean_display_name(typed);
            let shown = std::panic::catch_unwind(|| {
                lettre::message::Mailbox::new(name.clone(), address.clone()).to_string()
            });
            let shown = shown.unwrap_or_else(|_| panic!("{typed:?} did not display"));
            let parsed: lettre::message::Mailbox = shown.parse().unwrap_or_else(|e| panic!("{shown:?}: {e}"));
            assert_eq!(parsed.email, address, "{typed:?}");
        }
    }
}
