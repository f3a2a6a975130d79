//! View tests: the samples, the contract in docs/web.md, and the shapes templates read.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::doc_tables::table_after;

fn leaves(value: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| leaves(v, &format!("{path}.{k}"), out)),
        Value::Array(items) if !items.is_empty() => {
            items.iter().for_each(|item| leaves(item, &format!("{path}[]"), out))
        }
        _ => out.push((path.trim_start_matches('.').to_string(), value.clone())),
    }
}

#[test]
fn a_sample_fills_every_field_and_its_variants_have_no_other_variables() {
    for view in ALL {
        let mut contexts = (view.contexts)().into_iter();
        let sample = contexts.next().unwrap_or_else(|| panic!("{}: no sample", view.page));
        let mut filled = Vec::new();
        leaves(&sample, "", &mut filled);
        for (path, value) in &filled {
            let empty = value.is_null()
                || value.as_str() == Some("")
                || value.as_array().is_some_and(Vec::is_empty)
                || value.as_object().is_some_and(|map| map.is_empty());
            assert!(!empty, "{}: the sample leaves {path} empty: {value}", view.page);
        }
        let given: BTreeSet<String> = variables(view.page).into_iter().collect();
        for variant in contexts {
            let mut paths = Vec::new();
            collect_paths(&variant, "", &mut paths);
            for path in paths {
                // An empty list (`files[]`) has no items to name their fields.
                let known = given.iter().any(|g| {
                    g == &path
                        || g.starts_with(&format!("{path}."))
                        || path.ends_with("[]") && g.starts_with(&path)
                });
                assert!(known, "{}: a variant has {path}, the sample not", view.page);
            }
        }
    }
}

#[test]
fn every_page_has_one_view() {
    let pages: Vec<&str> = ALL.iter().map(|view| view.page).collect();
    let unique: BTreeSet<&str> = pages.iter().copied().collect();
    assert_eq!(unique.len(), pages.len(), "a page with two views: {pages:?}");
    assert!(of("layout.html").is_none() && of("console/ticket_table.html").is_none());
}

#[test]
fn a_console_page_has_everything_under_console_with_the_viewer_and_the_navigation() {
    let queue = serde_json::to_value(Console::<console::Queue>::sample()).unwrap();
    let keys: Vec<&String> = queue.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["console"]);
    assert_eq!(queue["console"]["viewer"], json!({ "name": "Alice", "key": "alice", "csrf": "csrf" }));
    assert_eq!(queue["console"]["nav"], "queues");
    assert_eq!(queue["console"]["queue"]["label"], "Open");
    for view in ALL.iter().filter(|view| view.page.starts_with("console/")) {
        let variables = variables(view.page);
        assert!(variables.iter().all(|v| v.starts_with("console.")), "{}", view.page);
        assert!(variables.contains(&"console.nav".to_string()), "{}", view.page);
    }
    let search = serde_json::to_value(Console::<console::Search>::sample()).unwrap();
    assert_eq!(search["console"]["nav"], "search");
}

#[test]
fn times_are_formatted_beside_their_fields() {
    let value = serde_json::to_value(Timed(
        json!({ "updated_at": 0, "last_login_at": null, "rows": [{ "created_at": 86_400_000 }] }),
    ))
    .unwrap();
    assert_eq!(value["updated"], "1970-01-01 00:00:00");
    assert_eq!(value["last_login"], Value::Null);
    assert_eq!(value["rows"][0]["created"], "1970-01-02 00:00:00");
}

#[test]
fn the_variables_of_a_page_come_from_its_struct() {
    assert_eq!(variables("not_found.html"), Vec::<String>::new());
    assert_eq!(variables("access.html"), ["csrf", "sent"]);
    let ticket = variables("ticket.html");
    for path in ["ticket.number", "thread[].created", "thread[].files[].name", "people[].role"] {
        assert!(ticket.contains(&path.to_string()), "{path}: {ticket:?}");
    }
    assert!(variables("agent_2fa.html").contains(&"recovery_codes[]".to_string()), "a list of words");
    let queue = variables("console/queue.html");
    assert!(queue.contains(&"console.rows[].due".to_string()), "{queue:?}");
    assert!(queue.contains(&"console.pager.count".to_string()), "{queue:?}");
    assert!(!variables("console/users.html").contains(&"console.pager.count".to_string()));
}

#[test]
fn what_a_page_is_given_is_described_as_the_docs_write_it() {
    assert_eq!(described("access.html"), "csrf, sent");
    assert_eq!(described("not_found.html"), "nothing but instance_name");
    let user = described("console/user.html");
    assert!(user.contains("console.custom[].{key, value}, console.error, console.fields[]."), "{user}");
    assert!(user.contains("console.{nav, notice}"), "{user}");
    assert!(user.contains("console.viewer.{csrf, key, name}"), "{user}");
}

/// The code spans of a markdown cell that look like page variables (`ticket.number`,
/// `thread[].files[].name`); `prefix.{a, b}` stands for `prefix.a` and `prefix.b`.
fn variables_in(cell: &str) -> Vec<String> {
    let is_path = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|part| {
                let part = part.strip_suffix("[]").unwrap_or(part);
                part.starts_with(|c: char| c.is_ascii_lowercase())
                    && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
    };
    let mut found = Vec::new();
    for span in cell.split('`').skip(1).step_by(2) {
        match span.split_once('{') {
            Some((prefix, rest)) => {
                for name in rest.trim_end_matches('}').split(',') {
                    let path = format!("{prefix}{}", name.trim());
                    assert!(is_path(&path), "docs/web.md: {path:?} in {span:?} is not a variable");
                    found.push(path);
                }
            }
            None if is_path(span) => found.push(span.to_string()),
            None => {}
        }
    }
    found
}

#[test]
fn docs_list_exactly_the_variables_each_page_is_given() {
    let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/web.md"));
    let console_common: BTreeSet<String> = table_after(doc, "Every console page also gets")
        .iter()
        .flat_map(|row| variables_in(&row[0]))
        .collect();
    let mut documented = Vec::new();
    for row in table_after(doc, "And by page") {
        let page = row[0].trim_matches('`').to_string();
        let view = of(&page).unwrap_or_else(|| panic!("docs/web.md: {page} is not a page"));
        let listed: BTreeSet<String> = row[1..].iter().flat_map(|cell| variables_in(cell)).collect();
        let mut given: BTreeSet<String> = variables(view.page).into_iter().collect();
        if page.starts_with("console/") {
            assert!(console_common.is_subset(&given), "{page}");
            given = given.difference(&console_common).cloned().collect();
        }
        assert_eq!(listed, given, "docs/web.md, the row of {page}");
        documented.push(view.page);
    }
    let all: Vec<&str> = ALL.iter().map(|view| view.page).collect();
    assert_eq!(documented, all, "each page has one row, in the order of views::ALL");
}
