//! Custom data in mail (`ticket.fields`, `ticket.customer_fields`, `ticket.org_fields`): the
//! ticket's, its owner's and its organization's typed values, by the labels of their forms
//! (`[[forms]]`), as the web pages show them (`core::forms::rows`). Mail to agents gets every
//! value; mail to anyone else only the fields marked `visible_to_user`; the auto-response to an
//! unverified From gets none (docs/accounts.md, "Mail to unverified addresses").

use std::sync::Arc;

use serde::Serialize;

use crate::core::forms::{Form, rows};
use crate::core::routing::Topics;

/// One value as a reader sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FieldRow {
    pub label: String,
    pub value: String,
}

/// The three kinds of custom data a ticket's mail may show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fields {
    pub ticket: Vec<FieldRow>,
    pub customer: Vec<FieldRow>,
    pub org: Vec<FieldRow>,
}

/// The stored custom data of a ticket, its owner and its organization (JSON objects as text),
/// and the ticket's topic, whose form labels the ticket's values.
#[derive(Clone, Debug, Default)]
pub struct StoredCustom {
    pub topic: Option<String>,
    pub ticket: String,
    pub customer: String,
    pub org: Option<String>,
}

/// The forms values are labelled by: each topic's ticket form, the user form, the org form.
#[derive(Clone, Debug, Default)]
pub struct FieldForms {
    pub topics: Arc<Topics>,
    pub user: Option<Form>,
    pub org: Option<Form>,
}

impl FieldForms {
    /// What `stored` shows to an agent or, with `to_user`, to anyone else.
    pub fn shown(&self, stored: &StoredCustom, to_user: bool) -> Fields {
        let ticket_form =
            stored.topic.as_deref().and_then(|key| self.topics.get(key)).and_then(|t| t.form.as_ref());
        let of = |form: Option<&Form>, json: &str| -> Vec<FieldRow> {
            let values = serde_json::from_str(json).unwrap_or(serde_json::Value::Null);
            rows(form, &values, to_user).into_iter().map(|(label, value)| FieldRow { label, value }).collect()
        };
        Fields {
            ticket: of(ticket_form, &stored.ticket),
            customer: of(self.user.as_ref(), &stored.customer),
            org: stored.org.as_deref().map(|json| of(self.org.as_ref(), json)).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::forms::{EditableBy, Field, FieldType, Subject};

    fn field(key: &str, visible_to_user: bool) -> Field {
        Field {
            key: key.into(),
            label: key.to_uppercase(),
            kind: FieldType::Text,
            required: false,
            choices: Vec::new(),
            editable_by: EditableBy::Agent,
            visible_to_user,
        }
    }

    #[test]
    fn agents_read_every_value_and_others_the_visible_ones() {
        let form = |applies_to| Form {
            key: "f".into(),
            applies_to,
            fields: vec![field("a", true), field("b", false)],
        };
        let forms = FieldForms {
            topics: Arc::default(),
            user: Some(form(Subject::User)),
            org: Some(form(Subject::Org)),
        };
        let stored = StoredCustom {
            topic: None,
            ticket: r#"{"x": "1"}"#.into(),
            customer: r#"{"a": "open", "b": "secret"}"#.into(),
            org: Some(r#"{"b": "org secret"}"#.into()),
        };
        let row = |label: &str, value: &str| FieldRow { label: label.into(), value: value.into() };
        let agent = forms.shown(&stored, false);
        assert_eq!(agent.ticket, [row("x", "1")], "a value no form declares, by key, for agents");
        assert_eq!(agent.customer, [row("A", "open"), row("B", "secret")]);
        assert_eq!(agent.org, [row("B", "org secret")]);
        let customer = forms.shown(&stored, true);
        assert_eq!(customer, Fields { ticket: vec![], customer: vec![row("A", "open")], org: vec![] });
        let no_org = StoredCustom { org: None, ..stored };
        assert!(forms.shown(&no_org, false).org.is_empty());
    }
}
