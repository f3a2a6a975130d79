//! Cookies, sessions and CSRF for the pages that have them. Session cookies are HttpOnly,
//! SameSite=Strict, Secure when `web.base_url` is https; agents' cookie is scoped to `/agent`.
//! Every POST carries a CSRF token: a signed-in session's own token, or, before sign-in, a tag of a
//! random `mg_csrf` cookie (so a login form cannot be submitted from another site either).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::console::Viewer;
use crate::accounts::Session;
use crate::auth::secret::random_token;
use crate::store::sessions::Stage;
use crate::web::WebError;

/// The agent console's session cookie (path `/agent`).
pub const AGENT_COOKIE: &str = "mg_agent";
/// End users' session cookie.
pub const USER_COOKIE: &str = "mg_user";
/// The pre-sign-in CSRF cookie.
const ANON_COOKIE: &str = "mg_csrf";

/// The value of cookie `name` in the request.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

fn cookie_path(name: &str) -> &'static str {
    if name == AGENT_COOKIE { "/agent" } else { "/" }
}

/// `Set-Cookie` for a session (no Max-Age: it ends with the browser or the server-side timeout).
pub fn set_cookie(state: &WebState, name: &str, value: &str) -> (header::HeaderName, HeaderValue) {
    let secure = if state.accounts.secure_cookies() { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path={}; HttpOnly; SameSite=Strict{secure}", cookie_path(name));
    (header::SET_COOKIE, HeaderValue::from_str(&text).expect("cookie values are URL-safe tokens"))
}

pub fn clear_cookie(name: &str) -> (header::HeaderName, HeaderValue) {
    let text = format!("{name}=; Path={}; HttpOnly; SameSite=Strict; Max-Age=0", cookie_path(name));
    (header::SET_COOKIE, HeaderValue::from_str(&text).expect("a fixed cookie"))
}

/// The live session behind cookie `name`, if any.
pub async fn current(state: &WebState, headers: &HeaderMap, name: &str) -> Result<Option<Session>, Response> {
    let Some(id) = cookie(headers, name) else { return Ok(None) };
    state.accounts.session(id).await.map_err(|error| {
        tracing::error!(%error, "web: session lookup failed");
        WebError::Unavailable.into_response()
    })
}

/// The CSRF token for a form shown before sign-in, and the cookie to set when the visitor has none.
pub fn anon_csrf(
    state: &WebState,
    headers: &HeaderMap,
) -> (String, Option<(header::HeaderName, HeaderValue)>) {
    let keyring = &state.app.settings().keyring;
    match cookie(headers, ANON_COOKIE) {
        Some(value) => (keyring.form_tag(&format!("anon:{value}")), None),
        None => {
            let value = random_token();
            (keyring.form_tag(&format!("anon:{value}")), Some(set_cookie(state, ANON_COOKIE, &value)))
        }
    }
}

/// Whether a pre-sign-in form came back with the tag of this visitor's `mg_csrf` cookie.
pub fn anon_csrf_ok(state: &WebState, headers: &HeaderMap, submitted: &str) -> bool {
    let Some(value) = cookie(headers, ANON_COOKIE) else { return false };
    state.app.settings().keyring.check_form_tag(&format!("anon:{value}"), submitted)
}

/// Whether a signed-in form came back with its session's token (constant time).
pub fn session_csrf_ok(session: &Session, submitted: &str) -> bool {
    crate::auth::secret::constant_time_eq(session.csrf.as_bytes(), submitted.as_bytes())
}

/// The answer to a form whose CSRF token is missing or wrong.
pub fn forbidden() -> Response {
    WebError::Forbidden.into_response()
}

/// Guards the console: a complete agent session becomes a [`Viewer`] in the request's
/// extensions; otherwise the agent is sent to the step of sign-in they are at.
pub async fn require_agent(State(state): State<WebState>, mut request: Request, next: Next) -> Response {
    let Some(cookie) = cookie(request.headers(), AGENT_COOKIE) else {
        return Redirect::to("/agent/login").into_response();
    };
    let (session, agent) = match state.accounts.agent_session(cookie).await {
        Ok(Some(found)) => found,
        // No session, a user's, or the agent was removed from the configuration since.
        Ok(None) => return ([clear_cookie(AGENT_COOKIE)], Redirect::to("/agent/login")).into_response(),
        Err(error) => {
            tracing::error!(%error, "web: session lookup failed");
            return WebError::Unavailable.into_response();
        }
    };
    match session.stage {
        Stage::Full => {}
        Stage::SecondFactor => return Redirect::to("/agent/login/code").into_response(),
        Stage::Enroll => return Redirect::to("/agent/2fa").into_response(),
        // Only users' passwords are temporary: no console session is ever at this stage.
        Stage::ChangePassword => return Redirect::to("/agent/login").into_response(),
    }
    request.extensions_mut().insert(Viewer {
        agent: agent.id,
        key: agent.key,
        name: agent.name,
        csrf: session.csrf.clone(),
    });
    request.extensions_mut().insert(session);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "a=1; mg_agent=xyz ; b=2".parse().unwrap());
        headers.append(header::COOKIE, "mg_user=u".parse().unwrap());
        assert_eq!(cookie(&headers, AGENT_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, USER_COOKIE), Some("u"));
        assert_eq!(cookie(&headers, "mg"), None);
        headers.append(header::COOKIE, "empty=".parse().unwrap());
        assert_eq!(cookie(&headers, "empty"), None);
    }
}
