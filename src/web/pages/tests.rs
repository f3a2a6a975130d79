//! Page tests: overrides, the load-time check against each page's view, escaping.

use super::*;
use crate::web::views;
use crate::web::views::console::{self, Console, ConsoleView};
use crate::web::views::ticket::TicketPage;

fn body(response: Response) -> String {
    let bytes = futures::executor::block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).unwrap();
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
    let Err(errors) = Pages::new("S", Some(dir.path())) else { panic!("access.html with a ticket loads") };
    let [error] = errors.as_slice() else { panic!("{errors:?}") };
    assert!(error.file.ends_with("access.html.tera"), "{error}");
    assert!(error.message.contains("access.html") && error.message.contains("ticket.number"), "{error}");
    assert!(error.message.contains("access.html is given csrf, sent"), "{error}");
}

#[test]
fn a_misspelt_variable_in_an_if_is_caught_though_tera_takes_it_as_false() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("console")).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "console/ticket.html.tera",
        "{% extends \"console/layout.html\" %}{% block console %}\n{% if console.notise %}x{% endif %}{% endblock console %}",
    );
    // A layout is checked with every page that extends it.
    write(
        "console/layout.html.tera",
        "{% extends \"layout.html\" %}{% block nav %}{{ console.viewer.name }}{% if console.viewr %}{% endif %}{% endblock nav %}{% block page %}{% block console %}{% endblock console %}{% endblock page %}",
    );
    write("home.html.tera", "{% if signed_on %}hello{% endif %}");
    let Err(errors) = Pages::new("S", Some(dir.path())) else { panic!("misspelt variables load") };
    let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m
                .contains("ticket.html.tera: line 2: `console.notise` is not given to console/ticket.html")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m
                .contains("layout.html.tera: line 1: `console.viewr` is not given to console/queue.html")),
        "{messages:#?}"
    );
    assert!(messages.iter().any(|m| m.contains("`signed_on` is not given to home.html")), "{messages:#?}");
}

#[test]
fn an_override_may_use_loops_sets_filters_and_includes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("console")).unwrap();
    std::fs::write(
        dir.path().join("console/search.html.tera"),
        "{% extends \"console/layout.html\" %}{% block console %}{% set shown = console.rows | length %}\
         {% for row in console.rows %}{% if row.overdue and loop.first %}{{ row.subject | upper }}{% endif %}{% endfor %}\
         {{ shown }} of {{ console.limit }}{% if console.search == \"x\" %}{% include \"console/ticket_table.html\" %}{% endif %}\
         {% endblock console %}",
    )
    .unwrap();
    let pages = Pages::new("S", Some(dir.path())).unwrap_or_else(|e| panic!("{e:#?}"));
    assert!(body(sample_page(&pages, "console/search.html")).contains("PRINTER ON FIRE"));
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
    let pages: Vec<&str> = PAGES.iter().map(|(name, _)| *name).filter(|name| !is_fragment(name)).collect();
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
    let mut user = crate::web::views::directory::User::sample();
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
        ("console/user.html", "&lt;i&gt;Ann", body(pages.show(StatusCode::OK, &Console::new(&viewer, user)))),
    ] {
        assert!(html.contains(escaped), "{page}: {html}");
        assert!(!html.contains("<script>") && !html.contains("<b>hi") && !html.contains("<i>Ann"), "{page}");
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
