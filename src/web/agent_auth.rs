//! Agents signing in to `/agent`: password (or the reverse proxy's word), then the TOTP code when
//! enrolled; enrollment and recovery codes on `/agent/2fa` (forced when `auth.require_agent_2fa`);
//! sign-out; and the console's account actions on users (reset link, invitation).

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::console::Viewer;
use super::session::{
    self, AGENT_COOKIE, anon_csrf, anon_csrf_ok, clear_cookie, forbidden, session_csrf_ok, set_cookie,
};
use crate::accounts::{AccountError, Realm, Session, SignIn};
use crate::auth::provider::RequestInfo;
use crate::core::ids::{AgentId, UserId};
use crate::store::accounts as account_store;
use crate::store::sessions::{Holder, Stage};
use crate::web::WebError;
use crate::web::views::portal::{AgentCode, AgentTwoFactor, Login, LoginRealm, Modes, Visitor};

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

#[derive(serde::Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
    /// Why a user is locked (the user record's lock form), for the audit log.
    #[serde(default)]
    reason: String,
}

/// Where a session at `stage` goes next.
pub(super) fn next_step(stage: Stage) -> &'static str {
    match stage {
        Stage::Full => "/agent",
        Stage::SecondFactor => "/agent/login/code",
        Stage::Enroll => "/agent/2fa",
        // Only users' passwords are temporary: an agent is never at this stage.
        Stage::ChangePassword => "/agent/login",
    }
}

pub(super) fn login_page(state: &WebState, headers: &HeaderMap, status: StatusCode, error: &str) -> Response {
    let (csrf, cookie) = anon_csrf(state, headers);
    // The console has no sign-up or portal tickets: no modes.
    let visitor = Visitor { csrf, modes: Modes::default() };
    let page = state.pages.show(
        status,
        &Login {
            realm: LoginRealm::Agent,
            visitor,
            error: error.into(),
            providers: state.accounts.oidc().buttons(true),
        },
    );
    with_cookie(page, cookie)
}

pub async fn login_form(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match session::current(&state, &headers, AGENT_COOKIE).await {
        Ok(Some(Session { holder: Holder::Agent(_), stage, .. })) => {
            return Redirect::to(next_step(stage)).into_response();
        }
        Ok(_) => {}
        Err(response) => return response,
    }
    let request = RequestInfo { peer: peer.ip(), headers: &headers };
    match state.accounts.sign_in_from_request(Realm::Agent, &request).await {
        Ok(Some(SignIn::Granted { holder, stage })) => return start(&state, holder, stage).await,
        Ok(_) => {}
        Err(error) => return failure(&error),
    }
    login_page(&state, &headers, StatusCode::OK, "")
}

pub async fn login(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !anon_csrf_ok(&state, &headers, &form.csrf) {
        return forbidden();
    }
    let client = state.accounts.client_address(peer.ip(), &headers);
    match state.accounts.sign_in(Realm::Agent, &form.login, &form.password, client).await {
        Ok(SignIn::Granted { holder, stage }) => start(&state, holder, stage).await,
        Ok(SignIn::Denied) => {
            login_page(&state, &headers, StatusCode::UNAUTHORIZED, "Wrong login or password.")
        }
        Ok(SignIn::Throttled) => login_page(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes and try again.",
        ),
        Ok(SignIn::DirectoryDown) => {
            login_page(&state, &headers, StatusCode::SERVICE_UNAVAILABLE, DIRECTORY_DOWN)
        }
        Err(error) => failure(&error),
    }
}

/// The sign-in pages' answer when the `[[ldap]]` directory that must judge the password is down.
pub(super) const DIRECTORY_DOWN: &str =
    "The directory is not answering, so your password cannot be checked. Try again in a few minutes.";

