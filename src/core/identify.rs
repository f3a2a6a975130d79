//! Identification: which organization a sender belongs to (longest domain suffix, never free mail),
//! which recipients become collaborators, and what an organization's policy adds to a new ticket.

use std::collections::HashMap;

use super::address::EmailAddress;
use super::email::{InboundEmail, Mailbox};
use super::freemail::{domain_suffixes, is_free_mail};
use super::ids::{AgentId, OrgId, TeamId};

/// The part of the directory the pipeline decides with; declared in TOML, synced to the database,
/// loaded once per process.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    pub agents_by_email: HashMap<EmailAddress, AgentId>,
    pub org_by_domain: HashMap<String, OrgId>,
    pub orgs: HashMap<OrgId, OrgPolicy>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgPolicy {
    pub key: String,
    pub primary_contacts: Vec<EmailAddress>,
    pub manager: Option<Manager>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManagerTarget {
    Agent(AgentId),
    Team(TeamId),
}

/// The organization's account manager and what to do with new tickets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Manager {
    pub target: ManagerTarget,
    /// `true`: assign new tickets to the manager; `false`: only record the manager as alert target.
    pub assign: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgMatch {
    pub org: OrgId,
    pub domain: String,
}

/// The organization of `address` by longest domain suffix; free-mail domains never match.
pub fn match_org(address: &EmailAddress, org_by_domain: &HashMap<String, OrgId>) -> Option<OrgMatch> {
    let domain = address.domain();
    if is_free_mail(domain) {
        return None;
    }
    domain_suffixes(domain)
        .find_map(|suffix| org_by_domain.get(suffix).map(|&org| OrgMatch { org, domain: suffix.to_string() }))
}

/// True when `address` is one of ours, plus-addressed variants included (`support+tag@`).
pub fn is_own_address(address: &EmailAddress, own: &[EmailAddress]) -> bool {
    let base_local = address.local_part().split('+').next().unwrap_or_default();
    own.iter().any(|o| o.domain() == address.domain() && o.local_part() == base_local)
}

/// The tag of a plus-address of ours (`support+TAG@example.com` -> `TAG`): where reply tokens go.
pub fn own_address_tag<'a>(address: &'a EmailAddress, own: &[EmailAddress]) -> Option<&'a str> {
    let (base, tag) = address.local_part().split_once('+')?;
    own.iter().any(|o| o.domain() == address.domain() && o.local_part() == base).then_some(tag)
}

/// `own` with `tag` added to its local part: a signed reply address.
pub fn tagged_address(own: &EmailAddress, tag: &str) -> Option<EmailAddress> {
    EmailAddress::parse(&format!("{}+{tag}@{}", own.local_part(), own.domain()))
}

/// Addresses that are machines, not people: never collaborators, never answered.
pub fn is_machine_address(address: &EmailAddress) -> bool {
    let local = address.local_part().replace(['-', '_', '.'], "");
    ["noreply", "donotreply", "mailerdaemon", "postmaster", "bounce", "bounces"]
        .iter()
        .any(|m| local == *m || local.starts_with(m) && local[m.len()..].starts_with('+'))
        || local.starts_with("noreply")
        || local.starts_with("donotreply")
}

/// Whether mail can be sent to `address` as it stands: plain ASCII (we do not speak SMTPUTF8, and
/// raw 8-bit in a header is no address anyone typed), no RFC 5322 specials left in the local part
/// (a route or a group that slipped through), a non-empty local part and a host name or an address
/// literal as the domain.
pub fn is_deliverable_address(address: &EmailAddress) -> bool {
    let (local, domain) = (address.local_part(), address.domain());
    let local_ok =
        !local.is_empty() && local.bytes().all(|b| b.is_ascii_graphic() && !b"\"(),:;<>[\\]@".contains(&b));
    let host_ok = !domain.is_empty()
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let literal_ok = domain.starts_with('[')
        && domain.ends_with(']')
        && domain.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    local_ok && (host_ok || literal_ok)
}

