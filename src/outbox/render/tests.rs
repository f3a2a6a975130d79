//! Template tests.

use serde_json::json;

use super::*;

fn defaults() -> Templates {
    match Templates::load(None, &[]) {
        Ok(templates) => templates,
        Err(errors) => panic!("defaults do not load: {errors:#?}"),
    }
}

fn load_errors(dir: &Path) -> Vec<String> {
    match Templates::load(Some(dir), &[]) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_default_renders_with_its_sample_and_sparse_context() {
    let templates = defaults();
    for name in Mail::ALL {
        for context in [Templates::sample_context(name), sparse_context(name)] {
            let r = templates.render(name, &context).unwrap();
            let marker = takes_replies(name);
            assert_eq!(r.text.lines().next() == Some(REPLY_MARKER), marker, "{name:?}");
            assert_eq!(r.text.contains(REPLY_MARKER), marker, "{name:?}");
            assert!(r.text.trim_end().ends_with("Example Support"), "{name:?}:\n{}", r.text);
            assert!(!r.text.contains("\n\n\n"), "{name:?} has a gap:\n{}", r.text);
            assert_eq!(r.html.contains(&format!(">{REPLY_MARKER}</p>")), marker, "{name:?}");
            assert_eq!(r.html.contains(REPLY_MARKER), marker, "{name:?}");
            assert!(r.html.contains("Example Support"), "{name:?}");
            assert!(!r.html.contains("<script") && !r.html.contains("src="), "{name:?}");
            assert!(!r.html.contains("\n\n"), "{name:?}:\n{}", r.html);
            let tagged = r.subject.starts_with("[#123456] ");
            assert_eq!(tagged, context["ticket"]["number"] == "123456", "{name:?}: {}", r.subject);
        }
    }
}

#[test]
fn account_mail_carries_no_reply_marker_and_ticket_mail_does() {
    for name in [Mail::AccountConfirm, Mail::AccountExists, Mail::AccountInvite, Mail::PasswordReset] {
        let r = defaults().render(name, &Templates::sample_context(name)).unwrap();
        assert!(!r.text.contains("reply above this line"), "{name:?}:\n{}", r.text);
        assert!(!r.html.contains("reply above this line"), "{name:?}:\n{}", r.html);
        assert!(r.text.starts_with("Hello Jane Doe,\n"), "{name:?}:\n{}", r.text);
    }
    for name in [Mail::NewTicketAutoResponse, Mail::RejectionNotice, Mail::AccessLink] {
        let r = defaults().render(name, &Templates::sample_context(name)).unwrap();
        assert!(r.text.starts_with(REPLY_MARKER), "{name:?}");
    }
}

#[test]
fn an_account_mail_override_may_leave_the_marker_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("password_reset.txt.tera"), "Reset: {{ link }}\n").unwrap();
    let templates = Templates::load(Some(dir.path()), &[]).unwrap_or_else(|e| panic!("{e:#?}"));
    let r = templates.render(Mail::PasswordReset, &Templates::sample_context(Mail::PasswordReset)).unwrap();
    assert_eq!(r.text, "Reset: https://help.example.com/account/abc\n");
}

#[test]
fn a_primary_contact_is_told_they_were_added_as_the_organizations_contact() {
    let templates = defaults();
    let primary = Templates::sample_context(Mail::CollaboratorNotice);
    let r = templates.render(Mail::CollaboratorNotice, &primary).unwrap();
    for part in [&r.text, &r.html] {
        assert!(part.contains("as the contact of ACME"), "{part}");
        assert!(!part.contains("in copy"), "{part}");
    }
    let mut no_org = primary.clone();
    no_org["organization"] = json!("");
    let r = templates.render(Mail::CollaboratorNotice, &no_org).unwrap();
    assert!(r.text.contains("as the contact of their organization"), "{}", r.text);
    let copied = sparse_context(Mail::CollaboratorNotice);
    let r = templates.render(Mail::CollaboratorNotice, &copied).unwrap();
    for part in [&r.text, &r.html] {
        assert!(part.contains("with you in copy"), "{part}");
        assert!(!part.contains("contact of"), "{part}");
    }
}

#[test]
fn a_rejection_without_a_ticket_has_no_tag() {
    let context = sparse_context(Mail::RejectionNotice);
    let r = defaults().render(Mail::RejectionNotice, &context).unwrap();
    assert_eq!(r.subject, "Your message was not accepted");
    assert!(!r.text.contains("ticket"), "{}", r.text);
    assert!(r.text.contains("We could not accept your message.\n"), "{}", r.text);
}

