//! What a ticket page's reply form costs the server, bounded (issue 13 item 4): the body is read
//! field by field and files are spooled to anonymous temp files, never held in memory while they
//! arrive; the size that counts is the size the reply will have as mail (base64 grows files by a
//! third), checked before anything is stored; a few bodies are read at once (the rest wait in the
//! kernel's socket buffers); replies are rate-limited per link and per client; and
//! the replies being turned into mail hold a share of a byte budget, so large ones take turns (memory stays bounded). Parsing and ingest run on the blocking pool.

use std::io::{Read, Seek, SeekFrom};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{WebError, WebState};
use crate::outbox::compose::File;

/// Replies on one link: a burst of 5, then one every 2 minutes.
const PER_LINK: (u32, Duration) = (5, Duration::from_secs(120));
/// Replies from one client address: a burst of 10, then one a minute.
const PER_CLIENT: (u32, Duration) = (10, Duration::from_secs(60));
/// Keys kept before stale ones are dropped.
const MAX_KEYS: usize = 100_000;
/// How long a reply waits for its share of the budget before the page says "try again".
const BUDGET_WAIT: Duration = Duration::from_secs(60);
/// Reply bodies read at once. The multipart reader buffers what the socket has ready faster than
/// it is written to disk; bodies waiting their turn stay in the kernel's socket buffers instead.
const RECEIVING: usize = 4;

/// The reply form's rate limits and the memory budget of replies being turned into mail.
pub struct UploadLimits {
    links: DefaultKeyedRateLimiter<String>,
    clients: DefaultKeyedRateLimiter<IpAddr>,
    /// Permits are KiB of mail being composed and parsed: the largest message we accept, so a reply
    /// of any accepted size fits, small replies run side by side, and large ones take turns (each
    /// costs several times its size while it is composed, parsed and stored, and CPU that the
    /// other requests need).
    budget: Arc<Semaphore>,
    budget_kib: u32,
    receiving: Arc<Semaphore>,
}

impl UploadLimits {
    pub fn new(max_message_bytes: usize) -> UploadLimits {
        let quota = |(burst, period): (u32, Duration)| {
            Quota::with_period(period)
                .expect("a non-zero period")
                .allow_burst(NonZeroU32::new(burst).expect("non-zero"))
        };
        let budget_kib = u32::try_from((max_message_bytes / 1024).max(1)).unwrap_or(u32::MAX);
        UploadLimits {
            links: DefaultKeyedRateLimiter::keyed(quota(PER_LINK)),
            clients: DefaultKeyedRateLimiter::keyed(quota(PER_CLIENT)),
            budget: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
            receiving: Arc::new(Semaphore::new(RECEIVING)),
        }
    }

    /// Whether a reply on `link` (ticket and participant) from `client` may go on; counts it.
    pub fn admit(&self, link: &str, client: IpAddr) -> bool {
        if self.links.len() + self.clients.len() > MAX_KEYS {
            self.links.retain_recent();
            self.clients.retain_recent();
        }
        let link_ok = self.links.check_key(&link.to_string()).is_ok();
        let client_ok = self.clients.check_key(&client).is_ok();
        link_ok && client_ok
    }

    /// A turn to read a reply's body; `None` after waiting [`BUDGET_WAIT`] without one.
    pub async fn receive_turn(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(BUDGET_WAIT, self.receiving.clone().acquire_owned()).await.ok()?.ok()
    }

    /// A share of the budget for a reply of `mail_bytes` (its size as mail); `None` after waiting
    /// [`BUDGET_WAIT`] without one.
    pub async fn reserve(&self, mail_bytes: usize) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(mail_bytes / 1024 + 1).unwrap_or(u32::MAX).min(self.budget_kib);
        tokio::time::timeout(BUDGET_WAIT, self.budget.clone().acquire_many_owned(kib)).await.ok()?.ok()
    }
}

/// Why a reply form was not read.
#[derive(Debug)]
pub enum FormError {
    /// The reply would be larger than `limit` bytes as mail.
    TooLarge { limit: usize },
    /// The upload broke off or was not a form.
    Broken(String),
}

/// A file of the form, on disk.
pub struct SpooledFile {
    pub name: String,
    pub content_type: String,
    file: std::fs::File,
}

/// What a page form posts, files spooled.
#[derive(Default)]
pub struct SpooledForm {
    /// Every text field in order (a name repeated for each value of a multi-choice).
    pub fields: Vec<(String, String)>,
    /// The parts named `files` that carried a file.
    pub files: Vec<SpooledFile>,
    /// The size the reply will have as mail, estimated from the parts (base64 and line breaks).
    pub mail_bytes: usize,
}

impl SpooledForm {
    /// The first value of the text field `name`; empty if the form has none.
    pub fn value(&self, name: &str) -> &str {
        self.fields.iter().find(|(key, _)| key == name).map_or("", |(_, value)| value.as_str())
    }
}

/// Text fields a form may carry; a form with more is not one of ours.
const MAX_TEXT_FIELDS: usize = 200;

/// Header and MIME overhead allowed for, per part and for the message.
const PART_OVERHEAD: usize = 512;

/// Size of `n` bytes in base64 with line breaks every 76 characters (RFC 2045).
pub fn base64_size(n: usize) -> usize {
    let encoded = n.div_ceil(3) * 4;
    encoded + encoded.div_ceil(76) * 2
}

