//! From mail-parser's `Message` to our `InboundEmail`: decoded headers, addresses, bodies,
//! attachments and the parts of a delivery report. Only mail-parser types in, only core types out.

use std::borrow::Cow;

use mail_parser::decoders::html::html_to_text;
use mail_parser::parsers::MessageStream;
use mail_parser::{
    Address, ContentType, Encoding, GetHeader, HeaderName, HeaderValue, Message, MessagePart, MimeHeaders,
    PartType,
};

use super::address::{AddressEntry, parse_address_list};
use crate::core::address::{EmailAddress, MessageId};
use crate::core::email::{Attachment, InboundEmail, Mailbox, RawHeader, ReportParts};

pub(super) fn inbound_email(message: &Message<'_>, raw: &[u8]) -> InboundEmail {
    let root = message.root_part();
    let headers: Vec<RawHeader> = root
        .headers
        .iter()
        .map(|h| RawHeader {
            name: h.name.as_str().to_ascii_lowercase(),
            value: decode_header_value(raw.get(h.offset_start as usize..h.offset_end as usize)),
        })
        .collect();
    let first = |name: &str| headers.iter().find(|h| h.name == name).map(|h| h.value.as_str());
    let all = |name: &'static str| headers.iter().filter(move |h| h.name == name).map(|h| h.value.as_str());

    let content_type = root.content_type().map_or_else(|| "text/plain".to_string(), mime_type);
    let (to, cc) = (address_header(root, raw, &HeaderName::To), address_header(root, raw, &HeaderName::Cc));
    let report_type = (content_type == "multipart/report")
        .then(|| root.content_type().and_then(|ct| ct.attribute("report-type")))
        .flatten()
        .map(str::to_ascii_lowercase);

    InboundEmail {
        message_id: first("message-id").and_then(|v| message_ids(v).into_iter().next()),
        in_reply_to: all("in-reply-to").flat_map(message_ids).collect(),
        references: all("references").flat_map(message_ids).collect(),
        from: address_header(root, raw, &HeaderName::From).0.into_iter().next(),
        sender: address_header(root, raw, &HeaderName::Sender).0.into_iter().next(),
        reply_to: address_header(root, raw, &HeaderName::ReplyTo).0,
        to: to.0,
        cc: cc.0,
        unreadable_recipients: to.1.into_iter().chain(cc.1).collect(),
        delivered_to: delivered_to(&headers),
        return_path: first("return-path").map(return_path),
        subject: first("subject").unwrap_or_default().to_string(),
        date: root
            .headers
            .header_value(&HeaderName::Date)
            .and_then(HeaderValue::as_datetime)
            .filter(|d| d.is_valid())
            .map(|d| d.to_timestamp().saturating_mul(1000)),
        content_type,
        report_type,
        text: body_text(message, raw),
        html: body_html(message),
        attachments: attachments(message, raw),
        report: report_parts(message, raw),
        size: raw.len(),
        headers,
    }
}

/// Unfolds and RFC 2047-decodes one raw header value. Raw 8-bit that is not UTF-8 is read as
/// windows-1252, the most common undeclared charset, so it degrades to odd letters, not to U+FFFD.
fn decode_header_value(raw_value: Option<&[u8]>) -> String {
    let raw_value = raw_value.unwrap_or_default();
    let mut bytes: Vec<u8> = match std::str::from_utf8(raw_value) {
        Ok(text) => text.as_bytes().to_vec(),
        Err(_) => windows_1252(raw_value).into_bytes(),
    };
    if bytes.last() != Some(&b'\n') {
        bytes.push(b'\n');
    }
    let value = match MessageStream::new(&bytes).parse_unstructured() {
        HeaderValue::Text(text) => text.into_owned(),
        _ => String::new(),
    };
    value.trim().to_string()
}

fn windows_1252(bytes: &[u8]) -> String {
    mail_parser::decoders::charsets::map::charset_decoder(b"windows-1252")
        .map_or_else(|| String::from_utf8_lossy(bytes).into_owned(), |decode| decode(bytes))
}

