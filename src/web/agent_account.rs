//! `/agent/account`: the signed-in agent's own account: change the password (the current one, and
//! a TOTP code when two-factor sign-in is on), make new recovery codes, move to a new
//! authenticator (a code of the current one, then a code of the new one). Also the temporary
//! password an agent sets on a user's record. Every form checks the session's CSRF token; codes
//! and passwords are judged on the sign-in's budgets (`accounts`).

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::agent_auth::{failure, with_qr_policy};
use super::console::Viewer;
use super::session::{AGENT_COOKIE, forbidden, set_cookie};
use super::views::Console;
use super::views::account::{AgentAccount, Renewing};
use crate::accounts::{AccountError, PasswordChange, Renewal, Session};
use crate::core::ids::UserId;
use crate::store::accounts as account_store;

#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The fixed text of a `?done=` notice; anything else shows nothing.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "password" => "Your password was changed; your other sessions ended.",
        "totp" => "Your new authenticator is in use; the old one no longer works.",
        _ => return None,
    })
}

/// What the account page shows besides the agent's state.
#[derive(Default)]
struct Extra {
    notice: Option<&'static str>,
    error: String,
    recovery_codes: Vec<String>,
    renewing: Option<Renewing>,
}

/// `GET /agent/account`.
pub async fn show(State(state): State<WebState>, viewer: Viewer, Query(query): Query<Done>) -> Response {
    let extra = Extra { notice: notice(query.done.as_deref()), ..Extra::default() };
    page(&state, &viewer, StatusCode::OK, extra).await
}

async fn page(state: &WebState, viewer: &Viewer, status: StatusCode, extra: Extra) -> Response {
    let two_factor = match state.accounts.two_factor(viewer.agent).await {
        Ok(found) => found,
        Err(error) => return failure(&error),
    };
    let renewing = extra.renewing.is_some();
    let view = AgentAccount {
        two_factor,
        min_length: state.accounts.min_password_length(),
        notice: extra.notice,
        error: extra.error,
        recovery_codes: extra.recovery_codes,
        renewing: extra.renewing,
    };
    let response = state.pages.show(status, &Console::new(viewer, view));
    // Only the page with a QR code allows `data:` images.
    if renewing { with_qr_policy(response) } else { response }
}

fn refused(why: &str) -> Extra {
    Extra { error: why.to_string(), ..Extra::default() }
}

const WRONG_CODE: &str = "That code is not valid. Codes change every 30 seconds and work once.";
const THROTTLED: &str = "Too many failed attempts. Wait a few minutes and try again.";

#[derive(Debug, Default, serde::Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    proof: String,
    #[serde(default)]
    expires: String,
}

/// `POST /agent/account/password`.
pub async fn change_password(
    State(state): State<WebState>,
    viewer: Viewer,
    Extension(session): Extension<Session>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return forbidden();
    }
    let client = state.accounts.client_address(peer.ip(), &headers);
    let changed =
        state.accounts.change_own_password(&session, &form.current, &form.code, &form.password, client).await;
    let (status, why) = match changed {
        Ok(PasswordChange::Changed(id, _)) => {
            return ([set_cookie(&state, AGENT_COOKIE, &id)], Redirect::to("/agent/account?done=password"))
                .into_response();
        }
        Ok(PasswordChange::WrongPassword) => (StatusCode::UNAUTHORIZED, "The current password is wrong."),
        Ok(PasswordChange::WrongCode) => (StatusCode::UNAUTHORIZED, WRONG_CODE),
        Ok(PasswordChange::Throttled) => (StatusCode::TOO_MANY_REQUESTS, THROTTLED),
        Err(error @ (AccountError::Weak(_) | AccountError::Refused(_))) => {
            return page(&state, &viewer, StatusCode::BAD_REQUEST, refused(&error.to_string())).await;
        }
        Err(error) => return failure(&error),
    };
    page(&state, &viewer, status, refused(why)).await
}

/// `POST /agent/account/recovery-codes`: new codes, shown once in the answer.
pub async fn recovery_codes(
    State(state): State<WebState>,
    viewer: Viewer,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return forbidden();
    }
    let client = state.accounts.client_address(peer.ip(), &headers);
    let renewed = state.accounts.regenerate_recovery_codes(viewer.agent, &form.code, client).await;
    renewal_page(&state, &viewer, renewed, |codes| Extra { recovery_codes: codes, ..Extra::default() }).await
}

