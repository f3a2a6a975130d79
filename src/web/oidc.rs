//! "Sign in with ..." (OpenID Connect): `GET /auth/oidc/NAME/login` sends the visitor to the
//! provider, `GET /auth/oidc/NAME/callback` takes them back. Between the two, the flow (PKCE
//! verifier, `state`, `nonce`, realm) lives in the `mg_oidc` cookie: sealed under a key derived
//! from the links key (so any daemon on the database opens it), HttpOnly, SameSite=Lax (the
//! provider's redirect back is a cross-site navigation), scoped to `/auth/oidc`, ten minutes, and
//! cleared by the callback whatever its outcome, so a `state` works once. The login GET writes
//! nothing on the server.
//!
//! Every failure shows the sign-in page of the realm with a plain message: the provider being
//! down, its own error (`access_denied`), a missing, wrong or spent `state`, an unverified address.
//! Besides the cookie's removal, the SHA-256 of every `state` that came back is kept until its
//! flow would have expired (`oidc_spent_states`), so a redirect replayed with a copied cookie is
//! refused too.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::agent_auth::{self, failure, next_step};
use super::portal;
use super::session::{self, AGENT_COOKIE, USER_COOKIE, set_cookie};
use crate::accounts::{AccountError, Realm, SignIn};
use crate::auth::oidc::{FLOW_TTL_MS, Flow, OidcError, provider_error_text};
use crate::auth::secret::SecretBox;
use crate::web::views::portal::SignedIn;

/// The cookie that carries a sign-in in progress.
const FLOW_COOKIE: &str = "mg_oidc";
/// Longest `code` or `state` accepted from the provider's redirect.
const MAX_PARAM: usize = 2048;

#[derive(serde::Deserialize)]
pub struct LoginQuery {
    /// `agent` for the console; anything else (or nothing) for the portal.
    #[serde(default, rename = "for")]
    for_: String,
}

#[derive(serde::Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/oidc/NAME/login[?for=agent]`.
pub async fn login(
    State(state): State<WebState>,
    Path(name): Path<String>,
    Query(query): Query<LoginQuery>,
    headers: HeaderMap,
) -> Response {
    let agent = query.for_ == "agent";
    let providers = state.accounts.oidc();
    if !providers.serves(&name, agent) {
        return super::WebError::NotFound.into_response();
    }
    let now = state.app.now_ms();
    match providers.begin(&name, agent, now).await {
        Ok((url, flow)) => match flow_key(&state) {
            Some(key) => ([flow_cookie(&state, &flow.seal(&key))], Redirect::to(&url)).into_response(),
            None => super::WebError::Unavailable.into_response(),
        },
        Err(error) => refused(&state, &headers, agent, &error),
    }
}

/// `GET /auth/oidc/NAME/callback?code=...&state=...` (or `?error=...`).
pub async fn callback(
    State(state): State<WebState>,
    Path(name): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    let now = state.app.now_ms();
    let key = flow_key(&state);
    let flow = session::cookie(&headers, FLOW_COOKIE)
        .and_then(|cookie| key.as_ref().and_then(|key| Flow::open(cookie, key, now)));
    let response = answer(&state, &headers, &name, query, flow, now).await;
    with_flow_cleared(response)
}

