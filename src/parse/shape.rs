//! The MIME shape check: walks the structure the way mail-parser will, without building it, and
//! enforces the depth and part limits before mail-parser allocates anything.

use mail_parser::parsers::MessageStream;
use mail_parser::{GetHeader, HeaderName, HeaderValue, MessageParser};

use super::{Limits, Malformed};

/// How many times mail-parser 0.11 parses a base64/quoted-printable encoded `message/rfc822`
/// part recursively (its `MAX_NESTED_ENCODED`); deeper encoded messages stay opaque bytes.
const ENCODED_MESSAGE_NESTING: usize = 3;

/// Walks the MIME structure the way mail-parser will, without building it, and enforces the depth
/// and part limits. This must happen first: mail-parser parses nesting iteratively, but the
/// `Message` tree it returns is dropped (and, for encoded nested messages, copied) recursively, so
/// ~100k nested `message/rfc822` parts in 3 MB overflow the stack, which no `catch_unwind` stops.
pub(super) fn check_mime_shape(raw: &[u8], limits: &Limits) -> Result<(), Malformed> {
    let mut parts = 0;
    walk_mime(raw, 0, ENCODED_MESSAGE_NESTING, limits, &mut parts)
}

/// One open container during the walk; `depth` is the depth of the entities it contains.
struct Frame {
    boundary: Option<Vec<u8>>,
    is_message: bool,
    is_digest: bool,
    depth: usize,
}

/// Mirrors the control flow of mail-parser's `MessageParser::parse_` using its own stream
/// primitives, so both agree on where parts start and end.
fn walk_mime(
    raw: &[u8],
    base_depth: usize,
    encoded_budget: usize,
    limits: &Limits,
    parts: &mut usize,
) -> Result<(), Malformed> {
    let parser = MessageParser::default();
    let mut stream = MessageStream::new(raw);
    let mut state = Frame { boundary: None, is_message: true, is_digest: false, depth: base_depth };
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        let mut headers = Vec::new();
        if !stream.parse_headers(&parser, &mut headers) {
            return Ok(());
        }
        let depth = state.depth;
        *parts += 1;
        if *parts > limits.max_mime_parts {
            return Err(Malformed::TooManyParts { limit: limits.max_mime_parts });
        }
        if depth > limits.max_mime_depth {
            return Err(Malformed::TooDeep { limit: limits.max_mime_depth });
        }
        let content_type =
            headers.header_value(&HeaderName::ContentType).and_then(HeaderValue::as_content_type);
        let (kind, subtype) = content_type
            .map(|ct| (ct.ctype().to_ascii_lowercase(), ct.subtype().map(str::to_ascii_lowercase)))
            .unwrap_or_default();
        if kind == "multipart"
            && let Some(boundary) = content_type.and_then(|ct| ct.attribute("boundary"))
            && stream.seek_next_part(boundary.as_bytes())
        {
            let is_digest = subtype.as_deref() == Some("digest");
            let boundary = Some(boundary.as_bytes().to_vec());
            stack.push(std::mem::replace(
                &mut state,
                Frame { boundary, is_message: false, is_digest, depth: depth + 1 },
            ));
            stream.skip_crlf();
            continue;
        }
        let is_message = match content_type {
            Some(_) => kind == "message" && matches!(subtype.as_deref(), Some("rfc822" | "global")),
            None => state.is_digest,
        };
        let encoding = headers
            .header_value(&HeaderName::ContentTransferEncoding)
            .and_then(HeaderValue::as_text)
            .map(str::to_ascii_lowercase);
        if is_message && !matches!(encoding.as_deref(), Some("base64" | "quoted-printable")) {
            let boundary = state.boundary.take();
            stack.push(std::mem::replace(
                &mut state,
                Frame { boundary, is_message: true, is_digest: false, depth: depth + 1 },
            ));
            continue;
        }
        let boundary = state.boundary.clone().unwrap_or_default();
        let (end, bytes) = match encoding.as_deref() {
            Some("base64") => stream.decode_base64_mime(&boundary),
            Some("quoted-printable") => stream.decode_quoted_printable_mime(&boundary),
            _ => stream.mime_part(&boundary),
        };
        if end == usize::MAX {
            let (_, boundary_found) = stream.seek_part_end(state.boundary.as_deref());
            if !boundary_found {
                state.boundary = None;
            }
        } else if is_message && encoded_budget > 0 {
            walk_mime(&bytes, depth + 1, encoded_budget - 1, limits, parts)?;
        }
        if state.boundary.is_none() {
            if stream.offset() >= raw.len() {
                return Ok(());
            }
            continue;
        }
        loop {
            if state.is_message {
                let Some(mut parent) = stack.pop() else { return Ok(()) };
                parent.boundary = state.boundary.take();
                state = parent;
            }
            if !stream.is_multipart_end() {
                break;
            }
            let Some(parent) = stack.pop() else { return Ok(()) };
            state = parent;
            match &state.boundary {
                Some(b) if stream.seek_next_part_offset(b).is_some() => continue,
                _ => return Ok(()),
            }
        }
    }
}
