//! `/access`: a ticket number and an email address. When they match a participant, a short-lived
//! link is mailed to that address; the page answers the same, at once, whatever the input (the
//! lookup runs after the answer), so it tells nobody whether a ticket or an address exists.
//! Rate-limited per client address (behind `web.trusted_proxies`, the forwarded one) and per
//! normalized email address, counted before anything is looked up; never grants access by itself.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::views::ticket::Access;
use super::{WebError, WebState};

/// Requests from one client address: a burst of 5, then one a minute.
const PER_CLIENT: (u32, Duration) = (5, Duration::from_secs(60));
/// Requests naming one email address: a burst of 3, then one per 20 minutes.
const PER_ADDRESS: (u32, Duration) = (3, Duration::from_secs(20 * 60));
/// Keys kept before stale ones are dropped.
const MAX_KEYS: usize = 100_000;

pub struct Limits {
    clients: DefaultKeyedRateLimiter<IpAddr>,
    addresses: DefaultKeyedRateLimiter<String>,
}

impl Default for Limits {
    fn default() -> Limits {
        let quota = |(burst, period): (u32, Duration)| {
            Quota::with_period(period)
                .expect("a non-zero period")
                .allow_burst(NonZeroU32::new(burst).expect("non-zero"))
        };
        Limits {
            clients: DefaultKeyedRateLimiter::keyed(quota(PER_CLIENT)),
            addresses: DefaultKeyedRateLimiter::keyed(quota(PER_ADDRESS)),
        }
    }
}

impl Limits {
    /// Whether this request may go on; counts it against both keys (`email`: the address asked
    /// about, or another name for whom a mail would go).
    pub(super) fn admit(&self, client: IpAddr, email: &str) -> bool {
        if self.clients.len() + self.addresses.len() > MAX_KEYS {
            self.clients.retain_recent();
            self.addresses.retain_recent();
        }
        // Counted before anything is looked up, the client first: a client over its limit does
        // not spend the address's budget.
        if self.clients.check_key(&crate::auth::client::canonical(client)).is_err() {
            return false;
        }
        self.addresses.check_key(&address_key(email)).is_ok()
    }
}

/// The key an email address is limited under: the address as mail would go to it
/// (`<EVE@x>`, ` Eve@X ` and `eve@x` are one), or the text as typed when it is no address.
fn address_key(email: &str) -> String {
    match crate::core::address::EmailAddress::parse(email) {
        Some(address) => address.as_str().to_string(),
        None => email.trim().to_lowercase(),
    }
}

#[derive(serde::Deserialize)]
pub struct AccessForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf: String,
}

pub async fn form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    page(&state, &headers, false)
}

fn page(state: &WebState, headers: &HeaderMap, sent: bool) -> Response {
    let (csrf, cookie) = super::session::anon_csrf(state, headers);
    let page = state.pages.show(StatusCode::OK, &Access { sent, csrf });
    super::agent_auth::with_cookie(page, cookie)
}

pub async fn request(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AccessForm>,
) -> Response {
    if !super::session::anon_csrf_ok(&state, &headers, &form.csrf) {
        return super::session::forbidden();
    }
    if !state.limits.admit(state.accounts.client_address(peer.ip(), &headers), &form.email) {
        return WebError::TooMany.into_response();
    }
    let workflows = state.workflows.clone();
    tokio::spawn(async move {
        if let Err(error) = workflows.request_access(&form.number, &form.email).await {
            tracing::warn!(%error, "access page: could not queue a link");
        }
    });
    page(&state, &headers, true)
}
