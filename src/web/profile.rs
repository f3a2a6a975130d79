//! The portal's self-service pages: `/account` (name, phone and the custom fields a user may
//! change) and `/account/password` (change the password; or, right after signing in with a
//! temporary password, choose one's own before any other page opens). Forms carry the session's
//! CSRF token and are answered by a redirect (POST-redirect-GET) or the form again with why.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::agent_auth::failure;
use super::portal::user;
use super::session::{self, USER_COOKIE, forbidden, session_csrf_ok, set_cookie};
use super::views::account::{ChangePassword, Profile};
use super::views::directory::CustomRow;
use super::views::portal::Me;
use crate::accounts::{AccountError, PasswordChange, ProfileEdit, Session, user_editable};
use crate::core::forms::{EditableBy, Form as FieldForm};
use crate::core::ids::UserId;
use crate::store::sessions::{Holder, Stage};

/// Where a user changes their password (and must, after a temporary one).
pub const CHANGE_PASSWORD: &str = "/account/password";

/// The largest form these pages take: a name, a phone number, a password or a few custom fields.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The fixed text of a `?done=` notice; anything else shows nothing.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "profile" => "Your profile was saved.",
        "nothing" => "Nothing changed.",
        "password" => "Your password was changed; your other sessions ended.",
        _ => return None,
    })
}

/// `GET /account`.
pub async fn show(State(state): State<WebState>, headers: HeaderMap, Query(query): Query<Done>) -> Response {
    let (user, session) = match user(&state, &headers).await {
        Ok(Some(found)) => found,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(response) => return response,
    };
    profile_page(&state, user, &session, StatusCode::OK, notice(query.done.as_deref()), None).await
}

/// The profile form: as stored, or (`posted`) as typed with why it was refused.
async fn profile_page(
    state: &WebState,
    user: UserId,
    session: &Session,
    status: StatusCode,
    notice: Option<&'static str>,
    posted: Option<(&ProfileEdit, String)>,
) -> Response {
    let stored = match state.accounts.profile(user).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(error) => return failure(&error),
    };
    let values = serde_json::from_str::<serde_json::Value>(&stored.custom).unwrap_or_default();
    let form = state.app.settings().user_form.clone();
    let editable = form.as_ref().map(|form| FieldForm {
        fields: form.fields.iter().filter(|field| user_editable(field)).cloned().collect(),
        ..form.clone()
    });
    let stored_pairs = pairs(&values);
    let (name, phone, typed, error) = match posted {
        Some((edit, error)) => (edit.name.clone(), edit.phone.clone(), edit.fields.clone(), error),
        None => (stored.name.clone(), stored.phone.clone(), stored_pairs, String::new()),
    };
    let fields = editable
        .as_ref()
        .map(|form| super::new_ticket::form_inputs(form, &typed, EditableBy::User))
        .unwrap_or_default();
    // What they see but do not change: visible fields agents keep.
    let kept = form.as_ref().map(|form| FieldForm {
        fields: form.fields.iter().filter(|field| !user_editable(field)).cloned().collect(),
        ..form.clone()
    });
    let shown = kept
        .map(|form| crate::core::forms::rows(Some(&form), &values, true))
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| CustomRow { key, value })
        .collect();
    let view = Profile {
        me: Me { name: stored.name, email: stored.email },
        csrf: session.csrf.clone(),
        name,
        phone,
        fields,
        shown,
        notice,
        error,
    };
    state.pages.show(status, &view)
}

/// Stored custom data as form values (the way the console's edit form reads it).
fn pairs(values: &serde_json::Value) -> Vec<(String, String)> {
    let Some(values) = values.as_object() else { return Vec::new() };
    let mut pairs = Vec::new();
    for (key, value) in values {
        match value {
            serde_json::Value::String(text) => pairs.push((key.clone(), text.clone())),
            serde_json::Value::Bool(true) => pairs.push((key.clone(), "yes".to_string())),
            serde_json::Value::Array(items) => {
                pairs.extend(items.iter().filter_map(|i| i.as_str()).map(|i| (key.clone(), i.to_string())))
            }
            serde_json::Value::Number(number) => pairs.push((key.clone(), number.to_string())),
            _ => {}
        }
    }
    pairs
}

