//! The `[metrics] bind` listener: `GET /metrics` in the Prometheus text format, on its own port so
//! that the public web endpoint never exposes it. Gauges that live in the database (the outbox) are
//! read at scrape time through the cached [`Probe`].

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::probe::Probe;
use super::{metrics, polls};
use crate::app::App;

/// What Prometheus asks for; the registry writes OpenMetrics text (it ends with `# EOF`).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn router(app: App) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(Arc::new(Probe::new(app)))
}

/// Serves [`router`] on `listener` until `stop`; a failure is logged (the rest of `serve` goes on).
pub async fn serve(listener: TcpListener, app: App, stop: watch::Receiver<bool>) {
    if let Err(error) = crate::web::serve(listener, router(app), stop).await {
        tracing::error!(%error, "metrics endpoint failed; metrics are not served until a restart");
    }
}

async fn scrape(State(probe): State<Arc<Probe>>) -> Response {
    let snapshot = probe.snapshot().await;
    let text = metrics::exposition(&snapshot, &polls::snapshot(), probe.now_ms());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}
