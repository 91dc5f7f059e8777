//! A mock with a real capacity: at most `concurrency` generation requests are served at once, up to `queue` more
//! wait in arrival order (FIFO), and anything beyond `concurrency + queue` is turned away at once with
//! `reject_status`. A served request holds its slot for as long as the server works on it: a non-streamed completion
//! until its answer is sent, a stream until its body ends, a polled Coze chat until it completes. So the knee of the
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
mod tests {
    use super::*;
    use std::time::Duration;

    fn cap(concurrency: u32, queue: u32) -> Arc<Capacity> {
        Arc::new(Capacity::new(&CapacitySpec {
            concurrency,
            queue,
            reject_status: 503,
        }))
    }

    #[tokio::test]
    async fn beyond_concurrency_waits_beyond_queue_is_rejected() {
        let c = cap(2, 1);
        let a = c.admit().await.expect("1st served");
        let _b = c.admit().await.expect("2nd served");
        let c2 = c.clone();
        let waiter = tokio::spawn(async move { c2.admit().await.is_some() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "the 3rd waits in the queue");
        assert!(
            c.admit().await.is_none(),
            "the 4th finds 2 served + 1 waiting: rejected"
        );
        drop(a);
        assert!(waiter.await.unwrap(), "a freed slot goes to the waiter");
        // The waiter's slot was dropped with its task: two in the system now (b and nothing else -> 1).
        assert_eq!(c.in_system.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn waiters_are_served_in_arrival_order() {
        let c = cap(1, 3);
        let first = c.admit().await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (c, tx) = (c.clone(), tx.clone());
            tasks.push(tokio::spawn(async move {
                let s = c.admit().await.unwrap();
                tx.send(i).unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(s);
            }));
            // Arrivals a little apart so their order is defined.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        let order: Vec<i32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(order, [0, 1, 2]);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_frees_its_place() {
        let c = cap(1, 1);
        let _held = c.admit().await.unwrap();
        let gave_up = tokio::time::timeout(Duration::from_millis(10), c.admit()).await;
        assert!(gave_up.is_err());
        assert_eq!(c.in_system.load(Ordering::SeqCst), 1);
        // Its queue place is free again: another request may wait.
        let again = tokio::time::timeout(Duration::from_millis(10), c.admit()).await;
        assert!(again.is_err(), "waits (not rejected)");
    }

    #[tokio::test]
    async fn the_server_queues_then_turns_away() {
        let y = "name: cap\nseed: 1\nprotocol: openai\nmodels: [m]\nlatency: {mean_ms: 300, p99_ms: 310}\n\
                 errors: {rate: 0}\ncapacity: {concurrency: 2, queue: 1, reject_status: 503}\n";
        let p = crate::mock::MockProfile::from_yaml_str(y, "cap.yaml").unwrap();
        let h = crate::mock::serve(p, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let url = format!("{}/v1/chat/completions", h.base_url());
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let body =
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let (c, u, b) = (client.clone(), url.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let r = c.post(u).json(&b).send().await.unwrap();
                let status = r.status().as_u16();
                let _ = r.bytes().await;
                (status, started.elapsed())
            }));
        }
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        done.sort_by_key(|d| d.1);
        let statuses: Vec<u16> = done.iter().map(|d| d.0).collect();
        // Two turned away at once, two served in one service time, the queued one in two.
        assert_eq!(statuses, [503, 503, 200, 200, 200], "{done:?}");
        assert!(done[1].1 < Duration::from_millis(250), "{done:?}");
        assert!(done[4].1 >= Duration::from_millis(550), "{done:?}");
        let st = h.stats();
        assert_eq!(st.outcome("overloaded"), 2);
        assert_eq!(st.outcome("ok"), 3);
    }
}
