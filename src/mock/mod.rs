//! Embedded mock endpoints: an OpenAI-compatible gateway and a Coze-style bot API, driven by `mocks/*.yaml`
//! profiles (see [`MockProfile`]), built for throughput and for failure injection.
//!
//! * `serve(profile, addr)` binds (port 0 = ephemeral), runs its own accept loop (hyper http1 per connection, so a
//!   handler can make its connection end with a TCP RST) and returns a [`MockHandle`] whose [`MockHandle::stats`]
//!   counts requests per route, outcomes and every injected fault by kind.
//! * Per request, in order: auth (401) -> body (400) -> model / bot / conversation (404, envelope 4200) -> busy
//!   conversation (envelope 4016) -> `faults` (first whose draw hits) -> `rate_limit` (429) -> `errors` -> the answer.
//!   Faults, rate limits and errors are drawn only on generation requests (`POST /v1/chat/completions`,
//!   `POST /v3/chat`); polls and listings never fail by chance.
//! * Randomness: one ChaCha8 generator per generation request, keyed by the profile `seed` and using as the stream
//!   the request's arrival number (`draws: arrival`, the default: the n-th request always draws the same, so it is
//!   reproducible when arrivals are serialised) or its identity (`draws: request`: user, messages and how often that
//!   identity came before, so shards and runs agree whatever the arrival order; see `draw_key.rs`).
//! * Tokens: an answer has exactly N whitespace-separated words, N uniform in `output_tokens`; `usage` reports
//!   completion / output tokens = N and prompt / input tokens = sum over input messages of (whitespace words of the
//!   content + 4). For coze, input messages are the conversation's kept history plus `additional_messages`.

mod body;
mod capacity;
mod coze;
mod dist;
mod draw_key;
mod fault_kind;
mod faults;
mod http;
mod openai;
mod profile;
pub mod schema;
mod server;
mod text;
mod validate;
mod variants;
mod webhook;

#[cfg(test)]
mod sdk_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use dist::LogNormalMs;
pub(crate) use draw_key::DrawKey;
pub use faults::FaultKind;
pub use profile::{
    AuthSpec, BurstSpec, CapacitySpec, CozeSpec, DistSpec, ErrorSpec, FaultSpec, MockProfile,
    RateLimitSpec, RetryAfter, ShapeVariant, StreamSpec, TokenRange,
};

use crate::config::scenario::ProtocolKind;
use faults::FaultRt;

/// Errors of this module: loading a profile, or starting a server.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// YAML syntax or shape (unknown field, wrong type); `message` starts with the field path when serde_yaml has one.
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A value that parsed but makes no sense (`latency.p99_ms` below the mean, a rate above 1, ...).
    #[error("{origin}{}: {field}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Invalid {
        origin: String,
        location: Option<(usize, usize)>,
        field: String,
        message: String,
    },
    #[error("cannot listen on {addr}: {source}{hint}", hint = bind_hint(source))]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

fn bind_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        " (another process already listens on that port; pick another port or 0 for an ephemeral one)"
    } else {
        ""
    }
}

/// Routes counted in [`MockStats::requests`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    ChatCompletions,
    Models,
    ConversationCreate,
    Chat,
    ChatRetrieve,
    ChatMessages,
    ConversationMessages,
    ChatCancel,
    ModelRetrieve,
    /// A webhook profile's event delivery (`POST <webhook.path>`).
    Webhook,
    Unknown,
}

impl Route {
    const ALL: [Route; 11] = [
        Route::ChatCompletions,
        Route::Models,
        Route::ConversationCreate,
        Route::Chat,
        Route::ChatRetrieve,
        Route::ChatMessages,
        Route::ConversationMessages,
        Route::ChatCancel,
        Route::ModelRetrieve,
        Route::Webhook,
        Route::Unknown,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Route::ChatCompletions => "POST /v1/chat/completions",
            Route::Models => "GET /v1/models",
            Route::ConversationCreate => "POST /v1/conversation/create",
            Route::Chat => "POST /v3/chat",
            Route::ChatRetrieve => "GET|POST /v3/chat/retrieve",
            Route::ChatMessages => "GET|POST /v3/chat/message/list",
            Route::ConversationMessages => "GET|POST /v1/conversation/message/list",
            Route::ChatCancel => "POST /v3/chat/cancel",
            Route::ModelRetrieve => "GET /v1/models/{id}",
            Route::Webhook => "POST webhook",
            Route::Unknown => "unknown",
        }
    }
}

