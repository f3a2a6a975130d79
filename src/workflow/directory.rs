//! Managing the user directory: adding and editing users (name, organization set by hand, custom
//! data checked against the user form), locking and unlocking them (a locked user cannot sign in;
//! their mail is still taken in, or quarantined, as `registration.locked_mail` says), each with an
//! audit row naming who did it.

use super::Workflows;
use crate::core::address::EmailAddress;
use crate::core::forms::{EditableBy, FieldType, Form};
use crate::core::ids::UserId;
use crate::ingest::IngestError;
use crate::store::audit as audit_store;
use crate::store::sessions::{self as session_store, Holder};
use crate::store::users as user_store;

/// What became of a lock or an unlock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Locking {
    Done,
    /// The user already stood so; nothing was written.
    Already,
    NoUser,
}

impl Workflows {
    /// Locks `user` (by `actor`: "agent alice", "an admin"): their sessions end, they cannot sign
    /// in or reset their password; `reason` goes into the audit row.
    pub async fn lock_user(&self, user: UserId, actor: &str, reason: &str) -> Result<Locking, IngestError> {
        self.set_locked(user, true, actor, reason).await
    }

    /// Unlocks `user`: registered again if they have a password, else a guest.
    pub async fn unlock_user(&self, user: UserId, actor: &str) -> Result<Locking, IngestError> {
        self.set_locked(user, false, actor, "").await
    }

    async fn set_locked(
        &self,
        user: UserId,
        locked: bool,
        actor: &str,
        reason: &str,
    ) -> Result<Locking, IngestError> {
        let now = self.app().now_ms();
        let (actor, reason) = (actor.to_string(), reason.trim().to_string());
        let done = self
            .app()
            .store()
            .write(move |tx| {
                match crate::store::accounts::user_login_by_id(tx, user)? {
                    None => return Ok(Locking::NoUser),
                    // A deleted user's tombstone stays locked and is never unlocked.
                    Some(found) if crate::store::erase::is_tombstone(&found.email) => {
                        return Ok(Locking::Already);
                    }
                    Some(_) => {}
                }
                if !user_store::set_locked(tx, user, locked, now)? {
                    return Ok(Locking::Already);
                }
                if locked {
                    session_store::delete_sessions_of(tx, Holder::User(user))?;
                }
                let action = if locked { "lock" } else { "unlock" };
                audit_store::record(tx, now, &actor, action, Some(user), &reason)?;
                Ok(Locking::Done)
            })
            .await?;
        Ok(done)
    }
}

/// A user an agent or admin adds, or the changes to one: every field optional on an edit.
#[derive(Clone, Debug, Default)]
pub struct UserFields {
    pub name: Option<String>,
    /// `Some(None)`: no organization; `Some(Some(key))`: that one (set by hand, mail never changes it).
    pub org: Option<Option<String>>,
    /// A phone number (`Some("")` clears it).
    pub phone: Option<String>,
    /// Additional addresses (mail from them is the user's), as typed: `Some` replaces them all.
    pub emails: Option<Vec<String>>,
    /// Custom data (`KEY`, text) for the user form (`[[forms]]`, `applies_to = "user"`), merged
    /// into what is stored and checked whole (types, choices, required fields).
    pub set: Vec<(String, String)>,
}

/// Why an add or an edit was refused, in words for the agent or admin.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} is already a user")]
    Exists(String),
    #[error("no user {0}")]
    NoUser(String),
    #[error("no organization has the key {0:?}")]
    NoOrg(String),
    #[error("{0}")]
    Invalid(String),
}

impl Workflows {
    /// Adds a user by `actor`; their id, or why not.
    pub async fn add_user(
        &self,
        email: &EmailAddress,
        fields: UserFields,
        actor: &str,
    ) -> Result<Result<UserId, Refused>, IngestError> {
        let form = self.app().settings().user_form.clone();
        let (now, email, actor) = (self.app().now_ms(), email.clone(), actor.to_string());
        let done = self
            .app()
            .store()
            .write(move |tx| add_one(tx, form.as_ref(), &email, fields, &actor, now, true))
            .await?;
        Ok(done)
    }

