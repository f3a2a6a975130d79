//! Outgoing mail: rows written by workflows into the outbox table are claimed by the worker,
//! rendered from templates, composed with threading headers and handed to SMTP.

pub mod compose;
pub mod context;
pub mod render;
pub mod smtp;
pub mod worker;
