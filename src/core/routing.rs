//! Help topics and routing by receiving address: which of our addresses a message was written to
//! (mail to the customer comes from it) and which topic that address, or the mailbox it came
//! through, names. Pure: the caller applies the topic (team, agent, priority) and records the
//! reason in the trace.

use std::collections::HashMap;

use super::address::EmailAddress;
use super::command::Priority;
use super::notify::AutoResponse;

/// A `[[topics]]` entry as the pipeline uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    pub key: String,
    pub name: String,
    /// An agent or team key new tickets of the topic are assigned to.
    pub assign: Option<String>,
    pub priority: Option<Priority>,
    /// The `[[sla]]` plan of the topic's tickets.
    pub sla: Option<String>,
    /// Offered to customers on the portal; agents-only topics are set by agents and rules.
    pub public: bool,
    /// The auto-response the topic's new tickets get.
    pub auto_response: AutoResponse,
    /// The ticket form its tickets fill (`[[forms]]`, `applies_to = "ticket"`).
    pub form: Option<super::forms::Form>,
}

/// The topics and what routes to them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topics {
    pub topics: Vec<Topic>,
    /// Our address (no `+tag`) -> topic key.
    pub by_address: HashMap<EmailAddress, String>,
    /// `[[mailbox]]` name -> topic key.
    pub by_mailbox: HashMap<String, String>,
}

/// Where a message was written to and the topic that decides for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// Our address the customer wrote to (without a `+tag`), if any of ours was among the recipients.
    pub received_at: Option<EmailAddress>,
    /// The topic key and why.
    pub topic: Option<(String, String)>,
}

impl Topics {
    pub fn get(&self, key: &str) -> Option<&Topic> {
        self.topics.iter().find(|topic| topic.key == key)
    }

    /// The topics customers may choose on the portal, in the configured order.
    pub fn public(&self) -> impl Iterator<Item = &Topic> {
        self.topics.iter().filter(|topic| topic.public)
    }

    /// Routes a message: the envelope recipients first (the MTA's word), then To and Cc in order;
    /// the first of our addresses found is where it was written to, and the first of them that
    /// names a topic decides; else the mailbox it came through.
    pub fn route(
        &self,
        envelope: &[EmailAddress],
        to_cc: &[&EmailAddress],
        mailbox: Option<&str>,
        own: &[EmailAddress],
    ) -> Routed {
        let mut routed = Routed::default();
        let candidates =
            envelope.iter().map(|a| (a, "envelope recipient")).chain(to_cc.iter().map(|a| (*a, "To/Cc")));
        for (address, how) in candidates {
            let Some(base) = own_base(address, own) else { continue };
            if routed.received_at.is_none() {
                routed.received_at = Some(base.clone());
            }
            if let Some(key) = self.by_address.get(base) {
                routed.topic = Some((key.clone(), format!("{key}: {how} {base}")));
                return routed;
            }
        }
        if let Some((name, key)) = mailbox.and_then(|name| self.by_mailbox.get_key_value(name)) {
            routed.topic = Some((key.clone(), format!("{key}: mailbox {name}")));
        }
        routed
    }
}

/// The address of ours that `address` is, plus-tag removed (`support+TOKEN@` -> `support@`).
fn own_base<'a>(address: &EmailAddress, own: &'a [EmailAddress]) -> Option<&'a EmailAddress> {
    let local = address.local_part().split('+').next().unwrap_or_default();
    own.iter().find(|o| o.domain() == address.domain() && o.local_part() == local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> EmailAddress {
        EmailAddress::parse(text).unwrap()
    }

    fn topics() -> Topics {
        let topic = |key: &str| Topic {
            key: key.to_string(),
            name: key.to_string(),
            assign: None,
            priority: None,
            sla: None,
            public: true,
            auto_response: AutoResponse::Usual,
            form: None,
        };
        Topics {
            topics: vec![topic("billing"), topic("sales")],
            by_address: [(addr("billing@example.com"), "billing".to_string())].into(),
            by_mailbox: [("sales-box".to_string(), "sales".to_string())].into(),
        }
    }

    #[test]
    fn the_envelope_decides_before_to_and_cc() {
        let own = [addr("support@example.com"), addr("billing@example.com")];
        let routed =
            topics().route(&[addr("billing@example.com")], &[&addr("support@example.com")], None, &own);
        assert_eq!(routed.received_at, Some(addr("billing@example.com")));
        assert_eq!(routed.topic.unwrap().1, "billing: envelope recipient billing@example.com");
    }

    #[test]
    fn to_and_cc_route_and_the_first_own_address_is_where_it_was_written() {
        let own = [addr("support@example.com"), addr("billing@example.com")];
        let (jane, support, billing) =
            (addr("jane@example.org"), addr("support@example.com"), addr("billing+x1@example.com"));
        let routed = topics().route(&[], &[&jane, &support, &billing], None, &own);
        assert_eq!(routed.received_at, Some(support));
        assert_eq!(routed.topic.unwrap().0, "billing", "a plus-tag still names the address");
    }

    #[test]
    fn the_mailbox_routes_when_no_address_does() {
        let own = [addr("support@example.com")];
        let routed = topics().route(&[], &[&addr("support@example.com")], Some("sales-box"), &own);
        assert_eq!(routed.topic.unwrap().1, "sales: mailbox sales-box");
        assert_eq!(topics().route(&[], &[], None, &own), Routed::default());
    }
}
