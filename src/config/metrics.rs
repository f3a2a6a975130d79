//! `[metrics]`: where `serve` offers its Prometheus metrics. Off by default, and never on the web
//! endpoint's address: the metrics are for the monitoring system, not for customers.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Where `serve` answers `GET /metrics`; `None` offers no metrics.
    pub bind: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a [metrics] table")]
pub(super) struct RawMetrics {
    /// Address and port of the Prometheus endpoint (`GET /metrics`), e.g. `"127.0.0.1:9464"`;
    /// `""` offers none. Must not be `web.bind`'s port. Default: `""`.
    pub bind: String,
}

pub(super) fn validate_metrics(
    raw: &RawMetrics,
    web_bind: Option<SocketAddr>,
    problems: &mut Problems<'_, '_>,
) -> Metrics {
    let path = KeyPath::top("metrics").key("bind");
    let bind = match raw.bind.trim() {
        "" => None,
        text => match text.parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                problems.report(
                    &path,
                    format!("{text:?} is not an address and port like \"127.0.0.1:9464\" or \"[::1]:9464\""),
                );
                None
            }
        },
    };
    if let (Some(bind), Some(web)) = (bind, web_bind)
        && overlaps(bind, web)
    {
        problems.report(
            &path,
            format!(
                "{bind} is where web.bind ({web}) serves customers; give the metrics a port of their \
                 own, reachable only by your monitoring (e.g. \"127.0.0.1:9464\")"
            ),
        );
    }
    Metrics { bind }
}

/// Whether two listeners would share a port on some address (an unspecified address takes all).
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::overlaps;

    #[test]
    fn the_same_port_on_a_shared_address_overlaps() {
        let at = |text: &str| text.parse().unwrap();
        assert!(overlaps(at("127.0.0.1:8080"), at("127.0.0.1:8080")));
        assert!(overlaps(at("0.0.0.0:8080"), at("127.0.0.1:8080")));
        assert!(overlaps(at("127.0.0.1:8080"), at("[::]:8080")));
        assert!(!overlaps(at("127.0.0.1:9464"), at("127.0.0.1:8080")));
        assert!(!overlaps(at("127.0.0.1:8080"), at("10.0.0.1:8080")));
    }
}
