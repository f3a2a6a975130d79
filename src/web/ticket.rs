//! `/t/<token>`: the ticket as the participant a `view` (or `access`) link was minted for sees it,
//! and what they may do there. The token is checked (MAC in constant time, purpose, expiry), then
//! the participant's current epoch: a forged or altered link is a plain 404, an expired or revoked
//! one a 410 page that says what to do. A GET never writes; the reply and resolve forms POST with a
//! tag binding them to the link (CSRF), and a reply goes through the same ingest path as mail.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::WebState;
use super::upload::{self, FormError};
use super::views::Timed;
use super::views::ticket::{Access, BadRequest, Formatted, LinkGone, TicketPage};
use crate::auth::token::{Claims, Participant, Purpose, TokenError};
use crate::core::ticket::Status;
use crate::ingest::lifecycle::{Actor, Change};
use crate::store::inbound::Source;
use crate::store::{links as link_store, merge as merge_store, web as web_store};
use crate::web::WebError;
use crate::workflow::{ConsoleError, Written};

/// Whom a valid link names, as of now.
struct Reader {
    claims: Claims,
    epoch: u64,
    /// A customer-side reader's address and whether they own the ticket; `None` for agents.
    customer: Option<(String, bool)>,
}

/// Why a link does not open its ticket.
enum Refusal {
    /// Not a link of ours (forged, altered, another purpose): 404.
    NotOurs,
    /// Ours, but expired: 410 with the offer of a fresh link.
    Expired,
}

impl Refusal {
    fn page(self, state: &WebState, token: &str) -> Response {
        match self {
            Refusal::NotOurs => WebError::NotFound.into_response(),
            Refusal::Expired => gone(state, token),
        }
    }
}

/// The claims of a valid, unexpired link.
fn verify(state: &WebState, token: &str) -> Result<Claims, Refusal> {
    let now = state.app.now_ms();
    let keyring = &state.app.settings().keyring;
    // A one-click link from mail, or the short-lived one the access page mails.
    let verified = match keyring.verify_link(token, Purpose::View, now) {
        Err(TokenError::WrongPurpose(_)) => keyring.verify_link(token, Purpose::Access, now),
        other => other,
    };
    match verified {
        Ok(claims) => Ok(claims),
        Err(TokenError::Expired) => Err(Refusal::Expired),
        Err(_) => Err(Refusal::NotOurs),
    }
}

/// The reader of `token`, or the page to answer instead (404, 410, 503).
async fn reader(state: &WebState, token: &str) -> Result<Reader, Response> {
    let claims = verify(state, token).map_err(|refusal| refusal.page(state, token))?;
    let (ticket, participant) = (claims.ticket, claims.participant);
    let found = state
        .app
        .store()
        .read(move |tx| {
            let ticket = merge_store::current_ticket(tx, ticket)?;
            let epoch = link_store::current_epoch(tx, ticket, participant)?;
            Ok((ticket, epoch, web_store::reader(tx, ticket, participant)?))
        })
        .await;
    match found {
        // A merged ticket's link reads and writes the ticket it was merged into.
        Ok((ticket, Some(epoch), customer)) if claims.is_current(epoch) => {
            Ok(Reader { claims: Claims { ticket, ..claims }, epoch, customer })
        }
        // Revoked (the epoch moved on), or the reader no longer takes part.
        Ok(_) => Err(gone(state, token)),
        Err(error) => Err(unavailable(&error)),
    }
}

