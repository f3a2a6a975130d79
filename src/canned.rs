//! Canned responses: saved replies agents insert in the console's reply form, or with
//! `#canned KEY` on a leading line of a mail, filled with the ticket's variables. Declared as
//! `[[canned]]` (key and title) with their text in `templates.dir/canned/KEY.tera`, read and
//! checked with the configuration (`config::canned`). Plain text rendered with tera: no escaping,
//! the result is a mail's text (the console's textarea and the relay escape it where they show it).

use serde::Serialize;

/// One saved reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Canned {
    pub key: String,
    pub title: String,
    /// The tera source.
    #[serde(skip)]
    pub text: String,
}

/// What a canned text may use: `{{ ticket.number }}`, `{{ customer.first_name }}`, ...
#[derive(Clone, Debug, Default, Serialize)]
pub struct Context {
    pub ticket: TicketVars,
    pub customer: CustomerVars,
    pub agent: AgentVars,
    pub instance_name: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TicketVars {
    pub number: String,
    pub subject: String,
    pub status: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CustomerVars {
    /// As the directory has it; may be empty.
    pub name: String,
    /// The first word of the name; empty without a name.
    pub first_name: String,
    pub email: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct AgentVars {
    pub name: String,
}

impl Context {
    /// A context with every variable filled, for checking texts at load.
    pub fn sample() -> Context {
        Context {
            ticket: TicketVars {
                number: "123456".into(),
                subject: "Printer on fire".into(),
                status: "open".into(),
            },
            customer: CustomerVars::new("Ann Example", "ann@example.org"),
            agent: AgentVars { name: "Alice".into() },
            instance_name: "Example Support".into(),
        }
    }
}

impl CustomerVars {
    pub fn new(name: &str, email: &str) -> CustomerVars {
        let first_name = name.split_whitespace().next().unwrap_or_default().to_string();
        CustomerVars { name: name.to_string(), first_name, email: email.to_string() }
    }
}

/// `text` filled from `context`; a syntax error or a variable the context lacks is an error
/// message (tera's, one line).
pub fn render(text: &str, context: &Context) -> Result<String, String> {
    let mut tera = tera::Tera::new();
    tera.add_raw_template("canned", text).map_err(|e| first_line(&e))?;
    let context = tera::Context::from_serialize(context).map_err(|e| first_line(&e))?;
    let rendered = tera.render("canned", &context).map_err(|e| first_line(&e))?;
    Ok(rendered.trim_end().to_string())
}

/// The saved reply `key` in `book` filled from `context`.
pub fn fill(book: &[Canned], key: &str, context: &Context) -> Result<String, String> {
    let canned = book
        .iter()
        .find(|canned| canned.key.eq_ignore_ascii_case(key))
        .ok_or_else(|| format!("no canned response has the key {key:?}"))?;
    render(&canned.text, context).map_err(|error| format!("canned response {}: {error}", canned.key))
}

fn first_line(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    line.trim_start_matches("error: ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_filled_and_a_missing_variable_is_an_error() {
        let text =
            "Hello {{ customer.first_name }},\n\nticket #{{ ticket.number }} is fixed.\n{{ agent.name }}\n\n";
        let filled = render(text, &Context::sample()).unwrap();
        assert_eq!(filled, "Hello Ann,\n\nticket #123456 is fixed.\nAlice");
        assert!(render("{{ customer.nickname }}", &Context::sample()).is_err());
        assert!(render("{% if %}", &Context::sample()).is_err());
        let html = render(
            "{{ ticket.subject }}",
            &Context {
                ticket: TicketVars { subject: "<b>".into(), ..TicketVars::default() },
                ..Context::default()
            },
        );
        assert_eq!(html.unwrap(), "<b>", "plain text: not escaped here");
    }

    #[test]
    fn a_key_is_found_whatever_its_case() {
        let book = [Canned {
            key: "restart".into(),
            title: "Restart".into(),
            text: "Restart it, {{ customer.first_name }}.".into(),
        }];
        assert_eq!(fill(&book, "Restart", &Context::sample()).unwrap(), "Restart it, Ann.");
        assert_eq!(
            fill(&book, "reboot", &Context::sample()).unwrap_err(),
            "no canned response has the key \"reboot\""
        );
    }
}