/// Outcomes counted in [`MockStats::outcomes`] (faults are counted apart, in [`MockStats::faults`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A normal answer (for coze non-stream: the chat was accepted and will complete).
    Ok,
    Unauthorized,
    BadRequest,
    /// Unknown model (404), bot / conversation / chat (envelope 4200), or route.
    NotFound,
    /// Coze 4016: a chat is already in progress in that conversation.
    Busy,
    /// A 429 drawn from `rate_limit`.
    RateLimited,
    /// An HTTP error drawn from `errors`.
    ServerError,
    /// A coze chat drawn to fail (`errors.chat_failed_share`).
    ChatFailed,
    /// Turned away by `capacity` (more than concurrency + queue in the system).
    Overloaded,
}

impl Outcome {
    const ALL: [Outcome; 9] = [
        Outcome::Ok,
        Outcome::Unauthorized,
        Outcome::BadRequest,
        Outcome::NotFound,
        Outcome::Busy,
        Outcome::RateLimited,
        Outcome::ServerError,
        Outcome::ChatFailed,
        Outcome::Overloaded,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Unauthorized => "unauthorized",
            Outcome::BadRequest => "bad_request",
            Outcome::NotFound => "not_found",
            Outcome::Busy => "busy",
            Outcome::RateLimited => "rate_limited",
            Outcome::ServerError => "server_error",
            Outcome::ChatFailed => "chat_failed",
            Outcome::Overloaded => "overloaded",
        }
    }
}

/// Lock-free counters (one atomic each; no lock on the hot path).
#[derive(Default)]
pub(crate) struct Counters {
    routes: [AtomicU64; Route::ALL.len()],
    outcomes: [AtomicU64; Outcome::ALL.len()],
    faults: [AtomicU64; 15],
    connections: AtomicU64,
}

