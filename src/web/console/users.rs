//! `/agent/users`: the user directory (search by name or address, sort, pages) and one user's
//! record: profile, custom data, organization, tickets and login state. The record page also
//! carries the password-reset and invitation forms; their handlers belong to the accounts code.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::response::Response;

use axum::http::StatusCode;

use super::{PAGE_SIZE, Viewer, custom, notice, page_number, render, see_other, unavailable};
use crate::core::forms::EditableBy;
use crate::core::ids::UserId;
use crate::store::console as console_store;
use crate::store::users::{self as user_store, UserSort};
use crate::web::WebError;
use crate::web::WebState;
use crate::web::upload::Posted;
use crate::web::views::Timed;
use crate::web::views::console::Choice;
use crate::web::views::directory::{self as view, OrgChoice, Pager, UserProfile};
use crate::workflow::{Refused, UserFields};

/// Tickets listed on a user's record.
const USER_TICKETS: i64 = 100;

#[derive(Debug, Default, serde::Deserialize)]
pub struct DirectoryQuery {
    q: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

const SORTS: [(UserSort, &str); 4] = [
    (UserSort::Name, "name"),
    (UserSort::Email, "email"),
    (UserSort::Created, "created"),
    (UserSort::Tickets, "tickets"),
];

pub async fn list(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(query): Query<DirectoryQuery>,
) -> Response {
    let search = query.q.unwrap_or_default().trim().to_string();
    let (sort, sort_name) = SORTS
        .into_iter()
        .find(|(_, name)| query.sort.as_deref() == Some(*name))
        .unwrap_or((UserSort::Name, "name"));
    let page = page_number(query.page.as_deref());
    let text = search.clone();
    // One more than a page: whether there is a next one.
    let found = state
        .app
        .store()
        .read(move |tx| user_store::search_users_page(tx, &text, sort, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE))
        .await;
    let mut users = match found {
        Ok(users) => users,
        Err(error) => return unavailable(&error, "cannot search users").into_response(),
    };
    let more = users.len() as i64 > PAGE_SIZE;
    users.truncate(PAGE_SIZE as usize);
    let link = |sort: &str, page: i64| {
        let mut link = format!("/agent/users?q={}&sort={sort}", form_encode(&search));
        if page > 1 {
            link += &format!("&page={page}");
        }
        link
    };
    let sorts = SORTS
        .iter()
        .map(|(_, name)| Choice { name, link: link(name, 1), current: *name == sort_name })
        .collect();
    let pager = Pager {
        page,
        previous: (page > 1).then(|| link(sort_name, page - 1)),
        next: more.then(|| link(sort_name, page + 1)),
    };
    let page = view::Users { search, sort: sort_name, sorts, users: Timed(users), pager };
    render(&state, &viewer, page)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct RecordQuery {
    done: Option<String>,
    error: Option<String>,
}

pub async fn show(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<RecordQuery>,
) -> Response {
    let Ok(id) = id.parse::<i64>().map(UserId) else { return WebError::NotFound.into_response() };
    let error = problem(query.error.as_deref()).map(str::to_string);
    record(&state, &viewer, id, notice(query.done.as_deref()), error, None).await
}

/// A user's record; `posted`: the edit form's values to show again (refused), instead of the stored.
async fn record(
    state: &WebState,
    viewer: &Viewer,
    id: UserId,
    notice: Option<&'static str>,
    error: Option<String>,
    posted: Option<&[(String, String)]>,
) -> Response {
    let found = state
        .app
        .store()
        .read(move |tx| {
            let Some(user) = console_store::user_record(tx, id)? else { return Ok(None) };
            let history = crate::store::audit::of_user(tx, id, USER_TICKETS)?;
            let orgs = console_store::org_lines(tx)?;
            Ok(Some((user, console_store::user_tickets(tx, id, USER_TICKETS)?, history, orgs)))
        })
        .await;
    let (user, tickets, history, orgs) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return WebError::NotFound.into_response(),
        Err(error) => return unavailable(&error, "cannot read a user").into_response(),
    };
    let stored = stored_pairs(&user.custom_json);
    let values = posted.unwrap_or(&stored);
    let fields = state
        .app
        .settings()
        .user_form
        .as_ref()
        .map(|form| crate::web::new_ticket::form_inputs(form, values, EditableBy::Agent))
        .unwrap_or_default();
    let orgs = orgs
        .into_iter()
        .map(|org| OrgChoice {
            chosen: user.org_key.as_ref() == Some(&org.key),
            key: org.key,
            name: org.name,
        })
        .collect();
    let page = view::User {
        user: Timed(UserProfile::from(&user)),
        custom: custom(&user.custom_json),
        tickets: Timed(tickets),
        history: Timed(history),
        orgs,
        fields,
        notice,
        error,
    };
    let status = if posted.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let mut response = render(state, viewer, page);
    *response.status_mut() = status;
    response
}

/// Stored custom data as form values: text as it is, numbers as written, `yes` for a ticked box,
/// each item of a list.
fn stored_pairs(custom_json: &str) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Object(values)) = serde_json::from_str::<serde_json::Value>(custom_json) else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    for (key, value) in values {
        match value {
            serde_json::Value::String(text) => pairs.push((key, text)),
            serde_json::Value::Bool(true) => pairs.push((key, "yes".to_string())),
            serde_json::Value::Array(items) => {
                pairs.extend(items.iter().filter_map(|i| i.as_str()).map(|i| (key.clone(), i.to_string())))
            }
            serde_json::Value::Number(number) => pairs.push((key, number.to_string())),
            _ => {}
        }
    }
    pairs
}

