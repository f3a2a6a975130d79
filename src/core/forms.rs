//! Custom data, typed (`[[forms]]`): the fields declared for tickets, users or organizations, and
//! the check of a value against its field, which returns the value as stored (trimmed, typed) or a
//! message naming the field. Pure; the directory and the routing rules share it.

use serde::Serialize;
use serde_json::{Map, Value};

use super::address::EmailAddress;

/// What a form's fields describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    Ticket,
    User,
    Org,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    LongText,
    Choice,
    MultiChoice,
    Bool,
    Date,
    Number,
    Email,
    Phone,
}

/// Who may change a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EditableBy {
    Agent,
    User,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    pub required: bool,
    /// The allowed values of `choice` and `multi_choice`.
    pub choices: Vec<String>,
    pub editable_by: EditableBy,
    pub visible_to_user: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Form {
    pub key: String,
    pub applies_to: Subject,
    pub fields: Vec<Field>,
}

/// Longest `text` value, in characters.
pub const MAX_TEXT_CHARS: usize = 1_000;
/// Longest `long_text` value, in characters.
pub const MAX_LONG_TEXT_CHARS: usize = 20_000;

impl FieldType {
    pub fn parse(text: &str) -> Option<FieldType> {
        Some(match text {
            "text" => FieldType::Text,
            "long_text" => FieldType::LongText,
            "choice" => FieldType::Choice,
            "multi_choice" => FieldType::MultiChoice,
            "bool" => FieldType::Bool,
            "date" => FieldType::Date,
            "number" => FieldType::Number,
            "email" => FieldType::Email,
            "phone" => FieldType::Phone,
            _ => return None,
        })
    }

    pub fn has_choices(self) -> bool {
        matches!(self, FieldType::Choice | FieldType::MultiChoice)
    }
}

impl Field {
    /// `value` as stored, or why it is not a value of this field (naming the field).
    pub fn check(&self, value: &Value) -> Result<Value, String> {
        let wrong = |what: &str| Err(format!("{} ({}): {what}", self.label, self.key));
        match (self.kind, value) {
            (FieldType::Text | FieldType::LongText, Value::String(text)) => {
                let text = text.trim();
                let limit = if self.kind == FieldType::Text { MAX_TEXT_CHARS } else { MAX_LONG_TEXT_CHARS };
                if self.kind == FieldType::Text && text.contains(['\n', '\r']) {
                    return wrong("must be one line");
                }
                if text.chars().count() > limit {
                    return wrong(&format!("is longer than {limit} characters"));
                }
                Ok(Value::String(text.to_string()))
            }
            (FieldType::Choice, Value::String(text)) => match self.choice(text) {
                Some(choice) => Ok(Value::String(choice)),
                None => wrong(&format!("{text:?} is not one of {}", self.choices.join(", "))),
            },
            (FieldType::MultiChoice, Value::Array(items)) => {
                let mut chosen = Vec::new();
                for item in items {
                    let Some(choice) = item.as_str().and_then(|text| self.choice(text)) else {
                        return wrong(&format!("{item} is not one of {}", self.choices.join(", ")));
                    };
                    if !chosen.contains(&choice) {
                        chosen.push(choice);
                    }
                }
                Ok(Value::from(chosen))
            }
            (FieldType::Bool, Value::Bool(flag)) => Ok(Value::Bool(*flag)),
            (FieldType::Date, Value::String(text)) => {
                match chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
                    Ok(date) => Ok(Value::String(date.to_string())),
                    Err(_) => wrong(&format!("{text:?} is not a date YYYY-MM-DD")),
                }
            }
            (FieldType::Number, Value::Number(number)) => Ok(Value::Number(number.clone())),
            (FieldType::Email, Value::String(text)) => match EmailAddress::parse(text.trim()) {
                Some(address) => Ok(Value::String(address.to_string())),
                None => wrong(&format!("{text:?} is not an e-mail address")),
            },
            (FieldType::Phone, Value::String(text)) => match phone_number(text) {
                Some(phone) => Ok(Value::String(phone)),
                None => wrong(&format!("{:?} is not a phone number", text.trim())),
            },
            (kind, _) => wrong(&format!("must be a {}", kind_name(kind))),
        }
    }

    /// The declared choice `text` names (case-insensitively), as declared.
    fn choice(&self, text: &str) -> Option<String> {
        self.choices.iter().find(|choice| choice.eq_ignore_ascii_case(text.trim())).cloned()
    }
}