    /// Adds the users of a CSV file (`email`, `name`, `org` and the user form's keys as column
    /// headers) by `actor`, in one transaction; with `dry_run` nothing is written. Users that exist
    /// are skipped (a rerun adds nothing twice); every other row that cannot be added is reported
    /// with its line and why. `Err` when the file itself cannot be read as such a CSV.
    pub async fn import_users(
        &self,
        csv: Vec<u8>,
        dry_run: bool,
        actor: &str,
    ) -> Result<Result<ImportReport, String>, IngestError> {
        let form = self.app().settings().user_form.clone();
        let rows = match read_csv(&csv, form.as_ref()) {
            Ok(rows) => rows,
            Err(why) => return Ok(Err(why)),
        };
        let (now, actor) = (self.app().now_ms(), actor.to_string());
        let work = move |tx: &mut crate::store::Tx<'_>| {
            let mut report = ImportReport::default();
            let mut seen = std::collections::HashSet::new();
            for row in rows {
                let email = match row.email {
                    Ok(email) => email,
                    Err(why) => {
                        report.rejected.push((row.line, why));
                        continue;
                    }
                };
                if !seen.insert(email.clone()) {
                    report.skipped.push(email.to_string());
                    continue;
                }
                match add_one(tx, form.as_ref(), &email, row.fields, &actor, now, !dry_run)? {
                    Ok(_) => report.added.push(email.to_string()),
                    Err(Refused::Exists(_)) => report.skipped.push(email.to_string()),
                    Err(refused) => report.rejected.push((row.line, refused.to_string())),
                }
            }
            Ok(report)
        };
        let report = match dry_run {
            true => self.app().store().read(work).await?,
            false => self.app().store().write(work).await?,
        };
        Ok(Ok(report))
    }

    /// Changes `user`'s name, organization or custom data by `actor`; what changed, in words.
    pub async fn edit_user(
        &self,
        user: UserId,
        fields: UserFields,
        actor: &str,
    ) -> Result<Result<Vec<String>, Refused>, IngestError> {
        let settings = self.app().settings();
        let (now, actor) = (self.app().now_ms(), actor.to_string());
        let done = self
            .app()
            .store()
            .write(move |tx| {
                let Some((name, org, custom)) = user_store::editable(tx, user)? else {
                    return Ok(Err(Refused::NoUser(user.0.to_string())));
                };
                if user_store::is_deleted(tx, user)? {
                    return Ok(Err(Refused::Invalid(
                        "the user is deleted: nothing of them can be set".to_string(),
                    )));
                }
                let phone = user_store::phone(tx, user)?;
                let mut changed = Vec::new();
                let primary =
                    crate::store::accounts::user_login_by_id(tx, user)?.map(|u| u.email).unwrap_or_default();
                let emails = user_store::additional_emails(tx, user)?;
                let new_emails = match &fields.emails {
                    None => emails.clone(),
                    Some(typed) => match checked_emails(tx, Some(user), &primary, typed)? {
                        Ok(checked) => checked,
                        Err(refused) => return Ok(Err(refused)),
                    },
                };
                if new_emails != emails {
                    changed.push("additional addresses".to_string());
                }
                let new_phone = match fields.phone.as_deref().map(cleaned_phone) {
                    None => phone.clone(),
                    Some(Ok(given)) => given,
                    Some(Err(why)) => return Ok(Err(Refused::Invalid(why))),
                };
                if new_phone != phone {
                    changed.push("phone".to_string());
                }
                let new_name = match fields.name {
                    Some(given) => crate::core::email::clean_display_name(&given).unwrap_or_default(),
                    None => name.clone(),
                };
                if new_name != name {
                    changed.push(format!("name {name:?} -> {new_name:?}"));
                }
                let new_org = match fields.org {
                    None => org,
                    Some(None) => None,
                    Some(Some(key)) => match user_store::org_id(tx, &key)? {
                        Some(found) => Some(found),
                        None => return Ok(Err(Refused::NoOrg(key))),
                    },
                };
                if new_org != org {
                    changed.push("organization".to_string());
                }
                let new_custom = match merged_custom(settings.user_form.as_ref(), &custom, &fields.set, false)
                {
                    Ok(merged) => merged,
                    Err(why) => return Ok(Err(Refused::Invalid(why))),
                };
                changed.extend(
                    changed_keys(&custom, &new_custom).into_iter().map(|key| format!("custom {key}")),
                );
                if changed.is_empty() {
                    return Ok(Ok(changed));
                }
                user_store::update_user(tx, user, &new_name, new_org, &new_custom, now)?;
                user_store::set_phone(tx, user, &new_phone, now)?;
                if new_emails != emails {
                    user_store::set_additional_emails(tx, user, &new_emails)?;
                }
                audit_store::record(tx, now, &actor, "edit", Some(user), &changed.join(", "))?;
                Ok(Ok(changed))
            })
            .await?;
        Ok(done)
    }
}

