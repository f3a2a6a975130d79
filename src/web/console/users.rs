//! `/agent/users`: the user directory (search by name or address, sort, pages) and one user's
//! record: profile, custom data, organization, tickets and login state. The record page also
//! carries the password-reset and invitation forms; their handlers belong to the accounts code.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::response::Response;

use super::{PAGE_SIZE, Viewer, custom, notice, page_number, render, unavailable};
use crate::core::ids::UserId;
use crate::store::console as console_store;
use crate::store::users::{self as user_store, UserSort};
use crate::web::WebError;
use crate::web::WebState;
use crate::web::views::Timed;
use crate::web::views::console::Choice;
use crate::web::views::directory::{self as view, Pager, UserProfile};

/// Tickets listed on a user's record.
const USER_TICKETS: i64 = 100;

#[derive(Debug, Default, serde::Deserialize)]
pub struct DirectoryQuery {
    q: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

const SORTS: [(UserSort, &str); 4] = [
    (UserSort::Name, "name"),
    (UserSort::Email, "email"),
    (UserSort::Created, "created"),
    (UserSort::Tickets, "tickets"),
];

pub async fn list(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(query): Query<DirectoryQuery>,
) -> Response {
    let search = query.q.unwrap_or_default().trim().to_string();
    let (sort, sort_name) = SORTS
        .into_iter()
        .find(|(_, name)| query.sort.as_deref() == Some(*name))
        .unwrap_or((UserSort::Name, "name"));
    let page = page_number(query.page.as_deref());
    let text = search.clone();
    // One more than a page: whether there is a next one.
    let found = state
        .app
        .store()
        .read(move |tx| user_store::search_users_page(tx, &text, sort, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE))
        .await;
    let mut users = match found {
        Ok(users) => users,
        Err(error) => return unavailable(&error, "cannot search users").into_response(),
    };
    let more = users.len() as i64 > PAGE_SIZE;
    users.truncate(PAGE_SIZE as usize);
    let link = |sort: &str, page: i64| {
        let mut link = format!("/agent/users?q={}&sort={sort}", form_encode(&search));
        if page > 1 {
            link += &format!("&page={page}");
        }
        link
    };
    let sorts = SORTS
        .iter()
        .map(|(_, name)| Choice { name, link: link(name, 1), current: *name == sort_name })
        .collect();
    let pager = Pager {
        page,
        previous: (page > 1).then(|| link(sort_name, page - 1)),
        next: more.then(|| link(sort_name, page + 1)),
    };
    let page = view::Users { search, sort: sort_name, sorts, users: Timed(users), pager };
    render(&state, &viewer, page)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct RecordQuery {
    done: Option<String>,
    error: Option<String>,
}

pub async fn show(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<RecordQuery>,
) -> Response {
    let Ok(id) = id.parse::<i64>().map(UserId) else { return WebError::NotFound.into_response() };
    let found = state
        .app
        .store()
        .read(move |tx| {
            let Some(user) = console_store::user_record(tx, id)? else { return Ok(None) };
            let history = crate::store::audit::of_user(tx, id, USER_TICKETS)?;
            Ok(Some((user, console_store::user_tickets(tx, id, USER_TICKETS)?, history)))
        })
        .await;
    let (user, tickets, history) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return WebError::NotFound.into_response(),
        Err(error) => return unavailable(&error, "cannot read a user").into_response(),
    };
    let page = view::User {
        user: Timed(UserProfile::from(&user)),
        custom: custom(&user.custom_json),
        tickets: Timed(tickets),
        history: Timed(history),
        notice: notice(query.done.as_deref()),
        error: problem(query.error.as_deref()),
    };
    render(&state, &viewer, page)
}

/// The fixed text of a `?error=` code (the action that was refused); anything else shows nothing,
/// so a link cannot put words of its own on the page.
fn problem(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "reset" => {
            "No reset link was sent: the account is not registered (only a registered account has a password to reset)."
        }
        "invite" => "No invitation was sent: invitations are off here, or the account is not a guest.",
        _ => return None,
    })
}

/// `application/x-www-form-urlencoded` for a query value (the search text in page links).
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_fixed_problems_are_shown() {
        assert!(super::problem(Some("reset")).is_some());
        assert_eq!(super::problem(Some("Your account was locked, call +1 555")), None);
    }

    #[test]
    fn search_text_is_encoded_for_links() {
        assert_eq!(super::form_encode("ann & co@x.com"), "ann+%26+co%40x.com");
    }
}
