//! The page templates (tera), embedded in the binary; HTML is escaped automatically.

use std::path::Path;

mod check;

use arc_swap::ArcSwap;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::views::View;
use super::views::ticket::{Message, NotFound};

/// The pages now in force; [`Pages::replace`] swaps them on reload (a render keeps its snapshot).
pub struct Pages {
    current: ArcSwap<PageSet>,
}

struct PageSet {
    tera: tera::Tera,
    instance_name: String,
}

const PAGES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../../templates/web/layout.html.tera")),
    ("ticket.html", include_str!("../../../templates/web/ticket.html.tera")),
    ("link_gone.html", include_str!("../../../templates/web/link_gone.html.tera")),
    ("not_found.html", include_str!("../../../templates/web/not_found.html.tera")),
    ("access.html", include_str!("../../../templates/web/access.html.tera")),
    ("too_many.html", include_str!("../../../templates/web/too_many.html.tera")),
    ("bad_request.html", include_str!("../../../templates/web/bad_request.html.tera")),
    ("formatted.html", include_str!("../../../templates/web/formatted.html.tera")),
    // Accounts: the portal and agents' sign-in.
    ("message.html", include_str!("../../../templates/web/message.html.tera")),
    ("signed_in.html", include_str!("../../../templates/web/signed_in.html.tera")),
    ("home.html", include_str!("../../../templates/web/home.html.tera")),
    ("login.html", include_str!("../../../templates/web/login.html.tera")),
    ("register.html", include_str!("../../../templates/web/register.html.tera")),
    ("confirm.html", include_str!("../../../templates/web/confirm.html.tera")),
    ("reset.html", include_str!("../../../templates/web/reset.html.tera")),
    ("password.html", include_str!("../../../templates/web/password.html.tera")),
    ("my_tickets.html", include_str!("../../../templates/web/my_tickets.html.tera")),
    ("new_ticket.html", include_str!("../../../templates/web/new_ticket.html.tera")),
    ("agent_code.html", include_str!("../../../templates/web/agent_code.html.tera")),
    ("agent_2fa.html", include_str!("../../../templates/web/agent_2fa.html.tera")),
    // The agent console (web/console): overridden from a `console/` directory inside `web_dir`.
    ("console/layout.html", include_str!("../../../templates/web/console/layout.html.tera")),
    // A partial (the tickets table) before the pages that include it: tera resolves includes as
    // each page is added.
    ("console/ticket_table.html", include_str!("../../../templates/web/console/ticket_table.html.tera")),
    ("console/queue.html", include_str!("../../../templates/web/console/queue.html.tera")),
    ("console/search.html", include_str!("../../../templates/web/console/search.html.tera")),
    ("console/new.html", include_str!("../../../templates/web/console/new.html.tera")),
    ("console/ticket.html", include_str!("../../../templates/web/console/ticket.html.tera")),
    ("console/users.html", include_str!("../../../templates/web/console/users.html.tera")),
    // The temporary-password form, a partial of the user record.
    ("console/user_password.html", include_str!("../../../templates/web/console/user_password.html.tera")),
    ("console/user.html", include_str!("../../../templates/web/console/user.html.tera")),
    ("console/orgs.html", include_str!("../../../templates/web/console/orgs.html.tera")),
    ("console/org.html", include_str!("../../../templates/web/console/org.html.tera")),
    // Self-service: a customer's profile and password, an agent's own account.
    ("profile.html", include_str!("../../../templates/web/profile.html.tera")),
    ("change_password.html", include_str!("../../../templates/web/change_password.html.tera")),
    ("console/account.html", include_str!("../../../templates/web/console/account.html.tera")),
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
    /// Each page is checked against its view (`check`): an override that uses a variable its page
    /// is not given fails here, naming the page and the variable.
    pub fn new(instance_name: &str, overrides: Option<&Path>) -> Result<Pages, Vec<PageError>> {
        let mut sources: Vec<check::Source> = PAGES
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
            for (name, _, _) in sources.iter().filter(|(name, _, _)| !is_fragment(name)) {
                check::page(&pages, name, &sources, &mut errors);
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
}

/// Layouts (extended) and partials (included) are never rendered on their own.
fn is_fragment(name: &str) -> bool {
    name == "layout.html"
        || name.ends_with("/layout.html")
        || name == "console/ticket_table.html"
        || name == "console/user_password.html"
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
mod tests;