/// `POST /agent/users/{id}/edit`: name, organization and custom data, by the signed-in agent.
pub async fn edit(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Posted(form): Posted,
) -> Response {
    let Ok(id) = id.parse::<i64>().map(UserId) else { return WebError::NotFound.into_response() };
    if !viewer.csrf_ok(form.value("csrf")) {
        return WebError::Forbidden.into_response();
    }
    let org = form.value("org").trim().to_string();
    let set: Vec<(String, String)> = form
        .fields
        .iter()
        .filter_map(|(key, value)| Some((key.strip_prefix("field.")?.to_string(), value.clone())))
        .collect();
    // Every field of the form is sent: an empty one (or an unticked box) clears its value.
    let mut set_all = set.clone();
    if let Some(user_form) = &state.app.settings().user_form {
        for field in &user_form.fields {
            if !set.iter().any(|(key, _)| *key == field.key) {
                set_all.push((field.key.clone(), String::new()));
            }
        }
    }
    let fields = UserFields {
        name: Some(form.value("name").to_string()),
        org: Some((!org.is_empty()).then_some(org)),
        set: set_all,
    };
    match state.workflows.edit_user(id, fields, &format!("agent {}", viewer.key)).await {
        Ok(Ok(changed)) => {
            let done = if changed.is_empty() { "nothing_user" } else { "edit" };
            see_other(format!("/agent/users/{}?done={done}", id.0))
        }
        Ok(Err(Refused::NoUser(_))) => WebError::NotFound.into_response(),
        Ok(Err(refused)) => {
            let error = format!("The changes were not saved: {refused}.");
            record(&state, &viewer, id, None, Some(error), Some(&set)).await
        }
        Err(error) => unavailable(&error, "cannot change a user").into_response(),
    }
}

/// The fixed text of a `?error=` code (the action that was refused); anything else shows nothing,
/// so a link cannot put words of its own on the page.
fn problem(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "reset" => {
            "No reset link was sent: the account is not registered (only a registered account has a password to reset)."
        }
        "invite" => "No invitation was sent: invitations are off here, or the account is not a guest.",
        "temporary_weak" => {
            "No temporary password was set: it is too short, too common, or contains the user's name or address."
        }
        "temporary" => "No temporary password was set: the user is locked, or accounts are disabled here.",
        _ => return None,
    })
}

/// `application/x-www-form-urlencoded` for a query value (the search text in page links).
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_fixed_problems_are_shown() {
        assert!(super::problem(Some("reset")).is_some());
        assert_eq!(super::problem(Some("Your account was locked, call +1 555")), None);
    }

    #[test]
    fn search_text_is_encoded_for_links() {
        assert_eq!(super::form_encode("ann & co@x.com"), "ann+%26+co%40x.com");
    }
}