#[test]
fn html_escapes_the_customer_text_and_text_does_not() {
    let mut context = Templates::sample_context(Mail::NewTicketAlert);
    context["message"]["text"] = json!("<script>alert(1)</script>\nbye & thanks");
    let r = defaults().render(Mail::NewTicketAlert, &context).unwrap();
    assert!(!r.html.contains("<script>"), "{}", r.html);
    assert!(r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;<br>bye &amp; thanks<br>"), "{}", r.html);
    assert!(r.text.contains("> <script>alert(1)</script>\n> bye & thanks\n"), "{}", r.text);
}

#[test]
fn the_subject_is_one_line_whatever_the_ticket_subject() {
    let mut context = Templates::sample_context(Mail::NewMessageAlert);
    context["ticket"]["subject"] = json!("  two\r\nlines\tand\u{b}more \n");
    let r = defaults().render(Mail::NewMessageAlert, &context).unwrap();
    assert_eq!(r.subject, "[#123456] New message: two lines and more");
}

#[test]
fn a_missing_variable_is_an_error_naming_it() {
    let templates = defaults();
    let mut context = Templates::sample_context(Mail::NewTicketAlert);
    context["ticket"].as_object_mut().unwrap().remove("number");
    let error = templates.render(Mail::NewTicketAlert, &context).unwrap_err();
    assert!(
        matches!(&error, TemplateError::MissingVariable { template, variable, line: Some(1), .. } if template == "new_ticket_alert" && variable == "ticket.number"),
        "{error:?}"
    );
    assert!(error.to_string().contains("`ticket.number`"), "{error}");

    // Used only in `{% if %}`, where tera would quietly take it as false.
    context = Templates::sample_context(Mail::CollaboratorNotice);
    context["ticket"].as_object_mut().unwrap().remove("url");
    let error = templates.render(Mail::CollaboratorNotice, &context).unwrap_err().to_string();
    assert!(
        error.contains("collaborator_notice.txt.tera, line ") && error.contains("`ticket.url`"),
        "{error}"
    );
    context["ticket"]["url"] = Value::Null;
    let error = templates.render(Mail::CollaboratorNotice, &context).unwrap_err().to_string();
    assert!(error.contains("`ticket.url`"), "{error}");

    context = Templates::sample_context(Mail::BounceAlert);
    context.as_object_mut().unwrap().remove("instance_name");
    let error = templates.render(Mail::BounceAlert, &context).unwrap_err().to_string();
    assert!(error.contains("built-in bounce_alert.txt.tera") && error.contains("`instance_name`"), "{error}");
}

#[test]
fn an_override_replaces_just_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new_ticket_alert.subject.tera");
    std::fs::write(&file, "ALERT {{ ticket.number }} <{{ recipient.email }}>\n").unwrap();
    let templates = Templates::load(Some(dir.path()), &[]).unwrap();
    let sample = Templates::sample_context(Mail::NewTicketAlert);
    let r = templates.render(Mail::NewTicketAlert, &sample).unwrap();
    assert_eq!(r.subject, "ALERT 123456 <alex@help.example.com>");
    assert!(r.text.contains("New ticket #123456"), "{}", r.text);
    let other = templates.render(Mail::NewMessageAlert, &sample).unwrap();
    assert_eq!(other.subject, "[#123456] New message: Printer on fire");
}

#[test]
fn a_syntax_error_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bounce_alert.txt.tera"), "{{ reply_marker }}\n\n{% if %}\n").unwrap();
    std::fs::write(dir.path().join("bounce_alert.html.tera"), "{{ reply_marker }}\n{{ x | nosuch }}")
        .unwrap();
    let errors = load_errors(dir.path());
    let txt = dir.path().join("bounce_alert.txt.tera").display().to_string();
    let html = dir.path().join("bounce_alert.html.tera").display().to_string();
    assert!(errors.iter().any(|e| e.starts_with(&format!("{txt}, line 3: syntax error"))), "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{html}, line 2: syntax error")) && e.contains("nosuch")),
        "{errors:#?}"
    );
}

#[test]
fn an_unknown_file_is_reported_with_the_valid_names() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("new_ticket_alert.txt"), "stray").unwrap();
    std::fs::write(dir.path().join("farewell_notice.html.tera"), "stray").unwrap();
    let errors = load_errors(dir.path());
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("farewell_notice.html.tera: not a mailgate template"), "{errors:#?}");
    assert!(errors[1].contains("new_ticket_alert.txt: not a mailgate template"), "{errors:#?}");
    assert!(errors[0].contains("new_ticket_auto_response, new_message_confirmation"), "{errors:#?}");
}

