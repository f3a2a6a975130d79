//! A user's own profile as the portal shows and changes it: name, phone and custom data.

use super::{Result, Tx};
use crate::core::ids::UserId;
use crate::params;

/// What the profile page reads.
#[derive(Clone, Debug)]
pub struct ProfileRow {
    pub email: String,
    pub name: String,
    pub phone: String,
    /// The `custom` column: a JSON object.
    pub custom: String,
}

pub fn find_profile(tx: &mut Tx<'_>, user: UserId) -> Result<Option<ProfileRow>> {
    tx.query_opt("SELECT email, name, phone, custom FROM users WHERE id = $1", params![user.0], |r| {
        Ok(ProfileRow { email: r.string(0)?, name: r.string(1)?, phone: r.string(2)?, custom: r.string(3)? })
    })
}

/// Stores what the user changed (checked by the caller).
pub fn update_profile(
    tx: &mut Tx<'_>,
    user: UserId,
    name: &str,
    phone: &str,
    custom: &str,
    now_ms: i64,
) -> Result<()> {
    tx.execute(
        "UPDATE users SET name = $1, phone = $2, custom = $3, updated_at = $4 WHERE id = $5",
        params![name, phone, custom, now_ms, user.0],
    )?;
    Ok(())
}