pub async fn show(State(state): State<WebState>, Path(token): Path<String>) -> Response {
    let claims = match verify(&state, &token) {
        Ok(claims) => claims,
        Err(refusal) => return refusal.page(&state, &token),
    };
    let (ticket, participant) = (claims.ticket, claims.participant);
    let internal = matches!(participant, Participant::Agent(_));
    // One read for the whole page: the reader's standing and everything shown.
    let found = state
        .app
        .store()
        .read(move |tx| {
            // A merged ticket's link shows the ticket it was merged into.
            let ticket = merge_store::current_ticket(tx, ticket)?;
            let Some(epoch) = link_store::current_epoch(tx, ticket, participant)? else { return Ok(None) };
            let customer = web_store::reader(tx, ticket, participant)?;
            let Some(page) = web_store::ticket(tx, ticket)? else { return Ok(None) };
            let people = web_store::people(tx, ticket)?;
            let thread = web_store::thread(tx, ticket, internal)?;
            Ok(Some((epoch, customer, page, people, thread)))
        })
        .await;
    let (customer, page, people, thread) = match found {
        Ok(Some((epoch, customer, page, people, thread))) if claims.is_current(epoch) => {
            (customer, page, people, thread)
        }
        Ok(_) => return gone(&state, &token),
        Err(error) => return unavailable(&error),
    };
    let owner = customer.as_ref().is_some_and(|(_, owner)| *owner);
    let can_resolve = owner && can_be_resolved(page.status);
    let form_tag = state.app.settings().keyring.form_tag(&token);
    let fields = super::console::field_rows(
        &state.app.settings().topics,
        page.topic.as_deref(),
        &page.custom,
        !internal,
    );
    let view = TicketPage {
        fields,
        ticket: page,
        people,
        thread: Timed(thread),
        token,
        form_tag,
        can_reply: customer.is_some(),
        can_resolve,
    };
    state.pages.show(StatusCode::OK, &view)
}

#[derive(serde::Deserialize)]
pub struct FormattedQuery {
    #[serde(default)]
    images: Option<String>,
}

/// `GET /t/<token>/html/<entry>`: a message's HTML part, sanitized; remote images only after the
/// reader asks (`?images=1`), and then only for that response's policy.
pub async fn formatted(
    State(state): State<WebState>,
    Path((token, entry)): Path<(String, i64)>,
    axum::extract::Query(query): axum::extract::Query<FormattedQuery>,
) -> Response {
    let reader = match reader(&state, &token).await {
        Ok(reader) => reader,
        Err(page) => return page,
    };
    let (ticket, internal) =
        (reader.claims.ticket, matches!(reader.claims.participant, Participant::Agent(_)));
    let found = state
        .app
        .store()
        .read(move |tx| {
            Ok((web_store::entry_html(tx, ticket, entry, internal)?, web_store::ticket(tx, ticket)?))
        })
        .await;
    let (html, cids, page) = match found {
        Ok((Some((html, cids)), Some(page))) => (html, cids, page),
        Ok(_) => return WebError::NotFound.into_response(),
        Err(error) => return unavailable(&error),
    };
    let remote_images = query.images.as_deref() == Some("1");
    let clean = super::html::sanitize(&html, &format!("/t/{token}/files/"), &cids, remote_images);
    let view = Formatted { ticket: page, token, entry, html: clean, remote_images };
    let mut response = state.pages.show(StatusCode::OK, &view);
    if remote_images {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static(super::CSP_WITH_REMOTE_IMAGES),
        );
    }
    response
}

/// Files served inline: raster images only (an SVG or HTML file could carry script).
const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// `GET /t/<token>/files/<id>`: an attachment of the ticket, for a reader who may see its entry.
/// Anything but a raster image is sent as a download (`Content-Disposition: attachment`).
pub async fn file(State(state): State<WebState>, Path((token, id)): Path<(String, i64)>) -> Response {
    let reader = match reader(&state, &token).await {
        Ok(reader) => reader,
        Err(page) => return page,
    };
    let (ticket, internal) =
        (reader.claims.ticket, matches!(reader.claims.participant, Participant::Agent(_)));
    let found = state.app.store().read(move |tx| web_store::download(tx, ticket, id, internal)).await;
    let download = match found {
        Ok(Some(download)) => download,
        Ok(None) => return WebError::NotFound.into_response(),
        Err(error) => return unavailable(&error),
    };
    let content_type = download.content_type.to_ascii_lowercase();
    let inline = INLINE_TYPES.contains(&content_type.as_str());
    let served_as = if inline { content_type } else { "application/octet-stream".to_string() };
    let disposition = format!(
        "{}; filename=\"{}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        download
            .name
            .chars()
            .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
            .collect::<String>(),
        percent_encode(&download.name),
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, served_as), (header::CONTENT_DISPOSITION, disposition)],
        download.content,
    )
        .into_response()
}

