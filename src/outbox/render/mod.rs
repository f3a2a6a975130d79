//! Mail templates: turns a template name and its context into the subject, text and HTML of one
//! outgoing mail, using tera 2. Owns the embedded defaults, their file-by-file overrides from
//! `templates.dir`, and their check against the context contract (`outbox::context`, which says
//! what each template is given); it decides nothing about recipients or headers (that is
//! `compose`) and never fills a missing variable with an empty string.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::context::{self, MailContext};
use crate::core::notify::Mail;
use crate::core::quote::REPLY_MARKER;

/// One outgoing mail's text, rendered from a subject + text + HTML template triple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// One line, trimmed: no CR, LF or other control characters, whitespace runs collapsed.
    pub subject: String,
    /// The plain-text body; its first line is the reply marker.
    pub text: String,
    /// The HTML body (auto-escaped); the reply marker is in its first paragraph.
    pub html: String,
}

/// What went wrong loading or rendering templates. `file` is the override's path, or
/// `built-in <file name>` for an embedded default.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "{}: not a mailgate template; expected <name>.subject.tera, <name>.txt.tera or <name>.html.tera \
         with <name> one of: {}",
        path.display(), valid_names()
    )]
    UnknownFile { path: PathBuf },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}: syntax error: {message}", at(file, *line))]
    Syntax { file: String, line: Option<usize>, message: String },
    #[error("{}: `{variable}` is missing for template {template}: {message}", at(file, *line))]
    MissingVariable {
        template: &'static str,
        file: String,
        line: Option<usize>,
        variable: String,
        message: String,
    },
    #[error("{}: cannot render: {message}", at(file, *line))]
    Render { file: String, line: Option<usize>, message: String },
    #[error("template {template}: the context is not usable: {message}")]
    Context { template: &'static str, message: String },
    #[error("{file}: {rule}")]
    Rule { file: String, rule: &'static str },
}

/// The compiled templates: the embedded defaults with any overrides applied.
pub struct Templates {
    tera: tera::Tera,
    /// Every loaded file by its tera name (`<name>.<part>.tera`): where it came from and its text,
    /// which error messages quote from.
    files: BTreeMap<String, SourceFile>,
    /// Per template (indexed by `Mail as usize`), the context paths its files use: checked
    /// before rendering, because tera treats an undefined value in `{% if %}` as false.
    needs: [Vec<Need>; Mail::ALL.len()],
}

impl Templates {
    /// Embedded defaults, each overridable file by file from `dir` (`<name>.subject.tera`,
    /// `<name>.txt.tera`, `<name>.html.tera`). Every problem is returned at once: a file in `dir` that
    /// is not one of ours, an unreadable file, a syntax error, a variable the template's context does
    /// not provide (found by rendering against `sample_context` and a sparse variant of it, and by
    /// checking every variable path the file names), and a text or HTML without the reply marker.
    pub fn load(dir: Option<&Path>) -> Result<Templates, Vec<TemplateError>> {
        let mut errors = Vec::new();
        let mut files = default_files();
        if let Some(dir) = dir {
            read_overrides(dir, &mut files, &mut errors);
        }
        let mut tera = tera::Tera::new();
        tera.autoescape_on([".html.tera"]);
        let mut broken = BTreeSet::new();
        for (key, file) in &files {
            if let Err(error) = tera.add_raw_template(key, &file.content) {
                errors.push(syntax_error(&file.shown, &error));
                broken.insert(key.clone());
            }
        }
        let needs = Mail::ALL.map(|name| needs_of(name, &files));
        let templates = Templates { tera, files, needs };
        for name in Mail::ALL {
            if PARTS.iter().all(|part| !broken.contains(&file_key(name, part))) {
                templates.validate(name, &mut errors);
            }
        }
        if errors.is_empty() { Ok(templates) } else { Err(errors) }
    }

    /// Renders one triple from `context` (a [`MailContext`], or JSON of the same shape). A variable
    /// missing from it is an error naming the template and the variable. HTML is auto-escaped;
    /// subject and text are not.
    pub fn render<C: Serialize + ?Sized>(&self, name: Mail, context: &C) -> Result<Rendered, TemplateError> {
        let unusable = |e: &dyn std::fmt::Display| TemplateError::Context {
            template: name.template(),
            message: e.to_string(),
        };
        let json_context = serde_json::to_value(context).map_err(|e| unusable(&e))?;
        let context = tera::Context::from_serialize(&json_context).map_err(|e| unusable(&e))?;
        if let Some(need) = self
            .needs
            .get(name as usize)
            .into_iter()
            .flatten()
            .find(|need| !has_path(&json_context, &need.path))
        {
            return Err(TemplateError::MissingVariable {
                template: name.template(),
                file: self.files.get(&need.key).map_or_else(|| need.key.clone(), |f| f.shown.clone()),
                line: Some(need.line),
                variable: need.path.clone(),
                message: "absent or null in the context".into(),
            });
        }
        let [subject, text, html] = PARTS.map(|part| self.render_file(name, &file_key(name, part), &context));
        Ok(Rendered { subject: one_line(&subject?), text: text?, html: html? })
    }

    /// The context a template is promised, as JSON, with every field filled (so that previews show
    /// everything and validation takes every `{% if %}` branch). See docs/templates.md.
    pub fn sample_context(name: Mail) -> Value {
        MailContext::sample(name).to_value()
    }
}

/// The three files of a template, in `Rendered` order.
const PARTS: [&str; 3] = ["subject.tera", "txt.tera", "html.tera"];

/// A context path a template uses, and where it is first used.
struct Need {
    path: String,
    key: String,
    line: usize,
}

/// One template file: where it came from (for messages) and its text.
struct SourceFile {
    shown: String,
    content: String,
}

impl Templates {
    fn render_file(&self, name: Mail, key: &str, context: &tera::Context) -> Result<String, TemplateError> {
        let shown = self.files.get(key).map_or(key, |f| f.shown.as_str());
        self.tera.render(key, context).map_err(|error| {
            let source = self.files.get(key).map_or("", |f| f.content.as_str());
            render_error(name, shown, source, &error)
        })
    }

    /// Everything `load` checks for one triple; problems are pushed to `errors`, each once.
    fn validate(&self, name: Mail, errors: &mut Vec<TemplateError>) {
        let sample = Templates::sample_context(name);
        let mut found = Vec::new();
        for context in [&sample, &sparse_context(name)] {
            let Ok(context) = tera::Context::from_serialize(context) else { continue };
            let parts = PARTS.map(|part| self.render_file(name, &file_key(name, part), &context));
            match parts {
                [Ok(subject), Ok(text), Ok(html)] => {
                    let rendered = Rendered { subject: one_line(&subject), text, html };
                    check_rules(name, &rendered, &self.files, &mut found);
                }
                parts => found.extend(parts.into_iter().filter_map(Result::err)),
            }
        }
        for part in PARTS {
            let key = file_key(name, part);
            let Some(file) = self.files.get(&key) else { continue };
            let tokens = variable_tokens(&file.content);
            let roots = self.tera.get_template_variables(&key).unwrap_or_default();
            let unknown_roots = roots.into_iter().filter(|root| sample.get(root).is_none()).map(|root| {
                let line = tokens.iter().find(|(t, _)| t.split('.').next() == Some(root)).map(|(_, l)| *l);
                (root.to_string(), line)
            });
            let unknown_paths =
                tokens.iter().filter(|(t, _)| !provides(&sample, t)).map(|(t, l)| (t.clone(), Some(*l)));
            for (variable, line) in unknown_roots.chain(unknown_paths).collect::<Vec<_>>() {
                if !mentions(&found, &file.shown, &variable) {
                    found.push(TemplateError::MissingVariable {
                        template: name.template(),
                        file: file.shown.clone(),
                        line,
                        variable,
                        message: format!(
                            "not provided to this template, which gets {}",
                            context::variables(name).join(", ")
                        ),
                    });
                }
            }
        }
        for error in found {
            if !errors.contains(&error) {
                errors.push(error);
            }
        }
    }
}

/// The sample context with everything optional emptied (`MailContext::sparse`).
fn sparse_context(name: Mail) -> Value {
    MailContext::sparse(name).to_value()
}

/// Whether a reply to this mail is expected (and so the mail carries the reply marker): every mail
/// but account mail, whose reply would only start a new ticket with a quoted single-use link.
pub fn takes_replies(name: Mail) -> bool {
    !matches!(name, Mail::AccountConfirm | Mail::AccountExists | Mail::AccountInvite | Mail::PasswordReset)
}

/// The promises every override must keep: the quote stripper cuts inbound replies at the marker.
fn check_rules(
    name: Mail,
    rendered: &Rendered,
    files: &BTreeMap<String, SourceFile>,
    found: &mut Vec<TemplateError>,
) {
    let shown = |part: &str| {
        let key = file_key(name, part);
        files.get(&key).map_or(key, |f| f.shown.clone())
    };
    if rendered.subject.is_empty() {
        found.push(TemplateError::Rule { file: shown(PARTS[0]), rule: "the subject must not be empty" });
    }
    if !takes_replies(name) {
        return;
    }
    if rendered.text.lines().next().map(str::trim_end) != Some(REPLY_MARKER) {
        let rule = "the first line of the text must be the reply marker ({{ reply_marker }})";
        found.push(TemplateError::Rule { file: shown(PARTS[1]), rule });
    }
    if !rendered.html.contains(REPLY_MARKER) {
        let rule =
            "the HTML must show the reply marker ({{ reply_marker }}), in a small paragraph at the top";
        found.push(TemplateError::Rule { file: shown(PARTS[2]), rule });
    }
}

fn default_files() -> BTreeMap<String, SourceFile> {
    let mut files = BTreeMap::new();
    for name in Mail::ALL {
        for (part, content) in PARTS.into_iter().zip(embedded(name)) {
            let key = file_key(name, part);
            files.insert(
                key.clone(),
                SourceFile { shown: format!("built-in {key}"), content: content.into() },
            );
        }
    }
    files
}

macro_rules! embedded_triple {
    ($name:literal) => {
        [
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/email/", $name, ".subject.tera")),
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/email/", $name, ".txt.tera")),
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/email/", $name, ".html.tera")),
        ]
    };
}

/// The default subject, text and HTML of `name`, compiled into the binary.
fn embedded(name: Mail) -> [&'static str; 3] {
    match name {
        Mail::NewTicketAutoResponse => embedded_triple!("new_ticket_auto_response"),
        Mail::NewMessageConfirmation => embedded_triple!("new_message_confirmation"),
        Mail::NewTicketAlert => embedded_triple!("new_ticket_alert"),
        Mail::NewMessageAlert => embedded_triple!("new_message_alert"),
        Mail::CollaboratorNotice => embedded_triple!("collaborator_notice"),
        Mail::RejectionNotice => embedded_triple!("rejection_notice"),
        Mail::BounceAlert => embedded_triple!("bounce_alert"),
        Mail::ResponseRelay => embedded_triple!("response_relay"),
        Mail::HeldNotice => embedded_triple!("held_notice"),
        Mail::AssignmentAlert => embedded_triple!("assignment_alert"),
        Mail::OverdueAlert => embedded_triple!("overdue_alert"),
        Mail::ClosedNotice => embedded_triple!("closed_notice"),
        Mail::AccessLink => embedded_triple!("access_link"),
        Mail::AccountConfirm => embedded_triple!("account_confirm"),
        Mail::AccountExists => embedded_triple!("account_exists"),
        Mail::AccountInvite => embedded_triple!("account_invite"),
        Mail::PasswordReset => embedded_triple!("password_reset"),
    }
}

/// Replaces defaults with the files of `dir`; any other entry is an error.
fn read_overrides(dir: &Path, files: &mut BTreeMap<String, SourceFile>, errors: &mut Vec<TemplateError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return errors.push(TemplateError::Io { path: dir.to_path_buf(), message: e.to_string() }),
    };
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => paths.push(entry.path()),
            Err(e) => errors.push(TemplateError::Io { path: dir.to_path_buf(), message: e.to_string() }),
        }
    }
    paths.sort();
    for path in paths {
        let key = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let Some(slot) = files.get_mut(&key) else {
            errors.push(TemplateError::UnknownFile { path });
            continue;
        };
        match std::fs::read_to_string(&path) {
            Ok(content) => *slot = SourceFile { shown: path.display().to_string(), content },
            Err(e) => errors.push(TemplateError::Io { path, message: e.to_string() }),
        }
    }
}

