//! Password hashing under a bound: argon2id takes its whole memory cost (19 MiB by default) for
//! every run, so unbounded parallel sign-ins are a memory-exhaustion lever that needs no account.
//! At most [`capacity`] hashes run at once; a request waits up to [`WAIT`] for a turn and is then
//! refused as busy (the web answers 503 with `Retry-After`). The runs reuse one argon2 workspace
//! per turn, so the memory stays at turns x cost after a storm instead of one copy per thread.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::AccountError;
use crate::auth::password::{PasswordPolicy, Verdict, Workspace};
use crate::store::StoreError;

/// How long a sign-in waits for a turn before it is told to come back.
pub const WAIT: Duration = Duration::from_secs(2);
/// What the 503 asks the client to wait, in seconds.
pub const RETRY_AFTER_SECS: u32 = 5;
/// The memory all concurrent hashes together may take.
const MEMORY_BUDGET_KIB: u64 = 256 * 1024;

/// The argon2 runs of one daemon, bounded.
pub(super) struct Hashing {
    policy: Arc<PasswordPolicy>,
    turns: Arc<Semaphore>,
    /// argon2 memory, one per turn at most, reused (see [`Workspace`]).
    workspaces: Arc<Mutex<Vec<Workspace>>>,
}

/// Concurrent hashes allowed: one per core (argon2 is CPU-bound: more only queue inside the
/// blocking pool while holding their memory), and no more than the budget's worth of memory.
pub fn capacity(cores: usize, memory_kib: u32) -> usize {
    let by_memory = (MEMORY_BUDGET_KIB / u64::from(memory_kib.max(1))).max(1);
    cores.clamp(1, usize::try_from(by_memory).unwrap_or(usize::MAX))
}

impl Hashing {
    pub(super) fn new(policy: PasswordPolicy) -> Hashing {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let turns = capacity(cores, policy.params.memory_kib);
        Hashing {
            policy: Arc::new(policy),
            turns: Arc::new(Semaphore::new(turns)),
            workspaces: Arc::new(Mutex::new(Vec::with_capacity(turns))),
        }
    }

    pub(super) fn policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    /// Checks `password` against `stored` (`None` still costs one run), when a turn is free.
    pub(super) async fn verify(
        &self,
        password: &str,
        stored: Option<String>,
    ) -> Result<Verdict, AccountError> {
        let policy = self.policy.clone();
        let password = password.to_string();
        self.run(move |workspace| Ok(policy.verify_in(&password, stored.as_deref(), workspace))).await
    }

    /// Hashes a new password, when a turn is free.
    pub(super) async fn hash(&self, password: &str) -> Result<String, AccountError> {
        let policy = self.policy.clone();
        let password = password.to_string();
        self.run(move |workspace| {
            policy
                .hash_in(&password, workspace)
                .map_err(|e| AccountError::Refused(format!("the password could not be hashed: {e}")))
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Workspace) -> Result<T, AccountError> + Send + 'static,
    ) -> Result<T, AccountError> {
        let turn = match tokio::time::timeout(WAIT, self.turns.clone().acquire_owned()).await {
            Ok(Ok(turn)) => turn,
            Ok(Err(_)) | Err(_) => return Err(AccountError::Busy),
        };
        let workspaces = self.workspaces.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            // Holding a turn, a workspace is free (or none was made yet): never more than turns.
            let mut workspace =
                workspaces.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
            let result = work(&mut workspace);
            workspaces.lock().unwrap_or_else(|e| e.into_inner()).push(workspace);
            result
        })
        .await
        .map_err(|e| AccountError::Store(StoreError::Task(e.to_string())))?
    }
}

#[cfg(test)]
mod tests {
    use super::capacity;

    #[test]
    fn capacity_follows_cores_and_memory() {
        assert_eq!(capacity(2, 19_456), 2);
        assert_eq!(capacity(64, 19_456), 13, "256 MiB / 19 MiB");
        assert_eq!(capacity(8, 1024 * 1024), 1, "at least one, whatever the cost");
        assert_eq!(capacity(0, 19_456), 1);
    }
}
