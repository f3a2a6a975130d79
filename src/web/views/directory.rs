//! The views of the console's directory: users (the list and one user's record) and
//! organizations (the list and one organization's page).

use super::portal::{ChoiceInput, FieldInput};
use crate::core::forms::FieldType;
use crate::store::audit::AuditRow;
use serde::Serialize;

use super::console::{Choice, ConsoleView, Nav};
use super::{Timed, samples};
use crate::core::ids::UserId;
use crate::store::console::{OrgLine, OrgPerson, TicketLine, UserRecord, UserTicket};
use crate::store::users::{Lockout, UserStatus, UserSummary};

/// Links to the neighbouring pages of a list (`None` at either end).
#[derive(Clone, Debug, Serialize)]
pub struct Pager {
    /// 1-based.
    pub page: i64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

/// `console/users.html`: the user directory.
#[derive(Clone, Debug, Serialize)]
pub struct Users {
    /// The search text; empty: everyone.
    pub search: String,
    /// The sort in force (`name`, `email`, `created`, `tickets`).
    pub sort: &'static str,
    pub sorts: Vec<Choice>,
    pub users: Timed<Vec<UserSummary>>,
    pub pager: Pager,
    /// The "Add a user" form: what was typed (refused: shown again), the organizations and the
    /// user form's fields.
    pub draft: NewUser,
    pub orgs: Vec<OrgChoice>,
    pub fields: Vec<FieldInput>,
    /// The fixed text of the `?done=` code.
    pub notice: Option<&'static str>,
    /// Why the add form was refused.
    pub error: Option<String>,
}

/// What the "Add a user" form holds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub phone: String,
    /// Additional addresses, as typed.
    pub emails: String,
}

impl ConsoleView for Users {
    const PAGE: &'static str = "console/users.html";
    const NAV: Nav = Nav::Users;

    fn sample() -> Self {
        let link = "/agent/users?q=ann&sort=name".to_string();
        Users {
            search: "ann".into(),
            sort: "name",
            sorts: vec![Choice { name: "name", link: link.clone(), current: true }],
            users: Timed(vec![samples::user_summary()]),
            pager: Pager { page: 2, previous: Some(link.clone()), next: Some(format!("{link}&page=3")) },
            draft: NewUser {
                email: "kim@example.org".into(),
                name: "Kim".into(),
                phone: "+49 30 1234".into(),
                emails: "kim.lee@example.org".into(),
            },
            orgs: vec![OrgChoice { key: "acme".into(), name: "ACME".into(), chosen: true }],
            fields: vec![sample_field()],
            notice: Some("The user was added."),
            error: Some("The user was not added: kim@example.org is already a user.".into()),
        }
    }

    fn variants() -> Vec<Self> {
        let mut user = samples::user_summary();
        (user.name, user.org_key) = (String::new(), None);
        let pager = Pager { page: 1, previous: None, next: None };
        let sparse = Users {
            search: String::new(),
            users: Timed(vec![user]),
            pager,
            draft: NewUser::default(),
            orgs: Vec::new(),
            fields: Vec::new(),
            notice: None,
            error: None,
            ..Self::sample()
        };
        vec![Users { users: Timed(Vec::new()), ..sparse.clone() }, sparse]
    }
}

/// A user's record as the page shows it.
#[derive(Clone, Debug, Serialize)]
pub struct UserProfile {
    pub id: UserId,
    pub email: String,
    /// May be empty.
    pub name: String,
    pub status: UserStatus,
    pub created_at: i64,
    pub has_password: bool,
    /// Set by an agent or admin, to be replaced at the next sign-in.
    pub password_temporary: bool,
    /// The directory that keeps their password (`[[ldap]]` name); '' when none.
    pub directory: String,
    pub last_login_at: Option<i64>,
    pub org_key: Option<String>,
    pub org_name: Option<String>,
    /// '' when none.
    pub phone: String,
    /// Additional addresses: mail from them is this user's.
    pub emails: Vec<String>,
    /// A tombstone: "deleted user #N", its personal data erased.
    pub deleted: bool,
}

