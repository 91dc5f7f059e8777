//! Tests written against the mutants of the attempt loop (`run::request`): admission and the spend reservation,
//! retries, Retry-After and its cap, the retry budget, the request cap, webhook redeliveries, timeouts, timings,
//! tokens and cost. The client is a script: `make` hands back attempts the test wrote, so every expected figure
//! follows from those attempts and the policy the test sets (docs/mutants.md).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::super::record::{Outcome, Record};
use super::super::request::{request, Slot};
use super::super::state::{Control, RunTarget, Shared, TargetState};
use super::super::traffic::{ConvPlan, TurnPlan};
use crate::client::{Attempt, ConvState, Endpoint, ErrorKind};
use crate::config::scenario::{Limits, ProtocolKind, RetryPolicy, Role, TargetPricing};
use crate::config::webhook::WebhookSettings;

/// Nine words, 40 characters: estimated at 10 tokens (40 / 4; more than its 9 words).
const PROMPT: &str = "how much is a ticket from here to there?";

/// Prices of model `m`: $1 per million input tokens (1,000 nano-USD a token), $10 per million output (10,000).
const PRICES: &str = "models: {m: {input_per_mtok: 1, output_per_mtok: 10}}";

/// The run's shared state for these tests (also `run::request`'s own unit tests).
pub(in crate::run) fn shared(start: Instant) -> Shared {
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let prices: crate::config::prices::PriceFile = serde_yaml::from_str(PRICES).unwrap();
    Shared {
        start,
        client: reqwest::Client::new(),
        prices: crate::config::prices::PriceTable::from_file(prices, "p.yaml").unwrap(),
        retry: RetryPolicy {
            max_retries: 2,
            initial_backoff_ms: 10,
            max_backoff_ms: 10,
            ..Default::default()
        },
        timeout: Duration::from_secs(5),
        max_requests: 100,
        max_spend_nano: None,
        worst_output_tokens: 1000,
        control: Control::default(),
        tx,
        callbacks: None,
        timer: crate::run::clock::PreciseTimer::start(std::time::Duration::from_micros(
            crate::config::scenario::TIMER_SLACK_US.into(),
        )),
    }
}

/// One OpenAI target on a closed port, 4 requests in flight at most (also `run::request`'s own unit tests).
pub(in crate::run) fn state(
    webhook: Option<WebhookSettings>,
    pricing: TargetPricing,
    max_rps: f64,
) -> TargetState {
    let mut endpoint = Endpoint::new(
        ProtocolKind::Openai,
        "http://127.0.0.1:9",
        None,
        &Default::default(),
        None,
        None,
    )
    .unwrap();
    endpoint.webhook = webhook;
    let target = RunTarget {
        name: "gw".into(),
        role: Role::Gateway,
        endpoint,
        pricing,
        is_mock: false,
        fallback: None,
    };
    let limits = Limits {
        max_rps,
        max_in_flight: 4,
        ..Default::default()
    };
    TargetState::new(target, &limits)
}

fn plain_state() -> TargetState {
    state(None, TargetPricing::default(), 500.0)
}

fn conv(stream: bool) -> ConvPlan {
    ConvPlan {
        index: 3,
        user: 7,
        offset: Duration::ZERO,
        warmup: false,
        turns: vec![TurnPlan {
            prompt: PROMPT.into(),
            model: "m".into(),
            stream,
            think: Duration::ZERO,
        }],
    }
}

/// Longest a scripted request may take: every test's waits add up to well under a second.
const LONGEST: Duration = Duration::from_secs(10);

/// One scripted attempt, built from the instant `make` was called (its send time).
type Step = Box<dyn FnOnce(Instant) -> Attempt + Send>;

/// A client that answers from a script, one step per attempt, and counts the attempts it was asked for.
struct Script {
    steps: Mutex<VecDeque<Step>>,
    calls: AtomicU64,
    /// `spent_nano` of the target as the first attempt went out (the admission's reservation).
    spent_at_send: AtomicU64,
    /// When the last attempt went out.
    sent_at: Mutex<Option<Instant>>,
}

