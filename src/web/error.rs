//! One error type for every handler: the ticket pages, the portal and the console. A handler
//! returns `Err(WebError::...)` (or `?` on a store error); `render` (a middleware on the whole
//! router) turns it into the page the visitor sees, from the pages in force. The database being
//! unavailable is always the 503 "try again" page, never "not found".

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::WebState;
use super::views::ticket::{BadRequest, TooMany};
use crate::store::StoreError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebError {
    /// No such page, or nothing this visitor may see there (404).
    NotFound,
    /// A request the handler cannot act on (400), with what to tell the visitor.
    BadRequest(String),
    /// A POST without this session's CSRF token or form tag (403).
    Forbidden,
    /// Over a rate limit (429).
    TooMany,
    /// A form larger than the page accepts (413), with what to tell the visitor.
    TooLarge(String),
    /// The database failed; logged where it happened (503).
    Unavailable,
}

impl WebError {
    pub fn bad_request(why: impl Into<String>) -> WebError {
        WebError::BadRequest(why.into())
    }

    /// Logs what failed (`what`; never the path or a query: they may hold tokens) and answers 503.
    pub fn unavailable(error: &dyn std::fmt::Display, what: &str) -> WebError {
        tracing::error!(%error, "web: {what}; answered 503 (if it repeats, check the database: /healthz)");
        WebError::Unavailable
    }

    fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Forbidden => StatusCode::FORBIDDEN,
            WebError::TooMany => StatusCode::TOO_MANY_REQUESTS,
            WebError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<StoreError> for WebError {
    fn from(error: StoreError) -> WebError {
        WebError::unavailable(&error, "a database request failed")
    }
}

/// The status alone, with the error attached for `render` to draw its page.
impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Draws the page of a `WebError` a handler (or an extractor) answered with; headers the handler
/// set (`Retry-After`) stay.
pub async fn render(State(state): State<WebState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let Some(error) = response.extensions_mut().remove::<WebError>() else { return response };
    let pages = &state.pages;
    let status = error.status();
    let mut page = match error {
        WebError::NotFound => pages.not_found(),
        WebError::Unavailable => pages.unavailable(),
        WebError::TooMany => pages.show(status, &TooMany {}),
        WebError::BadRequest(why) | WebError::TooLarge(why) => pages.show(status, &BadRequest { why }),
        WebError::Forbidden => pages.show(
            status,
            &BadRequest {
                why: "This form has expired or did not come from this site. Go back, reload the page and try again."
                    .into(),
            },
        ),
    };
    for (name, value) in response.headers() {
        if !page.headers().contains_key(name) {
            page.headers_mut().insert(name.clone(), value.clone());
        }
    }
    page
}
