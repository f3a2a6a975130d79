//! IMAP intake state: the checkpoint of each mailbox (its folder's UIDVALIDITY and the highest UID
//! fully handled), and what an earlier ingest of a message decided (for re-fetched duplicates).

use super::{Result, Tx};
use crate::core::ids::InboundId;
use crate::params;

/// Where a mailbox's folder was left: UIDs up to `last_uid` under `uid_validity` are handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub uid_validity: u32,
    pub last_uid: u32,
}

pub fn checkpoint(tx: &mut Tx<'_>, mailbox: &str) -> Result<Option<Checkpoint>> {
    tx.query_opt(
        "SELECT uid_validity, last_uid FROM imap_checkpoints WHERE mailbox = $1",
        params![mailbox],
        |r| Ok(Checkpoint { uid_validity: r.i64(0)? as u32, last_uid: r.i64(1)? as u32 }),
    )
}

/// Records `at` for `mailbox`. Never moves backwards within one UIDVALIDITY: a slower instance
/// that lost its lease cannot undo a newer checkpoint.
pub fn save_checkpoint(tx: &mut Tx<'_>, mailbox: &str, at: Checkpoint, now_ms: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO imap_checkpoints (mailbox, uid_validity, last_uid, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (mailbox) DO UPDATE SET uid_validity = excluded.uid_validity,
                last_uid = CASE WHEN imap_checkpoints.uid_validity = excluded.uid_validity
                                     AND imap_checkpoints.last_uid > excluded.last_uid
                                THEN imap_checkpoints.last_uid ELSE excluded.last_uid END,
                updated_at = excluded.updated_at",
        params![mailbox, i64::from(at.uid_validity), i64::from(at.last_uid), now_ms],
    )
    .map(drop)
}

/// Whether the inbound row `id` ended in quarantine (a duplicate of it goes to the error folder too).
pub fn was_quarantined(tx: &mut Tx<'_>, id: InboundId) -> Result<bool> {
    tx.query_one("SELECT outcome FROM inbound WHERE id = $1", params![id.0], |r| {
        Ok(r.string(0)? == "quarantined")
    })
}