/// RFC 5987 `attr-char` percent-encoding of a file name.
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'!'
            | b'#'
            | b'$'
            | b'&'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `POST /t/<token>`: the reader's reply (text and files), ingested as their mail. The link is
/// checked and the reply counted against its rate limits before the body is read; files are
/// spooled to disk as they arrive; a reply too large as mail is refused with a page saying so.
pub async fn reply(
    State(state): State<WebState>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    multipart: Multipart,
) -> Response {
    let limit = state.app.settings().limits.max_message_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let reader = match reader(&state, &token).await {
        Ok(reader) => reader,
        Err(page) => return page,
    };
    let Some((email, _)) = reader.customer.clone() else { return WebError::NotFound.into_response() };
    // Files in the form are raw bytes; as mail they grow by a third: a body whose raw size already
    // passes the limit cannot fit.
    if declared.is_some_and(|length| length > limit) {
        return too_large(limit);
    }
    let link = format!("{} {}", reader.claims.ticket, reader.claims.participant);
    if !state.uploads.admit(&link, state.accounts.client_address(peer.ip(), &headers)) {
        return WebError::TooMany.into_response();
    }
    let Some(receiving) = state.uploads.receive_turn().await else { return busy(&state) };
    let form = match upload::read_spooled(multipart, limit).await {
        Ok(form) => form,
        Err(FormError::TooLarge { limit }) => return too_large(limit),
        Err(FormError::Broken(why)) => return bad_request(&why),
    };
    drop(receiving);
    if !state.app.settings().keyring.check_form_tag(&token, form.value("form_tag")) {
        return bad_request("the form is out of date; reload the page and try again");
    }
    if form.value("text").trim().is_empty() && form.files.is_empty() {
        return back_to(&token);
    }
    let ticket = reader.claims.ticket;
    let subject = match state.app.store().read(move |tx| web_store::ticket(tx, ticket)).await {
        Ok(Some(page)) => format!("Re: [#{}] {}", page.number, page.subject),
        Ok(None) => return WebError::NotFound.into_response(),
        Err(error) => return unavailable(&error),
    };
    // Large replies take turns: the budget bounds the memory of replies being turned into mail.
    let Some(_permit) = state.uploads.reserve(form.mail_bytes).await else {
        return busy(&state);
    };
    let text = form.value("text").to_string();
    let files = match upload::load_files(form.files).await {
        Ok(files) => files,
        Err(error) => return failed(&error, "an uploaded file could not be read back"),
    };
    let written = Written {
        ticket,
        participant: reader.claims.participant,
        epoch: reader.epoch,
        from: email,
        subject,
        text,
        files,
    };
    match state.workflows.write_as(written, Purpose::Reply, Source::Web).await {
        Ok(_) => back_to(&token),
        Err(ConsoleError::TooLarge { limit, .. }) => too_large(limit),
        Err(error) => failed(&error, "a reply could not be stored"),
    }
}

/// 413: the reply was not sent, and why.
fn too_large(limit: usize) -> Response {
    upload::too_large(limit).into_response()
}

/// 503 with Retry-After: too many large replies are being processed right now.
fn busy(state: &WebState) -> Response {
    let why =
        "your reply was not sent: the server is busy with other large replies. Please try again in a minute";
    let mut page = state.pages.show(StatusCode::SERVICE_UNAVAILABLE, &BadRequest { why: why.into() });
    page.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
    page
}