/// Why a recipient did not become a collaborator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Not an address mail can be sent to (raw 8-bit, specials, an empty local part).
    Undeliverable,
    /// Not an address at all: an empty group (`Undisclosed-Recipients:;`), a source route, ...
    Unreadable,
    Sender,
    OwnAddress,
    Agent,
    MachineAddress,
    ListAddress,
    OverCap,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Undeliverable => "not a deliverable address (raw 8-bit or special characters)",
            Skip::Unreadable => "not an address (empty group, source route or empty local part)",
            Skip::Sender => "the sender",
            Skip::OwnAddress => "one of our addresses",
            Skip::Agent => "an agent",
            Skip::MachineAddress => "a machine address",
            Skip::ListAddress => "a mailing list",
            Skip::OverCap => "over tickets.max_collaborators",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Collaborators {
    pub added: Vec<Mailbox>,
    /// Each recipient that was not added (as written when it is no address), and why.
    pub skipped: Vec<(String, Skip)>,
}

/// The To/Cc recipients that become collaborators, in header order, at most `cap`. Only
/// deliverable addresses qualify; the unreadable To/Cc entries are reported as skipped.
pub fn collaborators(
    email: &InboundEmail,
    sender: &EmailAddress,
    own: &[EmailAddress],
    directory: &Directory,
    cap: usize,
) -> Collaborators {
    let list_addresses = list_addresses(email);
    let mut result = Collaborators::default();
    for mailbox in email.to.iter().chain(&email.cc) {
        let address = &mailbox.email;
        if result.added.iter().any(|m| &m.email == address)
            || result.skipped.iter().any(|(a, _)| a == address.as_str())
        {
            continue;
        }
        let skip = if !is_deliverable_address(address) {
            Some(Skip::Undeliverable)
        } else if address == sender {
            Some(Skip::Sender)
        } else if is_own_address(address, own) {
            Some(Skip::OwnAddress)
        } else if directory.agents_by_email.contains_key(address) {
            Some(Skip::Agent)
        } else if is_machine_address(address) {
            Some(Skip::MachineAddress)
        } else if list_addresses.contains(address) {
            Some(Skip::ListAddress)
        } else if result.added.len() >= cap {
            Some(Skip::OverCap)
        } else {
            None
        };
        match skip {
            Some(reason) => result.skipped.push((address.to_string(), reason)),
            None => result.added.push(mailbox.clone()),
        }
    }
    for text in &email.unreadable_recipients {
        result.skipped.push((text.clone(), Skip::Unreadable));
    }
    result
}

