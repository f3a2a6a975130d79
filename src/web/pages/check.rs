//! The load-time check of the page templates against their views (`web::views`): each page is
//! rendered with its view's sample and each variant, and every variable path written in its files
//! (the page, the layouts it extends, the partials it includes) is looked up in its sample, because
//! tera takes an undefined value in an `{% if %}` as false. Decides nothing about rendering itself.

use serde_json::Value;

use super::{PageError, PageSet};
use crate::outbox::render::variable_tokens;
use crate::web::views;

/// A template as `Pages::new` holds it: its name, its text, and the file errors name.
pub(super) type Source = (String, String, String);

/// Every problem of `page` with what its view gives it, each pushed to `errors` once.
pub(super) fn page(pages: &PageSet, page: &str, sources: &[Source], errors: &mut Vec<PageError>) {
    let file_of = |name: &str| {
        sources
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or_else(|| name.to_string(), |(_, _, file)| file.clone())
    };
    let mut report = |file: String, message: String| {
        let error = PageError { file, message };
        if !errors.iter().any(|e| e.file == error.file && e.message == error.message) {
            errors.push(error);
        }
    };
    let Some(view) = views::of(page) else {
        report(file_of(page), format!("{page} has no view to check it with (a mailgate bug)"));
        return;
    };
    let given = || format!("{page} is given {}", views::described(page));
    let contexts = (view.contexts)();
    let Some(mut sample) = contexts.first().cloned() else { return };
    if let Some(map) = sample.as_object_mut() {
        map.insert("instance_name".into(), Value::String(pages.instance_name.clone()));
    }
    // Top-level names tera finds in the page and what it uses, loop and `set` variables excepted.
    let roots = pages.tera.get_template_variables(page).unwrap_or_default();
    let unknown_roots: Vec<&str> = roots.into_iter().filter(|root| sample.get(*root).is_none()).collect();
    let mut named = false;
    for name in used_by(page, sources) {
        let Some((_, content, file)) = sources.iter().find(|(n, _, _)| *n == name) else { continue };
        for (path, line) in variable_tokens(content) {
            let root = path.split('.').next().unwrap_or_default();
            let known_root = sample.get(root).is_some();
            if (known_root && !provides(&sample, &path)) || unknown_roots.contains(&root) {
                report(file.clone(), format!("line {line}: `{path}` is not given to {page}; {}", given()));
                named = true;
            }
        }
    }
    // What the paths above cannot see: a field of a loop variable, an optional value used as if
    // it were always there.
    if named {
        return;
    }
    let mut rendered = contexts.iter().map(|context| pages.try_render(page, context));
    if let Some(Err(error)) = rendered.next() {
        report(file_of(page), format!("{page} does not render with its sample: {error}"));
    } else if let Some(error) = rendered.find_map(Result::err) {
        let hint = "what may be empty must be tested with {% if %} (docs/web.md)";
        report(
            file_of(page),
            format!("{page} does not render when a value is empty or absent; {hint}: {error}"),
        );
    }
}

/// `page` and the templates it extends and includes, each once, the page first.
fn used_by(page: &str, sources: &[Source]) -> Vec<String> {
    let mut used = vec![page.to_string()];
    let mut next = 0;
    while let Some(name) = used.get(next).cloned() {
        next += 1;
        let Some((_, content, _)) = sources.iter().find(|(n, _, _)| *n == name) else { continue };
        for referenced in referenced(content) {
            if !used.contains(&referenced) {
                used.push(referenced);
            }
        }
    }
    used
}

/// The names in `{% extends "..." %}` and `{% include "..." %}` tags.
fn referenced(content: &str) -> Vec<String> {
    let tags = content.split("{%").skip(1).filter_map(|tag| tag.split("%}").next());
    tags.filter_map(|tag| {
        let tag = tag.trim_start_matches('-').trim();
        let rest = tag.strip_prefix("extends").or_else(|| tag.strip_prefix("include"))?.trim_start();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        rest[1..].split(quote).next().map(str::to_string)
    })
    .collect()
}

/// Whether `sample` has the dotted `path` (below a list or a value, anything goes: loop
/// variables and filters are tera's to check).
fn provides(sample: &Value, path: &str) -> bool {
    let mut value = sample;
    for segment in path.split('.') {
        match value {
            Value::Object(map) => match map.get(segment) {
                Some(next) => value = next,
                None => return false,
            },
            _ => return true,
        }
    }
    true
}
