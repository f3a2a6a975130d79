//! The page templates (tera), embedded in the binary; HTML is escaped automatically.

use std::path::Path;

use arc_swap::ArcSwap;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

/// The pages now in force; [`Pages::replace`] swaps them on reload (a render keeps its snapshot).
pub struct Pages {
    current: ArcSwap<PageSet>,
}

struct PageSet {
    tera: tera::Tera,
    instance_name: String,
}

const PAGES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/web/layout.html.tera")),
    ("ticket.html", include_str!("../../templates/web/ticket.html.tera")),
    ("link_gone.html", include_str!("../../templates/web/link_gone.html.tera")),
    ("not_found.html", include_str!("../../templates/web/not_found.html.tera")),
    ("access.html", include_str!("../../templates/web/access.html.tera")),
    ("too_many.html", include_str!("../../templates/web/too_many.html.tera")),
    ("bad_request.html", include_str!("../../templates/web/bad_request.html.tera")),
    ("formatted.html", include_str!("../../templates/web/formatted.html.tera")),
    // Accounts: the portal and agents' sign-in.
    ("message.html", include_str!("../../templates/web/message.html.tera")),
    ("home.html", include_str!("../../templates/web/home.html.tera")),
    ("login.html", include_str!("../../templates/web/login.html.tera")),
    ("register.html", include_str!("../../templates/web/register.html.tera")),
    ("confirm.html", include_str!("../../templates/web/confirm.html.tera")),
    ("reset.html", include_str!("../../templates/web/reset.html.tera")),
    ("password.html", include_str!("../../templates/web/password.html.tera")),
    ("my_tickets.html", include_str!("../../templates/web/my_tickets.html.tera")),
    ("new_ticket.html", include_str!("../../templates/web/new_ticket.html.tera")),
    ("agent_code.html", include_str!("../../templates/web/agent_code.html.tera")),
    ("agent_2fa.html", include_str!("../../templates/web/agent_2fa.html.tera")),
    // The agent console (web/console): overridden from a `console/` directory inside `web_dir`.
    ("console/layout.html", include_str!("../../templates/web/console/layout.html.tera")),
    // A partial (the tickets table) before the pages that include it: tera resolves includes as
    // each page is added.
    ("console/ticket_table.html", include_str!("../../templates/web/console/ticket_table.html.tera")),
    ("console/queue.html", include_str!("../../templates/web/console/queue.html.tera")),
    ("console/search.html", include_str!("../../templates/web/console/search.html.tera")),
    ("console/ticket.html", include_str!("../../templates/web/console/ticket.html.tera")),
    ("console/users.html", include_str!("../../templates/web/console/users.html.tera")),
    ("console/user.html", include_str!("../../templates/web/console/user.html.tera")),
    ("console/orgs.html", include_str!("../../templates/web/console/orgs.html.tera")),
    ("console/org.html", include_str!("../../templates/web/console/org.html.tera")),
];

/// A page override that cannot be used, with the file it came from.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct PageError {
    pub file: String,
    pub message: String,
}

impl Pages {
    /// The embedded pages, each replaced by `<name>.tera` from `overrides` when present there.
    pub fn new(instance_name: &str, overrides: Option<&Path>) -> Result<Pages, Vec<PageError>> {
        let mut sources: Vec<(String, String, String)> = PAGES
            .iter()
            .map(|(name, content)| (name.to_string(), content.to_string(), format!("built-in {name}.tera")))
            .collect();
        let mut errors = Vec::new();
        if let Some(dir) = overrides {
            read_overrides(dir, &mut sources, &mut errors);
        }
        let mut tera = tera::Tera::default();
        tera.autoescape_on([".html"]);
        for (name, content, file) in &sources {
            if let Err(error) = tera.add_raw_template(name, content) {
                errors.push(PageError { file: file.clone(), message: format!("syntax error: {error}") });
            }
        }
        let pages = PageSet { tera, instance_name: instance_name.to_string() };
        // Render each once with a full context: a broken override fails at load, not for a visitor.
        if errors.is_empty() {
            for (name, _, file) in sources.iter().filter(|(name, _, _)| !is_fragment(name)) {
                if let Err(error) = pages.try_render(name, sample_context()) {
                    errors.push(PageError { file: file.clone(), message: error });
                }
            }
        }
        if errors.is_empty() { Ok(Pages { current: ArcSwap::from_pointee(pages) }) } else { Err(errors) }
    }

    /// Takes `fresh`'s pages (a reload); requests already rendering finish on the old ones.
    pub fn replace(&self, fresh: Pages) {
        self.current.store(fresh.current.load_full());
    }

