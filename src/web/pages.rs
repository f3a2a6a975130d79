//! The page templates (tera), embedded in the binary; HTML is escaped automatically.

use std::path::Path;

use arc_swap::ArcSwap;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::views::ticket::{Message, NotFound};
use super::views::{self, View};

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
    /// Each page is rendered with its view's sample and variants (`web::views`): an override that
    /// uses a variable its page is not given fails here, naming the page and the variable.
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
        // A broken override fails at load, not for a visitor.
        if errors.is_empty() {
            for (name, _, file) in sources.iter().filter(|(name, _, _)| !is_fragment(name)) {
                if let Err(message) = pages.check(name) {
                    errors.push(PageError { file: file.clone(), message });
                }
            }
        }
        if errors.is_empty() { Ok(Pages { current: ArcSwap::from_pointee(pages) }) } else { Err(errors) }
    }

    /// Takes `fresh`'s pages (a reload); requests already rendering finish on the old ones.
    pub fn replace(&self, fresh: Pages) {
        self.current.store(fresh.current.load_full());
    }

    /// `view`'s page (plus `instance_name`), or a plain 500 if rendering fails.
    pub fn show<V: View>(&self, status: StatusCode, view: &V) -> Response {
        match self.current.load().try_render(V::PAGE, view) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(error) => internal(&error),
        }
    }

    pub fn not_found(&self) -> Response {
        self.show(StatusCode::NOT_FOUND, &NotFound {})
    }

    /// 503: the database cannot answer now. The one page for it, on the ticket pages, the portal
    /// and the console: it says "try again", never "not found".
    pub fn unavailable(&self) -> Response {
        self.show(
            StatusCode::SERVICE_UNAVAILABLE,
            &Message::new(
                "Please try again shortly",
                "We cannot answer this right now. Nothing you sent is lost; try again in a minute.",
            ),
        )
    }
}

impl PageSet {
    fn try_render(&self, page: &str, context: &impl serde::Serialize) -> Result<String, String> {
        let mut context = tera::Context::from_serialize(context).map_err(|e| e.to_string())?;
        context.insert("instance_name", &self.instance_name);
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

    /// Renders `page` with each of its view's contexts; the first failure, naming the page.
    fn check(&self, page: &str) -> Result<(), String> {
        let Some(view) = views::of(page) else {
            return Err(format!("{page} has no view to check it with (a mailgate bug)"));
        };
        for context in (view.contexts)() {
            self.try_render(page, &context).map_err(|error| {
                format!("{page} is given only {}: {error}", views::variables(page).join(", "))
            })?;
        }
        Ok(())
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

fn internal(error: &str) -> Response {
    tracing::error!(
        %error,
        "web: a page failed to render (an override in templates.web_dir? `mailgate check-config` checks them)"
    );
    (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::views::console::{self, Console, ConsoleView};
    use crate::web::views::ticket::TicketPage;

    fn body(response: Response) -> String {
        let bytes =
            futures::executor::block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Renders `page` with its view's sample, as `show` does.
    fn sample_page(pages: &Pages, page: &str) -> Response {
        let view = views::of(page).unwrap_or_else(|| panic!("{page} has no view"));
        let context = (view.contexts)().remove(0);
        match pages.current.load().try_render(page, &context) {
            Ok(html) => (StatusCode::OK, Html(html)).into_response(),
            Err(error) => internal(&error),
        }
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
    fn an_override_using_a_variable_of_another_page_fails_at_load_naming_page_and_variable() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        // Every page was once checked with one context holding every page's variables: this loaded.
        write(
            "access.html.tera",
            "{% extends \"layout.html\" %}{% block main %}#{{ ticket.number }}{% endblock main %}",
        );
        let Err(errors) = Pages::new("S", Some(dir.path())) else {
            panic!("access.html with a ticket loads")
        };
        let [error] = errors.as_slice() else { panic!("{errors:?}") };
        assert!(error.file.ends_with("access.html.tera"), "{error}");
        assert!(error.message.contains("access.html") && error.message.contains("ticket.number"), "{error}");
        assert!(error.message.contains("is given only csrf, sent"), "{error}");
    }

    #[test]
    fn an_override_must_render_with_the_sparse_variant_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("console")).unwrap();
        // The account manager is optional: without an `{% if %}` the page fails for most organizations.
        std::fs::write(
            dir.path().join("console/org.html.tera"),
            "{% extends \"console/layout.html\" %}{% block console %}{{ console.manager.name }}{% endblock console %}",
        )
        .unwrap();
        let Err(errors) = Pages::new("S", Some(dir.path())) else { panic!("an unguarded option loads") };
        assert!(errors.iter().any(|e| e.message.contains("console.manager")), "{errors:?}");
    }

    #[test]
    fn every_template_that_is_a_page_has_exactly_one_view() {
        let pages: Vec<&str> =
            PAGES.iter().map(|(name, _)| *name).filter(|name| !is_fragment(name)).collect();
        let viewed: Vec<&str> = views::ALL.iter().map(|view| view.page).collect();
        for page in &pages {
            assert_eq!(viewed.iter().filter(|v| *v == page).count(), 1, "{page}: views::ALL");
        }
        for page in &viewed {
            assert!(pages.contains(page), "{page}: a view without a template (or of a fragment)");
        }
    }

    #[test]
    fn every_page_renders_and_escapes() {
        let pages = Pages::new("<Support & Co>", None).unwrap();
        for (page, _) in PAGES.iter().filter(|(name, _)| !is_fragment(name)) {
            let response = sample_page(&pages, page);
            assert_eq!(response.status(), StatusCode::OK, "{page}");
            let html = body(response);
            assert!(html.contains("&lt;Support &amp; Co&gt;"), "{page}: the instance name is escaped");
        }
        let mut ticket = TicketPage::sample();
        ticket.ticket.subject = "<script>x</script>".into();
        ticket.thread.0[0].text = "<b>hi</b>".into();
        let html = body(pages.show(StatusCode::OK, &ticket));
        assert!(html.contains("&lt;script&gt;x") && html.contains("&lt;b&gt;hi"), "{html}");
        assert!(!html.contains("<script>") && !html.contains("<b>hi"), "{html}");

        let mut queue = console::Queue::sample();
        queue.rows.0[0].subject = "<script>x</script>".into();
        let mut ticket = console::Ticket::sample();
        ticket.entries.0[0].text = "<b>hi</b>".into();
        let mut user = console::User::sample();
        user.user.0.name = "<i>Ann</i>".into();
        let viewer = crate::web::console::Viewer {
            agent: crate::core::ids::AgentId(1),
            key: "alice".into(),
            name: "Alice".into(),
            csrf: "csrf".into(),
        };
        for (page, escaped, html) in [
            (
                "console/queue.html",
                "&lt;script&gt;x",
                body(pages.show(StatusCode::OK, &Console::new(&viewer, queue))),
            ),
            (
                "console/ticket.html",
                "&lt;b&gt;hi",
                body(pages.show(StatusCode::OK, &Console::new(&viewer, ticket))),
            ),
            (
                "console/user.html",
                "&lt;i&gt;Ann",
                body(pages.show(StatusCode::OK, &Console::new(&viewer, user))),
            ),
        ] {
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
        assert!(body(sample_page(&pages, "console/orgs.html")).contains("Our customers"));

        std::fs::write(dir.path().join("console/nope.html.tera"), "x").unwrap();
        let Err(errors) = Pages::new("S", Some(dir.path())) else { panic!("an unknown console page loads") };
        assert!(errors.iter().any(|e| e.file.ends_with("nope.html.tera")), "{errors:?}");
    }
}