/// A tera error from adding a template, with its line when tera knows it.
fn syntax_error(shown: &str, error: &tera::Error) -> TemplateError {
    let file = shown.to_string();
    match error.kind() {
        tera::ErrorKind::SyntaxError(report) | tera::ErrorKind::RenderingError(report) => {
            TemplateError::Syntax {
                file,
                line: Some(report.span().start_line),
                message: report.message().into(),
            }
        }
        // Unknown filters, tests and includes come as a preformatted report: keep its first line
        // and take the line number from its ` --> name:line:column` pointer.
        other => {
            let text = other.to_string();
            let message = text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
            TemplateError::Syntax { file, line: reported_line(&text), message }
        }
    }
}

/// A tera rendering error; an undefined variable names the whole dotted path (`ticket.url`).
fn render_error(name: Mail, shown: &str, source: &str, error: &tera::Error) -> TemplateError {
    let file = shown.to_string();
    let tera::ErrorKind::RenderingError(report) = error.kind() else {
        let text = error.to_string();
        return TemplateError::Render { file, line: reported_line(&text), message: text };
    };
    let (message, span) = (report.message().to_string(), report.span());
    let undefined = [
        "Variable `",
        "Field `",
        "Tried to render a variable that is undefined",
        "Cannot index into an undefined",
    ];
    if !undefined.iter().any(|prefix| message.starts_with(prefix)) {
        return TemplateError::Render { file, line: Some(span.start_line), message };
    }
    let variable = source
        .get(..span.range.end)
        .map(|head| {
            let in_path = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
            let start =
                head.char_indices().rev().find(|(_, c)| !in_path(*c)).map_or(0, |(i, c)| i + c.len_utf8());
            head.get(start..).unwrap_or_default().to_string()
        })
        .filter(|path| !path.is_empty())
        .or_else(|| source.get(span.range.clone()).map(str::to_string))
        .unwrap_or_default();
    TemplateError::MissingVariable {
        template: name.template(),
        file,
        line: Some(span.start_line),
        variable,
        message,
    }
}