    /// `page` with `context` (plus `instance_name`), or a plain 500 if rendering fails.
    pub fn render(&self, status: StatusCode, page: &str, context: Value) -> Response {
        self.current.load().render(status, page, context)
    }

    pub fn not_found(&self) -> Response {
        self.render(StatusCode::NOT_FOUND, "not_found.html", json!({}))
    }

    /// 503: the database cannot answer now. The one page for it, on the ticket pages, the portal
    /// and the console: it says "try again", never "not found".
    pub fn unavailable(&self) -> Response {
        self.render(
            StatusCode::SERVICE_UNAVAILABLE,
            "message.html",
            json!({ "title": "Please try again shortly", "text": "We cannot answer this right now. Nothing you sent is lost; try again in a minute." }),
        )
    }
}

impl PageSet {
    fn try_render(&self, page: &str, mut context: Value) -> Result<String, String> {
        context["instance_name"] = json!(self.instance_name);
        let context = tera::Context::from_serialize(&context).map_err(|e| e.to_string())?;
        self.tera.render(page, &context).map_err(|e| {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            message
        })
    }

    fn render(&self, status: StatusCode, page: &str, mut context: Value) -> Response {
        context["instance_name"] = json!(self.instance_name);
        let context = match tera::Context::from_serialize(&context) {
            Ok(context) => context,
            Err(error) => return internal(&error),
        };
        match self.tera.render(page, &context) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(error) => internal(&error),
        }
    }
}

/// Layouts (extended) and partials (included) are never rendered on their own.
fn is_fragment(name: &str) -> bool {
    name == "layout.html" || name.ends_with("/layout.html") || name == "console/ticket_table.html"
}

/// Replaces embedded pages with `<name>.tera` files of `dir` (and `console/<name>.tera` for the
/// console's pages); anything else there is an error.
fn read_overrides(dir: &Path, sources: &mut [(String, String, String)], errors: &mut Vec<PageError>) {
    read_override_dir(dir, "", sources, errors);
}

fn read_override_dir(
    dir: &Path,
    prefix: &str,
    sources: &mut [(String, String, String)],
    errors: &mut Vec<PageError>,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            errors.push(PageError { file: dir.display().to_string(), message: error.to_string() });
            return;
        }
    };
    for path in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
        let file = path.display().to_string();
        if prefix.is_empty() && path.is_dir() && path.file_name().is_some_and(|n| n == "console") {
            read_override_dir(&path, "console/", sources, errors);
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".tera"))
            .map(|n| format!("{prefix}{n}"))
            .unwrap_or_default();
        if name == "site.css" {
            continue;
        }
        let Some(slot) = sources.iter_mut().find(|(page, _, _)| *page == name) else {
            let known: Vec<String> = PAGES.iter().map(|(name, _)| format!("{name}.tera")).collect();
            errors.push(PageError {
                file,
                message: format!("not a mailgate page; expected one of: {}", known.join(", ")),
            });
            continue;
        };
        match std::fs::read_to_string(&path) {
            Ok(content) => *slot = (slot.0.clone(), content, file),
            Err(error) => errors.push(PageError { file, message: error.to_string() }),
        }
    }
}

/// Everything any page may be given, for checking overrides.
fn sample_context() -> Value {
    let mut context = json!({
        "ticket": { "number": "123456", "subject": "Printer on fire", "status": "open", "created_at": 0 },
        "people": [{ "name": "Ann", "email": "ann@acme.com", "role": "owner" }],
        "thread": [{ "id": 1, "has_html": true, "kind": "message", "author": "Ann", "text": "Hi", "created_at": 0,
                     "created": "1970-01-01 00:00:00", "files": [{ "id": 1, "name": "a.txt" }] }],
        "token": "tok", "form_tag": "tag", "can_reply": true, "can_resolve": true,
        "sent": false, "why": "because", "entry": 1, "html": "<p>ok</p>", "remote_images": false,
        "console": console_sample(),
    });
    merge(&mut context, account_sample());
    context
}

