//! Mail templates: turns a template name and its context into the subject, text and HTML of one
//! outgoing mail, using tera 2. Owns the embedded defaults, their file-by-file overrides from
//! `templates.dir`, and their check against the context contract (`outbox::context`, which says
//! what each template is given); it decides nothing about recipients or headers (that is
//! `compose`) and never fills a missing variable with an empty string.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::context::{self, MailContext};
use crate::core::notify::{Mail, WantedVariant, is_variant_name};
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
         with <name> one of: {} (or <name>.VARIANT for a variant, VARIANT in [a-z0-9_-])",
        path.display(), valid_names()
    )]
    UnknownFile { path: PathBuf },
    #[error("{}: the variant {template} also needs {}", dir.display(), missing.join(" and "))]
    IncompleteVariant { dir: PathBuf, template: String, missing: Vec<String> },
    #[error(
        "{at} names the template {template}, which templates.dir does not have: add \
         {template}.subject.tera, {template}.txt.tera and {template}.html.tera there"
    )]
    MissingVariant { at: String, template: String },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}: syntax error: {message}", at(file, *line))]
    Syntax { file: String, line: Option<usize>, message: String },
    #[error("{}: `{variable}` is missing for template {template}: {message}", at(file, *line))]
    MissingVariable { template: String, file: String, line: Option<usize>, variable: String, message: String },
    #[error("{}: cannot render: {message}", at(file, *line))]
    Render { file: String, line: Option<usize>, message: String },
    #[error("template {template}: the context is not usable: {message}")]
    Context { template: &'static str, message: String },
    #[error("{file}: {rule}")]
    Rule { file: String, rule: &'static str },
}

/// The compiled templates: the embedded defaults with any overrides applied, and the variants.
pub struct Templates {
    tera: tera::Tera,
    /// Every loaded file by its tera name (`<name>.<part>.tera`): where it came from and its text,
    /// which error messages quote from.
    files: BTreeMap<String, SourceFile>,
    /// Per triple (each mail's own and each variant), the context paths its files use: checked
    /// before rendering, because tera treats an undefined value in `{% if %}` as false.
    needs: HashMap<Triple, Vec<Need>>,
}

/// One subject + text + HTML triple: a mail's own (`<mail>.<part>.tera`) or a named variant of
/// it (`<mail>.<variant>.<part>.tera`), which gets the same context and keeps the same rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Triple {
    mail: Mail,
    variant: Option<String>,
}

impl Triple {
    fn of(mail: Mail) -> Triple {
        Triple { mail, variant: None }
    }

    /// `new_ticket_auto_response` or `new_ticket_auto_response.billing`.
    fn name(&self) -> String {
        match &self.variant {
            None => self.mail.template().to_string(),
            Some(variant) => format!("{}.{variant}", self.mail.template()),
        }
    }

    fn key(&self, part: &str) -> String {
        format!("{}.{part}", self.name())
    }
}