/// Reads the form, spooling files to anonymous temp files, and stops as soon as the reply as mail
/// would pass `limit` bytes.
pub async fn read_spooled(mut multipart: Multipart, limit: usize) -> Result<SpooledForm, FormError> {
    let mut form = SpooledForm { mail_bytes: PART_OVERHEAD, ..SpooledForm::default() };
    let broken = |e: axum::extract::multipart::MultipartError| {
        FormError::Broken(format!("the upload did not arrive whole ({e})"))
    };
    let disk = |e: std::io::Error| FormError::Broken(format!("the upload could not be kept ({e})"));
    while let Some(mut field) = multipart.next_field().await.map_err(broken)? {
        match field.name().unwrap_or_default() {
            "files" => {
                let name = field.file_name().unwrap_or_default().to_string();
                let content_type = field.content_type().unwrap_or("application/octet-stream").to_string();
                let spool = tokio::task::spawn_blocking(tempfile::tempfile)
                    .await
                    .map_err(|e| FormError::Broken(e.to_string()))?
                    .map_err(disk)?;
                let mut spool = tokio::fs::File::from_std(spool);
                let mut size = 0usize;
                form.mail_bytes += PART_OVERHEAD + name.len() * 3;
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    size += chunk.len();
                    if form.mail_bytes + base64_size(size) > limit {
                        return Err(FormError::TooLarge { limit });
                    }
                    spool.write_all(&chunk).await.map_err(disk)?;
                }
                spool.flush().await.map_err(disk)?;
                // A file input with nothing chosen still sends an empty, nameless part.
                if !name.is_empty() && size > 0 {
                    form.mail_bytes += base64_size(size);
                    form.files.push(SpooledFile { name, content_type, file: spool.into_std().await });
                }
            }
            name => {
                if form.fields.len() == MAX_TEXT_FIELDS {
                    return Err(FormError::Broken("the form has more fields than any of our pages".into()));
                }
                let name = name.to_string();
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(broken)? {
                    bytes.extend_from_slice(&chunk);
                    // Text is sent as quoted-printable or base64: at most the base64 size.
                    if form.mail_bytes + base64_size(bytes.len()) > limit {
                        return Err(FormError::TooLarge { limit });
                    }
                }
                form.mail_bytes += base64_size(bytes.len());
                form.fields.push((name, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    Ok(form)
}

/// A page's form as posted: urlencoded (no files), or multipart with its files spooled (read after
/// a turn to receive, sized as mail against `limits.max_message_bytes`). Pages read both alike.
pub struct Posted(pub SpooledForm);

impl FromRequest<WebState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &WebState) -> Result<Self, Self::Rejection> {
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if !content_type.is_some_and(|v| v.starts_with("multipart/form-data")) {
            let Form(fields) = Form::<Vec<(String, String)>>::from_request(request, state)
                .await
                .map_err(IntoResponse::into_response)?;
            let mail_bytes = fields.iter().map(|(_, value)| base64_size(value.len())).sum();
            return Ok(Posted(SpooledForm { fields, files: Vec::new(), mail_bytes }));
        }
        let limit = state.app.settings().limits.max_message_bytes;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        // Files in the form are raw bytes; as mail they grow by a third.
        if declared.is_some_and(|length| length > limit) {
            return Err(too_large(limit).into_response());
        }
        let Some(_turn) = state.uploads.receive_turn().await else {
            return Err(WebError::Unavailable.into_response());
        };
        let multipart = Multipart::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        match read_spooled(multipart, limit).await {
            Ok(form) => Ok(Posted(form)),
            Err(FormError::TooLarge { limit }) => Err(too_large(limit).into_response()),
            Err(FormError::Broken(why)) => Err(WebError::BadRequest(why).into_response()),
        }
    }
}

/// 413: what was written was not sent, and why.
pub fn too_large(limit: usize) -> WebError {
    WebError::TooLarge(format!(
        "your message was not sent: with its files it is too large. A message may be at most {} MB as \
         mail, and files count a third more than their size on disk. Send fewer or smaller files",
        limit / 1_000_000
    ))
}

/// The files of `form`, read back from their spools on the blocking pool.
pub async fn load_files(files: Vec<SpooledFile>) -> std::io::Result<Vec<File>> {
    tokio::task::spawn_blocking(move || files.into_iter().map(SpooledFile::load).collect())
        .await
        .map_err(std::io::Error::other)?
}

impl SpooledFile {
    /// The file's bytes (blocking: call on the blocking pool).
    pub fn load(mut self) -> std::io::Result<File> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut content = Vec::new();
        self.file.read_to_end(&mut content)?;
        Ok(File { name: self.name, content_type: self.content_type, content })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_size_counts_padding_and_line_breaks() {
        assert_eq!(base64_size(0), 0);
        assert_eq!(base64_size(1), 4 + 2);
        assert_eq!(base64_size(57), 76 + 2);
        assert_eq!(base64_size(58), 80 + 4);
        // 18 MB of files are about 24.3 MB as mail: over a 24 MB limit, under the 25 MiB default.
        assert!(base64_size(18_000_000) > 24_000_000 && base64_size(18_000_000) < 26_214_400);
    }

    #[test]
    fn links_and_clients_are_limited_separately() {
        let limits = UploadLimits::new(1024 * 1024);
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        let admitted = (0..6).filter(|_| limits.admit("1 user:1", client)).count();
        assert_eq!(admitted, PER_LINK.0 as usize, "a burst per link");
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let admitted = (0..12).filter(|i| limits.admit(&format!("link {i}"), other)).count();
        assert_eq!(admitted, PER_CLIENT.0 as usize, "a burst per client, whatever the link");
    }
}
