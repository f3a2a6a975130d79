//! The application context every part receives: the store, the clock and the configuration now
//! in force (swapped whole on reload). The mail pipeline (`ingest::Ingestor`), the ticket
//! workflows (`workflow::Workflows`), the web endpoint, accounts, the outbox worker and the
//! command line all work through one `App`; none of them owns another.
//!
//! `wiring` builds it from a `Config`: connect, migrate, sync the directory, read the keys.

mod wiring;
pub use wiring::*;

use std::sync::Arc;

use arc_swap::ArcSwap;
use rand::RngExt;

use crate::auth::token::Keyring;
use crate::clock::Clock;
use crate::core::address::{EmailAddress, MessageId};
use crate::core::identify::Directory;
use crate::core::ids::OrgId;
use crate::ingest::Settings;
use crate::store::Store;

/// The configuration one piece of work runs on, from start to end: a reload swaps in a new
/// snapshot, work already running finishes on the old one.
#[derive(Debug)]
pub struct Snapshot {
    pub settings: Arc<Settings>,
    pub directory: Arc<Directory>,
}

/// Cheap to clone: clones share the store and see the same reloads.
#[derive(Clone)]
pub struct App {
    store: Store,
    clock: Arc<dyn Clock>,
    current: Arc<ArcSwap<Snapshot>>,
}

impl App {
    pub fn new(store: Store, settings: Settings, directory: Directory, clock: Arc<dyn Clock>) -> App {
        let snapshot = Snapshot { settings: Arc::new(settings), directory: Arc::new(directory) };
        App { store, clock, current: Arc::new(ArcSwap::from_pointee(snapshot)) }
    }

    /// Swaps in new settings and directory (a reload) for every clone of this context.
    pub fn reconfigure(&self, settings: Settings, directory: Directory) {
        self.current
            .store(Arc::new(Snapshot { settings: Arc::new(settings), directory: Arc::new(directory) }));
    }

    /// The same context reading time from `clock` (`mailgate import` dates each message's rows by
    /// the message). It shares the store and the configuration.
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> App {
        App { clock, ..self.clone() }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The configuration now in force, for one piece of work.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The settings now in force (a snapshot: a reload does not change what this returned).
    pub fn settings(&self) -> Arc<Settings> {
        self.current.load().settings.clone()
    }

    /// The keys that sign and verify links and reply addresses.
    pub fn keyring(&self) -> Arc<Keyring> {
        self.current.load().settings.keyring.clone()
    }

    /// A fresh Message-ID in our domain.
    pub fn mint_message_id(&self) -> MessageId {
        mint_message_id(&self.current.load().settings.message_id_domain)
    }

    /// The organization that claims `email`'s domain (free-mail domains never match).
    pub fn org_of(&self, email: &EmailAddress) -> Option<OrgId> {
        crate::core::identify::match_org(email, &self.current.load().directory.org_by_domain).map(|m| m.org)
    }
}

/// A fresh Message-ID in `domain`: 128 random bits as the local part.
pub fn mint_message_id(domain: &str) -> MessageId {
    let id = format!("{:032x}@{domain}", system_rng().random::<u128>());
    MessageId::parse(&id).expect("a hex local part and a configured domain form a valid Message-ID")
}

/// The operating system's random generator, for the numbers a piped message draws (a ticket
/// number, Message-IDs): a few reads of `getrandom`. Not rand's thread-local generator, whose first
/// use in a process detects CPU features (three `CPUID` traps on a virtual machine, ~30 us here) and
/// seeds a ChaCha state, for two or three numbers (docs/performance.md, seventh pass).
pub fn system_rng() -> rand::rand_core::UnwrapErr<rand::rngs::SysRng> {
    rand::rand_core::UnwrapErr(rand::rngs::SysRng)
}
