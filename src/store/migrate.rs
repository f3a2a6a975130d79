//! Schema migrations, embedded in the binary: the same names for both backends, applied in order,
//! recorded in `schema_migrations`. On PostgreSQL an advisory lock serialises concurrent migrators.

use super::{Backend, Result, Tx};
use crate::params;

struct Migration {
    version: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: "0001_intake",
        sqlite: include_str!("../../migrations/sqlite/0001_intake.sql"),
        postgres: include_str!("../../migrations/postgres/0001_intake.sql"),
    },
    Migration {
        version: "0002_links",
        sqlite: include_str!("../../migrations/sqlite/0002_links.sql"),
        postgres: include_str!("../../migrations/postgres/0002_links.sql"),
    },
    Migration {
        version: "0003_imap",
        sqlite: include_str!("../../migrations/sqlite/0003_imap.sql"),
        postgres: include_str!("../../migrations/postgres/0003_imap.sql"),
    },
    Migration {
        version: "0004_accounts",
        sqlite: include_str!("../../migrations/sqlite/0004_accounts.sql"),
        postgres: include_str!("../../migrations/postgres/0004_accounts.sql"),
    },
    Migration {
        version: "0005_console",
        sqlite: include_str!("../../migrations/sqlite/0005_console.sql"),
        postgres: include_str!("../../migrations/postgres/0005_console.sql"),
    },
    Migration {
        version: "0006_login_clients",
        sqlite: include_str!("../../migrations/sqlite/0006_login_clients.sql"),
        postgres: include_str!("../../migrations/postgres/0006_login_clients.sql"),
    },
    Migration {
        version: "0007_customer_lines",
        sqlite: include_str!("../../migrations/sqlite/0007_customer_lines.sql"),
        postgres: include_str!("../../migrations/postgres/0007_customer_lines.sql"),
    },
    Migration {
        version: "0008_search",
        sqlite: include_str!("../../migrations/sqlite/0008_search.sql"),
        postgres: include_str!("../../migrations/postgres/0008_search.sql"),
    },
    Migration {
        version: "0009_routing",
        sqlite: include_str!("../../migrations/sqlite/0009_routing.sql"),
        postgres: include_str!("../../migrations/postgres/0009_routing.sql"),
    },
    Migration {
        version: "0010_sla_pause",
        sqlite: include_str!("../../migrations/sqlite/0010_sla_pause.sql"),
        postgres: include_str!("../../migrations/postgres/0010_sla_pause.sql"),
    },
    Migration {
        version: "0011_merge",
        sqlite: include_str!("../../migrations/sqlite/0011_merge.sql"),
        postgres: include_str!("../../migrations/postgres/0011_merge.sql"),
    },
    Migration {
        version: "0012_queue_indexes",
        sqlite: include_str!("../../migrations/sqlite/0012_queue_indexes.sql"),
        postgres: include_str!("../../migrations/postgres/0012_queue_indexes.sql"),
    },
    Migration {
        version: "0013_ticket_fields",
        sqlite: include_str!("../../migrations/sqlite/0013_ticket_fields.sql"),
        postgres: include_str!("../../migrations/postgres/0013_ticket_fields.sql"),
    },
    Migration {
        version: "0014_audit",
        sqlite: include_str!("../../migrations/sqlite/0014_audit.sql"),
        postgres: include_str!("../../migrations/postgres/0014_audit.sql"),
    },
    Migration {
        version: "0015_ldap",
        sqlite: include_str!("../../migrations/sqlite/0015_ldap.sql"),
        postgres: include_str!("../../migrations/postgres/0015_ldap.sql"),
    },
    Migration {
        version: "0016_identities",
        sqlite: include_str!("../../migrations/sqlite/0016_identities.sql"),
        postgres: include_str!("../../migrations/postgres/0016_identities.sql"),
    },
    Migration {
        version: "0017_people",
        sqlite: include_str!("../../migrations/sqlite/0017_people.sql"),
        postgres: include_str!("../../migrations/postgres/0017_people.sql"),
    },
    Migration {
        version: "0018_self_service",
        sqlite: include_str!("../../migrations/sqlite/0018_self_service.sql"),
        postgres: include_str!("../../migrations/postgres/0018_self_service.sql"),
    },
    Migration {
        version: "0019_queue_all_by_status",
        sqlite: include_str!("../../migrations/sqlite/0019_queue_all_by_status.sql"),
        postgres: include_str!("../../migrations/postgres/0019_queue_all_by_status.sql"),
    },
    Migration {
        version: "0020_search_at_commit",
        sqlite: include_str!("../../migrations/sqlite/0020_search_at_commit.sql"),
        postgres: include_str!("../../migrations/postgres/0020_search_at_commit.sql"),
    },
    Migration {
        version: "0021_queue_lanes",
        sqlite: include_str!("../../migrations/sqlite/0021_queue_lanes.sql"),
        postgres: include_str!("../../migrations/postgres/0021_queue_lanes.sql"),
    },
];

/// The newest migration this version ships, and how many there are.
pub fn shipped() -> (&'static str, usize) {
    (MIGRATIONS.last().map_or("none", |m| m.version), MIGRATIONS.len())
}

/// An arbitrary constant: the advisory lock id migrations hold on PostgreSQL.
const MIGRATION_LOCK: i64 = 0x6d61_696c_6761_7465;

/// Whether every shipped migration is applied. A read: a process that finds the schema up to
/// date (every `pipe`) takes no write lock for it.
pub(super) fn up_to_date(tx: &mut Tx<'_>) -> Result<bool> {
    let table = match tx.backend() {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
        }
    };
    if tx.query_one(table, &[], |row| row.i64(0))? == 0 {
        return Ok(false);
    }
    let applied = tx.query_all("SELECT version FROM schema_migrations", &[], |row| row.string(0))?;
    Ok(MIGRATIONS.iter().all(|migration| applied.iter().any(|v| v == migration.version)))
}

pub(super) fn run(tx: &mut Tx<'_>) -> Result<()> {
    if tx.backend() == Backend::Postgres {
        tx.execute("SELECT pg_advisory_xact_lock($1)", params![MIGRATION_LOCK])?;
        // "relation already exists, skipping" is not news on every command's stderr.
        tx.batch("SET LOCAL client_min_messages = warning")?;
    }
    tx.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )?;
    let applied = tx.query_all("SELECT version FROM schema_migrations", &[], |row| row.string(0))?;
    for migration in MIGRATIONS {
        if applied.iter().any(|v| v == migration.version) {
            continue;
        }
        tx.batch(match tx.backend() {
            Backend::Sqlite => migration.sqlite,
            Backend::Postgres => migration.postgres,
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, CURRENT_TIMESTAMP)",
            params![migration.version],
        )?;
        tracing::info!(version = migration.version, "migration applied");
    }
    Ok(())
}