impl Field {
    /// Whether `who` may set this field: agents set every field, users those marked `user`.
    pub fn settable_by(&self, who: EditableBy) -> bool {
        who == EditableBy::Agent || self.editable_by == EditableBy::User
    }
}

impl Form {
    /// Every value of `values` checked against its field, required fields present, no unknown
    /// keys: the values as stored, or every problem (each naming its field).
    pub fn check(&self, values: &Map<String, Value>) -> Result<Map<String, Value>, Vec<String>> {
        self.check_by(values, EditableBy::Agent)
    }

    /// [`Form::check`] for what `who` may set: a field they may not set is refused like an unknown
    /// one, and only the required fields they may set are required.
    pub fn check_by(
        &self,
        values: &Map<String, Value>,
        who: EditableBy,
    ) -> Result<Map<String, Value>, Vec<String>> {
        let mut stored = Map::new();
        let mut problems = Vec::new();
        for (key, value) in values {
            match self.fields.iter().find(|field| field.key == *key && field.settable_by(who)) {
                None => problems.push(format!("{key}: no such field in form {}", self.key)),
                Some(_) if value.is_null() => {}
                Some(field) => match field.check(value) {
                    Ok(value) => {
                        stored.insert(key.clone(), value);
                    }
                    Err(problem) => problems.push(problem),
                },
            }
        }
        for field in self.fields.iter().filter(|field| field.required && field.settable_by(who)) {
            let empty =
                stored.get(&field.key).is_none_or(|v| v.as_str() == Some("") || v == &Value::Array(vec![]));
            if empty {
                problems.push(format!("{} ({}): is required", field.label, field.key));
            }
        }
        if problems.is_empty() { Ok(stored) } else { Err(problems) }
    }

    /// The values of a posted HTML form (`pairs` of field key and text, a key repeated for each
    /// chosen item of a multi-choice) for the fields `who` may set, typed for [`Form::check_by`]:
    /// an empty text is no value, a ticked checkbox is `true` (unticked sends nothing), a number
    /// that does not parse stays text (and `check_by` says so). Other keys are ignored.
    pub fn read_posted(&self, pairs: &[(String, String)], who: EditableBy) -> Map<String, Value> {
        let mut values = Map::new();
        for field in self.fields.iter().filter(|field| field.settable_by(who)) {
            let mut given = pairs.iter().filter(|(key, _)| *key == field.key).map(|(_, text)| text.trim());
            let value = match field.kind {
                FieldType::MultiChoice => {
                    let chosen: Vec<Value> = given.filter(|t| !t.is_empty()).map(Value::from).collect();
                    (!chosen.is_empty()).then_some(Value::Array(chosen))
                }
                FieldType::Bool => given.next().map(|_| Value::Bool(true)),
                FieldType::Number => given.find(|t| !t.is_empty()).map(|text| {
                    let number = text.parse::<i64>().map(Value::from).ok();
                    let number = number.or_else(|| {
                        text.parse::<f64>()
                            .ok()
                            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                    });
                    number.unwrap_or_else(|| Value::from(text))
                }),
                _ => given.find(|t| !t.is_empty()).map(Value::from),
            };
            if let Some(value) = value {
                values.insert(field.key.clone(), value);
            }
        }
        values
    }
}

