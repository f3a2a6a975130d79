//! Authentication: signed tokens for links and reply addresses (`token`), passwords (`password`),
//! agents' TOTP (`totp`), random secrets and sealing (`secret`), and sign-in providers (`provider`).

pub mod password;
pub mod provider;
pub mod secret;
pub mod token;
pub mod totp;