/// `type/subtype`, lower-cased; a missing subtype gets the RFC 2045/2046 default for its type.
fn mime_type(ct: &ContentType<'_>) -> String {
    let kind = ct.ctype().to_ascii_lowercase();
    let subtype = ct.subtype().map(str::to_ascii_lowercase).unwrap_or_else(|| {
        match kind.as_str() {
            "text" => "plain",
            "multipart" => "mixed",
            _ => "octet-stream",
        }
        .to_string()
    });
    format!("{kind}/{subtype}")
}

/// Every `<...>` token of a Message-ID list; when there is none, the whitespace-separated words
/// that look like ids (some MUAs drop the brackets).
fn message_ids(value: &str) -> Vec<MessageId> {
    let bracketed: Vec<MessageId> = value
        .split('<')
        .skip(1)
        .filter_map(|rest| rest.split_once('>'))
        .filter_map(|(id, _)| MessageId::parse(id))
        .collect();
    if !bracketed.is_empty() {
        return bracketed;
    }
    value
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|word| word.contains('@'))
        .filter_map(MessageId::parse)
        .collect()
}

/// The mailboxes of every header `name` at the top level (groups flattened), and the entries that
/// name no usable address, as written. Raw 8-bit is read with the subjects' charset fallback;
/// `address::parse_address_list` keeps comments out of names and quoted encoded words literal.
/// Should our reading find nothing at all where mail-parser finds addresses, mail-parser's win.
fn address_header(root: &MessagePart<'_>, raw: &[u8], name: &HeaderName<'_>) -> (Vec<Mailbox>, Vec<String>) {
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    for header in root.headers.iter().filter(|h| &h.name == name) {
        let bytes = raw.get(header.offset_start as usize..header.offset_end as usize).unwrap_or_default();
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text.to_string(),
            Err(_) => windows_1252(bytes),
        };
        let unfolded: String = text.split(['\r', '\n']).collect::<Vec<_>>().join("");
        for entry in parse_address_list(&unfolded) {
            match entry {
                AddressEntry::Mailbox { address, name } => match EmailAddress::parse(&address) {
                    Some(email) => found.push(Mailbox { email, name }),
                    None => unreadable.push(address),
                },
                AddressEntry::Unreadable(text) => unreadable.push(text),
            }
        }
    }
    if found.is_empty() && unreadable.is_empty() {
        found = mailboxes(root, name);
    }
    (found, unreadable)
}

/// mail-parser's reading of every header `name` at the top level, groups flattened, invalid ones
/// skipped.
fn mailboxes(root: &MessagePart<'_>, name: &HeaderName<'_>) -> Vec<Mailbox> {
    let addrs =
        root.headers.iter().filter(|h| &h.name == name).filter_map(|h| h.value.as_address()).flat_map(
            |address| match address {
                Address::List(list) => list.iter().collect::<Vec<_>>(),
                Address::Group(groups) => groups.iter().flat_map(|g| &g.addresses).collect(),
            },
        );
    addrs
        .filter_map(|addr| {
            let email = EmailAddress::parse(addr.address()?)?;
            let name = addr.name().and_then(crate::core::email::clean_display_name);
            Some(Mailbox { email, name })
        })
        .collect()
}

fn delivered_to(headers: &[RawHeader]) -> Vec<EmailAddress> {
    let mut found: Vec<EmailAddress> = Vec::new();
    let envelope = ["delivered-to", "x-original-to", "envelope-to"];
    for header in headers.iter().filter(|h| envelope.contains(&h.name.as_str())) {
        for address in header.value.split(',').filter_map(EmailAddress::parse) {
            if !found.contains(&address) {
                found.push(address);
            }
        }
    }
    found
}

/// `""` for the null path `<>`, else the address without its brackets.
fn return_path(value: &str) -> String {
    let value = value.trim();
    let inner = match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value,
    };
    inner.trim().to_string()
}

/// All text body parts joined with LF line ends; HTML-only bodies are converted to text. A
/// top-level multipart that mail-parser could not split (no usable boundary) is read as text.
fn body_text(message: &Message<'_>, raw: &[u8]) -> String {
    let mut texts: Vec<Cow<'_, str>> = text_body_parts(message)
        .into_iter()
        .filter_map(|id| message.parts.get(id as usize))
        .filter_map(|part| match &part.body {
            PartType::Text(text) if looks_like_html(text) && part_type(part) == "text/plain" => {
                Some(Cow::Owned(html_to_text(text)))
            }
            PartType::Text(text) => Some(repair_charset(part, text, raw)),
            PartType::Html(html) => Some(Cow::Owned(html_to_text(html))),
            _ => None,
        })
        .collect();
    if texts.is_empty()
        && let Some(text) = unsplit_multipart_text(message).or_else(|| top_level_status_text(message, raw))
    {
        texts.push(text);
    }
    texts.join("\n").replace("\r\n", "\n")
}