/// The rows a page shows of stored `values` (a JSON object): each field of `form` that has a
/// value, in the form's order, by its label; for a user (`to_user`) only the fields visible to
/// users, for agents also values no field declares (any more), by key.
pub fn rows(form: Option<&Form>, values: &Value, to_user: bool) -> Vec<(String, String)> {
    let Some(values) = values.as_object() else { return Vec::new() };
    let fields = form.map_or(&[][..], |form| form.fields.as_slice());
    let declared = fields
        .iter()
        .filter(|field| !to_user || field.visible_to_user)
        .filter_map(|field| Some((field.label.clone(), shown(values.get(&field.key)?)?)));
    let undeclared = values
        .iter()
        .filter(|(key, _)| !to_user && fields.iter().all(|field| field.key != **key))
        .filter_map(|(key, value)| Some((key.clone(), shown(value)?)));
    declared.chain(undeclared).collect()
}

/// A stored value as a reader sees it; `None` for nothing to show.
fn shown(value: &Value) -> Option<String> {
    let text = match value {
        Value::Null => return None,
        Value::String(text) => text.clone(),
        Value::Bool(flag) => (if *flag { "Yes" } else { "No" }).to_string(),
        Value::Array(items) => items.iter().filter_map(shown).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    };
    (!text.is_empty()).then_some(text)
}

fn kind_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Text | FieldType::LongText => "text",
        FieldType::Choice => "choice (text)",
        FieldType::MultiChoice => "list of choices",
        FieldType::Bool => "true or false",
        FieldType::Date => "date (text YYYY-MM-DD)",
        FieldType::Number => "number",
        FieldType::Email => "e-mail address (text)",
        FieldType::Phone => "phone number (text)",
    }
}