#[test]
fn an_override_using_an_unknown_variable_is_reported_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let write = |file: &str, content: &str| std::fs::write(dir.path().join(file), content).unwrap();
    // Printed, so rendering the sample finds it.
    write("new_message_alert.txt.tera", "{{ reply_marker }}\n{{ no_such_variable }}\n");
    // Not in this template's context (the rejection notice has no message).
    write("rejection_notice.html.tera", "<p>{{ reply_marker }}</p>\n<p>{{ message.text }}</p>\n");
    // Misspelt fields in conditions, which tera treats as false.
    write("collaborator_notice.txt.tera", "{{ reply_marker }}\n\n{% if ticket.urll %}x{% endif %}\n");
    write(
        "bounce_alert.subject.tera",
        "{# {{ commented_out }} #}{% if bounce_count %}{{ bounce_count }}{% endif %}Bounce\n",
    );
    let errors = load_errors(dir.path());
    let expected = [
        ("new_message_alert.txt.tera, line 2", "`no_such_variable`"),
        ("rejection_notice.html.tera, line 2", "`message`"),
        ("collaborator_notice.txt.tera, line 3", "`ticket.urll`"),
        ("bounce_alert.subject.tera, line 1", "`bounce_count`"),
    ];
    for (file, variable) in expected {
        assert!(errors.iter().any(|e| e.contains(file) && e.contains(variable)), "{file}: {errors:#?}");
    }
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
}

#[test]
fn an_override_may_use_loops_sets_filters_and_comparisons() {
    let dir = tempfile::tempdir().unwrap();
    let txt = "{{ reply_marker }}\n{% set n = bounce.recipients | length %}{{ n }}: \
        {% for a in bounce.recipients %}{{ a | upper }}{% if not loop.last %}, {% endif %}{% endfor %}\n\
        {% if ticket.status == \"open\" and ticket.url %}{{ ticket.url }}{% endif %}\n";
    std::fs::write(dir.path().join("bounce_alert.txt.tera"), txt).unwrap();
    let templates = Templates::load(Some(dir.path()), &[]).unwrap();
    let sample = Templates::sample_context(Mail::BounceAlert);
    let r = templates.render(Mail::BounceAlert, &sample).unwrap();
    assert!(r.text.contains("2: JANE@EXAMPLE.ORG, SAM@EXAMPLE.ORG\n"), "{}", r.text);
}

#[test]
fn an_override_without_the_reply_marker_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("new_ticket_auto_response.txt.tera"), "Hello\n{{ reply_marker }}\n")
        .unwrap();
    let errors = load_errors(dir.path());
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("first line of the text must be the reply marker"), "{errors:#?}");
}

#[test]
fn a_missing_directory_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let errors = load_errors(&dir.path().join("nope"));
    assert!(errors.len() == 1 && errors[0].contains("nope"), "{errors:#?}");
}

#[test]
fn names_round_trip() {
    for name in Mail::ALL {
        assert_eq!(Mail::from_template(name.template()), Some(name));
    }
    assert_eq!(Mail::from_template("agent_response"), None);
}

#[test]
fn an_alert_about_an_internal_note_says_so() {
    let mut context = Templates::sample_context(Mail::NewMessageAlert);
    context["message"]["kind"] = serde_json::json!("note");
    let r = defaults().render(Mail::NewMessageAlert, &context).unwrap();
    assert_eq!(r.subject, "[#123456] Internal note: Printer on fire");
    assert!(r.text.contains("added an internal note on ticket #123456"), "{}", r.text);
    assert!(r.text.contains("Reply to this mail to answer the customer"), "{}", r.text);
}

/// A complete `new_ticket_auto_response.billing` triple in `dir`, its text saying `text`.
fn write_billing_variant(dir: &Path, text: &str) {
    let base = "new_ticket_auto_response.billing";
    std::fs::write(dir.join(format!("{base}.subject.tera")), "Billing: [#{{ ticket.number }}]").unwrap();
    std::fs::write(dir.join(format!("{base}.txt.tera")), format!("{{{{ reply_marker }}}}\n{text}\n"))
        .unwrap();
    std::fs::write(
        dir.join(format!("{base}.html.tera")),
        format!("<p>{{{{ reply_marker }}}}</p><p>{text}</p>"),
    )
    .unwrap();
}

