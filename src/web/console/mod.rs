//! PLACEHOLDER until the console pages land (same contract): the signed-in agent.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use crate::core::ids::AgentId;

/// The signed-in agent, put into request extensions by the session layer.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub agent: AgentId,
    pub key: String,
    pub name: String,
    /// This session's CSRF token.
    pub csrf: String,
}

impl Viewer {
    pub fn csrf_ok(&self, submitted: &str) -> bool {
        crate::auth::secret::constant_time_eq(self.csrf.as_bytes(), submitted.as_bytes())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Viewer, Response> {
        parts.extensions.get::<Viewer>().cloned().ok_or_else(|| Redirect::to("/agent/login").into_response())
    }
}

pub fn routes() -> axum::Router<super::WebState> {
    axum::Router::new().route("/agent", axum::routing::get(|viewer: Viewer| async move { viewer.name }))
}