/// Opens the session (a new id: nothing from before sign-in carries over) and sends the agent on.
async fn start(state: &WebState, holder: Holder, stage: Stage) -> Response {
    match state.accounts.open_session(holder, stage).await {
        Ok((id, _)) => {
            ([set_cookie(state, AGENT_COOKIE, &id)], Redirect::to(next_step(stage))).into_response()
        }
        Err(error) => failure(&error),
    }
}

/// The agent session at `stage`, or the response that sends the visitor elsewhere.
async fn at_stage(
    state: &WebState,
    headers: &HeaderMap,
    stages: &[Stage],
) -> Result<(AgentId, Session), Response> {
    match session::current(state, headers, AGENT_COOKIE).await? {
        Some(session @ Session { holder: Holder::Agent(agent), .. }) if stages.contains(&session.stage) => {
            Ok((agent, session))
        }
        Some(Session { holder: Holder::Agent(_), stage, .. }) => {
            Err(Redirect::to(next_step(stage)).into_response())
        }
        _ => Err(Redirect::to("/agent/login").into_response()),
    }
}

pub async fn code_form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    match at_stage(&state, &headers, &[Stage::SecondFactor]).await {
        Ok((_, session)) => code_page(&state, &session, StatusCode::OK, ""),
        Err(response) => response,
    }
}

fn code_page(state: &WebState, session: &Session, status: StatusCode, error: &str) -> Response {
    state.pages.show(status, &AgentCode { csrf: session.csrf.clone(), error: error.into() })
}

pub async fn code(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let (agent, session) = match at_stage(&state, &headers, &[Stage::SecondFactor]).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !session_csrf_ok(&session, &form.csrf) {
        return forbidden();
    }
    let client = state.accounts.client_address(peer.ip(), &headers);
    match state.accounts.second_factor(agent, &form.code, client).await {
        Ok(true) => rotate(&state, &session, Stage::Full).await,
        Ok(false) => code_page(
            &state,
            &session,
            StatusCode::UNAUTHORIZED,
            "That code is not valid. Codes change every 30 seconds and work once.",
        ),
        Err(error) => failure(&error),
    }
}

async fn rotate(state: &WebState, session: &Session, stage: Stage) -> Response {
    match state.accounts.rotate(session, stage).await {
        Ok((id, _)) => {
            ([set_cookie(state, AGENT_COOKIE, &id)], Redirect::to(next_step(stage))).into_response()
        }
        Err(error) => failure(&error),
    }
}

/// `/agent/2fa`: the agent's 2FA state, or the enrollment (QR code, secret, code field). Writes
/// nothing: the offered secret is derived from the session and stored only by the POST.
pub async fn two_factor(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let (agent, session) = match at_stage(&state, &headers, &[Stage::Full, Stage::Enroll]).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    two_factor_page(&state, agent, &session, StatusCode::OK, "").await
}

async fn two_factor_page(
    state: &WebState,
    agent: AgentId,
    session: &Session,
    status: StatusCode,
    error: &str,
) -> Response {
    let current = match state.accounts.two_factor(agent).await {
        Ok(current) => current,
        Err(error) => return failure(&error),
    };
    let mut view = AgentTwoFactor {
        csrf: session.csrf.clone(),
        error: error.into(),
        state: Some(current.clone()),
        forced: session.stage == Stage::Enroll,
        enrollment: None,
        recovery_codes: Vec::new(),
    };
    if current.available && !current.enabled {
        let email = state.app.store().read(move |tx| account_store::agent_login_by_id(tx, agent)).await;
        let label = email.ok().flatten().map(|a| a.email).unwrap_or_default();
        match state.accounts.enrollment(agent, &session.csrf, &label).await {
            Ok(enrollment) => view.enrollment = Some(enrollment.into()),
            Err(error) => return failure(&error),
        }
    }
    with_qr_policy(state.pages.show(status, &view))
}

/// The enrollment QR code is a `data:` PNG drawn here; only this page's policy allows it.
pub(super) fn with_qr_policy(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    response
}