impl From<&UserRecord> for UserProfile {
    fn from(user: &UserRecord) -> UserProfile {
        UserProfile {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            status: user.status,
            created_at: user.created_at,
            has_password: user.has_password,
            password_temporary: user.password_temporary,
            directory: user
                .auth_source
                .as_deref()
                .and_then(|source| source.strip_prefix("ldap:"))
                .unwrap_or_default()
                .to_string(),
            last_login_at: user.last_login_at,
            org_key: user.org_key.clone(),
            org_name: user.org_name.clone(),
            phone: String::new(),
            emails: Vec::new(),
            deleted: crate::store::erase::is_tombstone(&user.email),
        }
    }
}

/// A key and its value from a `custom` JSON column.
#[derive(Clone, Debug, Serialize)]
pub struct CustomRow {
    pub key: String,
    pub value: String,
}

/// `console/user.html`: one user's record, custom data, tickets, and the account actions.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub user: Timed<UserProfile>,
    pub custom: Vec<CustomRow>,
    pub tickets: Timed<Vec<UserTicket>>,
    /// What agents and admins did to this user (locks, unlocks), newest first.
    pub history: Timed<Vec<AuditRow>>,
    /// The organizations the edit form offers, the user's chosen.
    pub orgs: Vec<OrgChoice>,
    /// The user form's fields (`[[forms]]`, `applies_to = "user"`), filled with the stored values.
    pub fields: Vec<FieldInput>,
    /// The sign-in throttle: failed attempts and a lockout, cleared by the "Clear" action.
    pub lockout: Timed<Lockout>,
    /// The fixed text of the `?done=` code.
    pub notice: Option<&'static str>,
    /// The fixed text of the `?error=` code, or why the edit form was refused.
    pub error: Option<String>,
}

/// An organization in a select.
#[derive(Clone, Debug, Serialize)]
pub struct OrgChoice {
    pub key: String,
    pub name: String,
    pub chosen: bool,
}

impl ConsoleView for User {
    const PAGE: &'static str = "console/user.html";
    const NAV: Nav = Nav::Users;

    fn sample() -> Self {
        User {
            user: Timed(UserProfile {
                id: UserId(1),
                email: "ann@acme.com".into(),
                name: "Ann Example".into(),
                status: UserStatus::Registered,
                created_at: samples::AT,
                has_password: true,
                password_temporary: true,
                directory: "corp".into(),
                last_login_at: Some(samples::AT),
                org_key: Some("acme".into()),
                org_name: Some("ACME".into()),
                phone: "+49 30 1234".into(),
                emails: vec!["ann.example@home.example".into()],
                deleted: false,
            }),
            lockout: Timed(Lockout { failures: 6, until_at: Some(samples::AT) }),
            custom: vec![CustomRow { key: "tier".into(), value: "gold".into() }],
            tickets: Timed(vec![samples::user_ticket()]),
            history: Timed(vec![AuditRow {
                done_at: samples::AT,
                actor: "agent alice".into(),
                action: "lock".into(),
                detail: "sends spam".into(),
            }]),
            notice: Some("A password reset link is on its way."),
            error: Some("No invitation was sent.".into()),
            orgs: vec![OrgChoice { key: "acme".into(), name: "ACME".into(), chosen: true }],
            fields: vec![sample_field()],
        }
    }

