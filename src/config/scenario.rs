//! Scenario files: the YAML that describes targets, traffic, limits, retries, prices and thresholds.
//!
//! Every struct denies unknown fields; parse errors and semantic errors both name the file, line, column and field
//! path, with a "did you mean" suggestion for a misspelled key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::prices::{PriceError, PriceTable};
use crate::config::yaml as yamlpos;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// `file:line:col: field: message`.
    #[error(transparent)]
    At(#[from] yamlpos::YamlError),
    #[error("{file}: {field}: {message}")]
    Field {
        file: String,
        field: String,
        message: String,
    },
    #[error(transparent)]
    Price(#[from] PriceError),
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Hash,
    PartialOrd,
    Ord,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    Legacy,
    Gateway,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Legacy => "legacy",
            Role::Gateway => "gateway",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolKind {
    /// Coze bot API v3 (conversation create, chat, retrieve/poll, message list).
    Coze,
    /// OpenAI-compatible `POST /v1/chat/completions`.
    Openai,
    /// A team's webhook server: cutover plays the bot platform and POSTs one event per turn (see `config::webhook`).
    Webhook,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    /// Seed of the traffic generator: the same seed gives every target the same conversations.
    #[serde(default = "default_seed")]
    pub(crate) seed: u64,
    pub(crate) targets: Vec<TargetSpec>,
    pub(crate) traffic: Traffic,
    #[serde(default)]
    pub(crate) limits: Limits,
    #[serde(default)]
    pub(crate) retry: RetryPolicy,
    /// Path of a price table (relative to the scenario file) or an inline table.
    pub(crate) prices: PricesRef,
    /// k6-style pass/fail expressions, e.g. `gateway.p99_ms < 400`; an entry may also be
    /// `{expr, abort_on_fail, delay_s, min_samples}` to stop the run when breached.
    #[serde(default)]
    pub(crate) thresholds: crate::config::abort::ThresholdList,
    /// Per-request objectives for goodput (requests that met them, per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) goodput: Option<crate::config::goodput::Goodput>,
    /// Canary mode: route each user to one path by a stable hash, phase by phase.
    #[serde(default)]
    pub(crate) canary: Option<Canary>,
}

fn default_seed() -> u64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum PricesRef {
    #[schemars(schema_with = "crate::config::schema::scenario_path")]
    File(String),
    Inline(crate::config::prices::PriceFile),
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetSpec {
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) protocol: ProtocolKind,
    /// Real endpoint, e.g. `https://api.coze.com`. Exactly one of `base_url` and `mock`.
    #[serde(default)]
    pub(crate) base_url: Option<String>,
    /// Embedded mock profile, e.g. `../mocks/gateway.yaml` (relative to the scenario file's folder).
    #[serde(default)]
    #[schemars(schema_with = "crate::config::schema::scenario_path")]
    pub(crate) mock: Option<String>,
    /// Name of the environment variable holding the API key. The key itself never appears in a scenario.
    #[serde(default)]
    pub(crate) api_key_env: Option<String>,
    /// Extra request headers (no secrets here: use `api_key_env`).
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// Coze settings (bot ids per model, poll interval). Required for `protocol: coze`.
    #[serde(default)]
    pub(crate) coze: Option<CozeSettings>,
    /// Per-target pricing adjustments (gateway markup, platform fee per request).
    #[serde(default)]
    pub(crate) pricing: TargetPricing,
    /// Target to send a turn to when this target's retries are exhausted (the seed's fall-back-to-legacy handler).
    #[serde(default)]
    pub(crate) fallback: Option<String>,
    /// Webhook settings (acknowledgement timeout, redeliveries, answer deadline); `protocol: webhook` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) webhook: Option<crate::config::webhook::WebhookSettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CozeSettings {
    /// Bot used for a model not listed in `model_bots`.
    #[serde(default)]
    pub(crate) bot_id: Option<String>,
    /// One bot per model: the legacy side serves a model through a bot configured with it.
    #[serde(default)]
    pub(crate) model_bots: BTreeMap<String, String>,
    /// Poll interval of `GET /v3/chat/retrieve` for non-streamed chats (the official SDKs use 1 s).
    #[serde(default = "default_poll_ms")]
    pub(crate) poll_interval_ms: u64,
    /// Also send the bot id in this request header (a Coze-shaped gateway that reads it there, e.g. `X-Bot-Id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bot_id_header: Option<String>,
}

fn default_poll_ms() -> u64 {
    1000
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetPricing {
    /// Percentage added to token prices (e.g. a gateway's margin).
    #[serde(default)]
    pub(crate) markup_pct: f64,
    /// Flat fee per chat request in USD (e.g. a platform's per-message charge).
    #[serde(default)]
    pub(crate) per_request_usd: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Traffic {
    /// Daily conversation volume of production; used for arrival rate and monthly projection.
    pub(crate) conversations_per_day: f64,
    /// Scenario seconds per wall-clock second: 144 replays a day's arrival rate 144 times faster.
    #[serde(default)]
    pub(crate) time_scale: Option<f64>,
    /// Wall-clock length of the arrival window in seconds.
    pub(crate) duration_s: f64,
    /// `poisson` (exponential gaps, the default) or `uniform` (evenly spaced).
    #[serde(default)]
    pub(crate) arrival: Arrival,
    /// How the arrival rate moves over the run (ramp, steps, diurnal, spike); constant when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shape: Option<crate::config::shape::Shape>,
    /// The closed model (k6's constant-vus): this many virtual users per target, each starting the next conversation
    /// as soon as its previous one ends, for `duration_s`; "N in flight as fast as the target answers". The arrival
    /// rate, `arrival` and `shape` do not apply (conversations_per_day still scales the monthly cost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) closed: Option<Closed>,
    /// Conversations arriving in the first `warmup_s` wall seconds are sent and recorded (`warmup` in
    /// requests.csv) but kept out of every statistic, so a cold endpoint's first requests do not decide anything.
    #[serde(default)]
    pub(crate) warmup_s: f64,
    /// Turns per conversation: a weighted list.
    pub(crate) turns: Vec<TurnsWeight>,
    /// Think time between turns, in scenario seconds (compressed by time_scale on the wall clock).
    #[serde(default)]
    pub(crate) think_time_s: f64,
    /// Share of chat requests that stream (SSE), 0..=1.
    pub(crate) stream_share: f64,
    /// Distinct users; conversations are spread over them (canary routing hashes the user id).
    #[serde(default = "default_users")]
    pub(crate) users: u64,
    /// Weighted model mix, used when no routing rule matches.
    pub(crate) models: Vec<ModelWeight>,
    /// Intent routing: the first rule whose keyword occurs in the prompt picks the model.
    #[serde(default)]
    pub(crate) routing: Vec<RouteRule>,
    /// Prompts drawn uniformly for each turn.
    pub(crate) prompts: Vec<String>,
    /// Upper bound on output tokens sent with each request (`max_tokens`), if any.
    #[serde(default)]
    pub(crate) max_tokens: Option<u32>,
    /// How late, in microseconds, the open model may send an arrival so that arrivals close together share one
    /// wake-up of the generator (as Linux's timer slack): 50 keeps the send lag p99 near 0.1 ms at 20,000
    /// arrivals/s; 1000 is oha's and k6's millisecond timer and costs under half the CPU per request at that rate.
    #[serde(default = "default_timer_slack_us")]
    #[schemars(range(min = 0, max = 10_000))]
    pub(crate) timer_slack_us: u32,
}

fn default_users() -> u64 {
    10_000
}

/// The default `traffic.timer_slack_us`.
pub(crate) const TIMER_SLACK_US: u32 = 50;

fn default_timer_slack_us() -> u32 {
    TIMER_SLACK_US
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Arrival {
    #[default]
    Poisson,
    Uniform,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Closed {
    /// Virtual users per target: conversations in progress at once, each running its turns back to back.
    #[schemars(range(min = 1, max = 100_000))]
    pub(crate) vus: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TurnsWeight {
    pub(crate) turns: u32,
    pub(crate) weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelWeight {
    pub(crate) model: String,
    pub(crate) weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteRule {
    /// Case-insensitive substrings of the user's message.
    pub(crate) keywords: Vec<String>,
    pub(crate) model: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limits {
    /// Cap on the send rate per target (requests per second, governor).
    #[serde(default = "default_max_rps")]
    pub(crate) max_rps: f64,
    /// Requests in flight per target; an arrival beyond it is counted as not sent (never silently dropped).
    #[serde(default = "default_in_flight")]
    pub(crate) max_in_flight: usize,
    #[serde(default = "default_timeout")]
    pub(crate) request_timeout_s: f64,
    /// Hard cap on requests sent per target.
    #[serde(default = "default_max_requests")]
    pub(crate) max_requests: u64,
    /// Hard cap on the whole run's wall time (arrivals + drain).
    #[serde(default = "default_max_duration")]
    pub(crate) max_duration_s: f64,
    /// Hard cap on estimated spend per target, USD (ignored for mock targets, which cost nothing).
    #[serde(default)]
    pub(crate) max_spend_usd: Option<f64>,
    /// Allow targets outside loopback. Off by default so a typo can never hit a paid endpoint.
    #[serde(default)]
    pub(crate) allow_non_loopback: bool,
    /// How long in-flight requests may finish after arrivals stop (Ctrl-C or end of window).
    #[serde(default = "default_grace")]
    pub(crate) grace_s: f64,
    /// Largest response body or stream read per request, bytes; past it the request fails as `oversize_body`.
    #[serde(default = "default_max_response_bytes")]
    pub(crate) max_response_bytes: u64,
    /// Answer text kept per request for the conversation history and the token estimate, bytes (a prefix).
    #[serde(default = "default_max_answer_bytes")]
    pub(crate) max_answer_bytes: usize,
}

fn default_max_response_bytes() -> u64 {
    4 << 20
}
fn default_max_answer_bytes() -> usize {
    64 << 10
}

fn default_max_rps() -> f64 {
    500.0
}
fn default_in_flight() -> usize {
    4096
}
fn default_timeout() -> f64 {
    60.0
}
fn default_max_requests() -> u64 {
    100_000
}
fn default_max_duration() -> f64 {
    600.0
}
fn default_grace() -> f64 {
    30.0
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rps: default_max_rps(),
            max_in_flight: default_in_flight(),
            request_timeout_s: default_timeout(),
            max_requests: default_max_requests(),
            max_duration_s: default_max_duration(),
            max_spend_usd: None,
            allow_non_loopback: false,
            grace_s: default_grace(),
            max_response_bytes: default_max_response_bytes(),
            max_answer_bytes: default_max_answer_bytes(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt (0 = never retry).
    #[serde(default = "default_retries")]
    pub(crate) max_retries: u32,
    #[serde(default = "default_initial_backoff")]
    pub(crate) initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff")]
    pub(crate) max_backoff_ms: u64,
    /// A server's Retry-After longer than this is capped to it.
    #[serde(default = "default_max_retry_after")]
    pub(crate) max_retry_after_s: f64,
    /// Total time a request may spend waiting between retries.
    #[serde(default = "default_budget")]
    pub(crate) budget_s: f64,
    /// Also retry 5xx and timeouts (429 is always retried while the budget lasts).
    #[serde(default = "default_true")]
    pub(crate) retry_server_errors: bool,
}

fn default_retries() -> u32 {
    2
}
fn default_initial_backoff() -> u64 {
    500
}
fn default_max_backoff() -> u64 {
    8000
}
fn default_max_retry_after() -> f64 {
    120.0
}
fn default_budget() -> f64 {
    60.0
}
fn default_true() -> bool {
    true
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: default_retries(),
            initial_backoff_ms: default_initial_backoff(),
            max_backoff_ms: default_max_backoff(),
            max_retry_after_s: default_max_retry_after(),
            budget_s: default_budget(),
            retry_server_errors: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Canary {
    /// Phases in order; each sends `share` of users to the gateway for `duration_s` of the arrival window.
    pub(crate) phases: Vec<CanaryPhase>,
    /// Salt of the user hash, so a new rollout can reshuffle who goes first.
    #[serde(default)]
    pub(crate) salt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CanaryPhase {
    pub name: String,
    /// Share of users routed to the gateway, 0..=1.
    pub(crate) share: f64,
    /// Wall-clock seconds of arrivals in this phase.
    pub(crate) duration_s: f64,
    /// Go / no-go checks for this phase, same syntax as `thresholds`.
    #[serde(default)]
    #[schemars(schema_with = "crate::config::schema::threshold_exprs")]
    pub(crate) thresholds: Vec<String>,
}

/// A scenario with its origin, resolved price table and where its relative paths point.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub(crate) scenario: Scenario,
    pub(crate) path: PathBuf,
    pub(crate) base_dir: PathBuf,
    pub(crate) prices: PriceTable,
}

impl Loaded {
    /// Resolve a path written in the scenario: relative to the scenario file's folder, absolute as given.
    pub(crate) fn resolve(&self, rel: &str) -> PathBuf {
        resolve_path(&self.base_dir, rel)
    }

    /// Wall-clock arrivals per second of conversations.
    pub(crate) fn conversations_per_wall_second(&self) -> f64 {
        self.scenario.traffic.wall_rate()
    }

    /// `file:line:col: field: message` for a field of this scenario found wrong after loading (a mock profile that
    /// cannot be read, a target outside loopback); `file: field: message` when the file cannot be read again.
    pub(crate) fn error_at(&self, field: &str, message: &str) -> String {
        let file = self.path.display().to_string();
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        match yamlpos::locate(&text, field) {
            Some((line, col)) => format!("{file}:{line}:{col}: {field}: {message}"),
            None => format!("{file}: {field}: {message}"),
        }
    }
}

impl Traffic {
    /// Wall-clock arrivals per second of conversations.
    pub(crate) fn wall_rate(&self) -> f64 {
        self.conversations_per_day / 86_400.0 * self.time_scale.unwrap_or(1.0)
    }

    /// Mean chat turns per conversation (weighted), plus one for a conversation-create call where the protocol
    /// needs it (counted always: an upper bound for the plan).
    pub(crate) fn mean_requests_per_conversation(&self) -> f64 {
        let w: f64 = self.turns.iter().map(|t| t.weight).sum();
        let turns: f64 = self
            .turns
            .iter()
            .map(|t| t.weight * f64::from(t.turns))
            .sum();
        if w > 0.0 {
            turns / w + 1.0
        } else {
            1.0
        }
    }
}

/// A path written in a scenario, resolved against the scenario file's folder (absolute paths as given). Never the
/// current directory: a scenario copied to another folder with the files it names runs unchanged from anywhere.
pub(crate) fn resolve_path(base_dir: &Path, rel: &str) -> PathBuf {
    let p = PathBuf::from(rel);
    if p.is_absolute() {
        p
    } else {
        base_dir.join(p)
    }
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Loaded, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            file: file.clone(),
            source,
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::load_str(&text, &file, &base_dir).map(|(scenario, prices)| Loaded {
            scenario,
            path: path.to_path_buf(),
            base_dir,
            prices,
        })
    }

    /// Parse and validate; `file` names the origin in errors and `base_dir` resolves relative paths.
    pub fn load_str(
        text: &str,
        file: &str,
        base_dir: &Path,
    ) -> Result<(Scenario, PriceTable), ScenarioError> {
        let scenario: Scenario =
            serde_yaml::from_str(text).map_err(|e| yamlpos::yaml_error(file, &e))?;
        let at = |field: &str, message: String| {
            let (line, col) = yamlpos::locate(text, field).unwrap_or((0, 0));
            ScenarioError::At(yamlpos::YamlError {
                file: file.to_string(),
                line,
                col,
                field: field.to_string(),
                message,
            })
        };
        let prices = match &scenario.prices {
            PricesRef::Inline(p) => {
                PriceTable::from_file(p.clone(), file).map_err(|e| at("prices", e.to_string()))?
            }
            PricesRef::File(rel) => {
                let p = resolve_path(base_dir, rel);
                PriceTable::load(&p).map_err(|e| match e {
                    PriceError::Io { .. } => at("prices", e.to_string()),
                    other => ScenarioError::Price(other),
                })?
            }
        };
        scenario.validate(&at, &prices)?;
        Ok((scenario, prices))
    }

    /// The JSON Schema of a scenario file (`cutover schema scenario`), as pretty JSON with a trailing newline.
    pub fn json_schema_text() -> String {
        use crate::config::schema;
        let mut s = schema::generator().into_root_schema_for::<Scenario>();
        s.insert(
            "$id".into(),
            "https://cutover.dev/schemas/scenario.schema.json".into(),
        );
        s.insert("title".into(), "cutover scenario".into());
        schema::to_text(&s)
    }

    pub(crate) fn target(&self, name: &str) -> Option<&TargetSpec> {
        self.targets.iter().find(|t| t.name == name)
    }
}

mod validate;
mod webhook;
pub(crate) use validate::{check_plan, ranges};

#[cfg(test)]
mod tests;
