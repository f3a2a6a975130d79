//! The ticket workflows: what agents, admins and customers do to tickets outside their mail.
//! Console and command-line writes (written as the mail the participant would send and run
//! through the pipeline, so commands, relays and the trace are those of email), lifecycle changes
//! (assign, status, priority), access links, tickets opened on the web, and the janitor's
//! autoclose. The mail pipeline itself is `ingest::Ingestor`; both work on one `App`.

mod access;
mod console;
mod directory;
mod erase;
mod export;
mod outbound;
pub use console::{ConsoleAction, ConsoleError, WebTicket, Written};
pub use directory::{ImportReport, Locking, Refused, UserFields, split_emails, typed_address};
pub use erase::{Deletion, TicketsChoice};
pub use export::ExportError;
pub use outbound::{MAX_SUBJECT_CHARS, NewForCustomer};

use crate::app::App;
use crate::ingest::{IngestError, Ingestor};

/// Cheap to clone.
#[derive(Clone)]
pub struct Workflows {
    ingestor: Ingestor,
}

impl Workflows {
    pub fn new(app: App) -> Workflows {
        Workflows { ingestor: Ingestor::new(app) }
    }

    pub fn app(&self) -> &App {
        self.ingestor.app()
    }

    /// Closes resolved tickets without activity for `tickets.autoclose_days` (the janitor), with a
    /// system entry and the closed notice each, in one transaction. Returns how many it closed.
    pub async fn autoclose(&self) -> Result<usize, IngestError> {
        let pipeline = self.ingestor.pipeline();
        if pipeline.settings().autoclose_days == 0 {
            return Ok(0);
        }
        Ok(self.app().store().write(move |tx| pipeline.autoclose(tx)).await?)
    }

    /// Marks open tickets past their `[[sla]]` due time overdue (the janitor), each exactly once,
    /// with a system entry and the overdue alert. Returns how many it marked.
    pub async fn mark_overdue(&self) -> Result<usize, IngestError> {
        let pipeline = self.ingestor.pipeline();
        if pipeline.settings().sla_plans.is_empty() {
            return Ok(0);
        }
        Ok(self.app().store().write(move |tx| pipeline.mark_overdue(tx)).await?)
    }
}
