//! Erasing a user (docs/directory.md, "Deleting a user"): their tickets deleted with everything in
//! them, or kept with the owner anonymized; either way their personal data goes and their row
//! becomes a tombstone ("deleted user #N"). Each function is one step of the one transaction the
//! workflow runs; none of them decides whether a deletion is allowed.

use super::{Backend, Result, Tx};
use crate::core::ids::UserId;
use crate::params;

/// The ticket ids a user owns, as a subquery on `$1` (the user id).
const OWNED: &str = "(SELECT id FROM tickets WHERE user_id = $1)";

/// The entry kinds the search index holds (migration 0008).
const INDEXED_KINDS: &str = "('message', 'response', 'note', 'held')";

/// What the tombstone shows where a name or an address stood: never an address (no `@`), so no
/// mail and no sign-in can ever match it.
pub fn tombstone_label(user: UserId) -> String {
    format!("deleted user #{}", user.0)
}

/// Whether the stored address is a tombstone's label rather than an address.
pub fn is_tombstone(email: &str) -> bool {
    email.starts_with("deleted user #")
}

/// How many tickets `user` owns.
pub fn count_owned(tx: &mut Tx<'_>, user: UserId) -> Result<i64> {
    tx.query_one("SELECT COUNT(*) FROM tickets WHERE user_id = $1", params![user.0], |r| r.i64(0))
}

/// The keys of the organizations that name `user` as a primary contact (in the configuration).
pub fn contact_of(tx: &mut Tx<'_>, user: UserId) -> Result<Vec<String>> {
    tx.query_all(
        "SELECT o.key FROM org_contacts c JOIN orgs o ON o.id = c.org_id WHERE c.user_id = $1 ORDER BY o.key",
        params![user.0],
        |r| r.string(0),
    )
}

/// Deletes every ticket `user` owns and everything in it: entries and their search rows,
/// attachments (and the stored files no other attachment shares), Message-IDs, outgoing mail,
/// participants. The raw mail of those tickets is erased (see [`erase_raw_of_tickets`]).
pub fn delete_owned_tickets(tx: &mut Tx<'_>, user: UserId) -> Result<()> {
    let id = user.0;
    let blobs = tx.query_all(
        &format!(
            "SELECT DISTINCT a.blob_id FROM attachments a JOIN entries e ON e.id = a.entry_id
              WHERE e.ticket_id IN {OWNED}"
        ),
        params![id],
        |r| r.i64(0),
    )?;
    erase_raw_of_tickets(tx, user)?;
    if tx.backend() == Backend::Sqlite {
        tx.execute(
            &format!(
                "DELETE FROM entry_search WHERE rowid IN (SELECT id FROM entries WHERE ticket_id IN {OWNED})"
            ),
            params![id],
        )?;
    }
    let steps = [
        format!(
            "DELETE FROM attachments WHERE entry_id IN (SELECT id FROM entries WHERE ticket_id IN {OWNED})"
        ),
        format!("DELETE FROM message_ids WHERE ticket_id IN {OWNED}"),
        format!("DELETE FROM outbox WHERE ticket_id IN {OWNED}"),
        // Other people's tickets that pointed here (merged into, linked to) stop pointing.
        format!("UPDATE tickets SET merged_into = NULL WHERE merged_into IN {OWNED} AND user_id <> $1"),
        format!(
            "UPDATE tickets SET linked_ticket_id = NULL WHERE linked_ticket_id IN {OWNED} AND user_id <> $1"
        ),
        format!("DELETE FROM entries WHERE ticket_id IN {OWNED}"),
        format!("DELETE FROM participants WHERE ticket_id IN {OWNED}"),
        "DELETE FROM tickets WHERE user_id = $1".to_string(),
    ];
    for step in &steps {
        tx.execute(step, params![id])?;
    }
    for blob in blobs {
        tx.execute(
            "DELETE FROM blobs WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM attachments WHERE blob_id = $1)",
            params![blob],
        )?;
    }
    Ok(())
}

/// Erases the raw mail of every ticket `user` owns (their messages, and agents' and
/// collaborators' mail, which names them in its headers and quotes): the bytes, the decision trace
/// and the reason go; the row stays as a bare dedupe record (key, source, time) detached from
/// the ticket.
pub fn erase_raw_of_tickets(tx: &mut Tx<'_>, user: UserId) -> Result<()> {
    let empty: &[u8] = &[];
    tx.execute(
        &format!(
            "UPDATE inbound SET raw = $2, size = 0, trace = '[]', reason = '', ticket_id = NULL
              WHERE ticket_id IN {OWNED}
                 OR id IN (SELECT inbound_id FROM entries WHERE ticket_id IN {OWNED} AND inbound_id IS NOT NULL)"
        ),
        params![user.0, empty],
    )?;
    Ok(())
}

