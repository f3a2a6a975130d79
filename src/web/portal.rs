//! The end-user portal: the home page, sign-in and sign-out, sign-up with a confirmed address,
//! invitations and password resets, "my tickets", and opening a ticket on the web, each as the
//! registration mode (`[registration]`) allows. A new ticket goes through the email ingest path.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::agent_auth::{failure, with_cookie};
use super::session::{
    self, USER_COOKIE, anon_csrf, anon_csrf_ok, clear_cookie, forbidden, session_csrf_ok, set_cookie,
};
use crate::accounts::{AccountError, Realm, Session, SignIn};
use crate::auth::provider::RequestInfo;
use crate::auth::token::{Claims, Participant, Purpose};
use crate::core::ids::{TicketId, UserId};
use crate::store::accounts::{self as account_store, TokenPurpose};
use crate::store::sessions::{Holder, Stage};
use crate::store::web as web_store;
use crate::web::WebError;
use crate::web::views::View;
use crate::web::views::portal::{
    Confirm, Home, Login, LoginRealm, Me, Modes, MyTicketRow, MyTickets, Password, PasswordLink, Register,
    Reset, Visitor,
};
use crate::web::views::ticket::Message;

/// How long a "my tickets" link lasts: it is minted for the signed-in page, not for mail.
const PAGE_LINK_TTL: Duration = Duration::from_secs(60 * 60);

#[derive(serde::Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// What the registration mode allows, for the pages' links and forms.
fn modes(state: &WebState) -> Modes {
    let registration = state.accounts.registration();
    Modes {
        register: registration.self_service(),
        web_tickets: registration.web_tickets(),
        login_required: registration.web_tickets_need_login(),
    }
}

/// The signed-in user, if any. A user who signed in with a temporary password is sent to choose
/// their own first, from every page that asks who is signed in.
pub(super) async fn user(
    state: &WebState,
    headers: &HeaderMap,
) -> Result<Option<(UserId, Session)>, Response> {
    Ok(match session::current(state, headers, USER_COOKIE).await? {
        Some(session @ Session { holder: Holder::User(user), stage: Stage::Full, .. }) => {
            Some((user, session))
        }
        Some(Session { holder: Holder::User(_), stage: Stage::ChangePassword, .. }) => {
            return Err(Redirect::to(super::profile::CHANGE_PASSWORD).into_response());
        }
        _ => None,
    })
}

/// A page for visitors: `view` made with the anonymous CSRF token (its cookie set when new) and
/// the modes.
fn anon_page<V: View>(
    state: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    view: impl FnOnce(Visitor) -> V,
) -> Response {
    let (csrf, cookie) = anon_csrf(state, headers);
    let page = state.pages.show(status, &view(Visitor { csrf, modes: modes(state) }));
    with_cookie(page, cookie)
}

fn message(state: &WebState, status: StatusCode, title: &str, text: &str) -> Response {
    state.pages.show(status, &Message::new(title, text))
}

/// The sign-in form, with why the last attempt failed.
pub(super) fn login_page(state: &WebState, headers: &HeaderMap, status: StatusCode, error: &str) -> Response {
    anon_page(state, headers, status, |visitor| Login {
        realm: LoginRealm::User,
        visitor,
        error: error.into(),
        providers: state.accounts.oidc().buttons(false),
    })
}

pub async fn home(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let signed_in = match user(&state, &headers).await {
        Ok(found) => found.is_some(),
        Err(response) => return response,
    };
    state.pages.show(StatusCode::OK, &Home { modes: modes(&state), signed_in })
}

pub async fn login_form(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match user(&state, &headers).await {
        Ok(Some(_)) => return Redirect::to("/tickets").into_response(),
        Ok(None) => {}
        Err(response) => return response,
    }
    let request = RequestInfo { peer: peer.ip(), headers: &headers };
    match state.accounts.sign_in_from_request(Realm::User, &request).await {
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
    Form(form): Form<AccountForm>,
) -> Response {
    if !anon_csrf_ok(&state, &headers, &form.csrf) {
        return forbidden();
    }
    let refused = |status, error: &str| login_page(&state, &headers, status, error);
    let client = state.accounts.client_address(peer.ip(), &headers);
    match state.accounts.sign_in(Realm::User, &form.email, &form.password, client).await {
        Ok(SignIn::Granted { holder, stage }) => start(&state, holder, stage).await,
        Ok(SignIn::Denied) => refused(StatusCode::UNAUTHORIZED, "Wrong email address or password."),
        Ok(SignIn::Throttled) => refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes and try again.",
        ),
        Ok(SignIn::DirectoryDown) => {
            refused(StatusCode::SERVICE_UNAVAILABLE, super::agent_auth::DIRECTORY_DOWN)
        }
        Err(error) => failure(&error),
    }
}