/// The line of a tera report's ` --> name:line:column` pointer.
fn reported_line(report: &str) -> Option<usize> {
    let pointer = report.lines().find_map(|l| l.trim_start().strip_prefix("--> "))?;
    pointer.rsplit(':').nth(1)?.parse().ok()
}

/// Every identifier or dotted path (`ticket.url`) inside `{{ }}` and `{% %}` tags, with its line;
/// string literals and `{# #}` comments are skipped. Keywords and filter names come along and are harmless: only paths
/// rooted in the context are checked. Catches what rendering cannot: a misspelt field in an
/// `{% if %}`, which tera treats as false.
pub(crate) fn variable_tokens(content: &str) -> Vec<(String, usize)> {
    let mut paths = Vec::new();
    let mut rest = content;
    while let Some(open) = rest.find(['{']).map(|i| &rest[i..]) {
        let tags = [("{{", "}}"), ("{%", "%}"), ("{#", "#}")];
        let Some((kind, close)) = tags.iter().find(|(o, _)| open.starts_with(o)) else {
            rest = &open[1..];
            continue;
        };
        let end = open.find(close).map_or(open.len(), |i| i + 2);
        if *kind == "{#" {
            rest = &open[end..];
            continue;
        }
        let tag = &open[..end];
        let tag_start = content.len() - open.len();
        let mut quote = None;
        let mut token_start = None;
        for (i, c) in tag.char_indices().chain([(tag.len(), ' ')]) {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
                None if c.is_alphanumeric() || c == '_' || c == '.' => {
                    token_start.get_or_insert(i);
                    continue;
                }
                None => {}
            }
            if let Some(start) = token_start.take() {
                let token = &tag[start..i];
                let starts_ident = token.starts_with(|c: char| c.is_alphabetic() || c == '_');
                if starts_ident {
                    let line = content[..tag_start + start].matches('\n').count() + 1;
                    paths.push((token.trim_end_matches('.').to_string(), line));
                }
            }
        }
        rest = &open[end..];
    }
    paths
}

