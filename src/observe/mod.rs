//! Health and metrics of the running process: the Prometheus counters every part increments
//! (`metrics`), what each IMAP poller last achieved (`polls`), the cached database probe behind
//! `/healthz` and the scrape (`probe`), and the separate `/metrics` listener (`endpoint`).
//! Counters are process-global (one registry, like a logger), so instrumenting a call site needs
//! no plumbing; nothing here decides anything or touches mail. Design: `docs/operations.md`.

pub mod endpoint;
pub mod metrics;
pub mod polls;
pub mod probe;