async fn answer(
    state: &WebState,
    headers: &HeaderMap,
    name: &str,
    query: CallbackQuery,
    flow: Option<Flow>,
    now: i64,
) -> Response {
    let given = query.state.as_deref().filter(|s| s.len() <= MAX_PARAM).unwrap_or_default();
    // An error answer signs nobody in, so one without `state` (some providers leave it out of
    // their refusals) is still shown when this browser has a sign-in at that provider under way.
    let error_without_state = query.error.is_some() && query.state.is_none();
    let Some(flow) = flow.filter(|flow| {
        flow.provider == name && (error_without_state || (!given.is_empty() && flow.state_matches(given)))
    }) else {
        tracing::info!(provider = name, "oidc: callback without a matching sign-in in progress");
        let agent = agent_realm(name, state);
        let why = "This sign-in has expired or did not start here. Start again.";
        return login_page(state, headers, agent, StatusCode::BAD_REQUEST, why);
    };
    match state.accounts.spend_oidc_state(&flow.state, flow.expires_at).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(provider = name, "oidc: a finished sign-in came back again (replay)");
            let why = "This sign-in has expired or did not start here. Start again.";
            return login_page(state, headers, flow.agent, StatusCode::BAD_REQUEST, why);
        }
        Err(error) => return failure(&error),
    }
    let providers = state.accounts.oidc();
    if let Some(error) = query.error.as_deref() {
        let text = provider_error_text(error, query.error_description.as_deref());
        tracing::info!(provider = name, error = %text, "oidc: the provider answered with an error");
        let error = OidcError::Provider { by: providers.shown(name), error: text };
        return refused(state, headers, flow.agent, &error);
    }
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty() && c.len() <= MAX_PARAM) else {
        let error = OidcError::Invalid(providers.shown(name));
        return refused(state, headers, flow.agent, &error);
    };
    let identity = match providers.finish(&flow, code, now).await {
        Ok(identity) => identity,
        Err(error) => return refused(state, headers, flow.agent, &error),
    };
    let realm = if flow.agent { Realm::Agent } else { Realm::User };
    let (holder, stage) = match state.accounts.sign_in_with_identity(realm, &identity).await {
        Ok(SignIn::Granted { holder, stage }) => (holder, stage),
        // (A directory is never asked about an identity a provider proved: `DirectoryDown` is a
        // password sign-in's answer.)
        Ok(SignIn::Denied | SignIn::Throttled | SignIn::DirectoryDown) => {
            return login_page(state, headers, flow.agent, StatusCode::FORBIDDEN, "You are not signed in.");
        }
        Err(AccountError::Refused(why)) => {
            return login_page(state, headers, flow.agent, StatusCode::FORBIDDEN, &why);
        }
        Err(error) => return failure(&error),
    };
    let (id, _) = match state.accounts.open_session(holder, stage).await {
        Ok(opened) => opened,
        Err(error) => return failure(&error),
    };
    let (cookie, next) =
        if flow.agent { (AGENT_COOKIE, next_step(stage)) } else { (USER_COOKIE, "/tickets") };
    let page = state.pages.show(StatusCode::OK, &SignedIn { next: next.to_string() });
    ([set_cookie(state, cookie, &id)], page).into_response()
}

/// The sign-in page of the realm, with why the provider's sign-in did not work.
fn refused(state: &WebState, headers: &HeaderMap, agent: bool, error: &OidcError) -> Response {
    let status = match error {
        OidcError::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
        OidcError::Provider { .. } | OidcError::Unverified(_) => StatusCode::FORBIDDEN,
        OidcError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    login_page(state, headers, agent, status, &error.to_string())
}

fn login_page(state: &WebState, headers: &HeaderMap, agent: bool, status: StatusCode, why: &str) -> Response {
    if agent {
        agent_auth::login_page(state, headers, status, why)
    } else {
        portal::login_page(state, headers, status, why)
    }
}

/// Without a flow to say so, the realm of a callback: the console's when the provider serves
/// agents only.
fn agent_realm(name: &str, state: &WebState) -> bool {
    let providers = state.accounts.oidc();
    providers.serves(name, true) && !providers.serves(name, false)
}

/// The key that seals flows: derived from the signing link key, shared by every daemon. (Its 64
/// hex characters always meet the key material's minimum; `None` is not expected.)
fn flow_key(state: &WebState) -> Option<SecretBox> {
    let derived = state.app.settings().keyring.derive("oidc-flow");
    SecretBox::from_key_material(hex::encode(derived).as_bytes()).ok()
}

fn flow_cookie(state: &WebState, value: &str) -> (header::HeaderName, HeaderValue) {
    let secure = if state.accounts.secure_cookies() { "; Secure" } else { "" };
    let text = format!(
        "{FLOW_COOKIE}={value}; Path=/auth/oidc; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        FLOW_TTL_MS / 1000
    );
    // Base64url and fixed attributes: always a valid header value.
    (header::SET_COOKIE, HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("")))
}

fn with_flow_cleared(mut response: Response) -> Response {
    let clear = format!("{FLOW_COOKIE}=; Path=/auth/oidc; Max-Age=0; HttpOnly; SameSite=Lax");
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
