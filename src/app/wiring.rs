//! Wiring: a validated `Config` becomes a migrated `Store` with the declared directory synced into it,
//! and the `App` context on it. Cheap enough to run once per piped message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use blake2::{Blake2b256, Digest};

use super::App;
use crate::auth::token::{Key, Keyring};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Manager, ManagerMode};
use crate::core::forms::Subject;
use crate::core::identify::Directory;
use crate::core::ticket::NumberFormat;
use crate::ingest::Settings;
use crate::outbox::context::FieldForms;
use crate::outbox::worker::WorkerSettings;
use crate::parse::Limits;
use crate::store::{
    Store, StoreError, StoreOptions, Tx, directory as directory_store, links as link_store,
    users as user_store,
};

/// Bumped when the way the directory is written changes, so every database re-syncs once.
const DIRECTORY_SYNC_VERSION: &str = "2";
const DAY_SECS: u64 = 24 * 60 * 60;
const FINGERPRINT_KEY: &str = "directory_fingerprint";
/// The id, inside tokens, of the key generated in the database.
const GENERATED_KEY_ID: &str = "db";

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StartError(#[from] StoreError);

impl StartError {
    /// The database is locked, busy or unreachable: try again later.
    pub fn is_unavailable(&self) -> bool {
        self.0.is_unavailable()
    }
}

/// Connects, migrates, syncs the directory and returns the context on the store.
pub async fn open(config: &Config) -> Result<App, StartError> {
    open_with_clock(config, Arc::new(SystemClock)).await
}

pub async fn open_with_clock(config: &Config, clock: Arc<dyn Clock>) -> Result<App, StartError> {
    open_store(connect(config)?, config, clock).await
}

/// Like [`open`], for a process that ingests one message and exits (`pipe`): its commit is on
/// disk before it returns (`store::SqliteRole::OneShot`).
pub async fn open_one_shot(config: &Config) -> Result<App, StartError> {
    let store = connect_with(config, crate::store::SqliteRole::OneShot)?;
    open_store(store, config, Arc::new(SystemClock)).await
}

async fn open_store(store: Store, config: &Config, clock: Arc<dyn Clock>) -> Result<App, StartError> {
    store.migrate().await?;
    let configured = configure(&store, config, clock.now_ms()).await?;
    Ok(App::new(store, configured.settings, configured.directory, clock))
}

/// What a configuration makes of an open, migrated store: the ingest settings, the directory
/// (synced from the configuration, then read back) and the link keys. At start and on reload.
pub struct Configured {
    pub settings: Settings,
    pub directory: Directory,
    pub keyring: Arc<Keyring>,
}

/// Syncs `config`'s directory into `store` and reads what the pipeline and outbox need.
pub async fn configure(store: &Store, config: &Config, now_ms: i64) -> Result<Configured, StartError> {
    sync_directory(store, config, now_ms).await?;
    let keyring = Arc::new(keyring(store, config).await?);
    let directory = store.read(directory_store::load_directory).await?;
    Ok(Configured { settings: settings(config, keyring.clone()), directory, keyring })
}

/// The configured link keys (the first signs) followed by the key generated in the database,
/// which signs when none is configured and keeps verifying after keys are configured, so mail
/// sent before stays answerable.
pub async fn keyring(store: &Store, config: &Config) -> Result<Keyring, StartError> {
    // Read first: only the very first start writes (a piped message should not pay a write).
    let generated = match store.read(link_store::read_generated_key).await? {
        Some(key) => key,
        None => {
            let fresh = hex::encode(rand::random::<[u8; 32]>());
            store.write(move |tx| link_store::generated_key(tx, &fresh)).await?
        }
    };
    let generated = Key::new(GENERATED_KEY_ID, generated.into_bytes())
        .map_err(|e| StartError(StoreError::Setup(format!("the generated link key in the database: {e}"))))?;
    let mut keys = config.links.keys.clone();
    keys.push(generated);
    Ok(Keyring::new(keys).expect("the generated key is always there"))
}

pub fn connect(config: &Config) -> Result<Store, StartError> {
    connect_with(config, crate::store::SqliteRole::Daemon)
}

fn connect_with(config: &Config, sqlite_role: crate::store::SqliteRole) -> Result<Store, StartError> {
    let options = StoreOptions {
        max_connections: config.database.max_connections,
        busy_timeout: Duration::from_millis(config.database.busy_timeout_ms),
        connect_timeout: Duration::from_millis(config.database.busy_timeout_ms.max(1000)),
        ca_roots: config.database.ca_roots.clone(),
        sqlite_role,
    };
    Ok(Store::connect(&config.database.url, &options)?)
}

pub fn settings(config: &Config, keyring: Arc<Keyring>) -> Settings {
    let l = &config.limits;
    Settings {
        limits: Limits {
            max_message_bytes: l.max_message_bytes,
            max_headers: l.max_headers,
            max_header_bytes: l.max_header_bytes,
            max_mime_depth: l.max_mime_depth,
            max_mime_parts: l.max_mime_parts,
        },
        own_addresses: config.own_addresses(),
        message_id_domain: config.instance.message_id_domain.to_lowercase(),
        number_format: NumberFormat::new(&config.tickets.number_format),
        reopen_days: config.tickets.reopen_days,
        autoclose_days: config.tickets.autoclose_days,
        trusted_authserv_id: config.auth.trusted_authserv_id.clone(),
        max_collaborators: config.tickets.max_collaborators,
        notifications: config.notifications.clone(),
        keyring,
        locked_mail_quarantine: config.registration.locked_mail_quarantine,
        registration_required: config
            .registration
            .reject_unregistered_email
            .then(|| registration_hint(config)),
        topics: Arc::new(topics(config)),
        rules: Arc::new(crate::core::rules::RuleBook::new(
            config.rules.clone(),
            config.orgs.iter().map(|org| (org.key.clone(), org.custom.clone())).collect(),
        )),
        sla_plans: Arc::new(config.sla.clone()),
        default_sla: config.default_sla.clone(),
        canned: Arc::new(config.canned.clone()),
        user_form: config
            .forms
            .iter()
            .find(|form| form.applies_to == crate::core::forms::Subject::User)
            .cloned(),
        instance_name: config.instance.name.clone(),
    }
}

/// The `[[topics]]` as the pipeline routes with them.
fn topics(config: &Config) -> crate::core::routing::Topics {
    use crate::core::routing::{Topic, Topics};
    let topics = config.topics.iter().map(|topic| Topic {
        key: topic.key.clone(),
        name: topic.name.clone(),
        assign: topic.assign.clone(),
        priority: topic.priority.as_deref().and_then(crate::core::command::Priority::parse),
        sla: topic.sla.clone().or_else(|| config.default_sla.clone()),
        public: topic.public,
        auto_response: topic.auto_response.clone(),
        form: topic.form.as_ref().and_then(|key| config.forms.iter().find(|form| form.key == *key)).cloned(),
    });
    let by_address = config
        .topics
        .iter()
        .flat_map(|topic| topic.addresses.iter().map(|address| (address.clone(), topic.key.clone())))
        .collect();
    let by_mailbox = config
        .mailboxes
        .iter()
        .filter_map(|mailbox| Some((mailbox.name.clone(), mailbox.topic.clone()?)))
        .collect();
    Topics { topics: topics.collect(), by_address, by_mailbox }
}

/// What a sender without an account is told when new tickets by mail need one.
fn registration_hint(config: &Config) -> String {
    let base = &config.web.base_url;
    match config.registration.method {
        crate::config::RegistrationMethod::Public => format!(
            "Only registered users can open tickets by mail here. Sign up at {base}/register with this address, then send your message again."
        ),
        _ => "Only registered users can open tickets by mail here, and accounts are made by invitation. \
              If you need one, ask your contact at our company."
            .to_string(),
    }
}

/// Writes the declared agents, teams and organizations into the database when they changed since
/// the last sync (a fingerprint in `meta`), so a piped message pays one read, not a rewrite.
pub async fn sync_directory(store: &Store, config: &Config, now_ms: i64) -> Result<(), StartError> {
    let fingerprint = directory_fingerprint(config);
    let expected = fingerprint.clone();
    let current = store.read(|tx| directory_store::get_meta(tx, FINGERPRINT_KEY)).await?;
    if current.as_deref() == Some(expected.as_str()) {
        return Ok(());
    }
    let config = config.clone();
    let synced = store
        .write(move |tx| {
            // Another process may have synced while we waited for the lock.
            directory_store::lock_directory(tx)?;
            if directory_store::get_meta(tx, FINGERPRINT_KEY)?.as_deref() == Some(fingerprint.as_str()) {
                return Ok(false);
            }
            write_directory(tx, &config, now_ms)?;
            directory_store::set_meta(tx, FINGERPRINT_KEY, &fingerprint)?;
            Ok(true)
        })
        .await?;
    if synced {
        tracing::debug!("directory synced from the configuration");
    }
    Ok(())
}

fn write_directory(tx: &mut Tx<'_>, config: &Config, now_ms: i64) -> Result<(), StoreError> {
    directory_store::deactivate_directory(tx)?;
    let mut agents = HashMap::new();
    for agent in &config.agents {
        let alert_address = agent.emails.first().map_or("", |e| e.as_str());
        let id = directory_store::upsert_agent(tx, &agent.key, &agent.name, alert_address)?;
        for email in &agent.emails {
            directory_store::insert_agent_email(tx, id, email)?;
        }
        agents.insert(agent.key.as_str(), id);
    }
    let mut teams = HashMap::new();
    for team in &config.teams {
        let id = directory_store::upsert_team(tx, &team.key, &team.name)?;
        for member in &team.members {
            if let Some(agent) = agents.get(member.as_str()) {
                directory_store::insert_team_member(tx, id, *agent)?;
            }
        }
        teams.insert(team.key.as_str(), id);
    }
    for org in &config.orgs {
        let (manager_agent, manager_team) = match &org.account_manager {
            Some(Manager::Agent(key)) => (agents.get(key.as_str()).copied(), None),
            Some(Manager::Team(key)) => (None, teams.get(key.as_str()).copied()),
            None => (None, None),
        };
        let custom = org.custom.to_string();
        let manager_mode = match org.manager_mode {
            ManagerMode::Assign => "assign",
            ManagerMode::Alert => "alert",
        };
        let row = directory_store::OrgRow {
            key: &org.key,
            name: &org.name,
            manager_agent,
            manager_team,
            manager_mode,
            custom_json: &custom,
            share_tickets: org.share_tickets.as_str(),
        };
        let id = directory_store::upsert_org(tx, &row)?;
        for domain in &org.domains {
            directory_store::insert_org_domain(tx, id, domain, now_ms)?;
        }
        for contact in &org.primary_contacts {
            let (user, _) = user_store::ensure_user(tx, contact, None, Some(id), now_ms)?;
            directory_store::insert_org_contact(tx, id, user)?;
        }
    }
    Ok(())
}

/// BLAKE2b rather than SHA-256: every process computes it, and the SHA-256 crate's first use
/// detects the CPU's SHA extensions (three `CPUID` traps on a virtual machine), which a piped
/// message would pay for this one hash (docs/performance.md, seventh pass).
fn directory_fingerprint(config: &Config) -> String {
    let declared = serde_json::json!({
        "version": DIRECTORY_SYNC_VERSION,
        "agents": config.agents,
        "teams": config.teams,
        "orgs": config.orgs,
    });
    hex::encode(Blake2b256::digest(declared.to_string().as_bytes()))
}

/// How the outbox worker sends: our address, the link keys, the SMTP limits.
pub fn worker_settings(config: &Config, keyring: Arc<Keyring>) -> WorkerSettings {
    let timeout = Duration::from_millis(config.smtp.timeout_ms);
    WorkerSettings {
        instance_name: config.instance.name.clone(),
        from: config.instance.support_addresses[0].clone(),
        own_addresses: config.own_addresses(),
        keyring,
        base_url: config.web.base_url.clone(),
        reply_ttl: Duration::from_secs(u64::from(config.links.reply_days) * DAY_SECS),
        view_ttl: Duration::from_secs(u64::from(config.links.view_days) * DAY_SECS),
        access_ttl: Duration::from_secs(u64::from(config.links.access_minutes) * 60),
        message_id_domain: config.instance.message_id_domain.to_lowercase(),
        max_attempts: config.smtp.max_attempts,
        // Long enough that a live worker always finishes (or times out) first.
        lease: timeout * 2 + Duration::from_secs(30),
        batch: 64,
        concurrency: config.smtp.pool_size as usize,
        idle: Duration::from_millis(500),
        forms: FieldForms {
            topics: Arc::new(topics(config)),
            user: config.forms.iter().find(|form| form.applies_to == Subject::User).cloned(),
            org: config.forms.iter().find(|form| form.applies_to == Subject::Org).cloned(),
        },
    }
}

/// The web endpoint's routes over `app`; the pages' problems when overrides are broken.
pub fn web_router(config: &Config, app: App) -> Result<axum::Router, Vec<crate::web::PageError>> {
    Ok(web_router_with_pages(config, app, Arc::new(web_pages(config)?)))
}

/// The web pages of `config`: the embedded ones with `templates.web_dir`'s overrides.
pub fn web_pages(config: &Config) -> Result<crate::web::Pages, Vec<crate::web::PageError>> {
    crate::web::Pages::new(&config.instance.name, config.templates.web_dir.as_deref())
}

/// The web endpoint's routes over `app` with `pages`, which `serve` keeps to swap on reload.
pub fn web_router_with_pages(config: &Config, app: App, pages: Arc<crate::web::Pages>) -> axum::Router {
    let accounts = Arc::new(crate::accounts::Accounts::new(config, app));
    crate::web::router(crate::web::WebState::with_pages(accounts, pages))
}