/// `text` as a phone number: digits (3 to 20 of them), spaces and `+-()./`, at most 32
/// characters, trimmed; `None` for anything else.
pub fn phone_number(text: &str) -> Option<String> {
    let text = text.trim();
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let allowed = text.chars().all(|c| c.is_ascii_digit() || " +-()./".contains(c));
    (allowed && (3..=20).contains(&digits) && text.len() <= 32).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field(key: &str, kind: FieldType, choices: &[&str]) -> Field {
        Field {
            key: key.into(),
            label: key.to_uppercase(),
            kind,
            required: false,
            choices: choices.iter().map(|c| c.to_string()).collect(),
            editable_by: EditableBy::Agent,
            visible_to_user: true,
        }
    }

    #[test]
    fn each_type_checks_and_normalises_its_values() {
        let cases = [
            (field("t", FieldType::Text, &[]), json!("  hi "), Ok(json!("hi"))),
            (field("t", FieldType::Text, &[]), json!("a\nb"), Err("T (t): must be one line")),
            (field("c", FieldType::Choice, &["Gold", "Silver"]), json!("gold"), Ok(json!("Gold"))),
            (
                field("c", FieldType::Choice, &["Gold"]),
                json!("tin"),
                Err("C (c): \"tin\" is not one of Gold"),
            ),
            (
                field("m", FieldType::MultiChoice, &["eu", "us"]),
                json!(["US", "eu", "us"]),
                Ok(json!(["us", "eu"])),
            ),
            (field("b", FieldType::Bool, &[]), json!("yes"), Err("B (b): must be a true or false")),
            (field("d", FieldType::Date, &[]), json!("2026-09-30"), Ok(json!("2026-09-30"))),
            (
                field("d", FieldType::Date, &[]),
                json!("30.9.2026"),
                Err("D (d): \"30.9.2026\" is not a date YYYY-MM-DD"),
            ),
            (field("n", FieldType::Number, &[]), json!(250), Ok(json!(250))),
            (field("e", FieldType::Email, &[]), json!(" ann@acme.com"), Ok(json!("ann@acme.com"))),
            (field("p", FieldType::Phone, &[]), json!("+49 (30) 123-456"), Ok(json!("+49 (30) 123-456"))),
            (
                field("p", FieldType::Phone, &[]),
                json!("call me"),
                Err("P (p): \"call me\" is not a phone number"),
            ),
        ];
        for (field, value, expected) in cases {
            assert_eq!(field.check(&value), expected.map_err(String::from), "{field:?} {value}");
        }
    }

    #[test]
    fn a_posted_form_is_read_typed_for_who_may_set_it() {
        let mut product = field("product", FieldType::Choice, &["Router", "Switch"]);
        product.editable_by = EditableBy::User;
        product.required = true;
        let mut ports = field("ports", FieldType::MultiChoice, &["wan", "lan"]);
        ports.editable_by = EditableBy::User;
        let mut seats = field("seats", FieldType::Number, &[]);
        seats.editable_by = EditableBy::User;
        let mut urgent = field("urgent", FieldType::Bool, &[]);
        urgent.editable_by = EditableBy::User;
        let mut internal = field("internal", FieldType::Text, &[]);
        internal.required = true;
        let form = Form {
            key: "hw".into(),
            applies_to: Subject::Ticket,
            fields: vec![product, ports, seats, urgent, internal],
        };
        let posted = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let read = form.read_posted(
            &posted(&[
                ("product", " router "),
                ("ports", "wan"),
                ("ports", "LAN"),
                ("seats", "12"),
                ("urgent", "on"),
                ("internal", "x"),
            ]),
            EditableBy::User,
        );
        assert_eq!(
            Value::Object(read.clone()),
            json!({ "product": "router", "ports": ["wan", "LAN"], "seats": 12, "urgent": true })
        );
        let stored = form.check_by(&read, EditableBy::User).unwrap();
        assert_eq!(
            Value::Object(stored),
            json!({ "product": "Router", "ports": ["wan", "lan"], "seats": 12, "urgent": true })
        );
        // The agent-only required field does not hold a customer back; an empty choice does.
        let read = form.read_posted(&posted(&[("product", ""), ("seats", "twelve")]), EditableBy::User);
        let problems = form.check_by(&read, EditableBy::User).unwrap_err();
        assert_eq!(problems, ["SEATS (seats): must be a number", "PRODUCT (product): is required"]);
        let forged = json!({ "internal": "set by a customer" });
        let problems = form.check_by(forged.as_object().unwrap(), EditableBy::User).unwrap_err();
        assert!(problems[0].starts_with("internal: no such field"), "{problems:?}");
    }

    #[test]
    fn stored_values_become_labelled_rows_for_their_reader() {
        let mut hidden = field("cost", FieldType::Number, &[]);
        hidden.visible_to_user = false;
        let form = Form {
            key: "hw".into(),
            applies_to: Subject::Ticket,
            fields: vec![
                field("ports", FieldType::MultiChoice, &["wan", "lan"]),
                field("urgent", FieldType::Bool, &[]),
                hidden,
            ],
        };
        let values =
            json!({ "legacy": "kept", "cost": 12, "urgent": false, "ports": ["wan", "lan"], "empty": "" });
        let agent = rows(Some(&form), &values, false);
        let expected = [("PORTS", "wan, lan"), ("URGENT", "No"), ("COST", "12"), ("legacy", "kept")];
        assert_eq!(agent, expected.map(|(k, v)| (k.to_string(), v.to_string())));
        let user = rows(Some(&form), &values, true);
        assert_eq!(
            user,
            [("PORTS", "wan, lan"), ("URGENT", "No")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert!(rows(None, &json!("not an object"), false).is_empty());
    }

    #[test]
    fn a_form_reports_unknown_and_missing_fields() {
        let mut tier = field("tier", FieldType::Choice, &["gold"]);
        tier.required = true;
        let form = Form { key: "org".into(), applies_to: Subject::Org, fields: vec![tier] };
        let values = json!({ "seats": 3 });
        let problems = form.check(values.as_object().unwrap()).unwrap_err();
        assert_eq!(problems, ["seats: no such field in form org", "TIER (tier): is required"]);
        let ok = form.check(json!({ "tier": "GOLD" }).as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(ok), json!({ "tier": "gold" }));
    }
}
