//! Mail templates: a subject + text + HTML triple per mail, rendered with tera. Defaults are embedded
//! in the binary; `templates.dir` overrides them file by file. A variable missing from the context is
//! an error, never an empty string in a customer's mail; HTML is auto-escaped.

use std::path::Path;

use serde_json::{Value, json};

/// The mails mailgate sends from templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TemplateName {
    NewTicketAutoResponse,
    NewMessageConfirmation,
    NewTicketAlert,
    NewMessageAlert,
    CollaboratorNotice,
    RejectionNotice,
    BounceAlert,
}

impl TemplateName {
    pub const ALL: [TemplateName; 7] = [
        TemplateName::NewTicketAutoResponse,
        TemplateName::NewMessageConfirmation,
        TemplateName::NewTicketAlert,
        TemplateName::NewMessageAlert,
        TemplateName::CollaboratorNotice,
        TemplateName::RejectionNotice,
        TemplateName::BounceAlert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TemplateName::NewTicketAutoResponse => "new_ticket_auto_response",
            TemplateName::NewMessageConfirmation => "new_message_confirmation",
            TemplateName::NewTicketAlert => "new_ticket_alert",
            TemplateName::NewMessageAlert => "new_message_alert",
            TemplateName::CollaboratorNotice => "collaborator_notice",
            TemplateName::RejectionNotice => "rejection_notice",
            TemplateName::BounceAlert => "bounce_alert",
        }
    }

    pub fn parse(name: &str) -> Option<TemplateName> {
        TemplateName::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The three files of a template.
const PARTS: [&str; 3] = ["subject.tera", "txt.tera", "html.tera"];

macro_rules! defaults {
    ($($name:literal),* $(,)?) => {
        &[$(
            (concat!($name, ".subject.tera"), include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/email/", $name, ".subject.tera"))),
            (concat!($name, ".txt.tera"), include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/email/", $name, ".txt.tera"))),
            (concat!($name, ".html.tera"), include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/email/", $name, ".html.tera"))),
        )*]
    };
}

/// `(file name, embedded content)` of every default template file.
const DEFAULTS: &[(&str, &str)] = defaults!(
    "new_ticket_auto_response",
    "new_message_confirmation",
    "new_ticket_alert",
    "new_message_alert",
    "collaborator_notice",
    "rejection_notice",
    "bounce_alert",
);

/// One mail's rendered text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// One line, trimmed.
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "{path}: not a mailgate template; the valid names are <name>.{{subject,txt,html}}.tera with <name> one of: {valid}"
    )]
    UnknownFile { path: String, valid: String },
    #[error("{path}: cannot read: {message}")]
    Io { path: String, message: String },
    #[error("template {file}: {message}")]
    Syntax { file: String, message: String },
    #[error("template {file}: {message}")]
    Render { file: String, message: String },
}

/// The compiled templates.
pub struct Templates {
    tera: tera::Tera,
}

impl Templates {
    /// The embedded defaults, each overridable by a file of the same name in `dir`. Every problem
    /// is reported at once: unknown files, unreadable files, syntax errors, and overrides that use a
    /// variable the context does not provide (each template is rendered against the sample context).
    pub fn load(dir: Option<&Path>) -> Result<Templates, Vec<TemplateError>> {
        let mut errors = Vec::new();
        let mut sources: Vec<(String, String)> =
            DEFAULTS.iter().map(|(f, c)| (f.to_string(), c.to_string())).collect();
        if let Some(dir) = dir {
            read_overrides(dir, &mut sources, &mut errors);
        }
        let mut tera = tera::Tera::new();
        tera.autoescape_on([".html.tera"]);
        for (file, content) in &sources {
            if let Err(error) = tera.add_raw_template(file, content) {
                errors.push(TemplateError::Syntax { file: file.clone(), message: describe(&error) });
            }
        }
        let templates = Templates { tera };
        if errors.is_empty() {
            let sample = Templates::sample_context();
            for name in TemplateName::ALL {
                if let Err(error) = templates.render(name, &sample) {
                    errors.push(error);
                }
            }
        }
        if errors.is_empty() { Ok(templates) } else { Err(errors) }
    }

    /// Renders the triple of `name` with `context` (a JSON object).
    pub fn render(&self, name: TemplateName, context: &Value) -> Result<Rendered, TemplateError> {
        let context = tera::Context::from_serialize(context)
            .map_err(|e| TemplateError::Render { file: name.as_str().to_string(), message: describe(&e) })?;
        let mut out = PARTS.iter().map(|part| {
            let file = format!("{}.{part}", name.as_str());
            self.tera
                .render(&file, &context)
                .map_err(|e| TemplateError::Render { message: describe(&e), file })
        });
        let (subject, text, html) = (
            out.next().unwrap_or_else(missing)?,
            out.next().unwrap_or_else(missing)?,
            out.next().unwrap_or_else(missing)?,
        );
        Ok(Rendered { subject: subject.split_whitespace().collect::<Vec<_>>().join(" "), text, html })
    }

    /// A context with every variable any template may use: what the worker provides.
    pub fn sample_context() -> Value {
        json!({
            "instance_name": "Example Support",
            "reply_marker": crate::core::quote::REPLY_MARKER,
            "recipient": { "name": "Jane Doe", "email": "jane@example.org" },
            "ticket": { "id": 1, "number": "123456", "subject": "Printer on fire", "status": "open", "url": "https://help.example.com/t/token" },
            "message": { "text": "It is burning.", "author_name": "Jane Doe", "author_email": "jane@example.org" },
            "owner": { "name": "Jane Doe", "email": "jane@example.org" },
            "organization": "ACME",
            "note_address": "",
            "reason": "the message is larger than 25 MB",
            "bounce": { "recipients": ["jane@example.org"], "diagnostic": "550 5.1.1 user unknown" },
            "in_reply_to": "q1@example.org",
        })
    }
}

fn missing() -> Result<String, TemplateError> {
    Err(TemplateError::Render { file: String::new(), message: "template part missing".to_string() })
}

/// Replaces defaults with the files of `dir`; unknown files are errors.
fn read_overrides(dir: &Path, sources: &mut [(String, String)], errors: &mut Vec<TemplateError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            let path = dir.display().to_string();
            errors.push(TemplateError::Io { path, message: e.to_string() });
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let file = entry.file_name().to_string_lossy().to_string();
        let Some(slot) = sources.iter_mut().find(|(name, _)| *name == file) else {
            let valid = TemplateName::ALL.map(TemplateName::as_str).join(", ");
            errors.push(TemplateError::UnknownFile { path: path.display().to_string(), valid });
            continue;
        };
        match std::fs::read_to_string(&path) {
            Ok(content) => slot.1 = content,
            Err(e) => {
                errors.push(TemplateError::Io { path: path.display().to_string(), message: e.to_string() })
            }
        }
    }
}

