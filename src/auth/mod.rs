//! Who may do what: signed tokens for links and reply addresses.

pub mod token;
