//! Pure decisions: no I/O, no async, no clock, nothing from the rest of the crate. Every function
//! takes plain values and returns a decision that carries its reason.

pub mod address;
pub mod authres;
pub mod classify;
pub mod command;
pub mod customer_lines;
pub mod email;
pub mod forms;
pub mod freemail;
pub mod identify;
pub mod ids;
pub mod notify;
pub mod quote;
pub mod routing;
pub mod rules;
pub mod sla;
pub mod subject;
pub mod thread;
pub mod ticket;
pub mod trace;
