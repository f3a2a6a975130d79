//! `[[forms]]`: typed custom fields of tickets, users and organizations (`core::forms`), checked
//! with their lines; the organizations' `custom` tables are checked against the org form here.

use std::collections::HashMap;

use serde::Deserialize;

use crate::core::forms::{EditableBy, Field, FieldType, Form, Subject};

use super::error::Problems;
use super::locate::KeyPath;
use super::orgs::Org;
use super::rules::{check_directory_key, earlier_claim, required};

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a [[forms]] table")]
pub(super) struct RawForm {
    /// Unique key, `[a-z0-9_.-]`; `[[topics]] form` names ticket forms. Required.
    pub key: Option<String>,
    /// `"ticket"`, `"user"` or `"org"`: what the fields describe. Required.
    pub applies_to: Option<String>,
    /// `[[forms.fields]]`. At least one.
    pub fields: Vec<RawField>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a [[forms.fields]] table")]
pub(super) struct RawField {
    /// Unique in the form; the key of the value in the custom data (rules: `user.KEY`). Required.
    pub key: Option<String>,
    /// Shown next to the value. Default: the key.
    pub label: Option<String>,
    /// `text`, `long_text`, `choice`, `multi_choice`, `bool`, `date`, `number`, `email`, `phone`.
    /// Required.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A value must be given. Default: `false`.
    pub required: bool,
    /// The values of `choice` and `multi_choice` (required for them, refused for others).
    pub choices: Vec<String>,
    /// `"agent"` or `"user"` (the user themselves, and agents). Default: `"agent"`.
    pub editable_by: Option<String>,
    /// Shown to the user on the portal. Default: `true`.
    pub visible_to_user: Option<bool>,
}

pub(super) fn validate_forms(raw: &[RawForm], problems: &mut Problems<'_, '_>) -> Vec<Form> {
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut forms = Vec::new();
    for (index, form) in raw.iter().enumerate() {
        let path = KeyPath::top("forms").at(index);
        let key = required(&form.key, &path.key("key"), problems);
        if form.key.is_some() {
            check_directory_key(key, &path.key("key"), problems);
            if let Some(first) = earlier_claim(&mut keys, key.to_string(), index) {
                problems.report(&path.key("key"), format!("{key:?} is already the key of forms[{first}]"));
            }
        }
        let applies_to = match required(&form.applies_to, &path.key("applies_to"), problems) {
            "ticket" => Subject::Ticket,
            "user" => Subject::User,
            "org" => Subject::Org,
            other => {
                if form.applies_to.is_some() {
                    problems.report(
                        &path.key("applies_to"),
                        format!("{other:?} must be \"ticket\", \"user\" or \"org\""),
                    );
                }
                Subject::Ticket
            }
        };
        if form.fields.is_empty() {
            problems.report(&path.key("fields"), "needs at least one field");
        }
        let mut field_keys: HashMap<String, usize> = HashMap::new();
        let fields = form
            .fields
            .iter()
            .enumerate()
            .filter_map(|(at, field)| {
                validate_field(field, &path.key("fields").at(at), at, &mut field_keys, problems)
            })
            .collect();
        forms.push(Form { key: key.to_string(), applies_to, fields });
    }
    if forms.iter().filter(|form| form.applies_to == Subject::User).count() > 1 {
        problems.report(&KeyPath::top("forms"), "declares more than one user form; users have one");
    }
    if forms.iter().filter(|form| form.applies_to == Subject::Org).count() > 1 {
        problems.report(&KeyPath::top("forms"), "declares more than one org form; organizations have one");
    }
    forms
}

fn validate_field(
    raw: &RawField,
    path: &KeyPath,
    index: usize,
    keys: &mut HashMap<String, usize>,
    problems: &mut Problems<'_, '_>,
) -> Option<Field> {
    let key = required(&raw.key, &path.key("key"), problems);
    let key_ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if raw.key.is_some() && !key_ok {
        problems.report(&path.key("key"), format!("{key:?} may only contain letters, digits, '_' and '-'"));
    } else if let Some(first) = earlier_claim(keys, key.to_string(), index) {
        problems.report(&path.key("key"), format!("{key:?} is already the key of fields[{first}]"));
    }
    let kind_text = required(&raw.kind, &path.key("type"), problems);
    let kind = FieldType::parse(kind_text);
    if raw.kind.is_some() && kind.is_none() {
        problems.report(
            &path.key("type"),
            format!("{kind_text:?} must be text, long_text, choice, multi_choice, bool, date, number, email or phone"),
        );
    }
    let kind = kind?;
    if kind.has_choices() && raw.choices.is_empty() {
        problems.report(&path.key("choices"), "needs at least one choice");
    } else if !kind.has_choices() && !raw.choices.is_empty() {
        problems.report(&path.key("choices"), "is only for choice and multi_choice fields");
    }
    for (at, choice) in raw.choices.iter().enumerate() {
        if raw.choices[..at].iter().any(|earlier| earlier.eq_ignore_ascii_case(choice)) {
            problems.report(&path.key("choices").at(at), format!("{choice:?} is listed twice"));
        }
    }
    let editable_by = match raw.editable_by.as_deref() {
        None | Some("agent") => EditableBy::Agent,
        Some("user") => EditableBy::User,
        Some(other) => {
            problems.report(&path.key("editable_by"), format!("{other:?} must be \"agent\" or \"user\""));
            EditableBy::Agent
        }
    };
    Some(Field {
        key: key.to_string(),
        label: raw.label.clone().unwrap_or_else(|| key.to_string()),
        kind,
        required: raw.required,
        choices: raw.choices.clone(),
        editable_by,
        visible_to_user: raw.visible_to_user.unwrap_or(true),
    })
}

/// Each org's `custom` table against the org form, when there is one.
pub(super) fn check_org_custom(orgs: &[Org], forms: &[Form], problems: &mut Problems<'_, '_>) {
    let Some(form) = forms.iter().find(|form| form.applies_to == Subject::Org) else { return };
    for (index, org) in orgs.iter().enumerate() {
        let Some(values) = org.custom.as_object() else { continue };
        if let Err(found) = form.check(values) {
            for problem in found {
                problems.report(&KeyPath::top("orgs").at(index).key("custom"), problem);
            }
        }
    }
}