    fn variants() -> Vec<Self> {
        let mut sparse = Self::sample();
        let profile = &mut sparse.user.0;
        (profile.name, profile.status, profile.has_password) = (String::new(), UserStatus::Guest, false);
        (profile.last_login_at, profile.org_key, profile.org_name) = (None, None, None);
        (sparse.custom, sparse.tickets, sparse.notice, sparse.error) =
            (Vec::new(), Timed(Vec::new()), None, None);
        (sparse.history, sparse.orgs, sparse.fields) = (Timed(Vec::new()), Vec::new(), Vec::new());
        (sparse.user.0.phone, sparse.lockout) = (String::new(), Timed(Lockout::default()));
        sparse.user.0.emails = Vec::new();
        (sparse.user.0.password_temporary, sparse.user.0.directory) = (false, String::new());
        let mut locked = sparse.clone();
        locked.user.0.status = UserStatus::Disabled;
        (locked.user.0.has_password, locked.user.0.password_temporary) = (true, true);
        locked.lockout = Timed(Lockout { failures: 2, until_at: None });
        let mut deleted = sparse.clone();
        (deleted.user.0.email, deleted.user.0.deleted, deleted.user.0.status) =
            ("deleted user #1".into(), true, UserStatus::Disabled);
        deleted.lockout = Timed(Lockout::default());
        vec![sparse, locked, deleted]
    }
}

/// A choice field of the user form, filled in (the samples of both user pages).
fn sample_field() -> FieldInput {
    FieldInput {
        key: "plan".into(),
        label: "Plan".into(),
        kind: FieldType::Choice,
        required: true,
        choices: vec![ChoiceInput { value: "enterprise".into(), chosen: true }],
        value: "enterprise".into(),
        checked: true,
    }
}

/// `console/orgs.html`: the organizations.
#[derive(Clone, Debug, Serialize)]
pub struct Orgs {
    pub orgs: Vec<OrgLine>,
}

impl ConsoleView for Orgs {
    const PAGE: &'static str = "console/orgs.html";
    const NAV: Nav = Nav::Orgs;

    fn sample() -> Self {
        Orgs { orgs: vec![samples::org_line()] }
    }

    fn variants() -> Vec<Self> {
        vec![Orgs { orgs: Vec::new() }]
    }
}

/// An organization's key and name.
#[derive(Clone, Debug, Serialize)]
pub struct OrgName {
    pub key: String,
    pub name: String,
}

/// An organization's account manager.
#[derive(Clone, Debug, Serialize)]
pub struct Manager {
    /// `agent` or `team`.
    pub kind: String,
    pub key: String,
    pub name: String,
    /// `assign` (new tickets go to them) or `alert` (they are told).
    pub mode: String,
}

/// `console/org.html`: one organization.
#[derive(Clone, Debug, Serialize)]
pub struct Org {
    pub org: OrgName,
    pub custom: Vec<CustomRow>,
    pub domains: Vec<String>,
    pub contacts: Vec<OrgPerson>,
    pub manager: Option<Manager>,
    /// The first members (`member_count` says how many there are).
    pub members: Vec<OrgPerson>,
    pub member_count: i64,
    /// Recent tickets.
    pub tickets: Timed<Vec<TicketLine>>,
}

impl ConsoleView for Org {
    const PAGE: &'static str = "console/org.html";
    const NAV: Nav = Nav::Orgs;

    fn sample() -> Self {
        Org {
            org: OrgName { key: "acme".into(), name: "ACME".into() },
            custom: vec![CustomRow { key: "tier".into(), value: "gold".into() }],
            domains: vec!["acme.com".into()],
            contacts: vec![samples::org_person()],
            manager: Some(Manager {
                kind: "agent".into(),
                key: "alice".into(),
                name: "Alice".into(),
                mode: "assign".into(),
            }),
            members: vec![samples::org_person()],
            member_count: 1,
            tickets: Timed(vec![samples::ticket_line()]),
        }
    }

    fn variants() -> Vec<Self> {
        let mut person = samples::org_person();
        person.name.clear();
        let mut line = samples::ticket_line();
        (line.requester_name, line.assignee) = (String::new(), None);
        let sparse = Org {
            custom: Vec::new(),
            contacts: vec![person.clone()],
            manager: None,
            members: vec![person],
            tickets: Timed(vec![line]),
            ..Self::sample()
        };
        let empty = Org {
            domains: Vec::new(),
            contacts: Vec::new(),
            members: Vec::new(),
            member_count: 0,
            tickets: Timed(Vec::new()),
            ..sparse.clone()
        };
        vec![sparse, empty]
    }
}
