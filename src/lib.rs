//! mailgate: an email-first help desk. Support mail comes in (MTA pipe, IMAP), becomes tickets,
//! and answers go back out by mail. Modules are listed in the order one message travels.

pub mod config;
pub mod clock;
pub mod parse;
pub mod core;
pub mod store;
pub mod ingest;
pub mod app;
pub mod cli;
