//! Who may do what: signed tokens for links and reply addresses; passwords, TOTP, random tokens
//! and sealed secrets for accounts; sign-in providers other than passwords (`provider`, OpenID Connect in `oidc`); who the
//! client is behind a trusted proxy (`client`).

pub mod client;
pub mod ldap;
pub mod oidc;
pub mod password;
pub mod provider;
pub mod secret;
pub mod token;
pub mod totp;