impl Script {
    fn new(steps: Vec<Step>) -> Script {
        Script {
            steps: Mutex::new(steps.into()),
            calls: AtomicU64::new(0),
            spent_at_send: AtomicU64::new(u64::MAX),
            sent_at: Mutex::new(None),
        }
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// Send one request of `conv` (turn `turn`, due at `intended`) through the script.
/// The common case of [`send`]: turn 1 of a non-streamed conversation, due at the run start, fresh state.
async fn send_chat(
    shared: &Shared,
    state: &TargetState,
    script: &Script,
) -> (Record, Option<String>, Instant) {
    let mut cs = ConvState::default();
    send(
        shared,
        state,
        &conv(false),
        1,
        shared.start,
        script,
        &mut cs,
    )
    .await
}

async fn send(
    shared: &Shared,
    state: &TargetState,
    conv: &ConvPlan,
    turn: u32,
    intended: Instant,
    script: &Script,
    cs: &mut ConvState,
) -> (Record, Option<String>, Instant) {
    let slot = Slot {
        conv,
        turn,
        phase: None,
        intended,
    };
    let make = |c: &ConvState| {
        if script.calls.fetch_add(1, Ordering::Relaxed) == 0 {
            let spent = state.spent_nano.load(Ordering::Relaxed);
            script.spent_at_send.store(spent, Ordering::Relaxed);
        }
        let step = script.steps.lock().unwrap().pop_front();
        let st = ConvState {
            coze_conversation_id: Some("conv-from-server".into()),
            ..c.clone()
        };
        let now = Instant::now();
        *script.sent_at.lock().unwrap() = Some(now);
        async move {
            let step = step.expect("the script has a step for every attempt");
            (step(now), st)
        }
    };
    // Bounded: a loop that never ends (a backoff in hours, say) fails the test instead of hanging it.
    tokio::time::timeout(LONGEST, request(shared, state, slot, make, cs))
        .await
        .expect("the request ends within LONGEST")
}

/// A 200 answering `answer` after `latency`, with the server's usage if given.
fn ok(answer: &'static str, latency: Duration, usage: Option<(u64, u64)>) -> Step {
    Box::new(move |sent| {
        let mut a = Attempt::new(sent);
        a.status = Some(200);
        a.push_answer(answer);
        a.usage = usage;
        a.done = sent + latency;
        a
    })
}

/// A failure of `kind` (HTTP status `status`), with a Retry-After hint if given.
fn failed(kind: ErrorKind, status: Option<u16>, retry_after: Option<Duration>) -> Step {
    Box::new(move |sent| {
        let mut a = Attempt::new(sent).fail(kind, "scripted failure");
        a.status = status;
        a.retry_after = retry_after;
        a
    })
}

fn http_500() -> Step {
    failed(ErrorKind::Http(500), Some(500), None)
}

/// A stream whose content chunks arrive at these offsets from the send; usage as given.
fn stream(chunks: &'static [u64], usage: Option<(u64, u64)>, error: Option<ErrorKind>) -> Step {
    Box::new(move |sent| {
        let mut a = Attempt::new(sent);
        a.status = Some(200);
        for &at in chunks {
            a.content(sent + Duration::from_millis(at), "tok ");
        }
        a.usage = usage;
        a.error = error;
        a.done = sent + Duration::from_millis(chunks.last().copied().unwrap_or(0) + 10);
        a
    })
}

#[tokio::test]
async fn a_chat_request_records_its_timings_tokens_cost_and_answer() {
    // The run started 3 s ago; this request was due 2 s into it.
    let start = Instant::now() - Duration::from_secs(3);
    let intended = start + Duration::from_secs(2);
    let sh = shared(start);
    let pricing = TargetPricing {
        markup_pct: 20.0,
        per_request_usd: 0.001,
    };
    let st = state(None, pricing, 500.0);
    let script = Script::new(vec![ok("fine", Duration::from_millis(250), Some((30, 40)))]);
    let mut cs = ConvState::default();
    let (r, answer, done) = send(&sh, &st, &conv(false), 1, intended, &script, &mut cs).await;
    assert_eq!(answer.as_deref(), Some("fine"));
    assert_eq!(script.calls(), 1);
    assert_eq!((r.op.as_str(), r.turn, r.conversation), ("chat", 1, 3));
    assert_eq!(r.outcome, Some(Outcome::Ok));
    assert_eq!((r.attempts, r.retries, r.retry_wait_ms), (1, 0, 0.0));
    assert_eq!(r.status, Some(200));
    assert_eq!(r.scheduled_ms, 2000.0);
    assert_eq!(r.latency_ms, Some(250.0));
    // Sent about 3 s into the run, answered 250 ms after it went out, so about 1.25 s after it was due (a second
    // of slack for a loaded machine).
    let sent = r.sent_ms.unwrap();
    assert!((3000.0..4000.0).contains(&sent), "{sent}");
    let e2e = r.e2e_ms.unwrap();
    assert!((250.0..1250.0).contains(&e2e), "{e2e}");
    let late = r.from_scheduled_ms.unwrap();
    assert!((1250.0..2250.0).contains(&late), "{late}");
    // The instant handed back is the answer's.
    let sent_at = script.sent_at.lock().unwrap().unwrap();
    assert_eq!(done, sent_at + Duration::from_millis(250));
    // The server's usage, not an estimate: 30 x 1,000 + 40 x 10,000 = 430,000 nano-USD, +20% = 516,000, plus the
    // $0.001 fee (1,000,000) = 1,516,000.
    assert_eq!((r.input_tokens, r.output_tokens), (30, 40));
    assert!(!r.tokens_estimated);
    assert_eq!(r.cost_nano_usd, 1_516_000);
    assert_eq!((r.error_kind.as_str(), r.detail.as_str()), ("", ""));
    // A successful attempt's conversation state is kept.
    assert_eq!(cs.coze_conversation_id.as_deref(), Some("conv-from-server"));
}

#[tokio::test]
async fn without_usage_tokens_are_estimated_from_the_prompt_the_history_and_the_answer() {
    let sh = shared(Instant::now());
    let st = plain_state();
    // The answer: 7 characters, 2 words -> 2 tokens.
    let script = Script::new(vec![ok("ok then", Duration::from_millis(5), None)]);
    // History: "hello there" (11 chars -> 3 tokens) and "four score and seven" (20 chars -> 5 tokens).
    let mut cs = ConvState {
        history: vec![
            ("user", "hello there".into()),
            ("assistant", "four score and seven".into()),
        ],
        ..Default::default()
    };
    let (r, _, _) = send(&sh, &st, &conv(false), 1, sh.start, &script, &mut cs).await;
    // Input: 10 (the prompt) + 3 + 5 = 18; output 2. Cost: 18 x 1,000 + 2 x 10,000 = 38,000 nano-USD.
    assert_eq!((r.input_tokens, r.output_tokens), (18, 2));
    assert!(r.tokens_estimated);
    assert_eq!(r.cost_nano_usd, 38_000);
}

#[tokio::test]
async fn a_failed_request_has_no_answer_no_tokens_no_fee_and_keeps_its_conversation_state() {
    let sh = shared(Instant::now());
    let pricing = TargetPricing {
        markup_pct: 0.0,
        per_request_usd: 0.001,
    };
    let st = state(None, pricing, 500.0);
    // 401 is not retried, retries left or not.
    let script = Script::new(vec![
        failed(ErrorKind::Http(401), Some(401), None),
        ok("never", Duration::ZERO, None),
    ]);
    let mut cs = ConvState::default();
    let (r, answer, _) = send(&sh, &st, &conv(false), 1, sh.start, &script, &mut cs).await;
    assert_eq!(script.calls(), 1);
    assert_eq!(answer, None);
    assert_eq!(r.outcome, Some(Outcome::Error));
    assert_eq!(
        (r.error_kind.as_str(), r.detail.as_str(), r.status),
        ("http_401", "scripted failure", Some(401))
    );
    assert_eq!((r.attempts, r.retries), (1, 0));
    // No usage and no answer: nothing estimated, and the fee is charged for answers only.
    assert_eq!(
        (r.input_tokens, r.output_tokens, r.tokens_estimated),
        (0, 0, false)
    );
    assert_eq!(r.cost_nano_usd, 0);
    assert_eq!(cs.coze_conversation_id, None);
}

#[tokio::test]
async fn a_server_error_is_retried_up_to_max_retries() {
    let sh = shared(Instant::now());
    let st = plain_state();
    // max_retries 2: three attempts, the fourth step is never asked for.
    let steps = vec![
        http_500(),
        http_500(),
        http_500(),
        ok("late", Duration::ZERO, None),
    ];
    let script = Script::new(steps);
    let (r, answer, _) = send_chat(&sh, &st, &script).await;
    assert_eq!(script.calls(), 3);
    assert_eq!(answer, None);
    assert_eq!((r.attempts, r.retries), (3, 2));
    assert_eq!(
        (r.outcome, r.error_kind.as_str()),
        (Some(Outcome::Error), "http_500")
    );
    // Two backoffs of 10 ms less up to 25% jitter.
    assert!(
        (15.0..=20.0).contains(&r.retry_wait_ms),
        "{}",
        r.retry_wait_ms
    );
    // A retry that succeeds ends the loop with the answer.
    let script = Script::new(vec![http_500(), ok("yes", Duration::ZERO, None)]);
    let (r, answer, _) = send_chat(&sh, &st, &script).await;
    assert_eq!((script.calls(), r.attempts, r.retries), (2, 2, 1));
    assert_eq!(
        (r.outcome, answer.as_deref()),
        (Some(Outcome::Ok), Some("yes"))
    );
}

#[tokio::test]
async fn retry_after_is_followed_and_capped() {
    let mut sh = shared(Instant::now());
    // A backoff of a second: a wait of 50 ms can only come from the server's hint.
    sh.retry = RetryPolicy {
        max_retries: 2,
        initial_backoff_ms: 1000,
        max_backoff_ms: 1000,
        max_retry_after_s: 0.05,
        ..Default::default()
    };
    let st = plain_state();
    let hint = |ms| {
        failed(
            ErrorKind::RateLimited,
            Some(429),
            Some(Duration::from_millis(ms)),
        )
    };
    // 20 ms is followed as given; 5 s is capped to max_retry_after_s (50 ms): 70 ms waited in all.
    let script = Script::new(vec![hint(20), hint(5000), ok("ok", Duration::ZERO, None)]);
    let (r, _, _) = send_chat(&sh, &st, &script).await;
    assert_eq!(
        (r.outcome, r.attempts, r.retries),
        (Some(Outcome::Ok), 3, 2)
    );
    assert_eq!(r.retry_wait_ms, 70.0);
}

#[tokio::test]
async fn the_retry_budget_allows_waits_up_to_and_including_it() {
    let mut sh = shared(Instant::now());
    sh.retry = RetryPolicy {
        max_retries: 5,
        budget_s: 0.125,
        ..Default::default()
    };
    let st = plain_state();
    // Waits of 62.5 ms: the first two add up to the 125 ms budget exactly and are taken; a third would cross it.
    let hint = || {
        failed(
            ErrorKind::RateLimited,
            Some(429),
            Some(Duration::from_micros(62_500)),
        )
    };
    let script = Script::new((0..6).map(|_| hint()).collect());
    let (r, _, _) = send_chat(&sh, &st, &script).await;
    assert_eq!(script.calls(), 3);
    assert_eq!((r.attempts, r.retries, r.retry_wait_ms), (3, 2, 125.0));
    assert_eq!(
        (r.outcome, r.error_kind.as_str()),
        (Some(Outcome::Error), "rate_limited")
    );
}

#[tokio::test]
async fn every_attempt_takes_a_ticket_of_max_requests() {
    let mut sh = shared(Instant::now());
    sh.max_requests = 2;
    let st = plain_state();
    // Two tickets: the first request gets two attempts and ends with the second one's failure ...
    let script = Script::new(vec![http_500(), http_500(), http_500()]);
    let c = conv(false);
    let (r, _, _) = send(
        &sh,
        &st,
        &c,
        1,
        sh.start,
        &script,
        &mut ConvState::default(),
    )
    .await;
    assert_eq!((script.calls(), r.attempts), (2, 2));
    assert_eq!(
        (r.outcome, r.error_kind.as_str()),
        (Some(Outcome::Error), "http_500")
    );
    // ... and the next one is not sent at all.
    let script = Script::new(vec![ok("no", Duration::ZERO, None)]);
    let (r, answer, _) = send(
        &sh,
        &st,
        &c,
        1,
        sh.start,
        &script,
        &mut ConvState::default(),
    )
    .await;
    assert_eq!((script.calls(), answer), (0, None));
    assert_eq!(r.outcome, Some(Outcome::NotSent));
    assert_eq!(
        (r.not_sent_reason.as_str(), r.attempts),
        ("max_requests", 0)
    );
}

#[tokio::test]
async fn a_webhook_redelivers_every_failure_by_its_own_backoff_ignoring_retry_after() {
    let sh = shared(Instant::now());
    let w = WebhookSettings {
        retries: 2,
        retry_backoff_ms: 20,
        ..Default::default()
    };
    let st = state(Some(w), TargetPricing::default(), 500.0);
    // A 404 is redelivered (a chat target would give up) and its 5 s Retry-After is not waited for: the waits are
    // the platform's backoff, 20 ms then 40 ms, each less up to 25% jitter.
    let script = Script::new(vec![
        failed(
            ErrorKind::Http(404),
            Some(404),
            Some(Duration::from_secs(5)),
        ),
        failed(ErrorKind::Http(404), Some(404), None),
        ok("ack", Duration::ZERO, None),
    ]);
    let (r, _, _) = send(
        &sh,
        &st,
        &conv(true),
        1,
        sh.start,
        &script,
        &mut ConvState::default(),
    )
    .await;
    assert_eq!(
        (r.outcome, r.attempts, r.retries),
        (Some(Outcome::Ok), 3, 2)
    );
    assert!(
        (45.0..=60.0).contains(&r.retry_wait_ms),
        "{}",
        r.retry_wait_ms
    );
    assert!(!r.stream);
}

#[tokio::test]
async fn the_spend_cap_reserves_the_worst_case_and_keeps_the_real_cost() {
    let mut sh = shared(Instant::now());
    sh.max_spend_nano = Some(20_000_000);
    let pricing = TargetPricing {
        markup_pct: 20.0,
        per_request_usd: 0.001,
    };
    let st = state(None, pricing, 500.0);
    // Worst case: input 10 (prompt) + 3 + 5 (history) = 18 tokens, output 1,000 (the worst-case cap):
    // 18 x 1,000 + 1,000 x 10,000 = 10,018,000, +20% = 12,021,600, + $0.001 = 13,021,600 nano-USD.
    let mut cs = ConvState {
        history: vec![
            ("user", "hello there".into()),
            ("assistant", "four score and seven".into()),
        ],
        ..Default::default()
    };
    let script = Script::new(vec![ok("a", Duration::ZERO, Some((3, 5)))]);
    let (r, _, _) = send(&sh, &st, &conv(false), 1, sh.start, &script, &mut cs).await;
    assert_eq!(script.spent_at_send.load(Ordering::Relaxed), 13_021_600);
    // Then the real cost replaces it: 3 x 1,000 + 5 x 10,000 = 53,000, +20% = 63,600, + 1,000,000 = 1,063,600.
    assert_eq!(r.cost_nano_usd, 1_063_600);
    assert_eq!(st.spent_nano.load(Ordering::Relaxed), 1_063_600);
    // A cap already reached refuses even a request whose worst case is nothing (a conversation create).
    st.spent_nano.store(20_000_000, Ordering::Relaxed);
    let script = Script::new(vec![ok("no", Duration::ZERO, None)]);
    let (r, _, _) = send(
        &sh,
        &st,
        &conv(false),
        0,
        sh.start,
        &script,
        &mut ConvState::default(),
    )
    .await;
    assert_eq!(script.calls(), 0);
    assert_eq!(
        (r.outcome, r.not_sent_reason.as_str()),
        (Some(Outcome::NotSent), "max_spend")
    );
}

#[tokio::test]
async fn a_conversation_create_carries_no_tokens_and_reserves_nothing() {
    let mut sh = shared(Instant::now());
    sh.max_spend_nano = Some(20_000_000);
    let st = plain_state();
    let script = Script::new(vec![ok("", Duration::from_millis(3), None)]);
    let (r, answer, _) = send(
        &sh,
        &st,
        &conv(true),
        0,
        sh.start,
        &script,
        &mut ConvState::default(),
    )
    .await;
    assert_eq!(script.spent_at_send.load(Ordering::Relaxed), 0);
    assert_eq!(
        (r.op.as_str(), r.turn, r.stream),
        ("create_conversation", 0, false)
    );
    assert_eq!(
        (r.outcome, answer.as_deref()),
        (Some(Outcome::Ok), Some(""))
    );
    assert_eq!(
        (r.input_tokens, r.output_tokens, r.tokens_estimated),
        (0, 0, false)
    );
    assert_eq!((r.cost_nano_usd, r.latency_ms), (0, Some(3.0)));
}

#[tokio::test]
async fn inter_token_latency_and_pooled_gaps_come_from_successful_streams() {
    let sh = shared(Instant::now());
    let st = plain_state();
    let c = conv(true);
    // Chunks at 100, 150 and 300 ms: TTFT 100 ms, gaps 50 and 150 ms, span 200 ms; 5 output tokens -> ITL 200 / 4.
    let script = Script::new(vec![stream(&[100, 150, 300], Some((3, 5)), None)]);
    let (r, _, _) = send(
        &sh,
        &st,
        &c,
        1,
        sh.start,
        &script,
        &mut ConvState::default(),
    )
    .await;
    assert!(r.stream);
    assert_eq!((r.ttfb_ms, r.ttft_ms), (Some(100.0), Some(100.0)));
    assert_eq!(
        (r.max_gap_ms, r.chunks, r.latency_ms),
        (Some(150.0), 3, Some(310.0))
    );
    assert_eq!(r.itl_ms, Some(50.0));
    {
        let h = st.gaps.lock().unwrap();
        assert_eq!((h.len(), h.max()), (2, h.highest_equivalent(150_000)));
    }
    // One output token: no gap between tokens to measure.
    let script = Script::new(vec![stream(&[100, 150], Some((3, 1)), None)]);
    let (r, _, _) = send(
        &sh,
        &st,
        &c,
        1,
        sh.start,
        &script,
        &mut ConvState::default(),
    )
    .await;
    assert_eq!(r.itl_ms, None);
    assert_eq!(st.gaps.lock().unwrap().len(), 3);
    // A stream cut after two chunks: its gap is in the record, not in the pool of successful streams.
    let script = Script::new(vec![stream(&[100, 180], None, Some(ErrorKind::StreamCut))]);
    let (r, _, _) = send(
        &sh,
        &st,
        &c,
        1,
        sh.start,
        &script,
        &mut ConvState::default(),
    )
    .await;
    assert_eq!(
        (r.outcome, r.max_gap_ms),
        (Some(Outcome::Error), Some(80.0))
    );
    assert_eq!(st.gaps.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_request_that_outlives_the_timeout_fails_as_a_timeout() {
    let mut sh = shared(Instant::now());
    sh.timeout = Duration::from_millis(100);
    sh.retry.max_retries = 0;
    let st = plain_state();
    let slot = Slot {
        conv: &conv(false),
        turn: 1,
        phase: None,
        intended: sh.start,
    };
    let make = |c: &ConvState| {
        let st = c.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            (Attempt::new(Instant::now()), st)
        }
    };
    let t = Instant::now();
    let (r, answer, _) = tokio::time::timeout(
        LONGEST,
        request(&sh, &st, slot, make, &mut ConvState::default()),
    )
    .await
    .unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(answer, None);
    assert_eq!(
        (r.outcome, r.error_kind.as_str()),
        (Some(Outcome::Error), "timeout")
    );
    assert_eq!(r.detail, "no complete answer within 0.1 s");
}

#[tokio::test]
async fn an_abort_while_waiting_for_the_rate_limiter_leaves_the_request_unsent() {
    let sh = shared(Instant::now());
    // One request a second, and its one token already used: the next send waits about a second.
    let st = state(None, TargetPricing::default(), 1.0);
    assert!(st.limiter.check().is_ok());
    let abort = sh.control.abort.clone();
    let stop = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        abort.cancel();
    });
    let script = Script::new(vec![ok("no", Duration::ZERO, None)]);
    let (r, _, _) = send_chat(&sh, &st, &script).await;
    stop.await.unwrap();
    assert_eq!(script.calls(), 0);
    assert_eq!(
        (r.outcome, r.not_sent_reason.as_str()),
        (Some(Outcome::NotSent), "interrupted")
    );
}

#[tokio::test]
async fn an_abort_during_a_retry_wait_ends_the_request_as_cancelled() {
    let sh = shared(Instant::now());
    let st = plain_state();
    let abort = sh.control.abort.clone();
    let stop = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        abort.cancel();
    });
    let script = Script::new(vec![
        failed(
            ErrorKind::RateLimited,
            Some(429),
            Some(Duration::from_secs(5)),
        ),
        ok("no", Duration::ZERO, None),
    ]);
    let (r, answer, _) = send_chat(&sh, &st, &script).await;
    stop.await.unwrap();
    assert_eq!((script.calls(), answer), (1, None));
    assert_eq!(
        (r.outcome, r.error_kind.as_str()),
        (Some(Outcome::Cancelled), "cancelled")
    );
    assert_eq!(r.attempts, 1);
}
