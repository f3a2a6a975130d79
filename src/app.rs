//! Wiring: a validated `Config` becomes a migrated `Store` with the declared directory synced into it,
//! and an `Ingestor` ready to take mail. Cheap enough to run once per piped message.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Manager, ManagerMode};
use crate::core::ticket::NumberFormat;
use crate::ingest::{Ingestor, Settings};
use crate::parse::Limits;
use crate::store::{self, Store, StoreOptions, directory as directory_store, users as user_store};

/// Bumped when the way the directory is written changes, so every database re-syncs once.
const DIRECTORY_SYNC_VERSION: &str = "1";
const FINGERPRINT_KEY: &str = "directory_fingerprint";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database is locked, busy or unreachable: try again later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl StartError {
    pub fn is_unavailable(&self) -> bool {
        match self {
            StartError::Unavailable(_) => true,
            StartError::Migrate(sqlx::migrate::MigrateError::Execute(err)) => store::is_unavailable(err),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StartError {
    fn from(err: sqlx::Error) -> Self {
        if store::is_unavailable(&err) { StartError::Unavailable(err) } else { StartError::Database(err) }
    }
}

/// Connects, migrates, syncs the directory and returns the ingestor (which owns the store).
pub async fn open(config: &Config) -> Result<Ingestor, StartError> {
    open_with_clock(config, Arc::new(SystemClock)).await
}

pub async fn open_with_clock(config: &Config, clock: Arc<dyn Clock>) -> Result<Ingestor, StartError> {
    let store = connect(config).await?;
    store.migrate().await.map_err(StartError::Migrate)?;
    sync_directory(&store, config, clock.now_ms()).await?;
    let directory = directory_store::load_directory(&mut *store.read().await?).await?;
    Ok(Ingestor::new(store, settings(config), directory, clock))
}

pub async fn connect(config: &Config) -> Result<Store, StartError> {
    let options = StoreOptions {
        max_connections: config.database.max_connections,
        busy_timeout: Duration::from_millis(config.database.busy_timeout_ms),
        acquire_timeout: Duration::from_millis(config.database.busy_timeout_ms.max(1000)),
    };
    Ok(Store::connect(&config.database.url, &options).await?)
}

pub fn settings(config: &Config) -> Settings {
    let l = &config.limits;
    Settings {
        limits: Limits {
            max_message_bytes: l.max_message_bytes,
            max_headers: l.max_headers,
            max_header_bytes: l.max_header_bytes,
            max_mime_depth: l.max_mime_depth,
            max_mime_parts: l.max_mime_parts,
        },
        own_addresses: config.instance.support_addresses.clone(),
        message_id_domain: config.instance.message_id_domain.to_lowercase(),
        number_format: NumberFormat::new(&config.tickets.number_format),
        reopen_days: config.tickets.reopen_days,
        max_collaborators: config.tickets.max_collaborators,
    }
}

/// Writes the declared agents, teams and organizations into the database when they changed since
/// the last sync (a fingerprint in `meta`), so a piped message pays one read, not a rewrite.
pub async fn sync_directory(store: &Store, config: &Config, now_ms: i64) -> Result<(), StartError> {
    let fingerprint = directory_fingerprint(config);
    let current = directory_store::get_meta(&mut *store.read().await?, FINGERPRINT_KEY).await?;
    if current.as_deref() == Some(fingerprint.as_str()) {
        return Ok(());
    }
    let mut tx = store.begin_write().await?;
    // Another process may have synced while we waited for the lock.
    if directory_store::get_meta(&mut tx, FINGERPRINT_KEY).await?.as_deref() == Some(fingerprint.as_str()) {
        return Ok(());
    }
    directory_store::deactivate_directory(&mut tx).await?;
    let mut agents = std::collections::HashMap::new();
    for agent in &config.agents {
        let id = directory_store::upsert_agent(&mut tx, &agent.key, &agent.name).await?;
        for email in &agent.emails {
            directory_store::insert_agent_email(&mut tx, id, email).await?;
        }
        agents.insert(agent.key.as_str(), id);
    }
    let mut teams = std::collections::HashMap::new();
    for team in &config.teams {
        let id = directory_store::upsert_team(&mut tx, &team.key, &team.name).await?;
        for member in &team.members {
            if let Some(agent) = agents.get(member.as_str()) {
                directory_store::insert_team_member(&mut tx, id, *agent).await?;
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
        let id = directory_store::upsert_org(
            &mut tx,
            &directory_store::OrgRow {
                key: &org.key,
                name: &org.name,
                manager_agent,
                manager_team,
                manager_mode: match org.manager_mode {
                    ManagerMode::Assign => "assign",
                    ManagerMode::Alert => "alert",
                },
                custom_json: &custom,
            },
        )
        .await?;
        for domain in &org.domains {
            directory_store::insert_org_domain(&mut tx, id, domain, now_ms).await?;
        }
        for contact in &org.primary_contacts {
            let (user, _) = user_store::ensure_user(&mut tx, contact, None, Some(id), now_ms).await?;
            directory_store::insert_org_contact(&mut tx, id, user).await?;
        }
    }
    directory_store::set_meta(&mut tx, FINGERPRINT_KEY, &fingerprint).await?;
    tx.commit().await?;
    tracing::info!(
        agents = config.agents.len(),
        teams = config.teams.len(),
        orgs = config.orgs.len(),
        "directory synced"
    );
    Ok(())
}

fn directory_fingerprint(config: &Config) -> String {
    let declared = serde_json::json!({
        "version": DIRECTORY_SYNC_VERSION,
        "agents": config.agents,
        "teams": config.teams,
        "orgs": config.orgs,
    });
    hex::encode(Sha256::digest(declared.to_string().as_bytes()))
}