/// mail-parser's text body parts, with one per `multipart/alternative`: a sender that labels both
/// alternatives `text/plain` (one really HTML) would otherwise show the body twice. The part that
/// is not HTML wins; if all look like HTML, the first.
fn text_body_parts(message: &Message<'_>) -> Vec<u32> {
    let alternative_of = |id: u32| {
        message.parts.iter().position(|part| {
            matches!(&part.body, PartType::Multipart(children) if children.contains(&id))
                && part_type(part) == "multipart/alternative"
        })
    };
    let mut chosen: Vec<(u32, Option<usize>)> = Vec::new();
    for &id in &message.text_body {
        let parent = alternative_of(id);
        let sibling = parent.and_then(|p| chosen.iter().position(|(_, q)| *q == Some(p)));
        match sibling {
            Some(index) => {
                let kept_is_html = part_text(message, chosen[index].0).is_some_and(looks_like_html);
                if kept_is_html && !part_text(message, id).is_some_and(looks_like_html) {
                    chosen[index].0 = id;
                }
            }
            None => chosen.push((id, parent)),
        }
    }
    chosen.into_iter().map(|(id, _)| id).collect()
}

fn part_text<'a>(message: &'a Message<'_>, id: u32) -> Option<&'a str> {
    match &message.parts.get(id as usize)?.body {
        PartType::Text(text) | PartType::Html(text) => Some(text.as_ref()),
        _ => None,
    }
}

/// HTML mislabelled as `text/plain`: it opens with an HTML document or body tag.
fn looks_like_html(text: &str) -> bool {
    let head: String = text.trim_start().chars().take(200).collect::<String>().to_ascii_lowercase();
    ["<!doctype html", "<html", "<body", "<head", "<div", "<p>", "<table"]
        .iter()
        .any(|tag| head.starts_with(tag))
}

/// The fields of a top-level `message/delivery-status`, which is its only text.
fn top_level_status_text<'a>(message: &'a Message<'_>, raw: &'a [u8]) -> Option<Cow<'a, str>> {
    let root = message.root_part();
    matches!(part_type(root).as_str(), "message/delivery-status" | "message/global-delivery-status")
        .then(|| String::from_utf8_lossy(&part_bytes(root, raw)).into_owned().into())
}

/// The body of a top-level multipart that mail-parser could not split (no usable boundary): it
/// keeps it as one opaque part, which is the message text, not an attachment.
fn unsplit_multipart_text<'a>(message: &'a Message<'_>) -> Option<Cow<'a, str>> {
    let root = message.root_part();
    if !root.content_type().is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart")) {
        return None;
    }
    match &root.body {
        PartType::Text(text) => Some(Cow::Borrowed(text.as_ref())),
        PartType::Binary(bytes) => Some(String::from_utf8_lossy(bytes)),
        _ => None,
    }
}

/// A part whose declared charset is wrong (decoding produced U+FFFD) but whose unencoded bytes
/// are valid UTF-8 is read as UTF-8.
fn repair_charset<'a>(part: &MessagePart<'_>, text: &'a str, raw: &'a [u8]) -> Cow<'a, str> {
    if text.contains('\u{FFFD}')
        && part.encoding == Encoding::None
        && let Some(bytes) = raw.get(part.offset_body as usize..part.offset_end as usize)
        && let Ok(utf8) = std::str::from_utf8(bytes)
    {
        return Cow::Borrowed(utf8);
    }
    Cow::Borrowed(text)
}

/// The real HTML parts only: mail-parser also lists text parts here and converts them to HTML.
fn body_html(message: &Message<'_>) -> Option<String> {
    let html: Vec<&str> = message
        .html_body
        .iter()
        .filter_map(|&id| match &message.parts.get(id as usize)?.body {
            PartType::Html(html) => Some(html.as_ref()),
            _ => None,
        })
        .collect();
    (!html.is_empty()).then(|| html.join("\n"))
}

