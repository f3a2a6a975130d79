//! The typed context of every web page: one `#[derive(Serialize)]` struct per page (pages of one
//! shape share one), which handlers fill and `Pages::show` renders. Each view names its page and
//! builds its own samples, so the load-time check of overrides (`Pages::new`) renders every page with
//! exactly what it is given: an override that uses a variable its page does not get fails at load.
//! [`ALL`] is the one list of pages and their views; docs/web.md lists their variables (checked by
//! a test). Mail templates follow the same design in `outbox::context`. Views decide nothing: they
//! are what a handler found, in the shape its template reads.

pub mod account;
pub mod console;
pub mod directory;
pub mod portal;
mod samples;
pub mod ticket;

use serde::{Serialize, Serializer};
use serde_json::Value;

pub use console::{Console, ConsoleView};

/// A page's context. `instance_name` is added to every page by `Pages`.
pub trait View: Serialize {
    /// The template this view renders (`ticket.html`, `console/queue.html`).
    const PAGE: &'static str;

    /// Every field filled and every list with an item, so the check takes each `{% if %}` with a
    /// value and previews show everything.
    fn sample() -> Self;

    /// The sample's other sides: what may be empty emptied (`None`, empty lists and strings) and the
    /// other branch of each choice the sample makes (a form already sent, a page without a form).
    /// An override must render with each of them too.
    fn variants() -> Vec<Self>
    where
        Self: Sized,
    {
        Vec::new()
    }
}

/// A page and the contexts it is checked with.
pub struct PageView {
    pub page: &'static str,
    /// The sample, then its variants, as JSON.
    pub contexts: fn() -> Vec<Value>,
}

/// Every page and its view: the one list of them (a test checks it against the templates).
pub const ALL: &[PageView] = &[
    checked::<ticket::TicketPage>(),
    checked::<ticket::LinkGone>(),
    checked::<ticket::NotFound>(),
    checked::<ticket::Access>(),
    checked::<ticket::TooMany>(),
    checked::<ticket::BadRequest>(),
    checked::<ticket::Formatted>(),
    checked::<ticket::Message>(),
    checked::<portal::Home>(),
    checked::<portal::Login>(),
    checked::<portal::Register>(),
    checked::<portal::Confirm>(),
    checked::<portal::Reset>(),
    checked::<portal::Password>(),
    checked::<portal::MyTickets>(),
    checked::<portal::NewTicket>(),
    checked::<portal::AgentCode>(),
    checked::<portal::AgentTwoFactor>(),
    checked::<portal::SignedIn>(),
    checked::<Console<console::Queue>>(),
    checked::<Console<console::Search>>(),
    checked::<Console<console::NewTicket>>(),
    checked::<Console<console::Ticket>>(),
    checked::<Console<directory::Users>>(),
    checked::<Console<directory::User>>(),
    checked::<Console<directory::Orgs>>(),
    checked::<Console<directory::Org>>(),
    checked::<account::Profile>(),
    checked::<account::ChangePassword>(),
    checked::<Console<account::AgentAccount>>(),
];

/// The view of `page`, if it is a page (not a layout or a partial).
pub fn of(page: &str) -> Option<&'static PageView> {
    ALL.iter().find(|view| view.page == page)
}

/// Every variable `page` is given besides `instance_name`, as dotted paths, sorted; the items of a
/// list are `list[].field` (a list of words is `list[]`).
pub fn variables(page: &str) -> Vec<String> {
    let mut paths = Vec::new();
    if let Some(sample) = of(page).and_then(|view| (view.contexts)().into_iter().next()) {
        collect_paths(&sample, "", &mut paths);
    }
    paths.sort();
    paths
}

/// [`variables`] for a reader: the fields of one object together (`me.{email, name}`), as
/// docs/web.md writes them.
pub fn described(page: &str) -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for path in variables(page) {
        let (parent, field) = match path.rsplit_once('.') {
            Some((parent, field)) => (format!("{parent}."), field.to_string()),
            None => (String::new(), path),
        };
        match groups.last_mut() {
            Some((last, fields)) if *last == parent && !parent.is_empty() => fields.push(field),
            _ => groups.push((parent, vec![field])),
        }
    }
    let shown: Vec<String> = groups
        .into_iter()
        .map(|(parent, fields)| match fields.as_slice() {
            [field] => format!("{parent}{field}"),
            _ => format!("{parent}{{{}}}", fields.join(", ")),
        })
        .collect();
    if shown.is_empty() { "nothing but instance_name".to_string() } else { shown.join(", ") }
}

/// `T` with a formatted UTC time `x` ("2026-12-04 10:00:00", or null) beside each unix-millisecond
/// field `x_at` (null stays null), in nested objects and lists too.
#[derive(Clone, Debug)]
pub struct Timed<T>(pub T);

impl<T: Serialize> Serialize for Timed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.0).map_err(serde::ser::Error::custom)?;
        add_times(&mut value);
        value.serialize(serializer)
    }
}

const fn checked<V: View>() -> PageView {
    PageView { page: V::PAGE, contexts: contexts::<V> }
}

fn contexts<V: View>() -> Vec<Value> {
    // Serializing strings, numbers and lists cannot fail; were it to, the context would be `null`,
    // which no page renders with, so the check reports it.
    std::iter::once(V::sample())
        .chain(V::variants())
        .map(|view| serde_json::to_value(view).unwrap_or_default())
        .collect()
}

fn add_times(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let times: Vec<(String, Value)> = map
                .iter()
                .filter_map(|(key, v)| {
                    let name = key.strip_suffix("_at")?;
                    let shown = match v {
                        Value::Number(n) => n.as_i64().map(crate::clock::format_utc).into(),
                        Value::Null => Value::Null,
                        _ => return None,
                    };
                    Some((name.to_string(), shown))
                })
                .collect();
            map.values_mut().for_each(add_times);
            map.extend(times);
        }
        Value::Array(items) => items.iter_mut().for_each(add_times),
        _ => {}
    }
}

fn collect_paths(value: &Value, prefix: &str, paths: &mut Vec<String>) {
    let join = |key: &str| if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") };
    match value {
        Value::Object(map) => map.iter().for_each(|(key, value)| collect_paths(value, &join(key), paths)),
        Value::Array(items) => match items.first() {
            Some(item @ Value::Object(_)) => collect_paths(item, &format!("{prefix}[]"), paths),
            _ => paths.push(format!("{prefix}[]")),
        },
        _ => paths.push(prefix.to_string()),
    }
}

#[cfg(test)]
mod tests;