/// Opens the session at `stage` (a temporary password: choosing one's own comes first).
async fn start(state: &WebState, holder: Holder, stage: Stage) -> Response {
    let next = match stage {
        Stage::ChangePassword => super::profile::CHANGE_PASSWORD,
        _ => "/tickets",
    };
    match state.accounts.open_session(holder, stage).await {
        Ok((id, _)) => ([set_cookie(state, USER_COOKIE, &id)], Redirect::to(next)).into_response(),
        Err(error) => failure(&error),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    // Any stage of a user's session signs out (also one that must change its password first).
    if let Ok(Some(session @ Session { holder: Holder::User(_), .. })) =
        session::current(&state, &headers, USER_COOKIE).await
    {
        if !session_csrf_ok(&session, &form.csrf) {
            return forbidden();
        }
        if let Err(error) = state.accounts.close_session(&session).await {
            return failure(&error);
        }
    }
    ([clear_cookie(USER_COOKIE)], Redirect::to("/")).into_response()
}

pub async fn register_form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    if !state.accounts.registration().self_service() {
        return closed(&state);
    }
    anon_page(&state, &headers, StatusCode::OK, |visitor| Register {
        visitor,
        error: String::new(),
        email: String::new(),
        name: String::new(),
    })
}

fn closed(state: &WebState) -> Response {
    message(
        state,
        StatusCode::FORBIDDEN,
        "Sign-up is closed",
        "Accounts here are made by our staff. You can still reach us by mail, and follow your tickets through the links in our replies.",
    )
}

pub async fn register(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    if !anon_csrf_ok(&state, &headers, &form.csrf) {
        return forbidden();
    }
    if !state.accounts.registration().self_service() {
        return closed(&state);
    }
    if !state.account_limits.admit(state.accounts.client_address(peer.ip(), &headers), &form.email) {
        return WebError::TooMany.into_response();
    }
    // A password field sent by an old form is ignored: the mailbox's holder chooses it on the link.
    match state.accounts.register(&form.email, &form.name).await {
        Ok(()) => message(
            &state,
            StatusCode::OK,
            "Check your mail",
            "We have sent a mail to that address. Open the link in it to confirm your address and finish signing up.",
        ),
        Err(error @ (AccountError::Weak(_) | AccountError::Refused(_))) => {
            anon_page(&state, &headers, StatusCode::BAD_REQUEST, |visitor| Register {
                visitor,
                error: error.to_string(),
                email: form.email,
                name: form.name,
            })
        }
        Err(error) => failure(&error),
    }
}

/// `GET /register/<token>`: the form to choose a password, not the confirmation itself (mail
/// scanners open links).
pub async fn confirm_form(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    match state.accounts.pending(&token, TokenPurpose::Register).await {
        Ok(Some(pending)) => confirm_page(&state, &headers, StatusCode::OK, &token, &pending.email, ""),
        Ok(None) => spent(&state),
        Err(error) => failure(&error),
    }
}

fn confirm_page(
    state: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    token: &str,
    email: &str,
    error: &str,
) -> Response {
    anon_page(state, headers, status, |visitor| Confirm {
        visitor,
        email: email.into(),
        error: error.into(),
        action: format!("/register/{token}"),
    })
}

fn spent(state: &WebState) -> Response {
    message(
        state,
        StatusCode::GONE,
        "This link no longer works",
        "It has been used already, or it has expired. Sign up again, or ask for a new password reset link.",
    )
}

pub async fn confirm(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<AccountForm>,
) -> Response {
    if !anon_csrf_ok(&state, &headers, &form.csrf) {
        return forbidden();
    }
    match state.accounts.confirm(&token, &form.password).await {
        Ok(Some(user)) => start(&state, Holder::User(user), Stage::Full).await,
        Ok(None) => spent(&state),
        Err(AccountError::Weak(weak)) => {
            let pending = state.accounts.pending(&token, TokenPurpose::Register).await.ok().flatten();
            let email = pending.map(|p| p.email).unwrap_or_default();
            confirm_page(&state, &headers, StatusCode::BAD_REQUEST, &token, &email, &weak.to_string())
        }
        Err(error) => failure(&error),
    }
}

pub async fn reset_form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    anon_page(&state, &headers, StatusCode::OK, |visitor| Reset { visitor, sent: false })
}