/// The parts a delivery report is read from; they go to `report`, not to `attachments`.
fn is_report_part(content_type: &str) -> bool {
    matches!(
        content_type,
        "message/delivery-status"
            | "message/global-delivery-status"
            | "text/rfc822-headers"
            | "message/global-headers"
    )
}

fn attachments(message: &Message<'_>, raw: &[u8]) -> Vec<Attachment> {
    message
        .attachments
        .iter()
        .filter(|&&id| id != 0 || unsplit_multipart_text(message).is_none())
        .filter_map(|&id| message.parts.get(id as usize))
        .filter_map(|part| {
            let content_type = part_type(part);
            if is_report_part(&content_type) {
                return None;
            }
            let content_id = part
                .content_id()
                .map(|id| id.trim().trim_start_matches('<').trim_end_matches('>').to_string())
                .filter(|id| !id.is_empty());
            let inline = match part.content_disposition() {
                Some(disposition) => disposition.is_inline(),
                None => content_id.is_some() || matches!(part.body, PartType::InlineBinary(_)),
            };
            Some(Attachment {
                filename: part.attachment_name().map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
                content_type,
                content_id,
                inline,
                data: part_bytes(part, raw).into_owned(),
            })
        })
        .collect()
}

/// `type/subtype` of a part, defaulting by what mail-parser made of it.
fn part_type(part: &MessagePart<'_>) -> String {
    part.content_type().map_or_else(
        || {
            match part.body {
                PartType::Text(_) => "text/plain",
                PartType::Html(_) => "text/html",
                PartType::Message(_) => "message/rfc822",
                _ => "application/octet-stream",
            }
            .to_string()
        },
        mime_type,
    )
}

/// The decoded content of a part; for a nested message, its raw bytes.
fn part_bytes<'a>(part: &'a MessagePart<'_>, raw: &'a [u8]) -> Cow<'a, [u8]> {
    match &part.body {
        PartType::Text(text) | PartType::Html(text) => Cow::Borrowed(text.as_bytes()),
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => Cow::Borrowed(bytes.as_ref()),
        // An unencoded nested message shares the outer buffer (its `raw_message` is the whole
        // outer message), so its bytes are the part's span; an encoded one owns its decoded bytes.
        PartType::Message(_) if part.encoding == Encoding::None => {
            Cow::Borrowed(raw.get(part.offset_body as usize..part.offset_end as usize).unwrap_or_default())
        }
        PartType::Message(nested) => Cow::Borrowed(nested.raw_message.as_ref()),
        PartType::Multipart(_) => Cow::Borrowed(&[]),
    }
}

/// Delivery-status text and the returned original's header block, for reports and vendor NDRs
/// that carry a `message/delivery-status` part; `None` for every other message.
fn report_parts(message: &Message<'_>, raw: &[u8]) -> Option<ReportParts> {
    let is_report = message.root_part().content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    let mut status: Vec<String> = Vec::new();
    let mut original: Option<String> = None;
    // The root itself is read only when it is a delivery status (a top-level
    // `message/delivery-status`, no multipart around it).
    let root_is_status = matches!(
        part_type(message.root_part()).as_str(),
        "message/delivery-status" | "message/global-delivery-status"
    );
    for part in message.parts.iter().skip(usize::from(!root_is_status)) {
        match part_type(part).as_str() {
            "message/delivery-status" | "message/global-delivery-status" => {
                let text = String::from_utf8_lossy(&part_bytes(part, raw)).trim().to_string();
                if !text.is_empty() {
                    status.push(text);
                }
            }
            "message/rfc822" | "message/global" | "text/rfc822-headers" | "message/global-headers"
                if original.is_none() =>
            {
                original = Some(header_block(&part_bytes(part, raw)));
            }
            _ => {}
        }
    }
    if !is_report && status.is_empty() {
        return None;
    }
    Some(ReportParts {
        delivery_status: (!status.is_empty()).then(|| status.join("\n\n")),
        original_headers: original.filter(|h| !h.is_empty()),
    })
}

/// The header block of a message: everything before the first blank line.
fn header_block(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_start_matches(['\r', '\n']);
    let end = text.split_inclusive('\n').take_while(|line| !line.trim().is_empty()).map(str::len).sum();
    text[..end].trim_end().to_string()
}