/// `POST /agent/account/totp`: a code of the current authenticator; the answer shows the new one.
pub async fn start_totp(
    State(state): State<WebState>,
    viewer: Viewer,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return forbidden();
    }
    let client = state.accounts.client_address(peer.ip(), &headers);
    let label = account_label(&state, &viewer).await;
    let started =
        state.accounts.start_reenrollment(viewer.agent, &viewer.csrf, &label, &form.code, client).await;
    renewal_page(&state, &viewer, started, |started| {
        let renewing = Renewing {
            enrollment: started.enrollment.into(),
            proof: started.proof,
            expires_at: started.expires_at,
        };
        Extra { renewing: Some(renewing), ..Extra::default() }
    })
    .await
}

/// The account page after a step that needed a current TOTP code: what `done` makes of its
/// result, or why the code was not accepted.
async fn renewal_page<T>(
    state: &WebState,
    viewer: &Viewer,
    result: Result<Renewal<T>, AccountError>,
    done: impl FnOnce(T) -> Extra,
) -> Response {
    match result {
        Ok(Renewal::Done(value)) => page(state, viewer, StatusCode::OK, done(value)).await,
        Ok(Renewal::WrongCode) => page(state, viewer, StatusCode::UNAUTHORIZED, refused(WRONG_CODE)).await,
        Ok(Renewal::Throttled) => {
            page(state, viewer, StatusCode::TOO_MANY_REQUESTS, refused(THROTTLED)).await
        }
        Err(error) => failure(&error),
    }
}

/// `POST /agent/account/totp/confirm`: a code of the new authenticator switches to it.
pub async fn confirm_totp(
    State(state): State<WebState>,
    viewer: Viewer,
    Form(form): Form<AccountForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return forbidden();
    }
    let expires_at = form.expires.trim().parse::<i64>().unwrap_or(0);
    let accounts = &state.accounts;
    if !accounts.reenrollment_proven(viewer.agent, &viewer.csrf, &form.proof, expires_at) {
        let why = "That took too long: give a code of your current authenticator again.";
        return page(&state, &viewer, StatusCode::BAD_REQUEST, refused(why)).await;
    }
    match accounts.finish_reenrollment(viewer.agent, &viewer.csrf, &form.proof, expires_at, &form.code).await
    {
        Ok(true) => Redirect::to("/agent/account?done=totp").into_response(),
        Ok(false) => {
            // The same new secret again, with the same proof: only the code was wrong.
            let label = account_label(&state, &viewer).await;
            let renewing = match accounts.offered(viewer.agent, &viewer.csrf, &label) {
                Ok(enrollment) => {
                    Renewing { enrollment: enrollment.into(), proof: form.proof.clone(), expires_at }
                }
                Err(error) => return failure(&error),
            };
            let extra = Extra {
                error: "That code is not valid; check the clock of your phone and try the next one.".into(),
                renewing: Some(renewing),
                ..Extra::default()
            };
            page(&state, &viewer, StatusCode::UNAUTHORIZED, extra).await
        }
        Err(error) => failure(&error),
    }
}

/// The account name an authenticator app shows: the agent's address.
async fn account_label(state: &WebState, viewer: &Viewer) -> String {
    let agent = viewer.agent;
    let found = state.app.store().read(move |tx| account_store::agent_login_by_id(tx, agent)).await;
    found.ok().flatten().map(|a| a.email).unwrap_or_else(|| viewer.key.clone())
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct TemporaryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// `POST /agent/users/{id}/temporary-password` from the user's record.
pub async fn temporary_password(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<TemporaryForm>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else { return super::WebError::NotFound.into_response() };
    if !viewer.csrf_ok(&form.csrf) {
        return forbidden();
    }
    let actor = format!("agent {}", viewer.key);
    match state.accounts.set_temporary_password(UserId(id), &form.password, &actor).await {
        Ok(()) => Redirect::to(&format!("/agent/users/{id}?done=temporary")).into_response(),
        // The record shows a fixed text for each refusal, never text from the URL.
        Err(AccountError::Weak(_)) => {
            Redirect::to(&format!("/agent/users/{id}?error=temporary_weak")).into_response()
        }
        Err(AccountError::Refused(why)) => {
            tracing::info!(user = id, %why, "console: temporary password refused");
            Redirect::to(&format!("/agent/users/{id}?error=temporary")).into_response()
        }
        Err(error) => failure(&error),
    }
}
