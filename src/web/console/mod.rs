//! The agent console (`/agent...`): ticket queues, a ticket with its whole thread and the forms that
//! act on it, the user directory and organization pages. It does not authenticate anyone: a session
//! layer in front of these routes puts the signed-in agent into the request as a [`Viewer`]; without
//! one every page redirects to the login. GETs only read; every POST checks the session's CSRF token
//! first, changes tickets only through `ingest` (replies and notes as the agent's mail, the rest
//! through the lifecycle with the agent as actor), and answers 303 back to the page.

mod new_ticket;
mod orgs;
mod queue;
mod search;
mod ticket;
mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::views::directory::CustomRow;
use super::views::{Console, ConsoleView};
use super::{WebError, WebState};

/// The signed-in agent, put into request extensions by the session layer.
#[derive(Clone)]
pub struct Viewer {
    pub agent: crate::core::ids::AgentId,
    pub key: String,
    pub name: String,
    /// this session's CSRF token
    pub csrf: String,
}

impl Viewer {
    /// Whether a form's `csrf` field is this session's token (constant time; an empty token never
    /// matches).
    pub fn csrf_ok(&self, submitted: &str) -> bool {
        !self.csrf.is_empty()
            && crate::auth::secret::constant_time_eq(self.csrf.as_bytes(), submitted.as_bytes())
    }
}

/// Debug without the CSRF token (it is a secret of the session).
impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("agent", &self.agent)
            .field("key", &self.key)
            .field("name", &self.name)
            .field("csrf", &"<redacted>")
            .finish()
    }
}

/// Where a request without a signed-in agent is sent.
pub const LOGIN_PATH: &str = "/agent/login";

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Viewer>().cloned().ok_or_else(|| Redirect::to(LOGIN_PATH).into_response())
    }
}

/// Every console route; mounted behind the session layer that provides the [`Viewer`].
/// `upload_limit`: the largest body of a reply or note with its files.
pub fn routes(upload_limit: usize) -> Router<WebState> {
    let with_files = axum::extract::DefaultBodyLimit::max(upload_limit);
    Router::new()
        .route("/agent", get(queue::show))
        .route("/agent/t/{number}", get(ticket::show))
        .route("/agent/t/{number}/reply", post(ticket::reply).layer(with_files))
        .route("/agent/t/{number}/note", post(ticket::note).layer(with_files))
        .route("/agent/t/{number}/{change}", post(ticket::change_one))
        .route("/agent/new", get(new_ticket::form).post(new_ticket::open))
        .route("/agent/search", get(search::show))
        .route("/agent/users", get(users::list))
        .route("/agent/users/{id}", get(users::show))
        .route("/agent/users/{id}/edit", post(users::edit))
        .route("/agent/users/new", post(users::add))
        .route("/agent/users/export.csv", get(users::export))
        .route("/agent/users/{id}/delete", post(users::delete))
        .route("/agent/users/{id}/clear-lockout", post(users::clear_lockout))
        .route("/agent/orgs", get(orgs::list))
        .route("/agent/orgs/{key}", get(orgs::show))
}

/// Rows per page in queues and the user directory.
const PAGE_SIZE: i64 = 50;

/// Logs what failed (never the path or a query) and answers 503.
fn unavailable(error: &dyn std::fmt::Display, what: &str) -> WebError {
    WebError::unavailable(error, &format!("console: {what}"))
}

/// A console page: `page` plus the viewer (name and the CSRF token the logout form posts) and
/// which part of the navigation is current, all under the one key `console` (`views::Console`).
fn render<T: ConsoleView>(state: &WebState, viewer: &Viewer, page: T) -> Response {
    state.pages.show(StatusCode::OK, &Console::new(viewer, page))
}

