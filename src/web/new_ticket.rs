//! `/tickets/new`: opening a ticket on the portal, as the registration mode allows (a signed-in
//! user writes as themselves; a guest gives their address when accounts are not required). The
//! ticket is written as the visitor's mail and goes through the email ingest path.
//!
//! When a public topic has a ticket form (`[[forms]]` fields customers may fill), the page comes in
//! two steps without JavaScript: the topic first (`GET /tickets/new?topic=KEY`, an empty key for
//! "something else"), then the message with that topic's fields (posted as `field.KEY`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::agent_auth::with_cookie;
use super::session::{self, USER_COOKIE, anon_csrf, anon_csrf_ok, forbidden, session_csrf_ok};
use crate::accounts::Session;
use crate::core::address::EmailAddress;
use crate::core::email::clean_display_name;
use crate::core::forms::{EditableBy, Form as FieldForm};
use crate::core::routing::Topic;
use crate::ingest::Outcome;
use crate::store::accounts as account_store;
use crate::store::sessions::{Holder, Stage};
use crate::store::users::UserStatus;
use crate::web::WebError;
use crate::web::upload::{self, Posted};
use crate::web::views::console::TopicOption;
use crate::web::views::portal::{ChoiceInput, FieldInput, Me, NewTicket, TicketDraft, TopicChoice};
use crate::web::views::ticket::Message;
use crate::workflow::WebTicket;

/// What the form posts: the known inputs, and the topic form's values (`field.KEY`, a key repeated
/// for each choice of a multi-choice).
#[derive(Default)]
pub struct TicketForm {
    email: String,
    name: String,
    subject: String,
    message: String,
    /// A public topic's key; empty: none chosen.
    topic: String,
    csrf: String,
    fields: Vec<(String, String)>,
}

/// The prefix of a topic form's inputs.
const FIELD_PREFIX: &str = "field.";

impl TicketForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> TicketForm {
        let mut form = TicketForm::default();
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "email" => &mut form.email,
                "name" => &mut form.name,
                "subject" => &mut form.subject,
                "message" => &mut form.message,
                "topic" => &mut form.topic,
                "csrf" => &mut form.csrf,
                _ => {
                    if let Some(field) = key.strip_prefix(FIELD_PREFIX) {
                        form.fields.push((field.to_string(), value));
                    }
                    continue;
                }
            };
            *slot = value;
        }
        form
    }
}

#[derive(Default, serde::Deserialize)]
pub struct TopicQuery {
    /// The topic chosen at the first step; empty: "something else".
    topic: Option<String>,
}

/// The fields of `topic`'s ticket form that customers fill.
fn customer_fields(topic: &Topic) -> Option<&FieldForm> {
    topic.form.as_ref().filter(|form| form.fields.iter().any(|field| field.settable_by(EditableBy::User)))
}

/// The inputs of the fields of `form` that `who` may set, filled from `posted`.
pub(crate) fn form_inputs(form: &FieldForm, posted: &[(String, String)], who: EditableBy) -> Vec<FieldInput> {
    form.fields
        .iter()
        .filter(|field| field.settable_by(who))
        .map(|field| {
            let values: Vec<&str> =
                posted.iter().filter(|(key, _)| *key == field.key).map(|(_, value)| value.as_str()).collect();
            let choices = field
                .choices
                .iter()
                .map(|choice| ChoiceInput {
                    value: choice.clone(),
                    chosen: values.iter().any(|v| v.eq_ignore_ascii_case(choice)),
                })
                .collect();
            FieldInput {
                key: field.key.clone(),
                label: field.label.clone(),
                kind: field.kind,
                required: field.required,
                choices,
                value: values.first().copied().unwrap_or_default().to_string(),
                checked: !values.is_empty(),
            }
        })
        .collect()
}

/// The longest subject kept (the rest of a pasted text belongs in the message).
const MAX_SUBJECT: usize = 200;

/// Who is writing: a signed-in user (address, name, session) or a guest.
type Writer = Option<(String, String, Session)>;

