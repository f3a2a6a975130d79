//! OpenID Connect sign-in, the protocol half (the `openidconnect` crate): discovery (metadata and
//! signing keys cached, the keys fetched again when a token's signature fails with them), the
//! authorization request with PKCE, `state` and `nonce`, the code exchange, and the ID token's
//! checks (signature, issuer, audience, expiry, nonce, a verified address). It knows nothing of
//! accounts: it answers with an [`Identity`] or an [`OidcError`] saying what to tell the visitor.
//!
//! What a sign-in in progress must remember (the PKCE verifier, `state`, `nonce`, the realm) is a
//! [`Flow`], sealed into a short-lived cookie by the web layer, never stored server-side.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, TokenResponse,
    reqwest,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::secret::{SecretBox, constant_time_eq};
use crate::config::OidcProvider;

/// Discovery metadata (with the signing keys) is used for this long before it is fetched again.
const METADATA_TTL_MS: i64 = 60 * 60 * 1000;
/// How long a visitor may spend at the provider: the flow cookie's lifetime.
pub const FLOW_TTL_MS: i64 = 10 * 60 * 1000;
/// Each request to a provider: connecting, and the whole exchange.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The sealed-cookie context (binds a sealed flow to this purpose).
const FLOW_CONTEXT: &[u8] = b"oidc-flow";
/// Longest `error` / `error_description` from a provider shown on the page.
const MAX_PROVIDER_TEXT: usize = 200;

/// Who a provider says signed in, once every check passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The issuer as configured (and as the token named it).
    pub issuer: String,
    pub subject: String,
    /// The verified address, lower-cased.
    pub email: String,
    /// The `name` claim, when the provider gave one.
    pub name: Option<String>,
}

/// Why a sign-in through a provider did not produce an [`Identity`]. The `Display` text is for
/// the visitor (it names the provider by its issuer's host, `id.example.com`), never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// Discovery, the keys or the token endpoint could not be reached (or answered nonsense).
    #[error("The sign-in service {0} cannot be reached just now. Try again in a few minutes.")]
    Unreachable(String),
    /// The provider answered the sign-in with an error (`error=access_denied`, ...).
    #[error("{by} did not sign you in: {error}.")]
    Provider { by: String, error: String },
    /// The ID token failed a check (signature, issuer, audience, expiry, nonce) or is missing.
    #[error("The answer from {0} could not be verified, so you are not signed in. Start again.")]
    Invalid(String),
    /// The token has no address, or the provider has not verified it.
    #[error("{0} has not verified your email address. Verify it there, then sign in again.")]
    Unverified(String),
}

/// A sign-in in progress, kept by the visitor's browser in a sealed cookie between our redirect to
/// the provider and the provider's redirect back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// The provider's `name`.
    pub provider: String,
    /// Signing in to the console (`true`) or the portal.
    pub agent: bool,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub expires_at: i64,
}

impl Flow {
    /// The cookie value: the flow as JSON, sealed (XChaCha20-Poly1305) under `key`, base64url.
    pub fn seal(&self, key: &SecretBox) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        data_encoding::BASE64URL_NOPAD.encode(&key.seal(&json, FLOW_CONTEXT))
    }

    /// The flow in `cookie` if it opens under `key` and has not expired at `now_ms`.
    pub fn open(cookie: &str, key: &SecretBox, now_ms: i64) -> Option<Flow> {
        if cookie.len() > 4096 {
            return None;
        }
        let sealed = data_encoding::BASE64URL_NOPAD.decode(cookie.as_bytes()).ok()?;
        let json = key.open(&sealed, FLOW_CONTEXT).ok()?;
        let flow: Flow = serde_json::from_slice(&json).ok()?;
        (flow.expires_at > now_ms).then_some(flow)
    }

    /// Whether `state` (from the provider's redirect) is this flow's (constant time).
    pub fn state_matches(&self, state: &str) -> bool {
        constant_time_eq(self.state.as_bytes(), state.as_bytes())
    }
}

