//! Signing in through `[[ldap]]` directories: which password source a sign-in asks (the provider
//! order), what a directory's yes means for the accounts (linking, creation at first sign-in by the
//! registration mode, agents only when declared), and the attributes written on each sign-in.
//! A directory that cannot answer stops the sign-in: nothing weaker is tried instead.
//!
//! The order (docs/accounts.md, "Providers"): an account that came from a directory is checked
//! against that directory alone; an account with mailgate's own password is checked locally
//! alone; anyone else (no account, or one without a password) is tried against the directories
//! that serve their realm, in the configured order, then against local passwords (which, having
//! none for them, refuses at the cost of one dummy argon2 run, like any unknown login).

use serde_json::{Map, Value};

use super::login::{Realm, SignIn};
use super::{AccountError, Accounts, throttle};
use crate::auth::ldap::{Directory, Entry, directory_of};
use crate::config::RegistrationMethod;
use crate::core::address::EmailAddress;
use crate::core::forms::{FieldType, Form};
use crate::store::Tx;
use crate::store::account_source::{self as source_store, Attributes};
use crate::store::sessions::Holder;
use crate::store::users::UserStatus;

/// Which password sources a sign-in asks.
pub(super) enum Route<'a> {
    /// Mailgate's own password only (as before directories existed).
    Local,
    /// These directories in order; `exclusive` when the account came from one (no local check
    /// after), otherwise a refusal by all of them goes on to the local check.
    Directories { list: Vec<&'a Directory>, exclusive: bool },
}

/// Why a directory's yes did not sign anyone in (logged; the visitor sees "wrong password").
type Refusal = &'static str;

impl Accounts {
    /// The sources to ask for the account `holder` (found by the login typed), whose password
    /// source is `source` and who has a local password when `has_password`.
    pub(super) fn route(
        &self,
        realm: Realm,
        holder: Option<Holder>,
        source: Option<&str>,
        has_password: bool,
    ) -> Route<'_> {
        let serves = |directory: &&Directory| match realm {
            Realm::Agent => directory.config().agents,
            Realm::User => directory.config().users,
        };
        if let Some(name) = source.and_then(directory_of) {
            // Removed from the configuration, or no longer serving this realm: nobody to ask.
            let list = self.directories.iter().filter(|d| d.name() == name).filter(serves).collect();
            return Route::Directories { list, exclusive: true };
        }
        if holder.is_some() && has_password {
            return Route::Local;
        }
        let list: Vec<&Directory> = self.directories.iter().filter(serves).collect();
        if list.is_empty() { Route::Local } else { Route::Directories { list, exclusive: false } }
    }

    /// Asks `list` in order. `Err(charged)` hands the attempt back to the local check (nobody
    /// knew the login and the route allows it).
    pub(super) async fn sign_in_by_directory(
        &self,
        realm: Realm,
        login: &str,
        password: &str,
        route: Route<'_>,
        charged: throttle::Charged,
        account: (String, String),
    ) -> Result<Result<SignIn, throttle::Charged>, AccountError> {
        let Route::Directories { list, exclusive } = route else { return Ok(Err(charged)) };
        if exclusive && list.is_empty() {
            tracing::warn!(
                realm = realm.as_str(),
                "sign-in: the account's directory is not configured for it"
            );
        }
        for directory in list {
            let entry = match directory.authenticate(login, password).await {
                Ok(Some(entry)) => entry,
                Ok(None) => continue,
                Err(down) => {
                    tracing::warn!(%down, realm = realm.as_str(), "sign-in: the directory is not answering");
                    // Never judged: the attempt does not count (as when argon2 is busy).
                    self.app.store().write(move |tx| throttle::refund(tx, &charged, false)).await?;
                    return Ok(Ok(SignIn::DirectoryDown));
                }
            };
            return match self.claim(realm, directory, &entry).await? {
                Ok(holder) => Ok(Ok(self.granted(holder, None, charged, account).await?)),
                Err(why) => {
                    tracing::warn!(directory = directory.name(), dn = %entry.dn, why, "sign-in: directory entry refused");
                    Ok(Ok(refused(realm, &charged)))
                }
            };
        }
        if exclusive { Ok(Ok(refused(realm, &charged))) } else { Ok(Err(charged)) }
    }

    /// The account a directory's entry signs in as, found, linked or created; the directory's
    /// attributes written to it (users only: agents are described by the configuration).
    async fn claim(
        &self,
        realm: Realm,
        directory: &Directory,
        entry: &Entry,
    ) -> Result<Result<Holder, Refusal>, AccountError> {
        let attributes = &directory.config().attributes;
        let Some(email) = entry.first(&attributes.email).and_then(EmailAddress::parse) else {
            return Ok(Err("the entry has no usable e-mail address (attributes.email)"));
        };
        let source = directory.source();
        let now = self.now_ms();
        if realm == Realm::Agent {
            return Ok(self.app.store().write(move |tx| claim_agent(tx, &email, &source)).await?);
        }
        let profile = Profile::read(entry, attributes, self.user_form.as_ref());
        let creates = self.registration.method != RegistrationMethod::Disabled;
        let org = self.app.org_of(&email);
        Ok(self
            .app
            .store()
            .write(move |tx| {
                let user = match claim_user(tx, &email, &source, creates, &profile, org, now)? {
                    Ok(user) => user,
                    Err(why) => return Ok(Err(why)),
                };
                profile.write(tx, user, now)?;
                Ok(Ok(Holder::User(user)))
            })
            .await?)
    }
}

