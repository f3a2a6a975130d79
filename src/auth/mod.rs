//! Who may do what: signed tokens for links and reply addresses; passwords, TOTP, random tokens
//! and sealed secrets for accounts.

pub mod password;
pub mod secret;
pub mod token;
pub mod totp;
