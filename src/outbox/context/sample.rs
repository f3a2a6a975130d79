//! The sample facts templates are checked against: a queued row and a send with every field
//! filled, and the sparse variant with what may be empty emptied. `MailContext::sample` and
//! `MailContext::sparse` turn them into contexts through the same `build` the worker uses.

use super::{
    BounceReport, FieldRow, Fields, MessageKind, Person, Queued, QueuedMessage, QueuedRecipient,
    QueuedTicket, SendTime,
};
use crate::core::notify::Mail;

const CUSTOMER_TEXT: &str = "Hello,\nthe printer in room 4 is on fire.\n\nJane";
const AGENT_TEXT: &str = "Hello Jane,\nwe sent a technician; the printer is safe again.\n\nAlex";

/// Every fact `mail` can have, filled.
pub(super) fn facts(mail: Mail) -> (Queued, SendTime) {
    let jane = Person { name: "Jane Doe".into(), email: "jane@example.org".into() };
    let alex = Person { name: "Alex Agent".into(), email: "alex@help.example.com".into() };
    let recipient = match mail {
        Mail::NewTicketAlert
        | Mail::NewMessageAlert
        | Mail::HeldNotice
        | Mail::AssignmentAlert
        | Mail::OverdueAlert => &alex,
        Mail::BounceAlert => &alex,
        Mail::CollaboratorNotice => &Person { name: "Sam Roe".into(), email: "sam@example.org".into() },
        _ => &jane,
    };
    let (author, text) = match mail {
        Mail::ResponseRelay => (&alex, AGENT_TEXT),
        _ => (&jane, CUSTOMER_TEXT),
    };
    let reason = match mail {
        Mail::HeldNotice => "its From is not one of the addresses of the agent the reply address belongs to",
        _ => "Messages larger than 25 MB are not accepted; please send a link instead.",
    };
    let link = match mail {
        Mail::AccountExists => "https://help.example.com/reset",
        _ => "https://help.example.com/account/abc",
    };
    // A rejection may concern a ticket (its sample has one, the sparse variant none).
    let ticket = (mail.about_ticket() || mail == Mail::RejectionNotice).then(|| QueuedTicket {
        id: Some(1),
        number: "123456".into(),
        subject: "Printer on fire".into(),
        status: "open".into(),
    });
    let ticket_mail = ticket.is_some();
    let url = ticket.is_some().then(|| "https://help.example.com/t/123456?token=abc&lang=en".to_string());
    let queued = Queued {
        recipient: QueuedRecipient { email: recipient.email.clone(), name: Some(recipient.name.clone()) },
        ticket,
        message: Some(QueuedMessage {
            entry_id: Some(1),
            kind: MessageKind::Message,
            author_name: author.name.clone(),
            author_email: author.email.clone(),
        }),
        owner: Some(jane.clone()),
        in_reply_to: Some("m1@example.org".into()),
        reason: Some(reason.into()),
        bounce: Some(BounceReport {
            recipients: vec!["jane@example.org".into(), "sam@example.org".into()],
            diagnostic: "550 5.1.1 <jane@example.org>: Recipient address rejected:\nUser unknown".into(),
        }),
        assignee: Some("team billing".into()),
        actor: Some("agent alice".into()),
        link: Some(link.into()),
        link_valid: Some("24 hours".into()),
        due: Some("2026-12-04 17:00 UTC".into()),
        plan: Some("Standard (8 business hours)".into()),
        ..Queued::default()
    };
    let sent = SendTime {
        instance_name: "Example Support".into(),
        text: Some(text.into()),
        organization: Some("ACME".into()),
        primary_contact: true,
        url,
        note_address: Some("support+note-abc@help.example.com".into()),
        link_minutes: 60,
        fields: if ticket_mail { sample_fields() } else { Fields::default() },
    };
    (queued, sent)
}

/// Custom data of each kind, one value each.
fn sample_fields() -> Fields {
    let row = |label: &str, value: &str| FieldRow { label: label.into(), value: value.into() };
    Fields {
        ticket: vec![row("Product", "Printer")],
        customer: vec![row("Customer number", "C-1042")],
        org: vec![row("Support tier", "Gold")],
    }
}

/// [`facts`] with every fact that may be missing missing, and the other branch of each choice.
pub(super) fn sparse_facts(mail: Mail) -> (Queued, SendTime) {
    let (mut queued, mut sent) = facts(mail);
    queued.recipient.name = None;
    if let Some(owner) = &mut queued.owner {
        owner.name.clear();
    }
    if let Some(message) = &mut queued.message {
        message.author_name.clear();
    }
    if !mail.about_ticket() {
        queued.ticket = None;
    }
    sent.url = None;
    sent.organization = None;
    sent.note_address = None;
    sent.primary_contact = false;
    sent.fields = Fields::default();
    (queued, sent)
}