/// What the account pages may be given.
fn account_sample() -> Value {
    json!({
        "title": "Done", "text": "All is well.", "csrf": "c", "error": "Wrong password.", "realm": "user",
        "modes": { "register": true, "web_tickets": true, "login_required": false },
        "signed_in": true, "email": "ann@acme.com", "name": "Ann", "action": "/register/tok", "kind": "reset",
        "me": { "name": "Ann", "email": "ann@acme.com" },
        "tickets": [{ "ticket": { "id": 1, "number": "123456", "subject": "Printer", "status": "open", "role": "owner", "updated_at": 0 },
                      "link": "/t/tok", "updated": "2026-01-01 10:00 UTC" }],
        "form": { "email": "ann@acme.com", "name": "Ann", "subject": "Printer", "message": "Hi" },
        "topics": [{ "key": "billing", "name": "Billing", "chosen": true }],
        "state": { "available": true, "enabled": false, "recovery_left": 10 }, "forced": true,
        "enrollment": { "secret": "ABC", "qr": "iVBOR", "url": "otpauth://totp/x" },
        "recovery_codes": ["aaaa-bbbb"],
    })
}

/// Everything the console's pages may be given (web/console renders them all under `console`).
fn console_sample() -> Value {
    let line = json!({
        "number": "123456", "subject": "Printer on fire", "requester_id": 1, "requester_name": "Ann",
        "requester_email": "ann@acme.com", "org_key": "acme", "org_name": "ACME", "assignee": "Alice",
        "priority": "high", "status": "open", "created_at": 0, "created": "1970-01-01 00:00:00",
        "updated_at": 0, "updated": "1970-01-01 00:00:00",
    });
    let mut ticket = line.clone();
    ticket["assignee_kind"] = json!("agent");
    ticket["assignee_key"] = json!("alice");
    let link =
        json!({ "name": "open", "label": "Open", "count": 1, "link": "/agent?queue=open", "current": true });
    let person = json!({ "id": 1, "name": "Ann", "email": "ann@acme.com", "status": "guest" });
    json!({
        "viewer": { "name": "Alice", "key": "alice", "csrf": "csrf" }, "nav": "queues",
        "notice": "Done.", "error": "went wrong",
        "queue": { "name": "open", "label": "Open" }, "tabs": [link], "sorts": [link],
        "team_tabs": [link], "topic_tabs": [link],
        "rows": [line],
        "pager": { "page": 2, "pages": 3, "count": 120, "previous": "/agent?page=1", "next": "/agent?page=3" },
        "ticket": ticket,
        "people": [{ "name": "Ann", "email": "ann@acme.com", "role": "owner" }],
        "entries": [{ "id": 1, "has_html": false, "kind": "note", "author": "Alice", "text": "Hi", "created_at": 0,
                      "created": "1970-01-01 00:00:00", "files": [{ "id": 1, "name": "a.txt" }] }],
        "assignables": [{ "kind": "agent", "key": "alice", "name": "Alice" }],
        "statuses": ["open"], "priorities": ["high"],
        "search": "ann", "sort": "name", "limit": 50,
        "status_filter": [{ "name": "open", "current": true }],
        "users": [{ "id": 1, "email": "ann@acme.com", "name": "Ann", "org_key": "acme", "status": "guest",
                    "tickets": 1, "created_at": 0, "created": "1970-01-01 00:00:00" }],
        "user": { "id": 1, "email": "ann@acme.com", "name": "Ann", "status": "registered", "created_at": 0,
                  "created": "1970-01-01 00:00:00", "has_password": true, "last_login_at": 0,
                  "last_login": "1970-01-01 00:00:00", "org_key": "acme", "org_name": "ACME" },
        "custom": [{ "key": "tier", "value": "gold" }],
        "tickets": [{ "number": "123456", "subject": "Printer on fire", "status": "open", "priority": "high",
                      "role": "owner", "updated_at": 0, "updated": "1970-01-01 00:00:00", "requester_id": 1,
                      "requester_name": "Ann", "requester_email": "ann@acme.com", "assignee": "Alice" }],
        "orgs": [{ "key": "acme", "name": "ACME", "domains": 1, "members": 2, "open_tickets": 3 }],
        "org": { "key": "acme", "name": "ACME" }, "domains": ["acme.com"], "contacts": [person],
        "manager": { "kind": "agent", "key": "alice", "name": "Alice", "mode": "assign" },
        "members": [person], "member_count": 1,
    })
}

/// `value` with a formatted UTC time `x` beside every unix-millisecond field `x_at` (null stays null),
/// in nested objects and arrays too.
pub(crate) fn with_times(value: impl serde::Serialize) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                let times: Vec<(String, Value)> = map
                    .iter()
                    .filter_map(|(key, v)| {
                        let name = key.strip_suffix("_at")?;
                        let shown = match v {
                            Value::Number(n) => json!(n.as_i64().map(crate::clock::format_utc)),
                            Value::Null => Value::Null,
                            _ => return None,
                        };
                        Some((name.to_string(), shown))
                    })
                    .collect();
                map.values_mut().for_each(walk);
                map.extend(times);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(value).unwrap_or(Value::Null);
    walk(&mut value);
    value
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}

