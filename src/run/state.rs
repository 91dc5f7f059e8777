//! The state a run shares between its dispatchers and its requests: targets, signals, caps, the send-rate limiter and
//! the record channel.

use std::num::NonZeroU32;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::record::{Record, OP_CHAT, OP_CREATE};
use super::traffic::ConvPlan;
use crate::client::Endpoint;
use crate::config::prices::PriceTable;
use crate::config::scenario::{Limits, RetryPolicy, Role, TargetPricing};

/// A target ready to be driven.
pub(crate) struct RunTarget {
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) endpoint: Endpoint,
    pub(crate) pricing: TargetPricing,
    /// Mock targets cost nothing real: the spend cap does not apply to them.
    pub(crate) is_mock: bool,
    /// Where a request goes when its retries are exhausted (`fallback:` in the scenario).
    pub(crate) fallback: Option<FallbackTarget>,
}

/// The target a failed request falls back to (see `run::fallback`).
#[derive(Debug, Clone)]
pub(crate) struct FallbackTarget {
    pub(crate) name: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) pricing: TargetPricing,
}

/// A function that sees every record as it is emitted.
pub(crate) type Observer = Arc<dyn Fn(&Record) + Send + Sync>;

/// Signals from outside (Ctrl-C, SIGTERM, the duration cap) into a run.
#[derive(Clone, Default)]
pub struct Control {
    /// Stop new arrivals and new turns; in-flight requests may finish within the grace period.
    pub(crate) stop_arrivals: CancellationToken,
    /// Cancel in-flight requests now (recorded as `cancelled`).
    pub(crate) abort: CancellationToken,
    /// Write the rows already complete and exit at once (second Ctrl-C).
    pub(crate) hard_exit: CancellationToken,
    /// Why arrivals stopped early, if they did.
    pub(crate) reason: Arc<std::sync::Mutex<Option<String>>>,
    /// Sees every record as the runner emits it (e.g. the abort-on-fail watch).
    pub(crate) observer: Option<Observer>,
}

impl Control {
    pub fn stop(&self, reason: &str) {
        let mut r = self.reason.lock().expect("reason lock");
        if r.is_none() {
            *r = Some(reason.to_string());
        }
        self.stop_arrivals.cancel();
    }

    pub(crate) fn stopped_reason(&self) -> Option<String> {
        self.reason.lock().expect("reason lock").clone()
    }
}

pub(super) struct Shared {
    pub(super) start: Instant,
    pub(super) client: reqwest::Client,
    pub(super) prices: PriceTable,
    pub(super) retry: RetryPolicy,
    pub(super) timeout: Duration,
    pub(super) max_requests: u64,
    pub(super) max_spend_nano: Option<u64>,
    /// Output tokens of a request's worst case, for the spend cap's reservation (`traffic.max_tokens` or a default).
    pub(super) worst_output_tokens: u64,
    pub(super) control: Control,
    pub(super) tx: mpsc::Sender<Record>,
    /// The callback listener of webhook targets' answers (a run with a webhook target only).
    pub(super) callbacks: Option<Arc<super::callbacks::Callbacks>>,
    /// Arrivals and think times wait on this, not on tokio's 1 ms timer wheel.
    pub(super) timer: super::clock::PreciseTimer,
}

pub(super) struct TargetState {
    pub(super) target: RunTarget,
    /// Pooled gaps between content chunks of successful streams (microseconds), for `chunk_gaps.csv`.
    pub(super) gaps: std::sync::Mutex<hdrhistogram::Histogram<u64>>,
    pub(super) limiter: DefaultDirectRateLimiter,
    /// Fair (FIFO) queue in front of the limiter: only its head waits on `limiter`, so sends leave in arrival order
    /// when `max_rps` binds (governor's `until_ready` alone wakes waiters in no particular order).
    pub(super) admission_queue: tokio::sync::Mutex<()>,
    pub(super) in_flight: Semaphore,
    pub(super) sent: AtomicU64,
    pub(super) spent_nano: AtomicU64,
}

impl TargetState {
    pub(super) fn new(target: RunTarget, limits: &Limits) -> TargetState {
        TargetState {
            limiter: limiter(limits.max_rps),
            admission_queue: tokio::sync::Mutex::new(()),
            in_flight: Semaphore::new(limits.max_in_flight),
            sent: AtomicU64::new(0),
            spent_nano: AtomicU64::new(0),
            gaps: std::sync::Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .expect("valid bounds"),
            ),
            target,
        }
    }
}

pub(super) fn limiter(max_rps: f64) -> DefaultDirectRateLimiter {
    let period = Duration::from_secs_f64(1.0 / max_rps).max(Duration::from_nanos(1));
    // Allow a burst of a tenth of a second's worth so Poisson clusters are not smoothed away.
    let burst = NonZeroU32::new(((max_rps / 10.0).ceil() as u32).max(1)).expect("non-zero");
    RateLimiter::direct(
        Quota::with_period(period)
            .expect("non-zero period")
            .allow_burst(burst),
    )
}

pub(super) fn base_record(
    state: &TargetState,
    conv: &ConvPlan,
    turn: u32,
    phase: Option<u32>,
) -> Record {
    let (op, model, stream) = if turn == 0 {
        (
            OP_CREATE,
            conv.turns
                .first()
                .map(|t| String::from(&*t.model))
                .unwrap_or_default(),
            false,
        )
    } else {
        let t = &conv.turns[turn as usize - 1];
        // A webhook event is one POST whatever the traffic's stream share says.
        let webhook = state.target.endpoint.webhook.is_some();
        (OP_CHAT, String::from(&*t.model), t.stream && !webhook)
    };
    Record {
        target: state.target.name.clone(),
        // Copied from `&str`s, not through `Display` (`to_string` on these went through the formatting machinery).
        role: state.target.role.as_str().to_owned(),
        conversation: conv.index,
        user: conv.user,
        turn,
        op: op.to_owned(),
        model,
        stream,
        canary_phase: phase,
        warmup: conv.warmup,
        // A webhook event's row has an answer count from the start (0 = none came), whatever becomes of it.
        answers: state.target.endpoint.webhook.as_ref().map(|_| 0),
        ..Default::default()
    }
}
