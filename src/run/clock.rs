//! A precise timer for arrivals and think times. tokio's timer wheel has a 1 ms resolution: a sleep fires on the tick
//! after its instant, so an arrival planned 50 µs ahead is sent up to about 1 ms late, and at 20,000 arrivals/s every
//! send lags by a tick (issue 12 measured p50 1.1 ms, p99 2.0 ms). This timer keeps the pending instants in a heap
//! served by one thread that waits on a condition variable with the exact timeout (an hrtimer on Linux), spins for
//! the last few microseconds, and wakes each sleeper through a oneshot. The thread asks Linux for a 1 µs timer slack
//! (the default 50 µs lets a timed wait return up to 50 µs late), so it can wait until [`SPIN`] before the instant
//! rather than spin through the last 50 µs: at 20,000 arrivals/s (50 µs apart) the old 40 µs spin window kept the
//! thread spinning almost all the time, a whole core.
//! Cost: one lock, one heap push and one cross-thread wake per sleep; no task spins.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Below this much time left the timer thread spins instead of waiting: a timed wait returns late by the wake-up
/// latency (a few µs to ~15 µs with a 1 µs slack on an idle core), which the spin absorbs.
const SPIN: Duration = Duration::from_micros(15);

/// The timer slack the timer thread asks for (Linux `PR_SET_TIMERSLACK`, nanoseconds).
#[cfg(target_os = "linux")]
const SLACK_NS: libc::c_ulong = 1_000;

struct Entry {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    closed: bool,
}

#[derive(Default)]
struct Inner {
    queue: Mutex<Queue>,
    changed: Condvar,
}

/// The handle a run shares; the thread ends when it is dropped (entries left are those of sleeps given up).
pub(crate) struct PreciseTimer {
    inner: Arc<Inner>,
}

impl PreciseTimer {
    pub(crate) fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let worker = inner.clone();
        std::thread::Builder::new()
            .name("cutover-timer".into())
            .spawn(move || {
                // Best effort: without it the timer is as precise, it only spins longer.
                #[cfg(target_os = "linux")]
                // SAFETY: PR_SET_TIMERSLACK takes one integer argument and affects only the calling thread.
                unsafe {
                    libc::prctl(libc::PR_SET_TIMERSLACK, SLACK_NS);
                }
                serve(&worker)
            })
            .expect("spawning the timer thread");
        PreciseTimer { inner }
    }

    /// Resolve at `at` (at once if it has passed). Never early; late by the wake-up latency only.
    pub(crate) async fn sleep_until(&self, at: Instant) {
        if at <= Instant::now() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut q = self.inner.queue.lock().expect("timer lock");
            q.seq += 1;
            let seq = q.seq;
            let earliest = q.heap.peek().is_none_or(|Reverse(e)| at < e.at);
            q.heap.push(Reverse(Entry { at, seq, wake: tx }));
            if earliest {
                self.inner.changed.notify_one();
            }
        }
        // The thread sends at `at` or later. (The timer cannot close under a sleeper: it borrows the handle.)
        let _ = rx.await;
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        let mut q = self.inner.queue.lock().expect("timer lock");
        q.closed = true;
        q.heap.clear();
        self.inner.changed.notify_one();
    }
}

fn serve(inner: &Inner) {
    let mut q = inner.queue.lock().expect("timer lock");
    loop {
        if q.closed {
            return;
        }
        let Some(Reverse(next)) = q.heap.peek() else {
            q = inner.changed.wait(q).expect("timer lock");
            continue;
        };
        let now = Instant::now();
        let left = next.at.saturating_duration_since(now);
        if left > SPIN {
            q = inner
                .changed
                .wait_timeout(q, left - SPIN)
                .expect("timer lock")
                .0;
            continue;
        }
        if !left.is_zero() {
            // The last microseconds: spin with the lock released so sleepers can still register.
            let at = next.at;
            drop(q);
            while Instant::now() < at {
                std::hint::spin_loop();
            }
            q = inner.queue.lock().expect("timer lock");
            continue;
        }
        let now = Instant::now();
        while q.heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
            let Reverse(e) = q.heap.pop().expect("peeked");
            let _ = e.wake.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wakes_every_sleeper_never_early() {
        let timer = Arc::new(PreciseTimer::start());
        let base = Instant::now() + Duration::from_millis(5);
        // Registered in reverse, so the heap (not the order of calls) decides who wakes first.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for i in (0..40u64).rev() {
            let (timer, tx) = (timer.clone(), tx.clone());
            let at = base + Duration::from_micros(i * 250);
            tasks.push(tokio::spawn(async move {
                timer.sleep_until(at).await;
                let woke = Instant::now();
                tx.send((i, at, woke)).unwrap();
            }));
        }
        drop(tx);
        for t in tasks {
            t.await.unwrap();
        }
        let mut got = Vec::new();
        while let Some(x) = rx.recv().await {
            got.push(x);
        }
        assert_eq!(got.len(), 40);
        for (i, at, woke) in &got {
            assert!(woke >= at, "sleeper {i} woke before its instant");
        }
    }

    #[tokio::test]
    async fn a_past_instant_returns_at_once_and_a_given_up_sleep_leaves_the_rest_on_time() {
        let timer = PreciseTimer::start();
        timer.sleep_until(Instant::now()).await;
        let late = Instant::now() + Duration::from_millis(20);
        // A sleep abandoned before its instant (a stopped run's arrival): polled once, so registered, then dropped.
        use futures_util::FutureExt as _;
        let abandoned = timer
            .sleep_until(late - Duration::from_millis(10))
            .now_or_never();
        assert!(
            abandoned.is_none(),
            "a future instant is not reached at once"
        );
        timer.sleep_until(late).await;
        assert!(Instant::now() >= late);
    }
}
