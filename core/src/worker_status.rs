//! Whether this process's transcode worker is consuming: set by the worker, read by
//! the readiness check.

use std::sync::{Arc, Mutex};

/// Whether this process's transcode worker is consuming the queue. Unset in processes
/// that run none; the worker sets it as it starts, fails and recovers.
#[derive(Clone, Default)]
pub struct WorkerStatus(Arc<Mutex<Option<Result<(), String>>>>);

impl WorkerStatus {
    /// The worker consumes the queue (again); readiness reports it ready.
    pub fn consuming(&self) {
        *self.0.lock().expect("worker status lock") = Some(Ok(()));
    }

    /// The worker stopped consuming for `reason` and will start again.
    pub fn failed(&self, reason: String) {
        *self.0.lock().expect("worker status lock") = Some(Err(reason));
    }

    /// `None` in a process that runs no worker; otherwise whether it consumes, or why not.
    pub fn get(&self) -> Option<Result<(), String>> {
        self.0.lock().expect("worker status lock").clone()
    }
}
