//! Context tests: the samples, the contract in docs/templates.md, and rows as older versions stored them.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::doc_tables::table_after;
use crate::outbox::render::Templates;

fn defaults() -> Templates {
    match Templates::load(None, &[]) {
        Ok(templates) => templates,
        Err(errors) => panic!("defaults do not load: {errors:#?}"),
    }
}

fn leaves(value: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match value.as_object() {
        Some(map) => map.iter().for_each(|(k, v)| leaves(v, &format!("{path}.{k}"), out)),
        None => out.push((path.trim_start_matches('.').to_string(), value.clone())),
    }
}

#[test]
fn a_sample_fills_every_field_and_its_sparse_variant_empties_the_optional_ones() {
    for mail in Mail::ALL {
        let mut sample = Vec::new();
        leaves(&MailContext::sample(mail).to_value(), "", &mut sample);
        let has_ticket = mail.about_ticket() || mail == Mail::RejectionNotice;
        for (path, value) in &sample {
            let empty = value.as_str() == Some("") || value.as_array().is_some_and(Vec::is_empty);
            // The auto-response goes to an unverified From: no custom data (fields.rs).
            let withheld = mail == Mail::NewTicketAutoResponse && path.ends_with("fields");
            assert_eq!(
                empty,
                path.starts_with("ticket.") && !has_ticket || withheld,
                "{mail:?} {path}: {value}"
            );
        }
        let sparse = MailContext::sparse(mail);
        assert_eq!(sparse.recipient.name, "", "{mail:?}");
        assert_eq!(sparse.ticket.url, "", "{mail:?}");
        assert_eq!(sparse.ticket.number.is_empty(), !mail.about_ticket(), "{mail:?}");
        let mut paths = Vec::new();
        leaves(&sparse.to_value(), "", &mut paths);
        let paths: Vec<String> = paths.into_iter().map(|(path, _)| path).collect();
        assert_eq!(paths, variables(mail), "{mail:?}: the sparse context has the same variables");
    }
    let copied = MailContext::sparse(Mail::CollaboratorNotice).to_value();
    assert_eq!(copied["recipient"]["role"], "collaborator");
    assert_eq!(copied["owner"]["name"], "");
    assert_eq!(copied["organization"], "");
    let alert = MailContext::sparse(Mail::NewMessageAlert).to_value();
    assert_eq!((&alert["note_address"], &alert["message"]["author_name"]), (&json!(""), &json!("")));
}

#[test]
fn the_variables_of_a_template_come_from_its_struct() {
    let base = [
        "instance_name",
        "recipient.email",
        "recipient.name",
        "reply_marker",
        "ticket.customer_fields",
        "ticket.fields",
        "ticket.number",
        "ticket.org_fields",
        "ticket.status",
        "ticket.subject",
        "ticket.url",
    ];
    assert_eq!(variables(Mail::ClosedNotice), base);
    let collaborator = variables(Mail::CollaboratorNotice);
    for extra in ["recipient.role", "owner.name", "owner.email", "organization"] {
        assert!(collaborator.iter().any(|v| v == extra), "{collaborator:?}");
    }
    assert_eq!(collaborator.len(), base.len() + 4);
    let bounce = variables(Mail::BounceAlert);
    assert!(bounce.contains(&"bounce.recipients".to_string()), "a list is one variable: {bounce:?}");
    assert!(!variables(Mail::RejectionNotice).iter().any(|v| v.starts_with("message")));
}