/// `POST /account`: name, phone and the user-editable fields (`field.KEY`); nothing else is read.
pub async fn save(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let (user, session) = match user(&state, &headers).await {
        Ok(Some(found)) => found,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(response) => return response,
    };
    let value = |name: &str| posted.iter().find(|(key, _)| key == name).map_or("", |(_, v)| v.as_str());
    if !session_csrf_ok(&session, value("csrf")) {
        return forbidden();
    }
    let edit = ProfileEdit {
        name: value("name").to_string(),
        phone: value("phone").to_string(),
        fields: posted
            .iter()
            .filter_map(|(key, value)| Some((key.strip_prefix("field.")?.to_string(), value.clone())))
            .collect(),
    };
    match state.accounts.save_profile(user, edit.clone()).await {
        Ok(Ok(changed)) if changed.is_empty() => Redirect::to("/account?done=nothing").into_response(),
        Ok(Ok(_)) => Redirect::to("/account?done=profile").into_response(),
        Ok(Err(why)) => {
            profile_page(&state, user, &session, StatusCode::BAD_REQUEST, None, Some((&edit, why))).await
        }
        Err(error) => failure(&error),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// The signed-in user at either stage that may use the password page, or where to go instead.
async fn password_session(state: &WebState, headers: &HeaderMap) -> Result<(UserId, Session), Response> {
    match session::current(state, headers, USER_COOKIE).await? {
        Some(
            session @ Session {
                holder: Holder::User(user), stage: Stage::Full | Stage::ChangePassword, ..
            },
        ) => Ok((user, session)),
        _ => Err(Redirect::to("/login").into_response()),
    }
}

/// `GET /account/password`.
pub async fn password_form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    match password_session(&state, &headers).await {
        Ok((user, session)) => password_page(&state, user, &session, StatusCode::OK, "").await,
        Err(response) => response,
    }
}

async fn password_page(
    state: &WebState,
    user: UserId,
    session: &Session,
    status: StatusCode,
    error: &str,
) -> Response {
    let me = match state.accounts.profile(user).await {
        Ok(Some(stored)) => Me { name: stored.name, email: stored.email },
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(error) => return failure(&error),
    };
    let view = ChangePassword {
        me,
        csrf: session.csrf.clone(),
        forced: session.stage == Stage::ChangePassword,
        min_length: state.accounts.min_password_length(),
        error: error.to_string(),
    };
    state.pages.show(status, &view)
}

/// `POST /account/password`: the current password and a new one (or, forced, only the new one).
pub async fn change_password(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let (user, session) = match password_session(&state, &headers).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !session_csrf_ok(&session, &form.csrf) {
        return forbidden();
    }
    let changed = match session.stage {
        Stage::ChangePassword => state.accounts.replace_temporary_password(&session, &form.password).await,
        _ => {
            let client = state.accounts.client_address(peer.ip(), &headers);
            state.accounts.change_own_password(&session, &form.current, "", &form.password, client).await
        }
    };
    let (status, error) = match changed {
        Ok(PasswordChange::Changed(id, _)) => {
            let next =
                if session.stage == Stage::ChangePassword { "/tickets" } else { "/account?done=password" };
            return ([set_cookie(&state, USER_COOKIE, &id)], Redirect::to(next)).into_response();
        }
        Ok(PasswordChange::WrongPassword | PasswordChange::WrongCode) => {
            (StatusCode::UNAUTHORIZED, "The current password is wrong.".to_string())
        }
        Ok(PasswordChange::Throttled) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes and try again.".to_string(),
        ),
        Err(error @ (AccountError::Weak(_) | AccountError::Refused(_))) => {
            (StatusCode::BAD_REQUEST, error.to_string())
        }
        Err(error) => return failure(&error),
    };
    password_page(&state, user, &session, status, &error).await
}