impl Counters {
    pub(crate) fn route(&self, r: Route) {
        self.routes[r as usize].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn outcome(&self, o: Outcome) {
        self.outcomes[o as usize].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn fault(&self, k: FaultKind) {
        self.faults[k.index()].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of a mock server's counters. Every route, outcome and fault kind is present (zero when unused).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MockStats {
    /// Requests per route, e.g. `"POST /v1/chat/completions"`; `"unknown"` for anything else.
    pub(crate) requests: BTreeMap<String, u64>,
    /// `ok`, `unauthorized`, `bad_request`, `not_found`, `busy`, `rate_limited`, `server_error`, `chat_failed`.
    pub(crate) outcomes: BTreeMap<String, u64>,
    /// Injected faults per kind (`reset_before_response`, `hang`, ...).
    pub(crate) faults: BTreeMap<String, u64>,
    /// TCP connections accepted.
    pub(crate) connections: u64,
}

impl MockStats {
    pub fn requests(&self, route: &str) -> u64 {
        self.requests.get(route).copied().unwrap_or(0)
    }
    #[cfg(test)]
    pub(crate) fn outcome(&self, name: &str) -> u64 {
        self.outcomes.get(name).copied().unwrap_or(0)
    }
    #[cfg(test)]
    pub(crate) fn fault(&self, kind: FaultKind) -> u64 {
        self.faults.get(kind.name()).copied().unwrap_or(0)
    }
    pub fn faults_total(&self) -> u64 {
        self.faults.values().sum()
    }
}

/// What a generation request gets, drawn once per request.
pub(crate) enum Plan<'a> {
    Fault(&'a FaultRt),
    RateLimited,
    ServerError(u16),
    ChatFailed,
    Answer,
}

/// Everything a handler needs, resolved once at start.
pub(crate) struct Shared {
    pub(crate) profile: MockProfile,
    pub(crate) protocol: ProtocolKind,
    pub(crate) seed: u64,
    seed_key: [u8; 32],
    req_no: AtomicU64,
    occurrences: draw_key::Occurrences,
    pub(crate) logid_no: AtomicU64,
    pub(crate) started: Instant,
    /// `Authorization` header value expected, if any.
    pub(crate) expected_auth: Option<Vec<u8>>,
    pub(crate) models: std::collections::HashSet<String>,
    pub(crate) bots: std::collections::HashMap<String, String>,
    pub(crate) latency: LogNormalMs,
    pub(crate) ttft: LogNormalMs,
    pub(crate) itl: LogNormalMs,
    pub(crate) tokens_per_chunk: u32,
    pub(crate) out_min: u32,
    pub(crate) out_max: u32,
    pub(crate) usage: bool,
    pub(crate) err_rate: f64,
    pub(crate) err_statuses: Vec<u16>,
    pub(crate) chat_failed_share: f64,
    pub(crate) rl_rate: f64,
    pub(crate) retry_after: RetryAfter,
    pub(crate) faults: Vec<FaultRt>,
    pub(crate) counters: Counters,
    pub(crate) coze: Option<coze::CozeState>,
    pub(crate) capacity: Option<capacity::Capacity>,
    /// A webhook profile's client for posting answers (built on first use; see `webhook.rs`).
    pub(crate) callback_client: std::sync::OnceLock<reqwest::Client>,
    /// Cancelled when the server starts shutting down (ends hangs at once).
    pub(crate) shutdown: CancellationToken,
}

impl Shared {
    fn new(profile: MockProfile, shutdown: CancellationToken) -> Result<Shared, MockError> {
        profile
            .validate()
            .map_err(|(field, message)| MockError::Invalid {
                origin: format!("profile `{}`", profile.name),
                location: None,
                field,
                message,
            })?;
        let fit = |d: DistSpec| LogNormalMs::fit(d.mean_ms, d.p99_ms).expect("validated");
        let seed = profile.seed.unwrap_or_else(rand::random);
        let seed_key = ChaCha8Rng::seed_from_u64(seed).get_seed();
        let errors = profile.errors();
        let rl = profile.rate_limit();
        let out = profile.output_tokens();
        let protocol = profile.protocol;
        Ok(Shared {
            protocol,
            seed,
            seed_key,
            req_no: AtomicU64::new(0),
            occurrences: draw_key::Occurrences::default(),
            logid_no: AtomicU64::new(0),
            started: Instant::now(),
            expected_auth: profile
                .auth
                .as_ref()
                .map(|a| format!("Bearer {}", a.bearer).into_bytes()),
            models: profile.models.iter().cloned().collect(),
            bots: profile
                .bots
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            latency: fit(profile.latency()),
            ttft: fit(profile.ttft()),
            itl: fit(profile.inter_token()),
            tokens_per_chunk: profile.tokens_per_chunk(),
            out_min: out.min,
            out_max: out.max,
            usage: profile.usage,
            err_rate: errors.rate,
            err_statuses: errors.status,
            chat_failed_share: errors.chat_failed_share,
            rl_rate: rl.rate,
            retry_after: rl.retry_after,
            faults: profile
                .faults
                .iter()
                .map(|f| FaultRt::new(f, protocol))
                .collect(),
            counters: Counters::default(),
            coze: (protocol == ProtocolKind::Coze)
                .then(|| coze::CozeState::new(&profile.coze_settings())),
            capacity: profile.capacity.as_ref().map(capacity::Capacity::new),
            callback_client: std::sync::OnceLock::new(),
            shutdown,
            profile,
        })
    }

    /// The generator of the next generation request, whose identity is `id` (see [`DrawKey`]).
    /// A generation request's random source, and its identity under `draws: request` (for [`Self::draw`]).
    pub(crate) fn rng(&self, id: impl FnOnce() -> u64) -> (ChaCha8Rng, Option<u64>) {
        let (n, key) = match self.profile.draws {
            DrawKey::Arrival => (self.req_no.fetch_add(1, Ordering::Relaxed), None),
            DrawKey::Request => {
                let id = id();
                (self.occurrences.stream(id), Some(id))
            }
        };
        let mut r = ChaCha8Rng::from_seed(self.seed_key);
        r.set_stream(n);
        (r, key)
    }

    pub(crate) fn auth_ok(&self, headers: &axum::http::HeaderMap) -> bool {
        match &self.expected_auth {
            None => true,
            Some(want) => headers
                .get(axum::http::header::AUTHORIZATION)
                .is_some_and(|v| v.as_bytes() == want.as_slice()),
        }
    }

    /// Faults first (in profile order), then rate limit, then errors.
    /// What a generation request gets (`key`: its identity from [`Self::rng`], told whether it failed).
    pub(crate) fn draw(&self, rng: &mut ChaCha8Rng, stream: bool, key: Option<u64>) -> Plan<'_> {
        let plan = self.draw_plan(rng, stream);
        if let Some(id) = key {
            self.occurrences.settle(id, !matches!(plan, Plan::Answer));
        }
        plan
    }

    fn draw_plan(&self, rng: &mut ChaCha8Rng, stream: bool) -> Plan<'_> {
        if !self.faults.is_empty() {
            let elapsed = self.started.elapsed().as_secs_f64();
            for f in &self.faults {
                if f.kind.stream_only() && !stream || !f.active(elapsed) {
                    continue;
                }
                if rng.gen::<f64>() < f.rate {
                    return Plan::Fault(f);
                }
            }
        }
        if self.rl_rate > 0.0 && rng.gen::<f64>() < self.rl_rate {
            return Plan::RateLimited;
        }
        if self.err_rate > 0.0 && rng.gen::<f64>() < self.err_rate {
            if self.chat_failed_share > 0.0 && rng.gen::<f64>() < self.chat_failed_share {
                return Plan::ChatFailed;
            }
            let s = self.err_statuses[rng.gen_range(0..self.err_statuses.len())];
            return Plan::ServerError(s);
        }
        Plan::Answer
    }

    pub(crate) fn answer_len(&self, rng: &mut ChaCha8Rng) -> u32 {
        rng.gen_range(self.out_min..=self.out_max)
    }

    fn stats(&self) -> MockStats {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MockStats {
            requests: Route::ALL
                .iter()
                .map(|r| (r.name().to_string(), load(&c.routes[*r as usize])))
                .collect(),
            outcomes: Outcome::ALL
                .iter()
                .map(|o| (o.name().to_string(), load(&c.outcomes[*o as usize])))
                .collect(),
            faults: FaultKind::ALL
                .iter()
                .map(|k| (k.name().to_string(), load(&c.faults[k.index()])))
                .collect(),
            connections: load(&c.connections),
        }
    }
}

/// A running mock server. Dropping it stops the server at once; [`MockHandle::shutdown`] drains first.
pub struct MockHandle {
    /// The bound address (the real port when 0 was asked for).
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    /// Cancelled on drop / after the drain: connections are cut.
    hard: CancellationToken,
    tracker: server::Tracker,
}

impl std::fmt::Debug for MockHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockHandle")
            .field("addr", &self.addr)
            .field("profile", &self.shared.profile.name)
            .finish()
    }
}