/// Post/redirect/get: back to `location`, which shows the notice its `?done=` names.
fn see_other(location: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// The fixed text of a `?done=` notice; anything else in the query shows nothing.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "reply" => "Your reply was added and is on its way to the customer.",
        "note" => "Your internal note was added.",
        "held" => "Your message was held, not sent: see the held entry below and your mail for why.",
        "assign" => "The ticket was assigned.",
        "status" => "The status was changed.",
        "priority" => "The priority was changed.",
        "topic" => "The topic was changed.",
        "cc" => "The collaborator was added: they receive the replies from now on.",
        "uncc" => "The collaborator was removed.",
        "merge" => "The ticket was merged into this one.",
        "opened" => "The ticket was opened and your message is on its way to the customer.",
        "nothing" => "Nothing changed: the ticket already was that way.",
        "reset" => "A password reset link is on its way.",
        "invite" => "An invitation to create an account is on its way.",
        "lock" => "The user is locked: they cannot sign in.",
        "unlock" => "The user is unlocked.",
        "edit" => "The changes were saved.",
        "nothing_user" => "Nothing changed: the user already was that way.",
        "temporary" => "The temporary password is set: they choose their own at the next sign-in.",
        "add" => "The user was added.",
        "delete" => "The user was deleted: their personal data is erased.",
        "clear_lockout" => "The failed sign-ins were cleared.",
        _ => return None,
    })
}

/// The 1-based page number of `?page=` (anything unreadable is the first page).
fn page_number(page: Option<&str>) -> i64 {
    page.and_then(|p| p.trim().parse::<i64>().ok()).unwrap_or(1).clamp(1, 100_000)
}

/// The key/value rows of a `custom` JSON column: strings as they are, other values as JSON. A
/// column that is not a JSON object is shown whole.
fn custom_rows(custom_json: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<Value>(custom_json) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .map(|(key, value)| match value {
                Value::String(text) => (key, text),
                other => (key, other.to_string()),
            })
            .collect(),
        _ if custom_json.trim().is_empty() => Vec::new(),
        _ => vec![("(data)".to_string(), custom_json.to_string())],
    }
}

/// [`custom_rows`] as pages show them.
fn custom(custom_json: &str) -> Vec<CustomRow> {
    custom_rows(custom_json).into_iter().map(|(key, value)| CustomRow { key, value }).collect()
}

/// A ticket's own fields as rows (labels from its topic's form), for an agent or, with `to_user`,
/// for a customer (only the fields visible to users).
pub(crate) fn field_rows(
    topics: &crate::core::routing::Topics,
    topic: Option<&str>,
    custom: &str,
    to_user: bool,
) -> Vec<CustomRow> {
    let values = serde_json::from_str::<Value>(custom).unwrap_or(Value::Null);
    let form = topic.and_then(|key| topics.get(key)).and_then(|topic| topic.form.as_ref());
    crate::core::forms::rows(form, &values, to_user)
        .into_iter()
        .map(|(key, value)| CustomRow { key, value })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(csrf: &str) -> Viewer {
        Viewer {
            agent: crate::core::ids::AgentId(1),
            key: "alice".into(),
            name: "Alice".into(),
            csrf: csrf.into(),
        }
    }

    #[test]
    fn csrf_matches_only_the_sessions_token() {
        let v = viewer("s3cret-token");
        assert!(v.csrf_ok("s3cret-token"));
        assert!(!v.csrf_ok("s3cret-tokeN"));
        assert!(!v.csrf_ok("s3cret-token "));
        assert!(!v.csrf_ok(""));
        assert!(!viewer("").csrf_ok(""), "a session without a token accepts nothing");
        assert!(!format!("{v:?}").contains("s3cret"), "Debug hides the token");
    }

    #[test]
    fn custom_data_becomes_rows() {
        assert_eq!(
            custom_rows(r#"{"tier":"gold","seats":12}"#),
            vec![("seats".to_string(), "12".to_string()), ("tier".to_string(), "gold".to_string())]
        );
        assert!(custom_rows("{}").is_empty());
        assert_eq!(custom_rows("[1]"), vec![("(data)".to_string(), "[1]".to_string())]);
    }

    #[test]
    fn only_known_notices_are_shown() {
        assert!(notice(Some("reply")).is_some());
        assert_eq!(notice(Some("<script>")), None);
        assert_eq!(page_number(Some("x")), 1);
        assert_eq!(page_number(Some("-3")), 1);
        assert_eq!(page_number(Some("7")), 7);
    }
}