/// The configured providers and what each has told us.
pub struct Providers {
    providers: HashMap<String, Provider>,
    /// In configuration order: the buttons' order.
    order: Vec<String>,
}

/// A provider's button.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Button {
    pub name: String,
    pub label: String,
}

struct Provider {
    config: OidcProvider,
    redirect: RedirectUrl,
    http: Result<reqwest::Client, String>,
    cached: Mutex<Option<Cached>>,
}

#[derive(Clone)]
struct Cached {
    metadata: CoreProviderMetadata,
    fetched_at: i64,
}

impl Providers {
    /// The providers of `[[oidc]]`; redirect URIs are `BASE_URL/auth/oidc/NAME/callback`. A
    /// provider whose HTTP client cannot be built is kept and answers `Unreachable` (logged).
    pub fn new(configured: &[OidcProvider], base_url: &str) -> Providers {
        let mut providers = HashMap::new();
        let mut order = Vec::new();
        for config in configured {
            let uri = format!("{}/auth/oidc/{}/callback", base_url.trim_end_matches('/'), config.name);
            let Ok(redirect) = RedirectUrl::new(uri.clone()) else {
                tracing::error!(provider = %config.name, "oidc: redirect URI {uri} is not a URL; provider off");
                continue;
            };
            let http = http_client(config).map_err(|error| {
                tracing::error!(provider = %config.name, %error, "oidc: cannot build the HTTP client");
                error
            });
            order.push(config.name.clone());
            providers.insert(
                config.name.clone(),
                Provider { config: config.clone(), redirect, http, cached: Mutex::new(None) },
            );
        }
        Providers { providers, order }
    }

    /// The buttons of the providers open to agents (`agent`) or end users.
    pub fn buttons(&self, agent: bool) -> Vec<Button> {
        self.order
            .iter()
            .filter_map(|name| self.providers.get(name))
            .filter(|p| if agent { p.config.agents } else { p.config.users })
            .map(|p| Button { name: p.config.name.clone(), label: p.config.label.clone() })
            .collect()
    }

    /// Whether provider `name` exists and is open to that realm.
    pub fn serves(&self, name: &str, agent: bool) -> bool {
        self.providers.get(name).is_some_and(|p| if agent { p.config.agents } else { p.config.users })
    }

    /// How messages name provider `name`: its issuer's host.
    pub fn shown(&self, name: &str) -> String {
        self.providers.get(name).map_or_else(|| name.to_string(), |p| shown(&p.config))
    }

    /// Starts a sign-in at provider `name`: the URL to send the visitor to, and the flow to keep.
    /// Reaches the provider only when its metadata is not cached (or is stale).
    pub async fn begin(&self, name: &str, agent: bool, now_ms: i64) -> Result<(String, Flow), OidcError> {
        let provider = self.get(name)?;
        let metadata = provider.metadata(now_ms, false).await?;
        let client = provider.client(metadata);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &provider.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let flow = Flow {
            provider: name.to_string(),
            agent,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            expires_at: now_ms + FLOW_TTL_MS,
        };
        Ok((url.to_string(), flow))
    }

