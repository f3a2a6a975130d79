//! `[notifications]`: which automatic mails are sent, and the governor's caps that keep two
//! auto-responders from mailing each other forever.

use serde::Deserialize;

use super::error::Problems;
use super::locate::KeyPath;

/// The validated section is the decision module's own policy: nothing to map.
pub type Notifications = crate::core::notify::Policy;

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "a [notifications] table")]
pub(super) struct RawNotifications {
    /// Acknowledge a new ticket to its owner (with the ticket number to quote). Default: `true`.
    pub auto_response: bool,
    /// Confirm each further customer message to its sender. Default: `false`.
    pub new_message_confirmation: bool,
    /// Alert agents of a new ticket (assignee, else account manager, else see below). Default: `true`.
    pub new_ticket_alert: bool,
    /// Alert the assignee (or its team) when the customer writes again. Default: `true`.
    pub new_message_alert: bool,
    /// Tell collaborators added from Cc that they are on the ticket. Default: `true`.
    pub collaborator_notice: bool,
    /// Alert the assignee when mail we sent on their ticket bounced. Default: `true`.
    pub bounce_alert: bool,
    /// Tell the sender when a message we took in is refused (over `[limits]`). Default: `true`.
    pub rejection_notice: bool,
    /// Alert the new assignee (the agent, or every member of the team) of an assignment. Default: `true`.
    pub assignment_alert: bool,
    /// Tell the owner when their ticket is closed (by an agent or by autoclose). Default: `true`.
    pub closed_notice: bool,
    /// A new ticket with no assignee and no account manager alerts every active agent. Default: `true`.
    pub alert_all_agents_when_unassigned: bool,
    /// Automatic mails (auto-responses, confirmations, notices) to one address per hour. Default: `10`.
    pub max_automatic_per_address_per_hour: u32,
    /// Auto-responses per ticket. Default: `1`.
    pub max_auto_responses_per_ticket: u32,
}

impl Default for RawNotifications {
    fn default() -> Self {
        Self {
            auto_response: true,
            new_message_confirmation: false,
            new_ticket_alert: true,
            new_message_alert: true,
            collaborator_notice: true,
            bounce_alert: true,
            rejection_notice: true,
            assignment_alert: true,
            closed_notice: true,
            alert_all_agents_when_unassigned: true,
            max_automatic_per_address_per_hour: 10,
            max_auto_responses_per_ticket: 1,
        }
    }
}

pub(super) fn validate_notifications(
    raw: &RawNotifications,
    problems: &mut Problems<'_, '_>,
) -> Notifications {
    if raw.max_automatic_per_address_per_hour == 0 && (raw.auto_response || raw.collaborator_notice) {
        problems.report(
            &KeyPath::top("notifications").key("max_automatic_per_address_per_hour"),
            "is 0, which holds back every automatic mail; switch the mails off instead (auto_response = false, ...)"
                .to_string(),
        );
    }
    Notifications {
        auto_response: raw.auto_response,
        new_message_confirmation: raw.new_message_confirmation,
        new_ticket_alert: raw.new_ticket_alert,
        new_message_alert: raw.new_message_alert,
        collaborator_notice: raw.collaborator_notice,
        bounce_alert: raw.bounce_alert,
        rejection_notice: raw.rejection_notice,
        assignment_alert: raw.assignment_alert,
        closed_notice: raw.closed_notice,
        alert_all_when_unassigned: raw.alert_all_agents_when_unassigned,
        max_automatic_per_address_per_hour: raw.max_automatic_per_address_per_hour,
        max_auto_responses_per_ticket: raw.max_auto_responses_per_ticket,
    }
}
