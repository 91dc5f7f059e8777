//! A mock with a real capacity: at most `concurrency` generation requests are served at once, up to `queue` more
//! wait in arrival order (FIFO), and anything beyond `concurrency + queue` is turned away at once with
//! `reject_status`. A served request holds its slot for as long as the server works on it: a non-streamed completion
//! until its answer is sent, a stream until its body ends, a polled Coze chat until it completes (or is canceled). So the knee of the
//! mock is about `concurrency / mean service time` requests per second (Little's law).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::profile::CapacitySpec;

pub(crate) struct Capacity {
    sem: Arc<Semaphore>,
    /// Requests served or waiting.
    in_system: Arc<AtomicUsize>,
    limit: usize,
    pub(crate) reject_status: u16,
}

/// A request's place in the system; dropping it (served, or given up while waiting) frees it.
pub(crate) struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    in_system: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.in_system.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Capacity {
    pub(crate) fn new(spec: &CapacitySpec) -> Capacity {
        Capacity {
            sem: Arc::new(Semaphore::new(spec.concurrency as usize)),
            in_system: Arc::new(AtomicUsize::new(0)),
            limit: spec.concurrency as usize + spec.queue as usize,
            reject_status: spec.reject_status,
        }
    }

    /// A slot once one is free (waiting FIFO behind earlier arrivals), or `None` at once when `concurrency + queue`
    /// requests are already in the system.
    pub(crate) async fn admit(&self) -> Option<Slot> {
        let taken = self
            .in_system
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.limit).then_some(n + 1)
            });
        taken.ok()?;
        let mut slot = Slot {
            _permit: None,
            in_system: self.in_system.clone(),
        };
        // The semaphore is fair: waiters are served in the order they asked. It is never closed.
        slot._permit = self.sem.clone().acquire_owned().await.ok();
        Some(slot)
    }
}

#[cfg(test)]
mod tests;