/// `stored` (a JSON object) with the `set` values merged in, checked whole against the user form
/// (always when `adding`: a user added by hand has the form's required fields); without a form,
/// custom data cannot be set.
fn merged_custom(
    form: Option<&Form>,
    stored: &str,
    set: &[(String, String)],
    adding: bool,
) -> Result<String, String> {
    let mut values = match serde_json::from_str::<serde_json::Value>(stored) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    if set.is_empty() && !(adding && form.is_some()) {
        return Ok(serde_json::Value::Object(values).to_string());
    }
    let Some(form) = form else {
        return Err("custom data needs a user form: a [[forms]] entry with applies_to = \"user\"".to_string());
    };
    let posted = form.read_posted(set, EditableBy::Agent);
    for (key, _) in set {
        match posted.get(key) {
            Some(value) => _ = values.insert(key.clone(), value.clone()),
            // An empty text clears the field; a key the form lacks is refused by the check.
            None if form.fields.iter().any(|field| field.key == *key) => _ = values.remove(key),
            None => return Err(format!("{key}: no such field in form {}", form.key)),
        }
    }
    let checked = form.check_by(&values, EditableBy::Agent).map_err(|problems| problems.join("; "))?;
    Ok(serde_json::Value::Object(checked).to_string())
}

/// Checks and (with `write`) adds one user; the same checks either way.
fn add_one(
    tx: &mut crate::store::Tx<'_>,
    form: Option<&Form>,
    email: &EmailAddress,
    fields: UserFields,
    actor: &str,
    now: i64,
    write: bool,
) -> crate::store::Result<Result<UserId, Refused>> {
    if user_store::find_user_id(tx, email)?.is_some() {
        return Ok(Err(Refused::Exists(email.to_string())));
    }
    let custom = match merged_custom(form, "{}", &fields.set, true) {
        Ok(custom) => custom,
        Err(why) => return Ok(Err(Refused::Invalid(why))),
    };
    let emails = match checked_emails(tx, None, email.as_str(), fields.emails.as_deref().unwrap_or_default())?
    {
        Ok(emails) => emails,
        Err(refused) => return Ok(Err(refused)),
    };
    let phone = match cleaned_phone(fields.phone.as_deref().unwrap_or_default()) {
        Ok(phone) => phone,
        Err(why) => return Ok(Err(Refused::Invalid(why))),
    };
    let org = match fields.org.flatten().filter(|key| !key.trim().is_empty()) {
        Some(key) => match user_store::org_id(tx, key.trim())? {
            Some(org) => Some(org),
            None => return Ok(Err(Refused::NoOrg(key))),
        },
        None => None,
    };
    if !write {
        return Ok(Ok(UserId(0)));
    }
    let name = crate::core::email::clean_display_name(fields.name.as_deref().unwrap_or_default())
        .unwrap_or_default();
    let Some(id) = user_store::add_user(tx, email, &name, org, &custom, now)? else {
        return Ok(Err(Refused::Exists(email.to_string())));
    };
    if !phone.is_empty() {
        user_store::set_phone(tx, id, &phone, now)?;
    }
    user_store::set_additional_emails(tx, id, &emails)?;
    audit_store::record(tx, now, actor, "add", Some(id), "")?;
    Ok(Ok(id))
}

/// The most additional addresses one user has.
const MAX_ADDITIONAL_EMAILS: usize = 10;

/// Additional addresses as typed, checked: each one SMTP can deliver to, none another user's
/// (`user`: whose they may be already), the user's own address left out, each once, in order.
fn checked_emails(
    tx: &mut crate::store::Tx<'_>,
    user: Option<UserId>,
    primary: &str,
    typed: &[String],
) -> crate::store::Result<Result<Vec<String>, Refused>> {
    let mut emails = Vec::new();
    for raw in typed.iter().map(|raw| raw.trim()).filter(|raw| !raw.is_empty()) {
        let Some(address) = typed_address(raw) else {
            return Ok(Err(Refused::Invalid(format!("{raw:?} is not an email address"))));
        };
        if address.as_str() == primary || emails.contains(&address.to_string()) {
            continue;
        }
        match user_store::find_user_id(tx, &address)? {
            Some(other) if Some(other) != user => {
                return Ok(Err(Refused::Invalid(format!(
                    "{address} is already the address of another user"
                ))));
            }
            _ => emails.push(address.to_string()),
        }
    }
    if emails.len() > MAX_ADDITIONAL_EMAILS {
        return Ok(Err(Refused::Invalid(format!("at most {MAX_ADDITIONAL_EMAILS} additional addresses"))));
    }
    emails.sort();
    Ok(Ok(emails))
}

