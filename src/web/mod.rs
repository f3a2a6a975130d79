//! The web endpoint inside `mailgate serve` (axum): one-click ticket pages behind signed `view`
//! links, `/healthz` and `/livez`, and strict headers on every response. Pages are server-rendered from
//! `templates/web/` (embedded); no JavaScript. A GET never changes anything: mail scanners prefetch
//! links. Tokens live in URLs, so nothing here logs a path.

mod access;
mod error;
pub use error::WebError;
mod agent_account;
mod agent_auth;
pub mod console;
mod health;
mod html;
pub(crate) mod new_ticket;
mod oidc;
mod pages;
mod portal;
mod profile;
pub mod session;
mod ticket;
mod upload;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::accounts::Accounts;
use crate::app::App;
use crate::workflow::Workflows;
pub use pages::{PageError, Pages};

/// What every handler can reach.
#[derive(Clone)]
pub struct WebState {
    /// The store, the configuration in force, and the clock pages read (links expire by the
    /// same time that minted them).
    pub app: App,
    /// What handlers do to tickets: writes, lifecycle changes, access links, web tickets.
    pub workflows: Workflows,
    pub pages: Arc<Pages>,
    pub limits: Arc<access::Limits>,
    pub accounts: Arc<Accounts>,
    /// Sign-up, reset requests and portal tickets: per client address and per email address.
    pub account_limits: Arc<access::Limits>,
    /// The ticket page's replies: rate limits and the memory budget of large ones.
    pub uploads: Arc<upload::UploadLimits>,
    /// The cached database probe behind `/healthz`.
    pub probe: Arc<crate::observe::probe::Probe>,
}

impl WebState {
    pub fn new(accounts: Arc<Accounts>, pages: Pages) -> WebState {
        Self::with_pages(accounts, Arc::new(pages))
    }

    /// With `pages` shared: `serve` keeps a handle to swap them on reload.
    pub fn with_pages(accounts: Arc<Accounts>, pages: Arc<Pages>) -> WebState {
        let app = accounts.app().clone();
        let max_message_bytes = app.settings().limits.max_message_bytes;
        let probe = Arc::new(crate::observe::probe::Probe::new(app.clone()));
        WebState {
            workflows: Workflows::new(app.clone()),
            app,
            pages,
            limits: Arc::new(access::Limits::default()),
            accounts,
            account_limits: Arc::new(access::Limits::default()),
            uploads: Arc::new(upload::UploadLimits::new(max_message_bytes)),
            probe,
        }
    }
}

/// The site's CSS: the only resource pages load.
const SITE_CSS: &str = include_str!("../../templates/web/site.css");

/// Sent on every response (DESIGN §9): no scripts, no framing, no referrer (tokens are in URLs),
/// nothing cached.
const SECURITY_HEADERS: [(header::HeaderName, &str); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

pub fn router(state: WebState) -> Router {
    // A reply with its files may be as large as a mail we accept, plus the form's overhead.
    let upload_limit = state.app.settings().limits.max_message_bytes + 64 * 1024;
    Router::new()
        .route(
            "/t/{token}",
            get(ticket::show).post(ticket::reply).layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/t/{token}/resolve", post(ticket::resolve))
        .route("/t/{token}/renew", post(ticket::renew))
        .route("/t/{token}/files/{id}", get(ticket::file))
        .route("/t/{token}/html/{entry}", get(ticket::formatted))
        .route("/access", get(access::form).post(access::request))
        .route("/", get(portal::home))
        .route("/login", get(portal::login_form).post(portal::login))
        .route("/logout", post(portal::logout))
        .route("/register", get(portal::register_form).post(portal::register))
        .route("/register/{token}", get(portal::confirm_form).post(portal::confirm))
        .route("/reset", get(portal::reset_form).post(portal::reset))
        .route("/reset/{token}", get(portal::reset_link_form).post(portal::reset_link))
        .route("/invite/{token}", get(portal::invite_link_form).post(portal::invite_link))
        .route("/tickets", get(portal::my_tickets))
        .route(
            "/tickets/new",
            get(new_ticket::form)
                .post(new_ticket::submit)
                .layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/account",
            get(profile::show)
                .post(profile::save)
                .layer(axum::extract::DefaultBodyLimit::max(profile::MAX_FORM_BYTES)),
        )
        .route(
            "/account/password",
            get(profile::password_form)
                .post(profile::change_password)
                .layer(axum::extract::DefaultBodyLimit::max(profile::MAX_FORM_BYTES)),
        )
        .route("/agent/login", get(agent_auth::login_form).post(agent_auth::login))
        .route("/agent/login/code", get(agent_auth::code_form).post(agent_auth::code))
        .route("/agent/2fa", get(agent_auth::two_factor).post(agent_auth::enroll))
        .route("/agent/logout", post(agent_auth::logout))
        .route("/auth/oidc/{name}/login", get(oidc::login))
        .route("/auth/oidc/{name}/callback", get(oidc::callback))
        .merge(
            console::routes(upload_limit)
                .route("/agent/users/{id}/{action}", post(agent_auth::user_action))
                .merge(agent_account_routes())
                .route_layer(axum::middleware::from_fn_with_state(state.clone(), session::require_agent)),
        )
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::livez))
        .route(
            "/static/site.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], SITE_CSS) }),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), error::render))
        .layer(axum::middleware::from_fn(count_request))
        .layer(axum::middleware::map_response(secure))
        .with_state(state)
}

/// The agent's own account and the temporary password of a user's record (behind the console's
/// guard), with small bodies: each form is a few short fields.
fn agent_account_routes() -> Router<WebState> {
    Router::new()
        .route("/agent/account", get(agent_account::show))
        .route("/agent/account/password", post(agent_account::change_password))
        .route("/agent/account/recovery-codes", post(agent_account::recovery_codes))
        .route("/agent/account/totp", post(agent_account::start_totp))
        .route("/agent/account/totp/confirm", post(agent_account::confirm_totp))
        .route("/agent/users/{id}/temporary-password", post(agent_account::temporary_password))
        .layer(axum::extract::DefaultBodyLimit::max(profile::MAX_FORM_BYTES))
}

/// Serves `router` on `listener` until `stop` turns true (in-flight requests finish).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
}

async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        // A handler may have set a narrower variant (a page that shows remote images on request).
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// Counts the request by its route's pattern (`/t/{token}`), never its path: tokens are in paths.
async fn count_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route =
        request.extensions().get::<axum::extract::MatchedPath>().map(|path| path.as_str().to_string());
    let response = next.run(request).await;
    crate::observe::metrics::http_request(
        route.as_deref().unwrap_or("unmatched"),
        response.status().as_u16(),
    );
    response
}

/// The policy of a formatted message whose reader asked for remote images.
pub const CSP_WITH_REMOTE_IMAGES: &str = "default-src 'none'; style-src 'self'; img-src 'self' https: http:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

async fn not_found() -> WebError {
    WebError::NotFound
}