fn billing_wanted() -> Vec<WantedVariant> {
    vec![WantedVariant {
        at: "topics[0].auto_response".into(),
        mail: Mail::NewTicketAutoResponse,
        name: "billing".into(),
    }]
}

#[test]
fn a_variant_renders_its_own_files_with_its_mails_context() {
    let dir = tempfile::tempdir().unwrap();
    write_billing_variant(dir.path(), "Our billing team answers within a day about {{ ticket.subject }}.");
    let templates = Templates::load(Some(dir.path()), &billing_wanted()).unwrap_or_else(|e| panic!("{e:#?}"));
    let context = Templates::sample_context(Mail::NewTicketAutoResponse);
    assert!(templates.has_variant(Mail::NewTicketAutoResponse, "billing"));
    let r = templates.render_variant(Mail::NewTicketAutoResponse, Some("billing"), &context).unwrap();
    assert!(r.subject.starts_with("Billing: [#"), "{}", r.subject);
    assert!(r.text.contains("Our billing team answers within a day"), "{}", r.text);
    let usual = templates.render(Mail::NewTicketAutoResponse, &context).unwrap();
    assert!(!usual.text.contains("billing team"), "the mail itself is untouched:\n{}", usual.text);
    // A variant that is gone (the configuration changed after the mail was queued): the usual one.
    let gone = templates.render_variant(Mail::NewTicketAutoResponse, Some("vip"), &context).unwrap();
    assert_eq!(gone, usual);
}

#[test]
fn a_variant_is_checked_like_its_mail() {
    let dir = tempfile::tempdir().unwrap();
    write_billing_variant(dir.path(), "Dear {{ ticket.nickname }}");
    std::fs::write(dir.path().join("new_ticket_auto_response.vip.txt.tera"), "{{ reply_marker }}\nHi")
        .unwrap();
    std::fs::write(dir.path().join("no_such_mail.billing.txt.tera"), "x").unwrap();
    let errors = match Templates::load(Some(dir.path()), &billing_wanted()) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(has("`ticket.nickname`") && has("new_ticket_auto_response.billing.txt.tera"), "{errors:#?}");
    assert!(
        has(
            "the variant new_ticket_auto_response.vip also needs new_ticket_auto_response.vip.subject.tera and new_ticket_auto_response.vip.html.tera"
        ),
        "{errors:#?}"
    );
    assert!(has("no_such_mail.billing.txt.tera: not a mailgate template"), "{errors:#?}");
}

#[test]
fn a_variant_the_configuration_names_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let errors = match Templates::load(Some(dir.path()), &billing_wanted()) {
        Ok(_) => panic!("expected an error"),
        Err(errors) => errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    assert_eq!(
        errors,
        [
            "topics[0].auto_response names the template new_ticket_auto_response.billing, which templates.dir does not \
          have: add new_ticket_auto_response.billing.subject.tera, new_ticket_auto_response.billing.txt.tera and \
          new_ticket_auto_response.billing.html.tera there"
        ]
    );
    let none = Templates::load(None, &billing_wanted()).err().unwrap_or_default();
    assert_eq!(none.len(), 1, "no templates.dir at all: {none:#?}");
}

#[test]
fn a_variant_keeps_the_reply_marker_rule() {
    let dir = tempfile::tempdir().unwrap();
    write_billing_variant(dir.path(), "fine");
    std::fs::write(dir.path().join("new_ticket_auto_response.billing.txt.tera"), "No marker here").unwrap();
    let errors = load_errors(dir.path());
    assert!(
        errors
            .iter()
            .any(|e| e.contains("new_ticket_auto_response.billing.txt.tera") && e.contains("reply marker")),
        "{errors:#?}"
    );
}

#[test]
fn the_new_ticket_alert_lists_the_custom_data_and_says_nothing_without_it() {
    let templates = defaults();
    let full =
        templates.render(Mail::NewTicketAlert, &Templates::sample_context(Mail::NewTicketAlert)).unwrap();
    assert!(
        full.text.contains("\n\nProduct: Printer\nCustomer number: C-1042\nSupport tier: Gold\n"),
        "{}",
        full.text
    );
    assert!(
        full.html.contains("Product: Printer<br>Customer number: C-1042<br>Support tier: Gold<br>"),
        "{}",
        full.html
    );
    let sparse = templates.render(Mail::NewTicketAlert, &sparse_context(Mail::NewTicketAlert)).unwrap();
    assert!(!sparse.text.contains(": Printer") && !sparse.html.contains("C-1042"), "{}", sparse.text);
}