/// Additional addresses typed in one text (one per line, or separated by commas or `;`).
pub fn split_emails(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect()
}

/// A phone number as typed (empty: none), or why it is not one.
fn cleaned_phone(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    crate::core::forms::phone_number(text)
        .ok_or_else(|| format!("phone: {:?} is not a phone number", text.trim()))
}

/// An address an agent or admin typed: what mail headers accept (`EmailAddress::parse`, lenient
/// about brackets) and also a plain `local@domain` that SMTP can deliver to.
pub fn typed_address(raw: &str) -> Option<EmailAddress> {
    let raw = raw.trim();
    let plain = !raw.contains(['<', '>']) && raw.parse::<lettre::Address>().is_ok();
    plain.then(|| EmailAddress::parse(raw)).flatten()
}

/// The keys whose values differ between two custom-data objects, in order.
fn changed_keys(before: &str, after: &str) -> Vec<String> {
    let object = |json: &str| match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (before, after) = (object(before), object(after));
    let mut keys: Vec<String> = before.keys().chain(after.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.retain(|key| before.get(key) != after.get(key));
    keys
}

/// What an import did (or, dry, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: Vec<String>,
    /// Already users: left as they are.
    pub skipped: Vec<String>,
    /// `(line, why)` of every row not added.
    pub rejected: Vec<(u64, String)>,
}

/// One data row of an import file.
struct ImportRow {
    line: u64,
    email: Result<EmailAddress, String>,
    fields: UserFields,
}

/// The most rows one import takes.
const MAX_IMPORT_ROWS: usize = 100_000;

/// The rows of `csv`: a header naming `email` (required), `name`, `org`, `phone` and custom keys
/// of `form`.
fn read_csv(csv: &[u8], form: Option<&Form>) -> Result<Vec<ImportRow>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(csv);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the first line is not a CSV header: {e}"))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let Some(email_at) = headers.iter().position(|h| h == "email") else {
        return Err("the header has no `email` column".to_string());
    };
    for header in &headers {
        let known = matches!(header.as_str(), "email" | "emails" | "name" | "org" | "phone")
            || form.is_some_and(|form| form.fields.iter().any(|field| field.key == *header));
        if !known {
            return Err(format!(
                "column {header:?} is neither email, emails, name, org, phone nor a field of the user form"
            ));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("{e}"))?;
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(format!("more than {MAX_IMPORT_ROWS} rows: split the file"));
        }
        // csv counts lines from 0 after the header's; people count from 1.
        let line = record.position().map_or(0, |p| p.line() + 1);
        // A cell the export defused against formulas reads as it was.
        let value = |name: &str| {
            headers.iter().position(|h| h == name).and_then(|at| record.get(at)).map(super::export::undefused)
        };
        let raw = record.get(email_at).unwrap_or_default();
        let email = typed_address(raw).ok_or_else(|| format!("{raw:?} is not an email address"));
        let mut set = Vec::new();
        for (header, cell) in headers.iter().zip(record.iter()) {
            if matches!(header.as_str(), "email" | "emails" | "name" | "org" | "phone") || cell.is_empty() {
                continue;
            }
            let cell = super::export::undefused(cell);
            // A multi-choice cell holds its choices joined as the export writes them.
            let several = form.and_then(|form| form.fields.iter().find(|field| field.key == *header));
            match several.map(|field| field.kind) {
                Some(FieldType::MultiChoice) => set.extend(
                    cell.split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(|c| (header.clone(), c.to_string())),
                ),
                _ => set.push((header.clone(), cell.to_string())),
            }
        }
        let fields = UserFields {
            name: value("name").map(str::to_string),
            org: value("org").map(|key| Some(key.to_string())),
            phone: value("phone").map(str::to_string),
            emails: value("emails").map(split_emails),
            set,
        };
        rows.push(ImportRow { line, email, fields });
    }
    Ok(rows)
}