/// The paths `name`'s files use that its contract provides, each once, in subject, text, HTML order.
fn needs_of(name: Mail, files: &BTreeMap<String, SourceFile>) -> Vec<Need> {
    let sample = Templates::sample_context(name);
    let mut needs: Vec<Need> = Vec::new();
    for key in PARTS.map(|part| file_key(name, part)) {
        let Some(file) = files.get(&key) else { continue };
        for (path, line) in variable_tokens(&file.content) {
            if has_path(&sample, &path) && !needs.iter().any(|n| n.path == path) {
                needs.push(Need { path, key: key.clone(), line });
            }
        }
    }
    needs
}

/// Whether `context` has a non-null value at the dotted `path` (below a list or a string, anything goes).
fn has_path(context: &Value, path: &str) -> bool {
    let mut value = context;
    for segment in path.split('.') {
        match value {
            Value::Object(map) => match map.get(segment) {
                Some(next) => value = next,
                None => return false,
            },
            Value::Null => return false,
            _ => return true,
        }
    }
    !value.is_null()
}

/// Whether `sample` has `path`, or does not own its root: roots are checked against tera's own list
/// of top-level variables, which knows loop and `set` variables.
fn provides(sample: &Value, path: &str) -> bool {
    path.split('.').next().is_none_or(|root| sample.get(root).is_none()) || has_path(sample, path)
}

fn mentions(found: &[TemplateError], shown: &str, path: &str) -> bool {
    found.iter().any(|e| matches!(e, TemplateError::MissingVariable { file, variable, .. } if file == shown && variable == path))
}

fn file_key(name: Mail, part: &str) -> String {
    format!("{}.{part}", name.template())
}

/// A subject is one header line: control characters (CR, LF, tab) and whitespace runs become one space.
fn one_line(subject: &str) -> String {
    let spaced: String = subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn at(file: &str, line: Option<usize>) -> String {
    match line {
        Some(line) => format!("{file}, line {line}"),
        None => file.to_string(),
    }
}

fn valid_names() -> String {
    Mail::ALL.map(Mail::template).join(", ")
}

#[cfg(test)]
mod tests;
