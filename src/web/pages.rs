//! The page templates (tera), embedded in the binary; HTML is escaped automatically.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

pub struct Pages {
    tera: tera::Tera,
    instance_name: String,
}

const PAGES: [(&str, &str); 8] = [
    ("layout.html", include_str!("../../templates/web/layout.html.tera")),
    ("ticket.html", include_str!("../../templates/web/ticket.html.tera")),
    ("link_gone.html", include_str!("../../templates/web/link_gone.html.tera")),
    ("not_found.html", include_str!("../../templates/web/not_found.html.tera")),
    ("access.html", include_str!("../../templates/web/access.html.tera")),
    ("too_many.html", include_str!("../../templates/web/too_many.html.tera")),
    ("bad_request.html", include_str!("../../templates/web/bad_request.html.tera")),
    ("formatted.html", include_str!("../../templates/web/formatted.html.tera")),
];

impl Pages {
    pub fn new(instance_name: &str) -> Result<Pages, tera::Error> {
        let mut tera = tera::Tera::default();
        tera.autoescape_on([".html"]);
        for (name, content) in PAGES {
            tera.add_raw_template(name, content)?;
        }
        Ok(Pages { tera, instance_name: instance_name.to_string() })
    }

    /// `page` with `context` (plus `instance_name`), or a plain 500 if rendering fails.
    pub fn render(&self, status: StatusCode, page: &str, mut context: Value) -> Response {
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

    pub fn not_found(&self) -> Response {
        self.render(StatusCode::NOT_FOUND, "not_found.html", json!({}))
    }
}

fn internal(error: &tera::Error) -> Response {
    tracing::error!(%error, "web: a page failed to render");
    (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything any page may be given.
    fn context() -> Value {
        json!({
            "ticket": { "number": "123456", "subject": "<script>x</script>", "status": "open", "created_at": 0 },
            "people": [{ "name": "", "email": "ann@acme.com", "role": "owner" }],
            "thread": [{ "id": 1, "has_html": true, "kind": "message", "author": "Ann", "text": "<b>hi</b>", "created_at": 0, "files": [{ "id": 1, "name": "a.txt" }] }],
            "token": "tok", "form_tag": "tag", "can_reply": true, "can_resolve": true,
            "sent": false, "why": "because", "entry": 1, "html": "<p>ok</p>", "remote_images": false,
        })
    }

    fn body(response: Response) -> String {
        let bytes =
            futures::executor::block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn every_page_renders_and_escapes() {
        let pages = Pages::new("<Support & Co>").unwrap();
        for (page, _) in PAGES.iter().filter(|(name, _)| *name != "layout.html") {
            let response = pages.render(StatusCode::OK, page, context());
            assert_eq!(response.status(), StatusCode::OK, "{page}");
            let html = body(response);
            assert!(html.contains("&lt;Support &amp; Co&gt;"), "{page}: the instance name is escaped");
        }
        let html = body(pages.render(StatusCode::OK, "ticket.html", context()));
        assert!(html.contains("&lt;script&gt;x") && html.contains("&lt;b&gt;hi"), "{html}");
        assert!(!html.contains("<script>") && !html.contains("<b>hi"), "{html}");
    }
}