impl MockHandle {
    /// `http://127.0.0.1:PORT` (an unspecified bind address is reported as loopback).
    pub fn base_url(&self) -> String {
        let mut a = self.addr;
        if a.ip().is_unspecified() {
            a.set_ip(if a.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("http://{a}")
    }

    pub fn stats(&self) -> MockStats {
        self.shared.stats()
    }

    /// Stop accepting, let requests in flight finish for up to 5 s, then cut what is left.
    pub async fn shutdown(self) {
        self.shutdown_with_grace(Duration::from_secs(5)).await
    }

    /// Stop accepting, let requests in flight finish for up to `grace` (hangs end at once), then cut the rest.
    pub(crate) async fn shutdown_with_grace(self, grace: Duration) {
        self.shared.shutdown.cancel();
        if tokio::time::timeout(grace, self.tracker.wait_idle())
            .await
            .is_err()
        {
            self.hard.cancel();
            self.tracker.wait_idle().await;
        }
        self.hard.cancel();
    }
}

impl Drop for MockHandle {
    fn drop(&mut self) {
        self.hard.cancel();
    }
}

/// [`serve`] on the process's mock runtime (one worker thread of its own, started on first use) instead of the
/// caller's. A run's embedded mocks go there: the generator runs on a single thread (see `main.rs`), and a mock on that
/// same thread would lengthen the latencies it is checked against by the generator's work, and the generator's sends
/// by the mock's.
pub async fn serve_apart(profile: MockProfile, addr: SocketAddr) -> Result<MockHandle, MockError> {
    static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    let rt = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cutover-mock")
            .enable_all()
            .build()
            .ok()
    });
    match rt {
        // The runtime is never shut down (a static), so the task ends by itself; a panic in it goes on here.
        Some(rt) => match rt.spawn(serve(profile, addr)).await {
            Ok(served) => served,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        },
        // No thread could be started: the caller's runtime serves, as before.
        None => serve(profile, addr).await,
    }
}

/// Bind `addr` (port 0 = ephemeral) and serve `profile` until the handle is shut down or dropped.
pub async fn serve(profile: MockProfile, addr: SocketAddr) -> Result<MockHandle, MockError> {
    let hard = CancellationToken::new();
    let graceful = hard.child_token();
    let shared = Arc::new(Shared::new(profile, graceful.clone())?);
    let listener = server::bind(addr)?;
    let bound = listener
        .local_addr()
        .map_err(|source| MockError::Bind { addr, source })?;
    let tracker = server::Tracker::default();
    if let Some(c) = &shared.coze {
        tokio::spawn(coze::sweeper(shared.clone(), hard.clone(), c.sweep_every()));
    }
    tokio::spawn(server::accept_loop(
        listener,
        shared.clone(),
        graceful,
        hard.clone(),
        tracker.clone(),
        tracker.enter(),
    ));
    Ok(MockHandle {
        addr: bound,
        shared,
        hard,
        tracker,
    })
}