/// A refused password: "too many" when this attempt used up a budget.
fn refused(realm: Realm, charged: &throttle::Charged) -> SignIn {
    crate::observe::metrics::login_failed(realm.as_str(), "password");
    if charged.exhausted {
        crate::observe::metrics::login_throttled(realm.as_str(), "password");
        SignIn::Throttled
    } else {
        SignIn::Denied
    }
}

/// An agent signs in through a directory only when `[[agents]]` already names the entry's address:
/// a directory never makes anyone an agent.
fn claim_agent(
    tx: &mut Tx<'_>,
    email: &EmailAddress,
    source: &str,
) -> crate::store::Result<Result<Holder, Refusal>> {
    let Some((agent, claim)) = source_store::agent_by_email(tx, email)? else {
        return Ok(Err("no [[agents]] entry has the entry's address"));
    };
    match claim.source.as_deref() {
        Some(mine) if mine == source => Ok(Ok(Holder::Agent(agent))),
        Some(_) => Ok(Err("the agent's password is another source's")),
        None if claim.has_password => Ok(Err("the agent has a local password; they sign in with it")),
        None => {
            source_store::link_agent(tx, agent, source)?;
            Ok(Ok(Holder::Agent(agent)))
        }
    }
}

/// The user the entry's address names: theirs already, linked (a user without a password or
/// source: known from mail or invited), or created when the registration mode allows new accounts.
fn claim_user(
    tx: &mut Tx<'_>,
    email: &EmailAddress,
    source: &str,
    creates: bool,
    profile: &Profile,
    org: Option<crate::core::ids::OrgId>,
    now: i64,
) -> crate::store::Result<Result<crate::core::ids::UserId, Refusal>> {
    let found = match source_store::user_by_email(tx, email)? {
        Some(found) => found,
        None if !creates => return Ok(Err("registration is disabled: no new accounts")),
        None => {
            let name = profile.name.as_deref().unwrap_or_default();
            if let Some(user) = source_store::insert_directory_user(tx, email, name, org, source, now)? {
                return Ok(Ok(user));
            }
            // Created meanwhile (mail from them, a concurrent sign-in): judged as found.
            match source_store::user_by_email(tx, email)? {
                Some(found) => found,
                None => return Ok(Err("the address vanished while signing in")),
            }
        }
    };
    if found.status == UserStatus::Disabled {
        return Ok(Err("the user is locked"));
    }
    match found.claim.source.as_deref() {
        Some(mine) if mine == source => Ok(Ok(found.id)),
        Some(_) => Ok(Err("the user's password is another source's")),
        None if found.claim.has_password => Ok(Err("the user has a local password; they sign in with it")),
        None if !creates && found.status == UserStatus::Guest => {
            Ok(Err("registration is disabled: a guest does not become an account"))
        }
        None if source_store::link_user(tx, found.id, source, now)? => Ok(Ok(found.id)),
        None => Ok(Err("the user changed while signing in")),
    }
}

/// What a directory entry says of a user, each value checked: the name cleaned like a name from
/// mail, the phone as a phone field checks it, custom values against their user form field.
/// A value that does not pass is left out (and logged); it never blocks the sign-in.
struct Profile {
    name: Option<String>,
    phone: Option<String>,
    custom: Map<String, Value>,
}