/// The code spans of a markdown table row that look like context variables (`ticket.url`).
fn variables_in(cell: &str) -> Vec<String> {
    let is_path = |s: &&str| {
        !s.is_empty()
            && s.split('.').all(|part| {
                part.starts_with(|c: char| c.is_ascii_lowercase())
                    && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
    };
    cell.split('`').skip(1).step_by(2).filter(is_path).map(str::to_string).collect()
}

#[test]
fn docs_list_exactly_the_variables_each_template_is_given() {
    let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/templates.md"));
    let base: BTreeSet<String> =
        table_after(doc, "Every template gets:").iter().flat_map(|row| variables_in(&row[0])).collect();
    let common: BTreeSet<String> = Mail::ALL
        .into_iter()
        .map(|mail| variables(mail).into_iter().collect::<BTreeSet<_>>())
        .reduce(|a, b| &a & &b)
        .unwrap_or_default();
    assert_eq!(base, common, "the table of what every template gets");
    let mut documented = Vec::new();
    for row in table_after(doc, "And by template") {
        let named = variables_in(&row[0]);
        assert!(!named.is_empty(), "a row without a template: {row:?}");
        let listed: BTreeSet<String> = row[1..].iter().flat_map(|cell| variables_in(cell)).collect();
        for name in named {
            let mail = Mail::from_template(&name).unwrap_or_else(|| panic!("no template {name}"));
            let given: BTreeSet<String> = variables(mail).into_iter().collect();
            let expected: BTreeSet<String> = given.difference(&base).cloned().collect();
            let listed_own: BTreeSet<String> = listed.difference(&base).cloned().collect();
            assert_eq!(listed_own, expected, "docs/templates.md, the row of {name}");
            assert!(listed.is_subset(&given), "{name}: the row names {listed:?}, it is given {given:?}");
            documented.push(mail);
        }
    }
    documented.sort_by_key(|mail| *mail as usize);
    assert_eq!(documented, Mail::ALL, "each template has one row");
}

fn send_time() -> SendTime {
    SendTime {
        instance_name: "Example Support".into(),
        text: Some("It broke.".into()),
        organization: Some("ACME".into()),
        url: Some("https://help.example.com/t/abc".into()),
        link_minutes: 60,
        ..SendTime::default()
    }
}

/// Rows as every enqueue site of mailgate 2026-12 wrote them (`json!`, before the typed contexts).
const OLD_ROWS: [(Mail, &str); 8] = [
    (
        Mail::NewTicketAlert,
        r#"{"bounce":null,"in_reply_to":"m1@acme.com","mail":"new_ticket_alert",
            "message":{"author_email":"ann@acme.com","author_name":"Ann","entry_id":3,"kind":"message"},
            "owner":{"email":"ann@acme.com","name":"Ann"},"reason":null,"recipient":{"email":"alice@example.com"},
            "ticket":{"id":7,"number":"123456","status":"open","subject":"Broken"}}"#,
    ),
    (
        Mail::NewTicketAutoResponse,
        r#"{"in_reply_to":"m1@acme.com","mail":"new_ticket_auto_response",
            "message":{"author_email":"ann@acme.com","author_name":"","entry_id":null,"kind":"message"},
            "owner":{"email":"ann@acme.com","name":""},"recipient":{"email":"ann@acme.com"},
            "ticket":{"id":7,"number":"123456","status":"open","subject":"Broken"}}"#,
    ),
    (
        Mail::BounceAlert,
        r#"{"bounce":{"diagnostic":"550 no such user","recipients":["ann@acme.com"]},"in_reply_to":null,
            "mail":"bounce_alert","message":{"author_email":"mailer-daemon@acme.com","author_name":"",
            "entry_id":4,"kind":"message"},"owner":{"email":"mailer-daemon@acme.com","name":""},"reason":null,
            "recipient":{"email":"alice@example.com"},"ticket":{"id":7,"number":"123456","status":"open","subject":"Broken"}}"#,
    ),
    (
        Mail::HeldNotice,
        r#"{"bounce":null,"in_reply_to":"m2@x.com","mail":"held_notice","message":{"author_email":"alice@x.com",
            "author_name":"Alice","entry_id":5,"kind":"held"},"owner":{"email":"alice@x.com","name":"Alice"},
            "reason":"its From is not yours","recipient":{"email":"alice@example.com"},
            "ticket":{"id":7,"number":"123456","status":"open","subject":"Broken"}}"#,
    ),
    (
        Mail::RejectionNotice,
        r#"{"in_reply_to":null,"mail":"rejection_notice","reason":"Your message is 30 MB.",
            "recipient":{"email":"ann@acme.com","name":""}}"#,
    ),
    (
        Mail::AssignmentAlert,
        r#"{"actor":"an admin","assignee":"team billing","mail":"assignment_alert",
            "recipient":{"email":"bob@example.com"},"ticket":{"id":7,"number":"123456","status":"open","subject":"Broken"}}"#,
    ),
    (
        Mail::AccessLink,
        r#"{"mail":"access_link","recipient":{"email":"ann@acme.com"},
            "ticket":{"id":7,"number":"123456","status":"open","subject":"Broken"}}"#,
    ),
    (
        Mail::PasswordReset,
        r#"{"link":"https://help.example.com/reset/abc","link_valid":"1 hour","recipient":{"email":"ann@acme.com","name":"Ann"}}"#,
    ),
];

