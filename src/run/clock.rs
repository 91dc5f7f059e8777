//! A precise timer for arrivals and think times. tokio's timer wheel has a 1 ms resolution: a sleep fires on the tick
//! after its instant, so an arrival planned 50 µs ahead is sent up to about 1 ms late, and at 20,000 arrivals/s every
//! send lags by a tick (issue 12 measured p50 1.1 ms, p99 2.0 ms).
//!
//! On Linux this timer keeps the pending instants in one heap and arms one `timerfd` (an hrtimer, no timer slack) at
//! the earliest of them, registered with tokio's reactor: when it expires, the worker waiting in `epoll` wakes, a
//! small task pops what is due and wakes those sleepers on that same worker. So an arrival costs one wake of a
//! parked worker, and none when the workers are busy: no thread of its own, no cross-thread hand-off, no spinning.
//! (The timer this replaces had its own thread: every arrival woke that thread and then a worker, and at 20,000
//! arrivals/s the context switches were most of the generator's CPU.)
//!
//! Wake-ups are at least the timer's slack apart (`traffic.timer_slack_us`, 50 µs unless the scenario says): an
//! instant that falls sooner after the previous wake-up waits for that gap and is released with the others due by
//! then. Below 1 / slack arrivals per second every sleeper has its own wake-up; above it, arrivals go out in small
//! batches, late by less than the slack, so the number of wake-ups stays bounded at any rate. A sleep never ends
//! early. Elsewhere (no timerfd), tokio's timer.
//!
//! The slack trades the generator's CPU for precision: at 20,000 arrivals/s against nginx, 50 µs gave a send lag p99
//! of 0.2 ms for 31.8 µs of CPU per request, 1,000 µs (oha's millisecond ticks) a lag p99 of 1.1 ms for 13.2 µs
//! (bench/lag.sh, bench/RESULTS.md): most of a request's CPU at that rate is the wake-up, not the request.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

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

/// The pending sleeps and when the timerfd is armed.
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    /// The instant the timerfd is armed for, if it is.
    armed: Option<Instant>,
    /// The last wake-up, which the next one keeps the slack away from.
    last_fire: Option<Instant>,
}

/// The handle a run shares. The timerfd and its task start with the first sleep that needs them (inside the
/// runtime) and stop when the handle is dropped; sleeps still pending then end at once.
pub(crate) struct PreciseTimer {
    started: OnceLock<Option<Started>>,
    /// The shortest time between two wake-ups (see the module docs): the most a sleep ends late by batching, on top
    /// of the wake-up latency.
    slack: Duration,
}

struct Started {
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

struct Inner {
    queue: Mutex<Queue>,
    fd: fd::TimerFd,
    slack: Duration,
}

impl PreciseTimer {
    /// A timer whose wake-ups are at least `slack` apart.
    pub(crate) fn start(slack: Duration) -> Self {
        PreciseTimer {
            started: OnceLock::new(),
            slack,
        }
    }

    /// Resolve at `at` (at once if it has passed). Never early; late by the wake-up latency and, above 1 / slack
    /// sleeps per second, by less than the slack more.
    pub(crate) async fn sleep_until(&self, at: Instant) {
        if at <= Instant::now() {
            return;
        }
        let Some(started) = self.started.get_or_init(|| Started::new(self.slack)) else {
            return tokio::time::sleep_until(at.into()).await;
        };
        let (tx, rx) = oneshot::channel();
        started.inner.register(Entry {
            at,
            seq: 0,
            wake: tx,
        });
        // The task sends at `at` or later; an error means the timer was dropped, which ends the sleep.
        let _ = rx.await;
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        if let Some(Some(s)) = self.started.get() {
            s.task.abort();
        }
    }
}

impl Started {
    /// The timerfd and its task, or None outside a tokio runtime with I/O or where there is no timerfd.
    fn new(slack: Duration) -> Option<Started> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let _guard = handle.enter();
        let inner = Arc::new(Inner {
            queue: Mutex::new(Queue::default()),
            fd: fd::TimerFd::new()?,
            slack,
        });
        let task = handle.spawn(drive(inner.clone()));
        Some(Started { inner, task })
    }
}

impl Inner {
    fn register(&self, mut e: Entry) {
        let mut q = self.queue.lock().expect("timer lock");
        q.seq += 1;
        e.seq = q.seq;
        let at = q.last_fire.map_or(e.at, |l| e.at.max(l + self.slack));
        if q.armed.is_none_or(|armed| at < armed) {
            self.fd.arm(at);
            q.armed = Some(at);
        }
        q.heap.push(Reverse(e));
    }

    /// Wake every sleeper that is due and arm the timerfd for the next one, at least the slack from now.
    fn fire(&self) {
        let mut q = self.queue.lock().expect("timer lock");
        let now = Instant::now();
        while q.heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
            let Reverse(e) = q.heap.pop().expect("peeked");
            let _ = e.wake.send(());
        }
        q.last_fire = Some(now);
        q.armed = q.heap.peek().map(|Reverse(e)| e.at.max(now + self.slack));
        if let Some(at) = q.armed {
            self.fd.arm(at);
        }
    }
}

/// The timer's task: on every expiry of the timerfd, wake what is due.
async fn drive(inner: Arc<Inner>) {
    while inner.fd.expired().await {
        inner.fire();
    }
}

#[cfg(target_os = "linux")]
mod fd {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Instant;