impl Profile {
    fn read(entry: &Entry, attributes: &crate::config::LdapAttributes, form: Option<&Form>) -> Profile {
        let name = entry.first(&attributes.name).and_then(crate::core::email::clean_display_name);
        let phone_field = crate::core::forms::Field {
            key: "phone".into(),
            label: "Phone".into(),
            kind: FieldType::Phone,
            required: false,
            choices: Vec::new(),
            editable_by: crate::core::forms::EditableBy::Agent,
            visible_to_user: true,
        };
        let phone =
            attributes.phone.as_deref().and_then(|attribute| entry.first(attribute)).and_then(|text| {
                checked(&phone_field, Value::from(text)).and_then(|value| value.as_str().map(str::to_string))
            });
        let mut custom = Map::new();
        for (key, attribute) in &attributes.custom {
            let Some(field) = form.and_then(|form| form.fields.iter().find(|field| field.key == *key)) else {
                continue;
            };
            let values = entry.values(attribute);
            let value = match field.kind {
                FieldType::MultiChoice => Value::from(values.to_vec()),
                FieldType::Bool => match entry.first(attribute).map(str::to_ascii_uppercase).as_deref() {
                    Some("TRUE") => Value::Bool(true),
                    Some("FALSE") => Value::Bool(false),
                    _ => continue,
                },
                FieldType::Number => match entry.first(attribute).and_then(|text| text.parse::<i64>().ok()) {
                    Some(number) => Value::from(number),
                    None => continue,
                },
                _ => match entry.first(attribute) {
                    Some(text) => Value::from(text),
                    None => continue,
                },
            };
            if let Some(value) = checked(field, value) {
                custom.insert(key.clone(), value);
            }
        }
        Profile { name, phone, custom }
    }

    /// Replaces the name, phone and mapped custom fields by the directory's (fields it does not
    /// map keep their values; an attribute the entry lacks changes nothing).
    fn write(&self, tx: &mut Tx<'_>, user: crate::core::ids::UserId, now: i64) -> crate::store::Result<()> {
        let custom_json = if self.custom.is_empty() {
            None
        } else {
            let (_, stored) = source_store::profile(tx, user)?.unwrap_or_default();
            let mut merged: Map<String, Value> = serde_json::from_str(&stored).unwrap_or_default();
            merged.extend(self.custom.clone());
            Some(Value::Object(merged).to_string())
        };
        let given = Attributes {
            name: self.name.as_deref(),
            phone: self.phone.as_deref(),
            custom_json: custom_json.as_deref(),
        };
        source_store::update_from_directory(tx, user, &given, now)
    }
}

fn checked(field: &crate::core::forms::Field, value: Value) -> Option<Value> {
    match field.check(&value) {
        Ok(value) => Some(value),
        Err(problem) => {
            tracing::info!(%problem, "sign-in: a directory attribute was left out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use crate::config::LdapAttributes;
    use crate::core::forms::{EditableBy, Field, Subject};

    fn field(key: &str, kind: FieldType, choices: &[&str]) -> Field {
        Field {
            key: key.into(),
            label: key.into(),
            kind,
            required: false,
            choices: choices.iter().map(|c| c.to_string()).collect(),
            editable_by: EditableBy::Agent,
            visible_to_user: true,
        }
    }

    #[test]
    fn attributes_are_typed_by_their_field_and_bad_values_left_out() {
        let form = Form {
            key: "customer".into(),
            applies_to: Subject::User,
            fields: vec![
                field("vip", FieldType::Bool, &[]),
                field("seats", FieldType::Number, &[]),
                field("products", FieldType::MultiChoice, &["printer", "scanner"]),
                field("tier", FieldType::Choice, &["gold", "silver"]),
                field("since", FieldType::Date, &[]),
            ],
        };
        let attributes = LdapAttributes {
            name: "cn".into(),
            email: "mail".into(),
            phone: Some("telephoneNumber".into()),
            custom: BTreeMap::from(
                [
                    ("vip", "vipFlag"),
                    ("seats", "seats"),
                    ("products", "product"),
                    ("tier", "tier"),
                    ("since", "since"),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string())),
            ),
        };
        let values = |list: &[&str]| list.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        let entry = Entry {
            dn: "uid=x".into(),
            attributes: HashMap::from([
                ("cn".to_string(), values(&["  Ann\r\nExample "])),
                ("telephoneNumber".to_string(), values(&["call me maybe"])),
                ("vipFlag".to_string(), values(&["TRUE"])),
                ("seats".to_string(), values(&["250"])),
                ("product".to_string(), values(&["Printer", "scanner"])),
                ("tier".to_string(), values(&["platinum"])),
                ("since".to_string(), values(&["2024-02-30"])),
            ]),
        };
        let profile = Profile::read(&entry, &attributes, Some(&form));
        assert_eq!(profile.name.as_deref(), Some("Ann Example"), "one line, like a name from mail");
        assert_eq!(profile.phone, None, "not a phone number: left out");
        assert_eq!(
            Value::Object(profile.custom),
            serde_json::json!({ "vip": true, "seats": 250, "products": ["printer", "scanner"] }),
            "a choice not declared and an impossible date are left out"
        );
    }
}