impl Templates {
    /// Embedded defaults, each overridable file by file from `dir` (`<name>.subject.tera`,
    /// `<name>.txt.tera`, `<name>.html.tera`), and the variants in `dir` (`<name>.VARIANT.<part>.tera`,
    /// all three parts), which must include every one `wanted` names. Every problem is returned at
    /// once: a file in `dir` that is not one of ours, an unreadable file, an incomplete or missing
    /// variant, a syntax error, a variable the template's context does not provide (found by
    /// rendering against `sample_context` and a sparse variant of it, and by checking every variable
    /// path the file names), and a text or HTML without the reply marker.
    pub fn load(dir: Option<&Path>, wanted: &[WantedVariant]) -> Result<Templates, Vec<TemplateError>> {
        let mut errors = Vec::new();
        let mut files = default_files();
        let mut triples: Vec<Triple> = Mail::ALL.into_iter().map(Triple::of).collect();
        if let Some(dir) = dir {
            let variants = read_overrides(dir, &mut files, &mut errors);
            triples.extend(complete_variants(dir, variants, &files, &mut errors));
        }
        for want in wanted {
            let triple = Triple { mail: want.mail, variant: Some(want.name.clone()) };
            if !triples.contains(&triple) && !errors.iter().any(|e| names_incomplete(e, &triple)) {
                errors.push(TemplateError::MissingVariant { at: want.at.clone(), template: triple.name() });
            }
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
        let needs = triples.iter().map(|triple| (triple.clone(), needs_of(triple, &files))).collect();
        let templates = Templates { tera, files, needs };
        for triple in &triples {
            if PARTS.iter().all(|part| !broken.contains(&triple.key(part))) {
                templates.validate(triple, &mut errors);
            }
        }
        if errors.is_empty() { Ok(templates) } else { Err(errors) }
    }

    /// Whether the variant `variant` of `name` was loaded.
    pub fn has_variant(&self, name: Mail, variant: &str) -> bool {
        self.needs.contains_key(&Triple { mail: name, variant: Some(variant.to_string()) })
    }

    /// Renders `name`'s variant `variant` (see [`Templates::render`]); without one, or when it is
    /// not loaded (the configuration changed since the mail was queued), `name` itself.
    pub fn render_variant<C: Serialize + ?Sized>(
        &self,
        name: Mail,
        variant: Option<&str>,
        context: &C,
    ) -> Result<Rendered, TemplateError> {
        let variant = variant.filter(|v| self.has_variant(name, v)).map(str::to_string);
        self.render_triple(&Triple { mail: name, variant }, context)
    }

    /// Renders one triple from `context` (a [`MailContext`], or JSON of the same shape). A variable
    /// missing from it is an error naming the template and the variable. HTML is auto-escaped;
    /// subject and text are not.
    pub fn render<C: Serialize + ?Sized>(&self, name: Mail, context: &C) -> Result<Rendered, TemplateError> {
        self.render_triple(&Triple::of(name), context)
    }

    fn render_triple<C: Serialize + ?Sized>(
        &self,
        triple: &Triple,
        context: &C,
    ) -> Result<Rendered, TemplateError> {
        let name = triple.mail;
        let unusable = |e: &dyn std::fmt::Display| TemplateError::Context {
            template: name.template(),
            message: e.to_string(),
        };
        let json_context = serde_json::to_value(context).map_err(|e| unusable(&e))?;
        let context = tera::Context::from_serialize(&json_context).map_err(|e| unusable(&e))?;
        if let Some(need) =
            self.needs.get(triple).into_iter().flatten().find(|need| !has_path(&json_context, &need.path))
        {
            return Err(TemplateError::MissingVariable {
                template: triple.name(),
                file: self.files.get(&need.key).map_or_else(|| need.key.clone(), |f| f.shown.clone()),
                line: Some(need.line),
                variable: need.path.clone(),
                message: "absent or null in the context".into(),
            });
        }
        let [subject, text, html] = PARTS.map(|part| self.render_file(triple, &triple.key(part), &context));
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
    fn render_file(
        &self,
        triple: &Triple,
        key: &str,
        context: &tera::Context,
    ) -> Result<String, TemplateError> {
        let shown = self.files.get(key).map_or(key, |f| f.shown.as_str());
        self.tera.render(key, context).map_err(|error| {
            let source = self.files.get(key).map_or("", |f| f.content.as_str());
            render_error(triple, shown, source, &error)
        })
    }

    /// Everything `load` checks for one triple; problems are pushed to `errors`, each once.
    fn validate(&self, triple: &Triple, errors: &mut Vec<TemplateError>) {
        let name = triple.mail;
        let sample = Templates::sample_context(name);
        let mut found = Vec::new();
        for context in [&sample, &sparse_context(name)] {
            let Ok(context) = tera::Context::from_serialize(context) else { continue };
            let parts = PARTS.map(|part| self.render_file(triple, &triple.key(part), &context));
            match parts {
                [Ok(subject), Ok(text), Ok(html)] => {
                    let rendered = Rendered { subject: one_line(&subject), text, html };
                    check_rules(triple, &rendered, &self.files, &mut found);
                }
                parts => found.extend(parts.into_iter().filter_map(Result::err)),
            }
        }
        for part in PARTS {
            let key = triple.key(part);
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
                        template: triple.name(),
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
    triple: &Triple,
    rendered: &Rendered,
    files: &BTreeMap<String, SourceFile>,
    found: &mut Vec<TemplateError>,
) {
    let name = triple.mail;
    let shown = |part: &str| {
        let key = triple.key(part);
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
            let key = Triple::of(name).key(part);
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

/// Replaces defaults with the files of `dir` and adds its variant files; any other entry is an
/// error. Returns the variants met (complete or not).
fn read_overrides(
    dir: &Path,
    files: &mut BTreeMap<String, SourceFile>,
    errors: &mut Vec<TemplateError>,
) -> BTreeSet<Triple> {
    let mut variants = BTreeSet::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(TemplateError::Io { path: dir.to_path_buf(), message: e.to_string() });
            return variants;
        }
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
        if key == "canned" && path.is_dir() {
            continue; // the canned responses' texts (`config::canned`)
        }
        if !files.contains_key(&key) {
            match variant_of(&key) {
                Some(triple) => _ = variants.insert(triple),
                None => {
                    errors.push(TemplateError::UnknownFile { path });
                    continue;
                }
            }
        }
        match std::fs::read_to_string(&path) {
            Ok(content) => _ = files.insert(key, SourceFile { shown: path.display().to_string(), content }),
            Err(e) => errors.push(TemplateError::Io { path, message: e.to_string() }),
        }
    }
    variants
}

/// The variant a file name `<mail>.<variant>.<part>` is a part of.
fn variant_of(file_name: &str) -> Option<Triple> {
    let stem = PARTS.iter().find_map(|part| file_name.strip_suffix(part)?.strip_suffix('.'))?;
    let (mail, variant) = stem.split_once('.')?;
    let mail = Mail::from_template(mail)?;
    is_variant_name(variant).then(|| Triple { mail, variant: Some(variant.to_string()) })
}

/// The variants with all three parts; an error for each of the others.
fn complete_variants(
    dir: &Path,
    variants: BTreeSet<Triple>,
    files: &BTreeMap<String, SourceFile>,
    errors: &mut Vec<TemplateError>,
) -> Vec<Triple> {
    let mut complete = Vec::new();
    for triple in variants {
        let missing: Vec<String> =
            PARTS.iter().map(|part| triple.key(part)).filter(|key| !files.contains_key(key)).collect();
        if missing.is_empty() {
            complete.push(triple);
        } else {
            errors.push(TemplateError::IncompleteVariant {
                dir: dir.to_path_buf(),
                template: triple.name(),
                missing,
            });
        }
    }
    complete
}

fn names_incomplete(error: &TemplateError, triple: &Triple) -> bool {
    matches!(error, TemplateError::IncompleteVariant { template, .. } if *template == triple.name())
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
fn render_error(triple: &Triple, shown: &str, source: &str, error: &tera::Error) -> TemplateError {
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
        template: triple.name(),
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

/// The paths a triple's files use that its contract provides, each once, in subject, text, HTML order.
fn needs_of(triple: &Triple, files: &BTreeMap<String, SourceFile>) -> Vec<Need> {
    let sample = Templates::sample_context(triple.mail);
    let mut needs: Vec<Need> = Vec::new();
    for key in PARTS.map(|part| triple.key(part)) {
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