/// Erases the raw mail of every message `user` wrote wherever it is (tickets of others they
/// took part in): the entry stays, parsed, its author the tombstone.
pub fn erase_raw_of_author(tx: &mut Tx<'_>, user: UserId) -> Result<()> {
    let empty: &[u8] = &[];
    tx.execute(
        "UPDATE inbound SET raw = $2, size = 0, trace = '[]', reason = ''
          WHERE id IN (SELECT inbound_id FROM entries WHERE author_user_id = $1 AND inbound_id IS NOT NULL)",
        params![user.0, empty],
    )?;
    Ok(())
}

/// Everything keyed by the person rather than by a ticket: sessions, provider links (OpenID Connect), additional addresses,
/// account links (by address), sign-in throttle rows and known clients, queued or sent mail to their address,
/// participations, primary-contact rows, and the details of earlier audit rows (which may quote
/// names or reasons). Then the row itself becomes the tombstone: no name, no address, no custom
/// data, no phone, no password, locked, no organization.
pub fn erase_person(tx: &mut Tx<'_>, user: UserId, email: &str, now_ms: i64) -> Result<()> {
    let id = user.0;
    let account = format!("user:{id}");
    let throttled = format!("login:{account}@%");
    tx.execute("DELETE FROM sessions WHERE user_id = $1", params![id])?;
    // Accounts linked at an OpenID Connect provider keep the verified address of the link.
    tx.execute("DELETE FROM identities WHERE user_id = $1", params![id])?;
    tx.execute(
        "DELETE FROM rate_limits WHERE key = $1 OR key LIKE $2 ESCAPE '\\'",
        params![format!("login:{account}").as_str(), throttled.as_str()],
    )?;
    let mut addresses = super::users::additional_emails(tx, user)?;
    addresses.push(email.to_string());
    for address in &addresses {
        let typed = format!("login:unknown-%:{}%", super::users::escape_like(address));
        tx.execute("DELETE FROM rate_limits WHERE key LIKE $1 ESCAPE '\\'", params![typed.as_str()])?;
        tx.execute("DELETE FROM account_tokens WHERE email = $1", params![address.as_str()])?;
        tx.execute("DELETE FROM outbox WHERE recipient = $1", params![address.as_str()])?;
    }
    tx.execute("DELETE FROM user_emails WHERE user_id = $1", params![id])?;
    tx.execute("DELETE FROM login_clients WHERE account = $1", params![account.as_str()])?;
    tx.execute("DELETE FROM participants WHERE user_id = $1", params![id])?;
    tx.execute("DELETE FROM org_contacts WHERE user_id = $1", params![id])?;
    tx.execute("UPDATE audit_log SET detail = '' WHERE user_id = $1", params![id])?;
    tx.execute(
        "UPDATE users SET email = $2, name = '', custom = '{}', phone = '', password_hash = NULL,
                          status = 'disabled', org_id = NULL, last_login_at = NULL, updated_at = $3
          WHERE id = $1",
        params![id, tombstone_label(user).as_str(), now_ms],
    )?;
    reindex_author(tx, user)
}

/// Rewrites the search rows of what `user` wrote so they name the tombstone, not the person.
fn reindex_author(tx: &mut Tx<'_>, user: UserId) -> Result<()> {
    match tx.backend() {
        Backend::Sqlite => {
            tx.execute(
                "DELETE FROM entry_search WHERE rowid IN (SELECT id FROM entries WHERE author_user_id = $1)",
                params![user.0],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO entry_search (rowid, subject, body, people)
                     SELECT e.id, e.subject, COALESCE(e.stripped_text, e.body_text), ' ' || u.email
                       FROM entries e JOIN users u ON u.id = e.author_user_id
                      WHERE e.author_user_id = $1 AND e.kind IN {INDEXED_KINDS}"
                ),
                params![user.0],
            )?;
        }
        // The trigger of migration 0008 recomputes the tsvector from the (now anonymous) user row.
        Backend::Postgres => {
            tx.execute(
                &format!("UPDATE entries SET subject = subject WHERE author_user_id = $1 AND kind IN {INDEXED_KINDS}"),
                params![user.0],
            )?;
        }
    }
    Ok(())
}