    use tokio::io::unix::AsyncFd;

    /// A non-blocking `CLOCK_MONOTONIC` timerfd registered with tokio's reactor, armed at absolute instants.
    pub(super) struct TimerFd {
        fd: AsyncFd<OwnedFd>,
        /// One `Instant` and the same moment on `CLOCK_MONOTONIC` (the clock `Instant` reads on Linux), so an
        /// `Instant` converts to the timerfd's absolute time.
        base: (Instant, libc::timespec),
    }

    impl TimerFd {
        pub(super) fn new() -> Option<TimerFd> {
            // SAFETY: timerfd_create takes two integer arguments and returns a new descriptor or -1.
            let raw = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if raw < 0 {
                return None;
            }
            // SAFETY: `raw` is a descriptor just created and owned by nobody else.
            let owned = unsafe { OwnedFd::from_raw_fd(raw) };
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes one timespec through a valid pointer.
            let base_instant = Instant::now();
            if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
                return None;
            }
            // SAFETY: an OwnedFd's descriptor stays open and the same until the AsyncFd that owns it drops it.
            let fd =
                unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }
                    .ok()?;
            Some(TimerFd {
                fd,
                base: (base_instant, ts),
            })
        }

        /// Arm for `at` (an instant already past expires at once). Replaces the previous setting.
        pub(super) fn arm(&self, at: Instant) {
            let (b, ts) = self.base;
            let d = at.saturating_duration_since(b);
            let nanos = ts.tv_nsec as u64 + u64::from(d.subsec_nanos());
            let value = libc::timespec {
                tv_sec: ts.tv_sec
                    + d.as_secs() as libc::time_t
                    + (nanos / 1_000_000_000) as libc::time_t,
                tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
            };
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: value,
            };
            // SAFETY: the descriptor is a timerfd we own; `spec` is valid; the old value is not asked for. The
            // absolute value is never zero (the monotonic clock was past zero at `base`), so this never disarms.
            unsafe {
                libc::timerfd_settime(
                    self.fd.as_raw_fd(),
                    libc::TFD_TIMER_ABSTIME,
                    &spec,
                    std::ptr::null_mut(),
                )
            };
        }

        /// Wait for the next expiry; false when the reactor is gone. The expiration count is not read: the caller
        /// looks at the clock, not at the count, and the descriptor is registered edge-triggered (mio), so every
        /// expiry wakes the reactor again whether or not the count was read; re-arming (`arm`, in every `fire` that
        /// leaves a sleeper) resets the count (timerfd_settime). That saves a `read` per wake-up.
        pub(super) async fn expired(&self) -> bool {
            let Ok(mut ready) = self.fd.readable().await else {
                return false;
            };
            ready.clear_ready();
            true
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod fd {
    use std::time::Instant;

    /// No timerfd here: [`super::PreciseTimer`] falls back to tokio's timer.
    pub(super) struct TimerFd;

    impl TimerFd {
        pub(super) fn new() -> Option<TimerFd> {
            None
        }
        pub(super) fn arm(&self, _at: Instant) {}
        pub(super) async fn expired(&self) -> bool {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wakes_every_sleeper_never_early() {
        let timer = Arc::new(PreciseTimer::start(Duration::from_micros(50)));
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wake_ups_keep_the_slack_apart() {
        // A first sleeper wakes at `base` or later; a second one due 50 ms after it (more than any wake-up is late)
        // waits for the 500 ms slack.
        let timer = Arc::new(PreciseTimer::start(Duration::from_millis(500)));
        let base = Instant::now() + Duration::from_millis(5);
        let second = {
            let timer = timer.clone();
            tokio::spawn(async move {
                timer.sleep_until(base + Duration::from_millis(50)).await;
                Instant::now()
            })
        };
        timer.sleep_until(base).await;
        let first = Instant::now();
        let second = second.await.unwrap();
        assert!(first >= base);
        assert!(
            second >= base + Duration::from_millis(500),
            "woke {:?} after base, inside the slack",
            second - base
        );
    }

    #[tokio::test]
    async fn a_past_instant_returns_at_once_and_a_given_up_sleep_leaves_the_rest_on_time() {
        let timer = PreciseTimer::start(Duration::from_micros(50));
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

    /// The expiration count is never read (`fd::TimerFd::expired`): a sleep after the timer ran empty (its last
    /// expiry unread, nothing re-armed it) and one after another with no gap must both still be woken, on a
    /// current-thread runtime as a run's generator uses, each in turn for a few rounds.
    #[tokio::test]
    async fn sleeps_after_an_idle_timer_still_wake() {
        let timer = PreciseTimer::start(Duration::from_micros(50));
        for round in 0..5 {
            let at = Instant::now() + Duration::from_millis(2);
            let woke = tokio::time::timeout(Duration::from_secs(5), timer.sleep_until(at)).await;
            assert!(woke.is_ok(), "round {round}: the sleep never woke");
            assert!(Instant::now() >= at, "round {round}: woke early");
            // Idle: the heap is empty and the last expiry's count stays unread.
            std::thread::sleep(Duration::from_millis(3));
            let at = Instant::now() + Duration::from_micros(100);
            let woke = tokio::time::timeout(Duration::from_secs(5), timer.sleep_until(at)).await;
            assert!(
                woke.is_ok(),
                "round {round}: the sleep right after never woke"
            );
        }
    }
}
