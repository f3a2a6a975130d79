//! mailgate: an email-first help desk. Support mail comes in (MTA pipe, IMAP), becomes tickets,
//! and answers go back out by mail. Modules are listed in the order one message travels.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod canned;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
#[cfg(test)]
mod doc_tables;
pub mod imap;
pub mod import;
pub mod ingest;
pub mod observe;
pub mod outbox;
pub mod parse;
pub mod store;
pub mod tls;
pub mod web;
pub mod workflow;
