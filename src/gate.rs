//! Whether calls may reach the database yet: closed from start-up until the migrations ran and the
//! leases an earlier life of this replica held were freed. Health gates only the traffic a probe
//! routes; a caller dialling a pod directly, or e签宝 posting a callback, would otherwise meet a
//! half-migrated schema or take a lease the start-up is about to free. The edges answer "starting;
//! retry" while it is closed, at the cost of one atomic load per call.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a caller is told to wait before retrying a call refused while starting.
pub const STARTING_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Shared by the edges that serve calls and the task that prepares the database; opens once.
#[derive(Clone, Debug, Default)]
pub struct StartGate(Arc<AtomicBool>);

impl StartGate {
    pub fn closed() -> Self {
        Self::default()
    }

    /// What the preparation wrote is visible to every call that then finds the gate open.
    pub fn open(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