fn internal(error: &tera::Error) -> Response {
    tracing::error!(
        %error,
        "web: a page failed to render (an override in templates.web_dir? `mailgate check-config` checks them)"
    );
    (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything any page may be given.
    fn context() -> Value {
        let mut context = json!({
            "ticket": { "number": "123456", "subject": "<script>x</script>", "status": "open", "created_at": 0 },
            "people": [{ "name": "", "email": "ann@acme.com", "role": "owner" }],
            "thread": [{ "id": 1, "has_html": true, "kind": "message", "author": "Ann", "text": "<b>hi</b>", "created_at": 0, "created": "1970-01-01 00:00:00", "files": [{ "id": 1, "name": "a.txt" }] }],
            "token": "tok", "form_tag": "tag", "can_reply": true, "can_resolve": true,
            "sent": false, "why": "because", "entry": 1, "html": "<p>ok</p>", "remote_images": false,
            "console": console_context(),
        });
        merge(&mut context, account_sample());
        context
    }

    /// The console's sample with markup where agents' and customers' text goes.
    fn console_context() -> Value {
        let mut console = console_sample();
        console["rows"][0]["subject"] = json!("<script>x</script>");
        console["entries"][0]["text"] = json!("<b>hi</b>");
        console["user"]["name"] = json!("<i>Ann</i>");
        console
    }

    fn body(response: Response) -> String {
        let bytes =
            futures::executor::block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn overrides_replace_pages_and_broken_ones_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "not_found.html.tera",
            "{% extends \"layout.html\" %}{% block main %}<h1>Lost?</h1>{% endblock main %}",
        );
        let pages = Pages::new("S", Some(dir.path())).unwrap();
        assert!(body(pages.not_found()).contains("<h1>Lost?</h1>"));

        write("ticket.html.tera", "{% if %}");
        write("tciket.html.tera", "typo");
        write("access.html.tera", "{{ nosuch.field }}");
        let Err(errors) = Pages::new("S", Some(dir.path())) else { panic!("broken overrides load") };
        let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(
            errors.iter().any(|e| e.contains("tciket.html.tera") && e.contains("not a mailgate page")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("ticket.html.tera") && e.contains("syntax error")),
            "{errors:?}"
        );
    }

    #[test]
    fn every_page_renders_and_escapes() {
        let pages = Pages::new("<Support & Co>", None).unwrap();
        for (page, _) in PAGES.iter().filter(|(name, _)| !is_fragment(name)) {
            let response = pages.render(StatusCode::OK, page, context());
            assert_eq!(response.status(), StatusCode::OK, "{page}");
            let html = body(response);
            assert!(html.contains("&lt;Support &amp; Co&gt;"), "{page}: the instance name is escaped");
        }
        let html = body(pages.render(StatusCode::OK, "ticket.html", context()));
        assert!(html.contains("&lt;script&gt;x") && html.contains("&lt;b&gt;hi"), "{html}");
        assert!(!html.contains("<script>") && !html.contains("<b>hi"), "{html}");
        for (page, escaped) in [
            ("console/queue.html", "&lt;script&gt;x"),
            ("console/ticket.html", "&lt;b&gt;hi"),
            ("console/user.html", "&lt;i&gt;Ann"),
        ] {
            let html = body(pages.render(StatusCode::OK, page, context()));
            assert!(html.contains(escaped), "{page}: {html}");
            assert!(
                !html.contains("<script>") && !html.contains("<b>hi") && !html.contains("<i>Ann"),
                "{page}"
            );
            assert!(html.contains("action=\"/agent/logout\""), "{page}: the console's navigation");
        }
    }

    #[test]
    fn console_pages_are_overridden_from_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("console")).unwrap();
        std::fs::write(
            dir.path().join("console/orgs.html.tera"),
            "{% extends \"console/layout.html\" %}{% block console %}<h1>Our customers</h1>{% endblock console %}",
        )
        .unwrap();
        let pages = Pages::new("S", Some(dir.path())).unwrap();
        assert!(body(pages.render(StatusCode::OK, "console/orgs.html", context())).contains("Our customers"));

        std::fs::write(dir.path().join("console/nope.html.tera"), "x").unwrap();
        let Err(errors) = Pages::new("S", Some(dir.path())) else { panic!("an unknown console page loads") };
        assert!(errors.iter().any(|e| e.file.ends_with("nope.html.tera")), "{errors:?}");
    }
}
