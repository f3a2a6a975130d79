//! `/agent/users`: the user directory (search by name, address or custom data, sort, pages, add a
//! user, export as CSV) and one user's record: profile, custom data, organization, tickets, login
//! state and lockout, with the edit, delete and clear-lockout forms. The record page also carries
//! the password-reset and invitation forms; their handlers belong to the accounts code.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::response::Response;

use axum::http::{StatusCode, header};

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
use crate::web::views::directory::{self as view, NewUser, OrgChoice, Pager, UserProfile};
use crate::workflow::{Deletion, ExportError, Refused, TicketsChoice, UserFields};

/// Tickets listed on a user's record.
const USER_TICKETS: i64 = 100;
/// The record counts failed sign-ins of the last hour at least (the per-account window).
const LOCKOUT_WINDOW_MS: i64 = 60 * 60 * 1000;

#[derive(Debug, Default, serde::Deserialize)]
pub struct DirectoryQuery {
    q: Option<String>,
    sort: Option<String>,
    page: Option<String>,
    done: Option<String>,
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
    let notice = match query.done.as_deref() {
        Some("add") => Some("The user was added."),
        _ => None,
    };
    directory(&state, &viewer, query, notice, None).await
}

/// The directory page; `refused`: the add form as typed and why it was refused (400).
async fn directory(
    state: &WebState,
    viewer: &Viewer,
    query: DirectoryQuery,
    notice: Option<&'static str>,
    refused: Option<RefusedAdd>,
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
        .read(move |tx| {
            let users =
                user_store::search_users_page(tx, &text, sort, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)?;
            Ok((users, console_store::org_lines(tx)?))
        })
        .await;
    let (mut users, orgs) = match found {
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
    let (draft, chosen_org, values, error) = match refused {
        Some(refused) => (refused.draft, refused.org, refused.values, Some(refused.error)),
        None => (NewUser::default(), None, Vec::new(), None),
    };
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let page = view::Users {
        search,
        sort: sort_name,
        sorts,
        users: Timed(users),
        pager,
        draft,
        orgs: org_choices(orgs, chosen_org.as_deref()),
        fields: user_form_inputs(state, &values),
        notice,
        error,
    };
    let mut response = render(state, viewer, page);
    *response.status_mut() = status;
    response
}

/// The "Add a user" form as typed, and why it was refused.
struct RefusedAdd {
    draft: NewUser,
    org: Option<String>,
    /// The user form's fields, `(key, text)`.
    values: Vec<(String, String)>,
    error: String,
}

/// `POST /agent/users/new`: the "Add a user" form, with the checks of `mailgate user add`.
pub async fn add(State(state): State<WebState>, viewer: Viewer, Posted(form): Posted) -> Response {
    if !viewer.csrf_ok(form.value("csrf")) {
        return WebError::Forbidden.into_response();
    }
    let draft = NewUser {
        email: form.value("email").trim().to_string(),
        name: form.value("name").to_string(),
        phone: form.value("phone").to_string(),
        emails: form.value("emails").to_string(),
    };
    let org = form.value("org").trim().to_string();
    let set = posted_fields(&form.fields);
    let refuse = |why: String| RefusedAdd {
        draft: draft.clone(),
        org: (!org.is_empty()).then(|| org.clone()),
        values: set.clone(),
        error: format!("The user was not added: {why}."),
    };
    let Some(email) = crate::workflow::typed_address(&draft.email) else {
        let refused = refuse(format!("{:?} is not an email address", draft.email));
        return directory(&state, &viewer, DirectoryQuery::default(), None, Some(refused)).await;
    };
    let fields = UserFields {
        name: Some(draft.name.clone()),
        org: Some((!org.is_empty()).then(|| org.clone())),
        phone: Some(draft.phone.clone()),
        emails: Some(crate::workflow::split_emails(&draft.emails)),
        set: set.clone(),
    };
    match state.workflows.add_user(&email, fields, &format!("agent {}", viewer.key)).await {
        Ok(Ok(id)) => see_other(format!("/agent/users/{}?done=add", id.0)),
        Ok(Err(refused)) => {
            let refused = refuse(refused.to_string());
            directory(&state, &viewer, DirectoryQuery::default(), None, Some(refused)).await
        }
        Err(error) => unavailable(&error, "cannot add a user").into_response(),
    }
}

/// `GET /agent/users/export.csv?org=KEY`: the directory (or one organization's members) in the
/// columns `mailgate user import` reads.
pub async fn export(
    State(state): State<WebState>,
    _viewer: Viewer,
    Query(query): Query<ExportQuery>,
) -> Response {
    let org = query.org.filter(|key| !key.trim().is_empty());
    let mut csv = Vec::new();
    match state.workflows.export_users(org.as_deref(), &mut csv).await {
        Ok(_) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"users.csv\""),
            ],
            csv,
        )
            .into_response(),
        Err(ExportError::NoOrg(_)) => WebError::NotFound.into_response(),
        Err(error) => unavailable(&error, "cannot export users").into_response(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ExportQuery {
    org: Option<String>,
}

/// `POST /agent/users/{id}/delete`: the choice for their tickets (no default) and their address
/// typed again to confirm.
pub async fn delete(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Posted(form): Posted,
) -> Response {
    let Ok(id) = id.parse::<i64>().map(UserId) else { return WebError::NotFound.into_response() };
    if !viewer.csrf_ok(form.value("csrf")) {
        return WebError::Forbidden.into_response();
    }
    let back = |error: &str| see_other(format!("/agent/users/{}?error={error}", id.0));
    let tickets = match form.value("tickets") {
        "delete" => TicketsChoice::Delete,
        "anonymize" => TicketsChoice::Anonymize,
        _ => return back("delete_choice"),
    };
    let typed = form.value("confirm").trim().to_lowercase();
    let stored = match state.app.store().read(move |tx| console_store::user_record(tx, id)).await {
        Ok(Some(user)) => user.email,
        Ok(None) => return WebError::NotFound.into_response(),
        Err(error) => return unavailable(&error, "cannot read a user").into_response(),
    };
    if typed.is_empty() || typed != stored.to_lowercase() {
        return back("delete_confirm");
    }
    let actor = format!("agent {}", viewer.key);
    match state.workflows.delete_user(id, tickets, &actor, Some(viewer.agent)).await {
        Ok(Deletion::Done { .. }) => see_other(format!("/agent/users/{}?done=delete", id.0)),
        Ok(Deletion::NoUser) => WebError::NotFound.into_response(),
        Ok(Deletion::AlreadyDeleted) => back("delete_again"),
        Ok(Deletion::PrimaryContact(_)) => back("delete_contact"),
        Ok(Deletion::Themselves) => back("delete_self"),
        Err(error) => unavailable(&error, "cannot delete a user").into_response(),
    }
}

/// `POST /agent/users/{id}/clear-lockout`: forgets their failed sign-ins.
pub async fn clear_lockout(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Posted(form): Posted,
) -> Response {
    let Ok(id) = id.parse::<i64>().map(UserId) else { return WebError::NotFound.into_response() };
    if !viewer.csrf_ok(form.value("csrf")) {
        return WebError::Forbidden.into_response();
    }
    match state.workflows.clear_lockout(id, &format!("agent {}", viewer.key)).await {
        Ok(Some(_)) => see_other(format!("/agent/users/{}?done=clear_lockout", id.0)),
        Ok(None) => WebError::NotFound.into_response(),
        Err(error) => unavailable(&error, "cannot clear a lockout").into_response(),
    }
}

/// The organizations of a select, `chosen` selected.
fn org_choices(orgs: Vec<console_store::OrgLine>, chosen: Option<&str>) -> Vec<OrgChoice> {
    orgs.into_iter()
        .map(|org| OrgChoice { chosen: chosen == Some(org.key.as_str()), key: org.key, name: org.name })
        .collect()
}

/// The user form's inputs filled with `values`.
fn user_form_inputs(
    state: &WebState,
    values: &[(String, String)],
) -> Vec<crate::web::views::portal::FieldInput> {
    state
        .app
        .settings()
        .user_form
        .as_ref()
        .map(|form| crate::web::new_ticket::form_inputs(form, values, EditableBy::Agent))
        .unwrap_or_default()
}

/// The `field.KEY` values of a posted form.
fn posted_fields(fields: &[(String, String)]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|(key, value)| Some((key.strip_prefix("field.")?.to_string(), value.clone())))
        .collect()
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
    let now = state.app.now_ms();
    let since = now - state.accounts.rules().lockout_ms.max(LOCKOUT_WINDOW_MS);
    let found = state
        .app
        .store()
        .read(move |tx| {
            let Some(user) = console_store::user_record(tx, id)? else { return Ok(None) };
            let history = crate::store::audit::of_user(tx, id, USER_TICKETS)?;
            let orgs = console_store::org_lines(tx)?;
            let extra = (
                user_store::phone(tx, id)?,
                user_store::additional_emails(tx, id)?,
                user_store::lockout(tx, id, since, now)?,
            );
            Ok(Some((user, console_store::user_tickets(tx, id, USER_TICKETS)?, history, orgs, extra)))
        })
        .await;
    let (user, tickets, history, orgs, (phone, emails, lockout)) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return WebError::NotFound.into_response(),
        Err(error) => return unavailable(&error, "cannot read a user").into_response(),
    };
    let stored = stored_pairs(&user.custom_json);
    let values = posted.unwrap_or(&stored);
    let fields = user_form_inputs(state, values);
    let orgs = org_choices(orgs, user.org_key.as_deref());
    let mut profile = UserProfile::from(&user);
    (profile.phone, profile.emails) = (phone, emails);
    let page = view::User {
        user: Timed(profile),
        lockout: Timed(lockout),
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
    let set = posted_fields(&form.fields);
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
        phone: Some(form.value("phone").to_string()),
        emails: Some(crate::workflow::split_emails(form.value("emails"))),
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
        "delete_choice" => "The user was not deleted: choose what becomes of their tickets.",
        "delete_confirm" => "The user was not deleted: type their address exactly to confirm.",
        "delete_again" => "This user is already deleted.",
        "delete_contact" => {
            "The user was not deleted: they are a primary contact of an organization in the configuration. Remove them there and reload first."
        }
        "delete_self" => "The user was not deleted: it is one of your own addresses.",
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