pub async fn enroll(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let (agent, session) = match at_stage(&state, &headers, &[Stage::Full, Stage::Enroll]).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if !session_csrf_ok(&session, &form.csrf) {
        return forbidden();
    }
    let codes = match state.accounts.finish_enrollment(agent, &session.csrf, &form.code).await {
        Ok(Some(codes)) => codes,
        Ok(None) => {
            return two_factor_page(
                &state,
                agent,
                &session,
                StatusCode::UNAUTHORIZED,
                "That code is not valid; check the clock of your phone and try the next one.",
            )
            .await;
        }
        Err(error) => return failure(&error),
    };
    // The step up to a complete session gets a new id.
    let (id, fresh) = match state.accounts.rotate(&session, Stage::Full).await {
        Ok(rotated) => rotated,
        Err(error) => return failure(&error),
    };
    let current = state.accounts.two_factor(agent).await.ok();
    let view = AgentTwoFactor {
        csrf: fresh.csrf,
        error: String::new(),
        state: current,
        forced: false,
        enrollment: None,
        recovery_codes: codes,
    };
    let page = state.pages.show(StatusCode::OK, &view);
    ([set_cookie(&state, AGENT_COOKIE, &id)], page).into_response()
}

pub async fn logout(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Ok(Some(session)) = session::current(&state, &headers, AGENT_COOKIE).await {
        if !session_csrf_ok(&session, &form.csrf) {
            return forbidden();
        }
        if let Err(error) = state.accounts.close_session(&session).await {
            return failure(&error);
        }
    }
    ([clear_cookie(AGENT_COOKIE)], Redirect::to("/agent/login")).into_response()
}

/// `POST /agent/users/{id}/reset|invite|lock|unlock` from the user record.
pub async fn user_action(
    State(state): State<WebState>,
    viewer: Viewer,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return forbidden();
    }
    let user = UserId(id);
    if let "lock" | "unlock" = action.as_str() {
        let actor = format!("agent {}", viewer.key);
        let done = match action.as_str() {
            "lock" => state.workflows.lock_user(user, &actor, &form.reason).await,
            _ => state.workflows.unlock_user(user, &actor).await,
        };
        return match done {
            Ok(crate::workflow::Locking::NoUser) => WebError::NotFound.into_response(),
            Ok(_) => Redirect::to(&format!("/agent/users/{id}?done={action}")).into_response(),
            Err(error) => {
                tracing::error!(%error, "console: {action} failed");
                WebError::Unavailable.into_response()
            }
        };
    }
    let done = match action.as_str() {
        "reset" => state.accounts.send_reset_by(user, &format!("agent {}", viewer.key)).await,
        "invite" => state.accounts.invite(user, viewer.agent).await,
        _ => return WebError::NotFound.into_response(),
    };
    match done {
        Ok(_) => Redirect::to(&format!("/agent/users/{id}?done={action}")).into_response(),
        Err(AccountError::Refused(why)) => {
            // The page shows a fixed text for the refused action, never text from the URL.
            tracing::info!(user = id, %why, "console: {action} refused");
            Redirect::to(&format!("/agent/users/{id}?error={action}")).into_response()
        }
        Err(error) => failure(&error),
    }
}

/// `response` with the anonymous CSRF cookie when one was just made.
pub(super) fn with_cookie(
    mut response: Response,
    cookie: Option<(header::HeaderName, HeaderValue)>,
) -> Response {
    if let Some((name, value)) = cookie {
        response.headers_mut().append(name, value);
    }
    response
}

pub(super) fn failure(error: &AccountError) -> Response {
    match error {
        AccountError::Refused(_) | AccountError::Weak(_) => {
            WebError::bad_request(error.to_string()).into_response()
        }
        AccountError::Store(error) => WebError::unavailable(&error, "account storage failed").into_response(),
        AccountError::Busy => {
            tracing::warn!("web: too many password checks at once; answered 503");
            let mut response = WebError::Unavailable.into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(crate::accounts::RETRY_AFTER_SECS));
            response
        }
    }
}