pub async fn reset(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    if !anon_csrf_ok(&state, &headers, &form.csrf) {
        return forbidden();
    }
    if !state.account_limits.admit(state.accounts.client_address(peer.ip(), &headers), &form.email) {
        return WebError::TooMany.into_response();
    }
    if let Err(error) = state.accounts.request_reset(&form.email).await {
        return failure(&error);
    }
    anon_page(&state, &headers, StatusCode::OK, |visitor| Reset { visitor, sent: true })
}

fn link_purpose(kind: PasswordLink) -> TokenPurpose {
    match kind {
        PasswordLink::Reset => TokenPurpose::Reset,
        PasswordLink::Invite => TokenPurpose::Invite,
    }
}

pub async fn reset_link_form(
    state: State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    password_form(state, headers, PasswordLink::Reset, token).await
}

pub async fn invite_link_form(
    state: State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    password_form(state, headers, PasswordLink::Invite, token).await
}

pub async fn reset_link(
    state: State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    form: Form<AccountForm>,
) -> Response {
    set_password(state, headers, PasswordLink::Reset, token, form).await
}

pub async fn invite_link(
    state: State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    form: Form<AccountForm>,
) -> Response {
    set_password(state, headers, PasswordLink::Invite, token, form).await
}

/// `GET /reset/<token>` and `/invite/<token>`: the form to choose a password.
async fn password_form(
    State(state): State<WebState>,
    headers: HeaderMap,
    kind: PasswordLink,
    token: String,
) -> Response {
    let purpose = link_purpose(kind);
    match state.accounts.pending(&token, purpose).await {
        Ok(Some(pending)) => {
            password_page(&state, &headers, StatusCode::OK, kind, &token, &pending.email, "")
        }
        Ok(None) => spent(&state),
        Err(error) => failure(&error),
    }
}

fn password_page(
    state: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    kind: PasswordLink,
    token: &str,
    email: &str,
    error: &str,
) -> Response {
    anon_page(state, headers, status, |visitor| Password {
        visitor,
        kind,
        email: email.into(),
        error: error.into(),
        action: format!("/{}/{token}", kind.as_str()),
    })
}

async fn set_password(
    State(state): State<WebState>,
    headers: HeaderMap,
    kind: PasswordLink,
    token: String,
    Form(form): Form<AccountForm>,
) -> Response {
    let purpose = link_purpose(kind);
    if !anon_csrf_ok(&state, &headers, &form.csrf) {
        return forbidden();
    }
    match state.accounts.set_password_by_link(&token, purpose, &form.password).await {
        Ok(Some(user)) => start(&state, Holder::User(user), Stage::Full).await,
        Ok(None) => spent(&state),
        Err(AccountError::Weak(weak)) => {
            let email = state.accounts.pending(&token, purpose).await.ok().flatten().map(|p| p.email);
            password_page(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                kind,
                &token,
                &email.unwrap_or_default(),
                &weak.to_string(),
            )
        }
        Err(error) => failure(&error),
    }
}

/// `GET /tickets`: the signed-in user's tickets, each opening the ticket page through a link
/// minted for this page.
pub async fn my_tickets(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let (user, session) = match user(&state, &headers).await {
        Ok(Some(found)) => found,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(response) => return response,
    };
    let found = state
        .app
        .store()
        .read(move |tx| {
            let mut tickets = web_store::my_tickets(tx, user, 200)?;
            tickets.extend(web_store::shared_tickets(tx, user, 200)?);
            Ok((account_store::user_login_by_id(tx, user)?, tickets))
        })
        .await;
    let (Some(me), tickets) = (match found {
        Ok(found) => found,
        Err(error) => return failure(&error.into()),
    }) else {
        return Redirect::to("/login").into_response();
    };
    let keyring = &state.app.settings().keyring;
    let expires_at_ms = state.app.now_ms() + PAGE_LINK_TTL.as_millis() as i64;
    let rows: Vec<MyTicketRow> = tickets
        .into_iter()
        .map(|ticket| {
            let claims = Claims {
                purpose: Purpose::View,
                ticket: TicketId(ticket.id),
                participant: Participant::User(user),
                expires_at_ms,
                epoch: u64::try_from(ticket.epoch).unwrap_or_default(),
            };
            let (link, updated) = (format!("/t/{}", keyring.link(&claims)), when(ticket.updated_at));
            MyTicketRow { ticket, link, updated }
        })
        .collect();
    let me = Me { name: me.name, email: me.email };
    let view = MyTickets { me, tickets: rows, csrf: session.csrf, modes: modes(&state) };
    state.pages.show(StatusCode::OK, &view)
}

/// A time as pages show it (UTC: the server does not know the reader's zone).
pub(super) fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}
