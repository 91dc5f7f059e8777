//! The closed model (k6's constant-vus, oha's `-c N`): `traffic.closed.vus` virtual users per target, each taking
//! the next conversation of the seeded plan as soon as its previous one ended, until `traffic.duration_s` is over.
//!
//! Every target replays the same conversations in the same order; how many it gets through in the window is what it
//! sustains. A conversation's scheduled instant is the moment its virtual user took it, so from-schedule latency is
//! latency: a closed loop waits for each answer by definition, and measures throughput, not an offered rate.
//! A stop (interrupt, abort) ends the loops; the conversation a user is in finishes its turns as
//! `not_sent (interrupted)` rows like an open run's, and nothing that was never started gets a row. A user whose
//! conversation a cap refused (max_requests, max_spend, max_in_flight) stops after it: the cap holds for the rest of
//! the run, so each user records its refusal once instead of spinning through refusals.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::conversation::conversation;
use super::progress::Progress;
use super::state::{Shared, TargetState};
use super::traffic::ConvPlan;

/// A target's virtual users and their window.
#[derive(Debug, Clone, Copy)]
pub(super) struct Vus {
    pub(super) count: u32,
    /// Users start no conversation after this much time from the run start.
    pub(super) window: Duration,
    /// Conversations started this early are warm-up (recorded, kept out of the statistics).
    pub(super) warmup: Duration,
}

type Plan = Box<dyn Iterator<Item = (ConvPlan, Option<u32>)> + Send>;

/// One target's virtual users, until the window ends or the run stops.
pub(super) async fn dispatch(
    shared: Arc<Shared>,
    state: Arc<TargetState>,
    convs: impl Iterator<Item = (ConvPlan, Option<u32>)> + Send + 'static,
    vus: Vus,
    progress: Option<Arc<Progress>>,
) {
    let plan: Arc<Mutex<Plan>> = Arc::new(Mutex::new(Box::new(convs)));
    let mut users = tokio::task::JoinSet::new();
    for _ in 0..vus.count {
        let (sh, st, pl, pr) = (
            shared.clone(),
            state.clone(),
            plan.clone(),
            progress.clone(),
        );
        users.spawn(user(sh, st, pl, vus, pr));
    }
    while let Some(r) = users.join_next().await {
        r.expect("virtual user panicked");
    }
    if let Some(p) = &progress {
        p.dispatcher_done();
    }
}

/// One virtual user: conversations back to back.
async fn user(
    shared: Arc<Shared>,
    state: Arc<TargetState>,
    plan: Arc<Mutex<Plan>>,
    vus: Vus,
    progress: Option<Arc<Progress>>,
) {
    tokio::select! {
        _ = shared.timer.sleep_until(shared.start) => {}
        _ = shared.control.stop_arrivals.cancelled() => return,
    }
    loop {
        let offset = shared.start.elapsed();
        if shared.control.stop_arrivals.is_cancelled() || offset >= vus.window {
            return;
        }
        let next = plan.lock().expect("plan lock").next();
        let Some((mut conv, phase)) = next else {
            return;
        };
        conv.offset = offset;
        conv.warmup = offset < vus.warmup;
        if let Some(p) = &progress {
            p.arrived();
        }
        let capped = conversation(shared.clone(), state.clone(), conv, phase).await;
        if let Some(p) = &progress {
            p.finished();
        }
        if capped {
            // The cap holds for the rest of the run: one refused conversation says so, more would only spin.
            return;
        }
    }
}