#[test]
fn rows_queued_by_an_older_version_still_render() {
    let templates = defaults();
    for (mail, json) in OLD_ROWS {
        let queued = Queued::from_json(json).unwrap_or_else(|e| panic!("{mail:?}: {e}"));
        let context = MailContext::build(mail, queued.clone(), send_time());
        let r = templates.render(mail, &context).unwrap_or_else(|e| panic!("{mail:?}: {e}"));
        let expected = match mail {
            Mail::NewTicketAlert => {
                "New ticket #123456 from Ann <ann@acme.com> (ACME):\n\"Broken\"\n\n> It broke."
            }
            Mail::NewTicketAutoResponse => "We opened ticket #123456 for your message",
            Mail::BounceAlert => {
                "could not be delivered to:\n- ann@acme.com\n\nThe receiving server said:\n> 550 no"
            }
            Mail::HeldNotice => "NOT sent to the customer, because its From is not yours.",
            Mail::RejectionNotice => "We could not accept your message.\n\nYour message is 30 MB.",
            Mail::AssignmentAlert => "was assigned to team billing by an admin.",
            Mail::AccessLink => "It works for 60 minutes:\n\nhttps://help.example.com/t/abc",
            _ => "Hello Ann,\n\nSomeone, probably you, asked to reset the password of your Example Support",
        };
        assert!(r.text.contains(expected), "{mail:?}:\n{}", r.text);
        // What is written now has the same keys; only `null`s are left out.
        let mut old: Value = serde_json::from_str(json).unwrap();
        super::queued::drop_nulls(&mut old);
        let mut now: Value = serde_json::from_str(&queued.to_json()).unwrap();
        if mail == Mail::PasswordReset {
            // Account mail now names its template like every other row.
            assert_eq!(now.as_object_mut().unwrap().remove("mail"), None);
        }
        super::queued::drop_nulls(&mut now);
        assert_eq!(now, old, "{mail:?}");
    }
}

#[test]
fn a_row_with_gaps_and_nulls_renders_them_empty_and_unknown_keys_are_ignored() {
    let json = r#"{"ticket":{"number":"123456","id":null},"message":null,"owner":{"email":"ann@acme.com"},
        "reason":null,"added_by_a_newer_version":{"x":1}}"#;
    let queued = Queued::from_json(json).unwrap();
    assert_eq!(queued.ticket_id(), None);
    assert_eq!(queued.entry_id(), None);
    let context = MailContext::build(Mail::CollaboratorNotice, queued, SendTime::default()).to_value();
    assert_eq!(context["ticket"]["number"], "123456");
    assert_eq!(context["ticket"]["subject"], "");
    assert_eq!(context["owner"], json!({ "name": "", "email": "ann@acme.com" }));
    assert_eq!(context["recipient"], json!({ "name": "", "email": "", "role": "collaborator" }));
    defaults().render(Mail::CollaboratorNotice, &context).unwrap();

    for broken in ["", "null", "[1]", r#"{"ticket":{"id":"seven"}}"#] {
        let error = Queued::from_json(broken).unwrap_err();
        assert!(error.starts_with("context: "), "{broken}: {error}");
    }
}

#[test]
fn a_mail_is_given_only_its_own_variables() {
    let queued = Queued::from_json(OLD_ROWS[0].1).unwrap();
    let closed = MailContext::build(Mail::ClosedNotice, queued.clone(), send_time()).to_value();
    let mut paths = Vec::new();
    leaves(&closed, "", &mut paths);
    assert_eq!(paths.len(), variables(Mail::ClosedNotice).len(), "{closed}");
    let note = Queued {
        message: Some(QueuedMessage { kind: MessageKind::Note, ..QueuedMessage::default() }),
        ..queued
    };
    let alert = MailContext::build(Mail::NewMessageAlert, note, send_time()).to_value();
    assert_eq!(alert["message"]["kind"], "note");
    assert_eq!(alert["ticket"]["url"], "https://help.example.com/t/abc");
}
