//! A signed-in user's own profile: name, phone, and the user form's fields marked
//! `editable_by = "user"` and `visible_to_user`. Only those are read from what the browser sends,
//! so a forged field (an agent-only one, an unknown key) changes nothing; the values are checked
//! like an agent's edit, each problem naming its field.

use serde_json::{Map, Value};

use super::signup::single_line;
use super::{AccountError, Accounts};
use crate::core::forms::{EditableBy, Field, FieldType, Form};
use crate::core::ids::UserId;
use crate::store::audit as audit_store;
use crate::store::profile::{self as profile_store, ProfileRow};

/// The longest name kept, in characters (one line).
pub const MAX_NAME_CHARS: usize = 100;

/// What a user may change of their profile, as typed.
#[derive(Clone, Debug, Default)]
pub struct ProfileEdit {
    pub name: String,
    pub phone: String,
    /// Custom fields as posted (`key`, text), a key repeated for each item of a multi-choice.
    pub fields: Vec<(String, String)>,
}

impl Accounts {
    /// `user`'s profile as stored, `None` when they are gone.
    pub async fn profile(&self, user: UserId) -> Result<Option<ProfileRow>, AccountError> {
        Ok(self.app.store().read(move |tx| profile_store::find_profile(tx, user)).await?)
    }

    /// Saves `edit` as `user`'s profile: `Ok(Err(why))` when a value is refused (nothing saved),
    /// `Ok(Ok(changed))` with what changed (empty: nothing did).
    pub async fn save_profile(
        &self,
        user: UserId,
        edit: ProfileEdit,
    ) -> Result<Result<Vec<String>, String>, AccountError> {
        let form = self.app.settings().user_form.clone();
        let now = self.now_ms();
        Ok(self
            .app
            .store()
            .write(move |tx| {
                let Some(stored) = profile_store::find_profile(tx, user)? else {
                    return Ok(Err("This account no longer exists.".to_string()));
                };
                let name = single_line(&edit.name, MAX_NAME_CHARS);
                let phone = match check_phone(&edit.phone) {
                    Ok(phone) => phone,
                    Err(why) => return Ok(Err(why)),
                };
                let custom = match merged(form.as_ref(), &stored.custom, &edit.fields) {
                    Ok(custom) => custom,
                    Err(why) => return Ok(Err(why)),
                };
                let mut changed = Vec::new();
                if name != stored.name {
                    changed.push("name".to_string());
                }
                if phone != stored.phone {
                    changed.push("phone".to_string());
                }
                if serde_json::from_str::<Value>(&stored.custom).ok() != serde_json::from_str(&custom).ok() {
                    changed.push("custom data".to_string());
                }
                if changed.is_empty() {
                    return Ok(Ok(changed));
                }
                profile_store::update_profile(tx, user, &name, &phone, &custom, now)?;
                audit_store::record(tx, now, "the user", "profile", Some(user), &changed.join(", "))?;
                Ok(Ok(changed))
            })
            .await?)
    }
}

/// The fields of `form` a user sees and changes on their profile.
pub fn user_editable(field: &Field) -> bool {
    field.editable_by == EditableBy::User && field.visible_to_user
}

/// A phone number as stored: empty, or one that the forms' `phone` type accepts.
fn check_phone(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(String::new());
    }
    let field = Field {
        key: "phone".into(),
        label: "Phone".into(),
        kind: FieldType::Phone,
        required: false,
        choices: Vec::new(),
        editable_by: EditableBy::User,
        visible_to_user: true,
    };
    match field.check(&Value::String(text.to_string())) {
        Ok(Value::String(phone)) => Ok(phone),
        _ => Err(format!("Phone: {text:?} is not a phone number (digits, spaces and + - ( ) . / only)")),
    }
}

/// The stored custom data with the user-editable fields replaced by what was posted (an empty or
/// missing value clears one), each checked; other stored values are kept as they are.
fn merged(form: Option<&Form>, stored: &str, posted: &[(String, String)]) -> Result<String, String> {
    let mut values = match serde_json::from_str::<Value>(stored) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let Some(form) = form else { return Ok(Value::Object(values).to_string()) };
    let typed = form.read_posted(posted, EditableBy::User);
    let mut problems = Vec::new();
    for field in form.fields.iter().filter(|field| user_editable(field)) {
        match typed.get(&field.key) {
            Some(value) => match field.check(value) {
                Ok(value) => _ = values.insert(field.key.clone(), value),
                Err(problem) => problems.push(problem),
            },
            None => {
                values.remove(&field.key);
                if field.required {
                    problems.push(format!("{} ({}): is required", field.label, field.key));
                }
            }
        }
    }
    if problems.is_empty() { Ok(Value::Object(values).to_string()) } else { Err(problems.join("; ")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::forms::Subject;

    fn form() -> Form {
        let field = |key: &str, kind, editable_by, visible_to_user| Field {
            key: key.into(),
            label: key.to_uppercase(),
            kind,
            required: false,
            choices: vec!["a".into(), "b".into()],
            editable_by,
            visible_to_user,
        };
        Form {
            key: "people".into(),
            applies_to: Subject::User,
            fields: vec![
                field("nick", FieldType::Text, EditableBy::User, true),
                field("tier", FieldType::Choice, EditableBy::Agent, true),
                field("hidden", FieldType::Text, EditableBy::User, false),
            ],
        }
    }

    #[test]
    fn only_visible_user_fields_change() {
        let stored = r#"{"tier":"a","hidden":"x","nick":"old"}"#;
        let posted = [
            ("nick".to_string(), "new".to_string()),
            ("tier".to_string(), "b".to_string()),
            ("hidden".to_string(), "y".to_string()),
            ("other".to_string(), "z".to_string()),
        ];
        let changed: Value = serde_json::from_str(&merged(Some(&form()), stored, &posted).unwrap()).unwrap();
        assert_eq!(changed, serde_json::json!({"tier": "a", "hidden": "x", "nick": "new"}));
        let cleared: Value = serde_json::from_str(&merged(Some(&form()), stored, &[]).unwrap()).unwrap();
        assert_eq!(cleared, serde_json::json!({"tier": "a", "hidden": "x"}));
    }

    #[test]
    fn values_are_checked_and_phones_too() {
        let posted = [("nick".to_string(), "two\nlines".to_string())];
        assert!(merged(Some(&form()), "{}", &posted).unwrap_err().contains("NICK (nick)"));
        assert_eq!(check_phone(" +1 555 0100 ").unwrap(), "+1 555 0100");
        assert_eq!(check_phone("").unwrap(), "");
        assert!(check_phone("call me\r\nBcc: x").is_err());
    }
}