/// The list's own addresses, from `List-Post: <mailto:...>` and `List-Id: <list.example>`-style headers.
fn list_addresses(email: &InboundEmail) -> Vec<EmailAddress> {
    email
        .header_values("list-post")
        .chain(email.header_values("list-owner"))
        .flat_map(|v| v.split(['<', '>', ',']))
        .filter_map(|part| part.trim().strip_prefix("mailto:"))
        .filter_map(|addr| EmailAddress::parse(addr.split('?').next().unwrap_or_default()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::email::RawHeader;

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    #[test]
    fn reply_tags_are_found_only_on_our_addresses() {
        let own = [addr("support@example.com"), addr("billing@example.com")];
        assert_eq!(own_address_tag(&addr("support+abc2@example.com"), &own), Some("abc2"));
        assert_eq!(own_address_tag(&addr("billing+x+y@example.com"), &own), Some("x+y"));
        assert_eq!(own_address_tag(&addr("support@example.com"), &own), None);
        assert_eq!(own_address_tag(&addr("support+abc@example.org"), &own), None);
        assert_eq!(own_address_tag(&addr("sales+abc@example.com"), &own), None);
        let tagged = tagged_address(&own[0], "mfrgg").unwrap();
        assert_eq!(tagged.as_str(), "support+mfrgg@example.com");
        assert_eq!(own_address_tag(&tagged, &own), Some("mfrgg"));
    }

    fn mailbox(s: &str) -> Mailbox {
        Mailbox { email: addr(s), name: None }
    }

    fn orgs() -> HashMap<String, OrgId> {
        HashMap::from([
            ("acme.com".to_string(), OrgId(1)),
            ("eu.acme.com".to_string(), OrgId(2)),
            ("gmail.com".to_string(), OrgId(3)),
        ])
    }

    #[test]
    fn org_by_longest_suffix() {
        assert_eq!(match_org(&addr("a@acme.com"), &orgs()).unwrap().org, OrgId(1));
        assert_eq!(match_org(&addr("a@sales.acme.com"), &orgs()).unwrap().org, OrgId(1));
        let eu = match_org(&addr("a@x.eu.acme.com"), &orgs()).unwrap();
        assert_eq!((eu.org, eu.domain.as_str()), (OrgId(2), "eu.acme.com"));
        assert_eq!(match_org(&addr("a@notacme.com"), &orgs()), None);
    }

    #[test]
    fn free_mail_never_matches() {
        assert_eq!(match_org(&addr("someone@gmail.com"), &orgs()), None);
    }

    #[test]
    fn own_addresses_include_plus_variants() {
        let own = [addr("support@example.com")];
        assert!(is_own_address(&addr("support@example.com"), &own));
        assert!(is_own_address(&addr("support+abc123@example.com"), &own));
        assert!(!is_own_address(&addr("support@other.com"), &own));
        assert!(!is_own_address(&addr("supporter@example.com"), &own));
    }

    #[test]
    fn machine_addresses() {
        for a in [
            "noreply@x.com",
            "no-reply@x.com",
            "do_not_reply@x.com",
            "MAILER-DAEMON@x.com",
            "noreply-alerts@x.com",
            "bounces+1@x.com",
        ] {
            assert!(is_machine_address(&addr(a)), "{a}");
        }
        for a in ["jane@x.com", "replyall@x.com", "bouncer.fan@x.com"] {
            assert!(!is_machine_address(&addr(a)), "{a}");
        }
    }

    #[test]
    fn deliverable_addresses_are_plain_ascii_with_a_host() {
        for a in ["jane@example.com", "j.o'neil+tag@sub.example.co.uk", "x@[192.0.2.1]", "a@localhost"] {
            assert!(is_deliverable_address(&addr(a)), "{a}");
        }
        for a in [
            "jörg@example.com",
            "jane@exämple.com",
            "jane@\u{fffd}.example",
            "\"a b\"@example.com",
            "a:b@example.com",
            "a;@example.com",
            "jane@example..com",
            "jane@.example.com",
            "jane@-x.example",
        ] {
            let parsed = EmailAddress::parse(a);
            assert!(parsed.is_none_or(|p| !is_deliverable_address(&p)), "{a}");
        }
    }

    #[test]
    fn undeliverable_and_unreadable_recipients_are_skipped_with_their_reason() {
        let email = InboundEmail {
            to: vec![mailbox("jörg@acme.com"), mailbox("bob@acme.com")],
            unreadable_recipients: vec![
                "Undisclosed-Recipients:;".into(),
                "<@relay.example:x@y.example>".into(),
            ],
            ..Default::default()
        };
        let c = collaborators(&email, &addr("jane@acme.com"), &[], &Directory::default(), 10);
        let added: Vec<_> = c.added.iter().map(|m| m.email.as_str()).collect();
        assert_eq!(added, ["bob@acme.com"]);
        let skipped: Vec<_> = c.skipped.iter().map(|(a, s)| (a.as_str(), *s)).collect();
        assert_eq!(
            skipped,
            [
                ("jörg@acme.com", Skip::Undeliverable),
                ("Undisclosed-Recipients:;", Skip::Unreadable),
                ("<@relay.example:x@y.example>", Skip::Unreadable),
            ]
        );
    }

    #[test]
    fn collaborators_skip_ours_agents_machines_lists_and_cap() {
        let email = InboundEmail {
            to: vec![mailbox("support@example.com"), mailbox("bob@acme.com")],
            cc: vec![
                mailbox("jane@acme.com"),
                mailbox("alice@example.com"),
                mailbox("noreply@acme.com"),
                mailbox("list@lists.acme.com"),
                mailbox("bob@acme.com"),
                mailbox("carol@acme.com"),
                mailbox("dave@acme.com"),
            ],
            headers: vec![RawHeader {
                name: "list-post".into(),
                value: "<mailto:list@lists.acme.com>".into(),
            }],
            ..Default::default()
        };
        let directory = Directory {
            agents_by_email: HashMap::from([(addr("alice@example.com"), AgentId(1))]),
            ..Default::default()
        };
        let c = collaborators(&email, &addr("jane@acme.com"), &[addr("support@example.com")], &directory, 2);
        let added: Vec<_> = c.added.iter().map(|m| m.email.as_str()).collect();
        assert_eq!(added, ["bob@acme.com", "carol@acme.com"]);
        let skipped: Vec<_> = c.skipped.iter().map(|(a, s)| (a.as_str(), *s)).collect();
        assert_eq!(
            skipped,
            [
                ("support@example.com", Skip::OwnAddress),
                ("jane@acme.com", Skip::Sender),
                ("alice@example.com", Skip::Agent),
                ("noreply@acme.com", Skip::MachineAddress),
                ("list@lists.acme.com", Skip::ListAddress),
                ("dave@acme.com", Skip::OverCap),
            ]
        );
    }
}