async fn writer(state: &WebState, headers: &HeaderMap) -> Result<Writer, Response> {
    let Some(session) = session::current(state, headers, USER_COOKIE).await? else { return Ok(None) };
    if session.stage == Stage::ChangePassword {
        return Err(Redirect::to(super::profile::CHANGE_PASSWORD).into_response());
    }
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
    step: Step,
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
    let (form_topic, posted) = (form.topic.as_str(), form.fields.as_slice());
    let form = TicketDraft {
        email: form.email.clone(),
        name: form.name.clone(),
        subject: form.subject.clone(),
        message: form.message.clone(),
    };
    let two_steps = settings.topics.public().any(|topic| customer_fields(topic).is_some());
    let chosen = settings.topics.public().find(|topic| topic.key == form_topic).filter(|_| two_steps);
    let form_fields = chosen
        .and_then(customer_fields)
        .map(|f| form_inputs(f, posted, EditableBy::User))
        .unwrap_or_default();
    let chosen_topic = chosen
        .filter(|_| step == Step::Message)
        .map(|topic| TopicOption { key: topic.key.clone(), name: topic.name.clone() });
    let view = NewTicket {
        me,
        csrf,
        error: error.into(),
        topics,
        form,
        topic_step: step == Step::Topic,
        two_steps,
        chosen_topic,
        form_fields,
    };
    with_cookie(state.pages.show(status, &view), cookie)
}

/// Which step the page shows: the topic (only when a public topic has a form), or the message
/// (with the chosen topic, if any, and its fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Topic,
    Message,
}

pub async fn form(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(query): Query<TopicQuery>,
) -> Response {
    let writer = match writer(&state, &headers).await {
        Ok(writer) => writer,
        Err(response) => return response,
    };
    if let Some(response) = refusal(&state, &writer) {
        return response;
    }
    let settings = state.app.settings();
    let two_steps = settings.topics.public().any(|topic| customer_fields(topic).is_some());
    let topic = query.topic.map(|key| key.trim().to_string());
    let step = match &topic {
        None if two_steps => Step::Topic,
        Some(key) if !key.is_empty() && settings.topics.public().all(|t| t.key != *key) => Step::Topic,
        _ => Step::Message,
    };
    let form = TicketForm { topic: topic.unwrap_or_default(), ..TicketForm::default() };
    form_page(&state, &headers, &writer, StatusCode::OK, &form, "", step)
}

pub async fn submit(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Posted(posted): Posted,
) -> Response {
    let form = TicketForm::from_pairs(posted.fields);
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
    let invalid = |error: &str| {
        form_page(&state, &headers, &writer, StatusCode::BAD_REQUEST, &form, error, Step::Message)
    };
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
    let settings = state.app.settings();
    let chosen = settings.topics.public().find(|t| t.key == topic);
    if !topic.is_empty() && chosen.is_none() {
        return invalid("Please choose one of the topics offered.");
    }
    let fields = match chosen.and_then(customer_fields) {
        None => None,
        Some(fields) => {
            match fields.check_by(&fields.read_posted(&form.fields, EditableBy::User), EditableBy::User) {
                Ok(values) => Some(values),
                Err(problems) => return invalid(&format!("Please check: {}.", problems.join("; "))),
            }
        }
    };
    let from = lettre::message::Mailbox::new(name, lettre_address).to_string();
    // Large messages take turns: the budget bounds the memory of messages being turned into mail.
    let Some(_permit) = state.uploads.reserve(posted.mail_bytes).await else {
        return WebError::Unavailable.into_response();
    };
    let files = match upload::load_files(posted.files).await {
        Ok(files) => files,
        Err(error) => {
            tracing::error!(%error, "web: an uploaded file could not be read back");
            return WebError::Unavailable.into_response();
        }
    };
    let ticket = WebTicket {
        from,
        subject,
        text: form.message.clone(),
        signed_in: writer.is_some(),
        topic: (!topic.is_empty()).then(|| topic.to_string()),
        fields,
        files,
    };
    match state.workflows.open_from_web(ticket).await {
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