/// tera's error with its causes (the cause carries the line and the variable).
fn describe(error: &tera::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_renders_with_the_marker_and_tag() {
        let templates = Templates::load(None).unwrap();
        for name in TemplateName::ALL {
            let r = templates.render(name, &Templates::sample_context()).unwrap();
            assert!(r.text.starts_with(crate::core::quote::REPLY_MARKER), "{name:?}");
            assert!(r.html.contains(crate::core::quote::REPLY_MARKER), "{name:?}");
            assert!(r.subject.contains("[#123456]"), "{name:?}: {}", r.subject);
            assert!(r.text.contains("Example Support"), "{name:?}");
        }
    }

    #[test]
    fn html_is_escaped_and_subjects_are_one_line() {
        let templates = Templates::load(None).unwrap();
        let mut context = Templates::sample_context();
        context["message"]["text"] = json!("<script>alert(1)</script>");
        context["ticket"]["subject"] = json!("two\r\nlines");
        let r = templates.render(TemplateName::NewTicketAutoResponse, &context).unwrap();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.text.contains("<script>"), "plain text is not escaped");
        assert_eq!(r.subject, "[#123456] two lines");
    }

    #[test]
    fn a_missing_variable_is_an_error_naming_it() {
        let templates = Templates::load(None).unwrap();
        let mut context = Templates::sample_context();
        context.as_object_mut().unwrap().remove("instance_name");
        let error = templates.render(TemplateName::NewTicketAlert, &context).unwrap_err().to_string();
        assert!(error.contains("instance_name"), "{error}");
    }

    #[test]
    fn rejection_without_a_ticket_number_has_no_tag() {
        let templates = Templates::load(None).unwrap();
        let mut context = Templates::sample_context();
        context["ticket"]["number"] = json!("");
        let r = templates.render(TemplateName::RejectionNotice, &context).unwrap();
        assert_eq!(r.subject, "Your message could not be accepted");
    }

    #[test]
    fn overrides_replace_one_file_and_problems_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("new_ticket_alert.subject.tera"), "ALERT {{ ticket.number }}")
            .unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let sample = Templates::sample_context();
        assert_eq!(templates.render(TemplateName::NewTicketAlert, &sample).unwrap().subject, "ALERT 123456");
        assert!(templates.render(TemplateName::NewTicketAlert, &sample).unwrap().text.contains("New ticket"));

        std::fs::write(dir.path().join("bounce_alert.txt.tera"), "line one\n{% if %}").unwrap();
        std::fs::write(dir.path().join("new_message_alert.txt.tera"), "{{ no_such_variable }}").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "stray").unwrap();
        let errors: Vec<String> =
            Templates::load(Some(dir.path())).err().unwrap().iter().map(ToString::to_string).collect();
        assert!(
            errors.iter().any(|e| e.contains("notes.txt") && e.contains("not a mailgate template")),
            "{errors:#?}"
        );
        assert!(errors.iter().any(|e| e.contains("bounce_alert.txt.tera")), "{errors:#?}");
        // The unknown-variable override is found once the syntax error is fixed.
        std::fs::remove_file(dir.path().join("bounce_alert.txt.tera")).unwrap();
        std::fs::remove_file(dir.path().join("notes.txt")).unwrap();
        let errors: Vec<String> =
            Templates::load(Some(dir.path())).err().unwrap().iter().map(ToString::to_string).collect();
        assert!(
            errors.iter().any(|e| e.contains("new_message_alert.txt.tera") && e.contains("no_such_variable")),
            "{errors:#?}"
        );
    }
}
