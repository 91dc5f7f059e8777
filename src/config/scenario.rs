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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Legacy,
    Gateway,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Legacy => "legacy",
            Role::Gateway => "gateway",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolKind {
    /// Coze bot API v3 (conversation create, chat, retrieve/poll, message list).
    Coze,
    /// OpenAI-compatible `POST /v1/chat/completions`.
    Openai,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Seed of the traffic generator: the same seed gives every target the same conversations.
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub targets: Vec<TargetSpec>,
    pub traffic: Traffic,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Path of a price table (relative to the scenario file) or an inline table.
    pub prices: PricesRef,
    /// k6-style pass/fail expressions, e.g. `gateway.p99_ms < 400`.
    #[serde(default)]
    pub thresholds: Vec<String>,
    /// Canary mode: route each user to one path by a stable hash, phase by phase.
    #[serde(default)]
    pub canary: Option<Canary>,
}

fn default_seed() -> u64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PricesRef {
    File(String),
    Inline(crate::config::prices::PriceFile),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub name: String,
    pub role: Role,
    pub protocol: ProtocolKind,
    /// Real endpoint, e.g. `https://api.coze.com`. Exactly one of `base_url` and `mock`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Embedded mock profile, e.g. `mocks/gateway.yaml` (relative to the scenario file's project root).
    #[serde(default)]
    pub mock: Option<String>,
    /// Name of the environment variable holding the API key. The key itself never appears in a scenario.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Extra request headers (no secrets here: use `api_key_env`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Coze settings (bot ids per model, poll interval). Required for `protocol: coze`.
    #[serde(default)]
    pub coze: Option<CozeSettings>,
    /// Per-target pricing adjustments (gateway markup, platform fee per request).
    #[serde(default)]
    pub pricing: TargetPricing,
    /// Target to send a turn to when this target's retries are exhausted (the seed's fall-back-to-legacy handler).
    #[serde(default)]
    pub fallback: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CozeSettings {
    /// Bot used for a model not listed in `model_bots`.
    #[serde(default)]
    pub bot_id: Option<String>,
    /// One bot per model: the legacy side serves a model through a bot configured with it.
    #[serde(default)]
    pub model_bots: BTreeMap<String, String>,
    /// Poll interval of `GET /v3/chat/retrieve` for non-streamed chats (the official SDKs use 1 s).
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
}

fn default_poll_ms() -> u64 {
    1000
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetPricing {
    /// Percentage added to token prices (e.g. a gateway's margin).
    #[serde(default)]
    pub markup_pct: f64,
    /// Flat fee per chat request in USD (e.g. a platform's per-message charge).
    #[serde(default)]
    pub per_request_usd: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Daily conversation volume of production; used for arrival rate and monthly projection.
    pub conversations_per_day: f64,
    /// Scenario seconds per wall-clock second: 144 replays a day's arrival rate 144 times faster.
    #[serde(default)]
    pub time_scale: Option<f64>,
    /// Wall-clock length of the arrival window in seconds.
    pub duration_s: f64,
    /// `poisson` (exponential gaps, the default) or `uniform` (evenly spaced).
    #[serde(default)]
    pub arrival: Arrival,
    /// Turns per conversation: a weighted list.
    pub turns: Vec<TurnsWeight>,
    /// Think time between turns, in scenario seconds (compressed by time_scale on the wall clock).
    #[serde(default)]
    pub think_time_s: f64,
    /// Share of chat requests that stream (SSE), 0..=1.
    pub stream_share: f64,
    /// Distinct users; conversations are spread over them (canary routing hashes the user id).
    #[serde(default = "default_users")]
    pub users: u64,
    /// Weighted model mix, used when no routing rule matches.
    pub models: Vec<ModelWeight>,
    /// Intent routing: the first rule whose keyword occurs in the prompt picks the model.
    #[serde(default)]
    pub routing: Vec<RouteRule>,
    /// Prompts drawn uniformly for each turn.
    pub prompts: Vec<String>,
    /// Upper bound on output tokens sent with each request (`max_tokens`), if any.
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

fn default_users() -> u64 {
    10_000
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    #[default]
    Poisson,
    Uniform,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnsWeight {
    pub turns: u32,
    pub weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelWeight {
    pub model: String,
    pub weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// Case-insensitive substrings of the user's message.
    pub keywords: Vec<String>,
    pub model: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Cap on the send rate per target (requests per second, governor).
    #[serde(default = "default_max_rps")]
    pub max_rps: f64,
    /// Requests in flight per target; an arrival beyond it is counted as not sent (never silently dropped).
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    #[serde(default = "default_timeout")]
    pub request_timeout_s: f64,
    /// Hard cap on requests sent per target.
    #[serde(default = "default_max_requests")]
    pub max_requests: u64,
    /// Hard cap on the whole run's wall time (arrivals + drain).
    #[serde(default = "default_max_duration")]
    pub max_duration_s: f64,
    /// Hard cap on estimated spend per target, USD (ignored for mock targets, which cost nothing).
    #[serde(default)]
    pub max_spend_usd: Option<f64>,
    /// Allow targets outside loopback. Off by default so a typo can never hit a paid endpoint.
    #[serde(default)]
    pub allow_non_loopback: bool,
    /// How long in-flight requests may finish after arrivals stop (Ctrl-C or end of window).
    #[serde(default = "default_grace")]
    pub grace_s: f64,
    /// Largest response body or stream read per request, bytes; past it the request fails as `oversize_body`.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// Answer text kept per request for the conversation history and the token estimate, bytes (a prefix).
    #[serde(default = "default_max_answer_bytes")]
    pub max_answer_bytes: usize,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = never retry).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    #[serde(default = "default_initial_backoff")]
    pub initial_backoff_ms: u64,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
    /// A server's Retry-After longer than this is capped to it.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_s: f64,
    /// Total time a request may spend waiting between retries.
    #[serde(default = "default_budget")]
    pub budget_s: f64,
    /// Also retry 5xx and timeouts (429 is always retried while the budget lasts).
    #[serde(default = "default_true")]
    pub retry_server_errors: bool,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// Phases in order; each sends `share` of users to the gateway for `duration_s` of the arrival window.
    pub phases: Vec<CanaryPhase>,
    /// Salt of the user hash, so a new rollout can reshuffle who goes first.
    #[serde(default)]
    pub salt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryPhase {
    pub name: String,
    /// Share of users routed to the gateway, 0..=1.
    pub share: f64,
    /// Wall-clock seconds of arrivals in this phase.
    pub duration_s: f64,
    /// Go / no-go checks for this phase, same syntax as `thresholds`.
    #[serde(default)]
    pub thresholds: Vec<String>,
}

/// A scenario with its origin, resolved price table and where its relative paths point.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub path: PathBuf,
    pub base_dir: PathBuf,
    pub prices: PriceTable,
}

impl Loaded {
    /// Resolve a path written in the scenario: relative to the current directory when it exists there (the README
    /// runs from the repository root), else relative to the scenario file's directory.
    pub fn resolve(&self, rel: &str) -> PathBuf {
        resolve_path(&self.base_dir, rel)
    }

    /// Wall-clock arrivals per second of conversations.
    pub fn conversations_per_wall_second(&self) -> f64 {
        let t = &self.scenario.traffic;
        t.conversations_per_day / 86_400.0 * t.time_scale.unwrap_or(1.0)
    }
}

pub fn resolve_path(base_dir: &Path, rel: &str) -> PathBuf {
    let p = PathBuf::from(rel);
    if p.is_absolute() || p.exists() {
        return p;
    }
    let candidate = base_dir.join(&p);
    if candidate.exists() {
        return candidate;
    }
    // scenarios/x.yaml referencing mocks/y.yaml: try the parent of the scenario directory too.
    if let Some(parent) = base_dir.parent() {
        let c = parent.join(&p);
        if c.exists() {
            return c;
        }
    }
    p
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

    fn validate(
        &self,
        at: &dyn Fn(&str, String) -> ScenarioError,
        prices: &PriceTable,
    ) -> Result<(), ScenarioError> {
        if self.name.trim().is_empty() || self.name.contains(['/', '\\']) {
            return Err(at(
                "name",
                "must be a non-empty name without path separators".into(),
            ));
        }
        if self.targets.is_empty() {
            return Err(at("targets", "at least one target is needed".into()));
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            let f = |k: &str| format!("targets[{i}].{k}");
            if !names.insert(t.name.as_str()) {
                return Err(at(
                    &f("name"),
                    format!("duplicate target name `{}`", t.name),
                ));
            }
            if t.name.is_empty()
                || !t
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(at(
                    &f("name"),
                    "use letters, digits, `_` and `-` only".into(),
                ));
            }
            match (&t.base_url, &t.mock) {
                (Some(_), Some(_)) => {
                    return Err(at(
                        &f("mock"),
                        "give either `base_url` or `mock`, not both".into(),
                    ))
                }
                (None, None) => return Err(at(&f("base_url"), "give `base_url` or `mock`".into())),
                (Some(u), None) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                    return Err(at(&f("base_url"), format!("`{u}` is not an http(s) URL")));
                }
                _ => {}
            }
            if let Some(env) = &t.api_key_env {
                if env.is_empty() || !env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(at(
                        &f("api_key_env"),
                        "must be an environment variable name".into(),
                    ));
                }
            }
            for k in t.headers.keys() {
                let lk = k.to_ascii_lowercase();
                if lk == "authorization" || lk.contains("api-key") || lk.contains("token") {
                    return Err(at(
                        &format!("targets[{i}].headers.{k}"),
                        "secrets go in the environment: use `api_key_env`".into(),
                    ));
                }
            }
            if t.protocol == ProtocolKind::Coze {
                let Some(c) = &t.coze else {
                    return Err(at(
                        &f("coze"),
                        "a coze target needs `coze: {bot_id or model_bots}`".into(),
                    ));
                };
                if c.bot_id.is_none() && c.model_bots.is_empty() {
                    return Err(at(
                        &f("coze.bot_id"),
                        "give `bot_id` or `model_bots`".into(),
                    ));
                }
                if c.poll_interval_ms == 0 {
                    return Err(at(&f("coze.poll_interval_ms"), "must be > 0".into()));
                }
                if c.bot_id.is_none() {
                    for (w, m) in self.traffic.models.iter().enumerate() {
                        if !c.model_bots.contains_key(&m.model) {
                            return Err(at(
                                &f("coze.model_bots"),
                                format!("no bot for model `{}` (traffic.models[{w}]) and no default `bot_id`", m.model),
                            ));
                        }
                    }
                }
            }
            if t.pricing.markup_pct < 0.0 || t.pricing.per_request_usd < 0.0 {
                return Err(at(&f("pricing"), "must not be negative".into()));
            }
        }
        let tr = &self.traffic;
        positive(
            at,
            "traffic.conversations_per_day",
            tr.conversations_per_day,
        )?;
        positive(at, "traffic.duration_s", tr.duration_s)?;
        if let Some(ts) = tr.time_scale {
            positive(at, "traffic.time_scale", ts)?;
        }
        if !(0.0..=1.0).contains(&tr.stream_share) {
            return Err(at(
                "traffic.stream_share",
                format!("{} is not a share in 0..=1", tr.stream_share),
            ));
        }
        if tr.think_time_s < 0.0 || !tr.think_time_s.is_finite() {
            return Err(at("traffic.think_time_s", "must be >= 0".into()));
        }
        if tr.users == 0 {
            return Err(at("traffic.users", "must be > 0".into()));
        }
        if tr.prompts.is_empty() {
            return Err(at(
                "traffic.prompts",
                "at least one prompt is needed".into(),
            ));
        }
        check_weights(at, "traffic.turns", tr.turns.iter().map(|w| w.weight))?;
        for (i, t) in tr.turns.iter().enumerate() {
            if t.turns == 0 {
                return Err(at(
                    &format!("traffic.turns[{i}].turns"),
                    "a conversation has at least one turn".into(),
                ));
            }
        }
        check_weights(at, "traffic.models", tr.models.iter().map(|w| w.weight))?;
        for (i, m) in tr.models.iter().enumerate() {
            if let Err(e) = prices.resolve(&m.model) {
                return Err(at(&format!("traffic.models[{i}].model"), e.to_string()));
            }
        }
        for (i, r) in tr.routing.iter().enumerate() {
            if r.keywords.is_empty() || r.keywords.iter().any(|k| k.trim().is_empty()) {
                return Err(at(
                    &format!("traffic.routing[{i}].keywords"),
                    "non-empty keywords needed".into(),
                ));
            }
            if let Err(e) = prices.resolve(&r.model) {
                return Err(at(&format!("traffic.routing[{i}].model"), e.to_string()));
            }
        }
        let l = &self.limits;
        positive(at, "limits.max_rps", l.max_rps)?;
        positive(at, "limits.request_timeout_s", l.request_timeout_s)?;
        positive(at, "limits.max_duration_s", l.max_duration_s)?;
        if l.grace_s < 0.0 {
            return Err(at("limits.grace_s", "must be >= 0".into()));
        }
        if l.max_in_flight == 0 {
            return Err(at("limits.max_in_flight", "must be > 0".into()));
        }
        if l.max_requests == 0 {
            return Err(at("limits.max_requests", "must be > 0".into()));
        }
        if let Some(s) = l.max_spend_usd {
            positive(at, "limits.max_spend_usd", s)?;
        }
        let r = &self.retry;
        if r.initial_backoff_ms == 0 || r.max_backoff_ms < r.initial_backoff_ms {
            return Err(at(
                "retry.max_backoff_ms",
                "need 0 < initial_backoff_ms <= max_backoff_ms".into(),
            ));
        }
        if r.budget_s < 0.0 || r.max_retry_after_s < 0.0 {
            return Err(at("retry.budget_s", "must be >= 0".into()));
        }
        let target_names: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
        let check_thresholds = |field: &str, list: &[String]| -> Result<(), ScenarioError> {
            for (i, s) in list.iter().enumerate() {
                let f = format!("{field}[{i}]");
                let th = crate::config::threshold::Threshold::parse(s)
                    .map_err(|e| at(&f, e.to_string()))?;
                for (target, metric) in th.references() {
                    if !target_names.contains(&target.as_str()) {
                        let hint = yamlpos::suggest(&target, target_names.iter().copied())
                            .map(|s| format!(" (did you mean `{s}`?)"))
                            .unwrap_or_default();
                        return Err(at(&f, format!("unknown target `{target}`{hint}")));
                    }
                    if !crate::config::metric::METRIC_NAMES.contains(&metric.as_str()) {
                        let hint = yamlpos::suggest(
                            &metric,
                            crate::config::metric::METRIC_NAMES.iter().copied(),
                        )
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                        return Err(at(&f, format!("unknown metric `{metric}`{hint}")));
                    }
                }
            }
            Ok(())
        };
        check_thresholds("thresholds", &self.thresholds)?;
        check_fallbacks(at, &self.targets)?;
        if let Some(c) = &self.canary {
            if c.phases.is_empty() {
                return Err(at("canary.phases", "at least one phase".into()));
            }
            let roles: Vec<Role> = self.targets.iter().map(|t| t.role).collect();
            if !(roles.contains(&Role::Legacy) && roles.contains(&Role::Gateway)) {
                return Err(at(
                    "canary",
                    "needs one legacy and one gateway target".into(),
                ));
            }
            for (i, p) in c.phases.iter().enumerate() {
                if !(0.0..=1.0).contains(&p.share) {
                    return Err(at(
                        &format!("canary.phases[{i}].share"),
                        "must be in 0..=1".into(),
                    ));
                }
                positive(at, &format!("canary.phases[{i}].duration_s"), p.duration_s)?;
                check_thresholds(&format!("canary.phases[{i}].thresholds"), &p.thresholds)?;
            }
        }
        Ok(())
    }

    pub fn target(&self, name: &str) -> Option<&TargetSpec> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// `fallback` names another target of the scenario, which has no fallback itself (no chains, so no cycles).
fn check_fallbacks(
    at: &dyn Fn(&str, String) -> ScenarioError,
    targets: &[TargetSpec],
) -> Result<(), ScenarioError> {
    for (i, t) in targets.iter().enumerate() {
        let Some(fb) = &t.fallback else { continue };
        let f = format!("targets[{i}].fallback");
        let Some(other) = targets.iter().find(|o| &o.name == fb) else {
            return Err(at(&f, format!("unknown target `{fb}`")));
        };
        if other.name == t.name {
            return Err(at(&f, "a target cannot fall back to itself".into()));
        }
        if other.fallback.is_some() {
            return Err(at(
                &f,
                format!("`{fb}` has a fallback itself: chains are not supported"),
            ));
        }
    }
    Ok(())
}

fn positive(
    at: &dyn Fn(&str, String) -> ScenarioError,
    field: &str,
    v: f64,
) -> Result<(), ScenarioError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(at(field, format!("{v} must be a positive number")))
    }
}

fn check_weights(
    at: &dyn Fn(&str, String) -> ScenarioError,
    field: &str,
    weights: impl Iterator<Item = f64>,
) -> Result<(), ScenarioError> {
    let mut sum = 0.0;
    let mut n = 0;
    for (i, w) in weights.enumerate() {
        if !(w.is_finite() && w >= 0.0) {
            return Err(at(
                &format!("{field}[{i}].weight"),
                format!("{w} must be >= 0"),
            ));
        }
        sum += w;
        n += 1;
    }
    if n == 0 {
        return Err(at(field, "at least one entry is needed".into()));
    }
    if (sum - 1.0).abs() > 1e-6 {
        return Err(at(field, format!("weights sum to {sum}, not 1")));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