    /// Ends a sign-in: exchanges `code` (with the flow's PKCE verifier) and checks the ID token
    /// against the flow's nonce, at time `now_ms`. The caller has checked `state` already.
    pub async fn finish(&self, flow: &Flow, code: &str, now_ms: i64) -> Result<Identity, OidcError> {
        let provider = self.get(&flow.provider)?;
        let label = &shown(&provider.config);
        let http = provider.http()?;
        let metadata = provider.metadata(now_ms, false).await?;
        let client = provider.client(metadata);
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|error| provider.unreachable(&format!("no token endpoint: {error}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()));
        let tokens = exchange.request_async(http).await.map_err(|error| match error {
            openidconnect::RequestTokenError::ServerResponse(answer) => {
                tracing::warn!(provider = %flow.provider, error = %answer.error(), "oidc: the token endpoint refused the code");
                OidcError::Provider { by: label.clone(), error: answer.error().to_string() }
            }
            other => provider.unreachable(&format!("token endpoint: {}", error_chain(&other))),
        })?;
        let Some(id_token) = tokens.id_token() else {
            tracing::warn!(provider = %flow.provider, "oidc: the token response has no ID token");
            return Err(OidcError::Invalid(label.clone()));
        };
        let nonce = Nonce::new(flow.nonce.clone());
        let now = time_at(now_ms);
        let verifier = client.id_token_verifier().set_time_fn(move || now);
        let claims = match id_token.claims(&verifier, &nonce).cloned() {
            Ok(claims) => claims,
            // Keys rotated since we cached them (a `kid` we do not have, or, from a provider that
            // names no `kid`, a signature our key does not verify): fetch them once more, then
            // judge again. Each try cost the provider a code exchange already.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey | SignatureVerificationError::CryptoError(_),
            )) => {
                let metadata = provider.metadata(now_ms, true).await?;
                let client = provider.client(metadata);
                let verifier = client.id_token_verifier().set_time_fn(move || now);
                id_token.claims(&verifier, &nonce).cloned().map_err(|error| provider.invalid(&error))?
            }
            Err(error) => return Err(provider.invalid(&error)),
        };
        identity(&provider.config, &claims)
    }

    fn get(&self, name: &str) -> Result<&Provider, OidcError> {
        self.providers.get(name).ok_or_else(|| OidcError::Invalid(name.to_string()))
    }
}

/// The provider's `error` and `error_description` as one short line for the page: printable
/// characters only, cut at a bound.
pub fn provider_error_text(error: &str, description: Option<&str>) -> String {
    let clean = |text: &str| -> String {
        text.chars()
            .filter(|c| !c.is_control())
            .take(MAX_PROVIDER_TEXT)
            .collect::<String>()
            .trim()
            .to_string()
    };
    match description.map(clean).filter(|d| !d.is_empty()) {
        Some(description) => format!("{} ({description})", clean(error)),
        None => clean(error),
    }
}

impl Provider {
    fn http(&self) -> Result<&reqwest::Client, OidcError> {
        self.http.as_ref().map_err(|_| OidcError::Unreachable(shown(&self.config)))
    }

    /// The cached metadata, fetched (discovery, then the keys) when missing, stale or `refresh`.
    /// One fetch at a time per provider: sign-ins arriving meanwhile wait for its answer.
    async fn metadata(&self, now_ms: i64, refresh: bool) -> Result<CoreProviderMetadata, OidcError> {
        let mut cached = self.cached.lock().await;
        if let Some(found) = cached.as_ref().filter(|c| !refresh && now_ms - c.fetched_at < METADATA_TTL_MS) {
            return Ok(found.metadata.clone());
        }
        let http = self.http()?;
        let metadata = match (refresh, cached.as_ref()) {
            // Only the keys changed: fetch them alone.
            (true, Some(found)) => {
                let jwks = CoreJsonWebKeySet::fetch_async(found.metadata.jwks_uri(), http)
                    .await
                    .map_err(|error| self.unreachable(&format!("signing keys: {}", error_chain(&error))))?;
                found.metadata.clone().set_jwks(jwks)
            }
            _ => {
                let issuer = IssuerUrl::new(self.config.issuer.clone())
                    .map_err(|error| self.unreachable(&format!("issuer URL: {error}")))?;
                CoreProviderMetadata::discover_async(issuer, http)
                    .await
                    .map_err(|error| self.unreachable(&format!("discovery: {}", error_chain(&error))))?
            }
        };
        *cached = Some(Cached { metadata: metadata.clone(), fetched_at: now_ms });
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        let secret = self.config.client_secret.as_ref().map(|s| ClientSecret::new(s.expose().to_string()));
        CoreClient::from_provider_metadata(metadata, ClientId::new(self.config.client_id.clone()), secret)
            .set_redirect_uri(self.redirect.clone())
    }

    fn unreachable(&self, what: &str) -> OidcError {
        tracing::warn!(provider = %self.config.name, "oidc: {what}");
        OidcError::Unreachable(shown(&self.config))
    }