/// `POST /t/<token>/resolve`: the owner marks the ticket resolved.
pub async fn resolve(
    State(state): State<WebState>,
    Path(token): Path<String>,
    multipart: Multipart,
) -> Response {
    let (reader, _) = match posted(&state, &token, multipart).await {
        Ok(posted) => posted,
        Err(page) => return page,
    };
    let Some((email, true)) = reader.customer else { return WebError::NotFound.into_response() };
    // The rule the page shows the button by: only an open or pending ticket can be resolved.
    let ticket = reader.claims.ticket;
    match state.app.store().read(move |tx| web_store::ticket(tx, ticket)).await {
        Ok(Some(page)) if can_be_resolved(page.status) => {}
        Ok(Some(_)) => {
            return bad_request("this ticket is not open, so it cannot be marked resolved");
        }
        Ok(None) => return WebError::NotFound.into_response(),
        Err(error) => return unavailable(&error),
    }
    let change = Change::Status(Status::Resolved);
    match state.workflows.change_as(reader.claims.ticket, Actor::Customer(email), change).await {
        Ok(()) => back_to(&token),
        Err(error) => failed(&error, "a ticket could not be resolved"),
    }
}

/// Whether the owner may mark a ticket in `status` resolved (the page's button and the handler).
fn can_be_resolved(status: Status) -> bool {
    matches!(status, Status::Open | Status::Pending)
}

/// The customer-side reader of a page's form and what it posted, once its tag proves it came from
/// that page. Agents have no forms (they answer by mail): 404.
async fn posted(
    state: &WebState,
    token: &str,
    multipart: Multipart,
) -> Result<(Reader, upload::SpooledForm), Response> {
    let reader = reader(state, token).await?;
    if reader.customer.is_none() {
        return Err(WebError::NotFound.into_response());
    }
    // The resolve form carries only its tag.
    let form = upload::read_spooled(multipart, 64 * 1024).await.map_err(|error| match error {
        FormError::TooLarge { .. } => bad_request("the form was not what this page sends"),
        FormError::Broken(why) => bad_request(&why),
    })?;
    if !state.app.settings().keyring.check_form_tag(token, form.value("form_tag")) {
        return Err(bad_request("the form is out of date; reload the page and try again"));
    }
    Ok((reader, form))
}

/// The 410 page, offering to mail a fresh link (to the link's participant, never to the reader).
fn gone(state: &WebState, token: &str) -> Response {
    let tag = state.app.settings().keyring.form_tag(token);
    state.pages.show(StatusCode::GONE, &LinkGone { token: token.to_string(), form_tag: tag })
}

#[derive(serde::Deserialize)]
pub struct RenewForm {
    #[serde(default)]
    form_tag: String,
}

/// `POST /t/<token>/renew`: mails a fresh link to the participant an expired or revoked link
/// names, when they still take part. The answer is the same whatever happens; rate-limited.
pub async fn renew(
    State(state): State<WebState>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Form(form): Form<RenewForm>,
) -> Response {
    let keyring = &state.app.settings().keyring;
    let signed = keyring
        .verify_link_signature(&token, Purpose::View)
        .or_else(|_| keyring.verify_link_signature(&token, Purpose::Access));
    let Ok(claims) = signed else { return WebError::NotFound.into_response() };
    if !keyring.check_form_tag(&token, &form.form_tag) {
        return bad_request("the form is out of date; reload the page and try again");
    }
    let key = format!("link {} {}", claims.ticket, claims.participant);
    if !state.limits.admit(state.accounts.client_address(peer.ip(), &headers), &key) {
        return WebError::TooMany.into_response();
    }
    let workflows = state.workflows.clone();
    tokio::spawn(async move {
        if let Err(error) = workflows.renew_link(claims.ticket, claims.participant).await {
            tracing::warn!(%error, "link renewal: could not queue a link");
        }
    });
    state.pages.show(StatusCode::OK, &Access { sent: true, csrf: String::new() })
}

/// Post/redirect/get: back to the page, which now shows the change.
fn back_to(token: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, format!("/t/{token}"))]).into_response()
}

fn bad_request(why: &str) -> Response {
    WebError::bad_request(why).into_response()
}

fn unavailable(error: &crate::store::StoreError) -> Response {
    failed(error, "cannot read a ticket page")
}

/// 503 "try again" after logging `what` went wrong (never the path: it holds the token).
fn failed(error: &dyn std::fmt::Display, what: &str) -> Response {
    WebError::unavailable(error, what).into_response()
}