    fn invalid(&self, error: &ClaimsVerificationError) -> OidcError {
        tracing::warn!(provider = %self.config.name, %error, "oidc: ID token refused");
        OidcError::Invalid(shown(&self.config))
    }
}

/// The identity in verified `claims`: the address must be there and `email_verified` true.
fn identity(config: &OidcProvider, claims: &CoreIdTokenClaims) -> Result<Identity, OidcError> {
    let email = claims.email().map(|e| e.as_str().trim().to_lowercase()).filter(|e| e.contains('@'));
    let (Some(email), Some(true)) = (email, claims.email_verified()) else {
        tracing::info!(provider = %config.name, "oidc: sign-in refused: no verified address in the ID token");
        return Err(OidcError::Unverified(shown(config)));
    };
    let name = claims
        .name()
        .and_then(|names| names.get(None))
        .map(|name| name.as_str().chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|name| !name.trim().is_empty());
    Ok(Identity {
        issuer: claims.issuer().as_str().to_string(),
        subject: claims.subject().as_str().to_string(),
        email,
        name,
    })
}

/// How messages name a provider: the host of its issuer (`id.example.com`), which the visitor saw
/// in the address bar at the provider.
fn shown(config: &OidcProvider) -> String {
    openidconnect::url::Url::parse(&config.issuer)
        .ok()
        .and_then(|url| url.host_str().map(str::to_string))
        .unwrap_or_else(|| config.name.clone())
}

/// `openidconnect` judges expiry by this clock (the application's, so tests can pin it).
fn time_at(now_ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(now_ms).single().unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// reqwest on the project's rustls (ring), the public and system roots plus `ca_file`; no
/// redirects (a provider's endpoints are where its metadata says), bounded in time.
fn http_client(config: &OidcProvider) -> Result<reqwest::Client, String> {
    let roots = crate::tls::root_store(&config.extra_roots, true);
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|error| error.to_string())
}

/// An error and its causes on one line, for the log.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretBox {
        SecretBox::from_key_material(&[7u8; 32]).unwrap()
    }

    fn flow() -> Flow {
        Flow {
            provider: "example".into(),
            agent: false,
            state: "s".repeat(22),
            nonce: "n".repeat(22),
            verifier: "v".repeat(43),
            expires_at: 1_000,
        }
    }

    #[test]
    fn a_sealed_flow_opens_only_with_its_key_and_before_it_expires() {
        let sealed = flow().seal(&key());
        assert_eq!(Flow::open(&sealed, &key(), 999), Some(flow()));
        assert_eq!(Flow::open(&sealed, &key(), 1_000), None, "expired");
        let other = SecretBox::from_key_material(&[8u8; 32]).unwrap();
        assert_eq!(Flow::open(&sealed, &other, 0), None, "another key");
        let mut bytes = data_encoding::BASE64URL_NOPAD.decode(sealed.as_bytes()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = data_encoding::BASE64URL_NOPAD.encode(&bytes);
        assert_eq!(Flow::open(&tampered, &key(), 0), None, "altered");
        assert_eq!(Flow::open("not base64!", &key(), 0), None);
        assert_eq!(Flow::open(&"A".repeat(5000), &key(), 0), None, "oversized");
    }

    #[test]
    fn state_is_compared_whole() {
        let flow = flow();
        assert!(flow.state_matches(&"s".repeat(22)));
        assert!(!flow.state_matches(&"s".repeat(21)));
        assert!(!flow.state_matches(""));
    }

    #[test]
    fn provider_errors_become_one_short_printable_line() {
        assert_eq!(provider_error_text("access_denied", None), "access_denied");
        assert_eq!(
            provider_error_text("access_denied", Some("The user\r\ndenied <b>it</b>")),
            "access_denied (The userdenied <b>it</b>)"
        );
        assert_eq!(provider_error_text(&"x".repeat(1000), Some("")).len(), MAX_PROVIDER_TEXT);
    }
}
