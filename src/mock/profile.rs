//! The YAML profile of a mock endpoint: serde types, protocol-dependent defaults and semantic validation.
//!
//! Every struct denies unknown fields, so a typo (`p99: 340` for `p99_ms: 340`) is an error that names the file, line
//! and column, never a silently ignored setting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fault_kind::FaultKind;
use super::MockError;
use crate::config::scenario::ProtocolKind;

/// One mock endpoint: which API it speaks, what it serves and how it misbehaves.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockProfile {
    /// Free text, shown in logs and reports.
    pub(crate) name: String,
    /// `openai` (chat completions) or `coze` (bot API v3).
    pub(crate) protocol: ProtocolKind,
    /// Seed of the per-request random generators; unset = a random seed per server start.
    #[serde(default)]
    pub(crate) seed: Option<u64>,
    /// Required bearer key; unset = no auth check.
    #[serde(default)]
    pub(crate) auth: Option<AuthSpec>,
    /// `openai` only: the model catalogue (unknown model -> 404 `model_not_found`).
    #[serde(default)]
    pub(crate) models: Vec<String>,
    /// `coze` only: bot id -> the model that bot is configured with (unknown bot -> envelope code 4200).
    #[serde(default)]
    pub bots: BTreeMap<String, String>,
    /// Server time of a non-streamed answer (lognormal fitted to mean and p99).
    #[serde(default)]
    pub(crate) latency: Option<DistSpec>,
    /// Timing of streamed answers.
    #[serde(default)]
    pub(crate) stream: Option<StreamSpec>,
    /// Length of an answer in whitespace-separated words (= tokens), uniform in `[min, max]`.
    #[serde(default)]
    pub(crate) output_tokens: Option<TokenRange>,
    /// `false` = responses carry no usage object (the client must estimate tokens).
    #[serde(default = "yes")]
    pub(crate) usage: bool,
    /// What the per-request draws are keyed by: `arrival` (default) or `request` (see `draw_key.rs`).
    #[serde(default)]
    pub(crate) draws: super::draw_key::DrawKey,
    /// Random server errors.
    #[serde(default)]
    pub(crate) errors: Option<ErrorSpec>,
    /// Random 429s.
    #[serde(default)]
    pub(crate) rate_limit: Option<RateLimitSpec>,
    /// Injected faults, checked in order before `rate_limit` and `errors`.
    #[serde(default)]
    pub(crate) faults: Vec<FaultSpec>,
    /// `coze` only: conversation state knobs.
    #[serde(default)]
    pub coze: Option<CozeSpec>,
    /// A finite capacity (unset = unlimited): see `capacity.rs`.
    #[serde(default)]
    pub(crate) capacity: Option<CapacitySpec>,
    /// `coze` only: deliberate differences from the Coze API's shape (see `variants.rs`).
    #[serde(default)]
    pub shape_variants: Vec<ShapeVariant>,
    /// `webhook` only: the server's mode (`sync` | `async`), its path and a default callback URL (`webhook.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) webhook: Option<super::webhook::WebhookSpec>,
}

/// One deliberate shape difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShapeVariant {
    /// Drop this field (a `cutover compat` path: `data.last_section_id`, `data[].section_id`) from JSON answers.
    MissingField { field: String },
    /// Send this field as another JSON type (number <-> string).
    ChangedType { field: String },
    /// A streamed chat sends `conversation.chat.in_progress` before `conversation.chat.created`.
    SseOrder,
    /// "Not found" envelopes (code 4200) come with this HTTP status instead of 200.
    NotFoundStatus { status: u16 },
}

/// `capacity: {concurrency: N, queue: M, reject_status: 429|503}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacitySpec {
    /// Generation requests served at once.
    pub(crate) concurrency: u32,
    /// More requests that wait, FIFO (default 0).
    #[serde(default)]
    pub(crate) queue: u32,
    /// Status for a request beyond `concurrency + queue` (default 503).
    #[serde(default = "default_reject")]
    pub(crate) reject_status: u16,
}

fn default_reject() -> u16 {
    503
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// The key clients must send as `Authorization: Bearer <key>`.
    pub(crate) bearer: String,
}

/// A latency distribution given by its mean and 99th percentile, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DistSpec {
    pub mean_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Request -> first content chunk.
    #[serde(default)]
    pub(crate) ttft: Option<DistSpec>,
    /// Gap between two content chunks.
    #[serde(default)]
    pub(crate) inter_token_ms: Option<DistSpec>,
    /// Words per content chunk.
    #[serde(default = "one")]
    pub(crate) tokens_per_chunk: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRange {
    pub(crate) min: u32,
    pub(crate) max: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// Probability per generation request.
    pub(crate) rate: f64,
    /// HTTP statuses to pick from, uniformly.
    #[serde(default = "default_statuses")]
    pub(crate) status: Vec<u16>,
    /// `coze` only: share of the drawn errors delivered as a failed chat (HTTP 200; `status: failed` when polled,
    /// `conversation.chat.failed` when streamed) instead of an HTTP error status.
    #[serde(default)]
    pub(crate) chat_failed_share: f64,
}

fn default_statuses() -> Vec<u16> {
    vec![500, 502, 503]
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Probability per generation request of a 429.
    pub(crate) rate: f64,
    /// What the 429 says about when to come back.
    #[serde(default)]
    pub(crate) retry_after: RetryAfter,
}

/// `retry_after: {seconds: 1}` | `retry_after: {http_date_in_s: 1}` | `retry_after: none`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RetryAfterRepr", into = "RetryAfterRepr")]
pub enum RetryAfter {
    /// No `retry-after` header: the client must pick its own backoff.
    None,
    /// `retry-after: <seconds>` (fractional allowed) and, for openai, `retry-after-ms`.
    Seconds(f64),
    /// `retry-after: <HTTP date>` that many whole seconds ahead (rounded up to the next second).
    HttpDateInS(u64),
}

/// The YAML shape of [`RetryAfter`] (serde_yaml 0.9 reads enums only from `!tags`, so the map form is by hand).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RetryAfterRepr {
    Word(String),
    Map {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seconds: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        http_date_in_s: Option<u64>,
        #[serde(flatten)]
        other: BTreeMap<String, serde_yaml::Value>,
    },
}

const RETRY_AFTER_FORMS: &str = "expected `none`, `{seconds: N}` or `{http_date_in_s: N}`";

impl TryFrom<RetryAfterRepr> for RetryAfter {
    type Error = String;
    fn try_from(r: RetryAfterRepr) -> Result<Self, String> {
        match r {
            RetryAfterRepr::Word(w) if w == "none" => Ok(RetryAfter::None),
            RetryAfterRepr::Word(w) => Err(format!("retry_after: `{w}`: {RETRY_AFTER_FORMS}")),
            RetryAfterRepr::Map {
                seconds,
                http_date_in_s,
                other,
            } => {
                if let Some(k) = other.keys().next() {
                    return Err(format!(
                        "retry_after: unknown key `{k}`: {RETRY_AFTER_FORMS}"
                    ));
                }
                match (seconds, http_date_in_s) {
                    (Some(s), None) => Ok(RetryAfter::Seconds(s)),
                    (None, Some(n)) => Ok(RetryAfter::HttpDateInS(n)),
                    _ => Err(format!(
                        "retry_after: give exactly one key: {RETRY_AFTER_FORMS}"
                    )),
                }
            }
        }
    }
}

impl From<RetryAfter> for RetryAfterRepr {
    fn from(r: RetryAfter) -> Self {
        let map = |seconds, http_date_in_s| RetryAfterRepr::Map {
            seconds,
            http_date_in_s,
            other: BTreeMap::new(),
        };
        match r {
            RetryAfter::None => RetryAfterRepr::Word("none".into()),
            RetryAfter::Seconds(s) => map(Some(s), None),
            RetryAfter::HttpDateInS(n) => map(None, Some(n)),
        }
    }
}

impl Default for RetryAfter {
    fn default() -> Self {
        RetryAfter::Seconds(1.0)
    }
}

/// One injected fault: `{kind, rate}` or `{kind, burst: {every_s, length_s}}` (+ kind-specific parameters).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub(crate) kind: FaultKind,
    /// Probability per request; with `burst`, the probability inside a window (default 1.0 there).
    #[serde(default)]
    pub(crate) rate: Option<f64>,
    /// Time windows (seconds since server start) during which the fault applies.
    #[serde(default)]
    pub(crate) burst: Option<BurstSpec>,
    /// `slow_drip`: one byte every `interval_ms` (default 1000).
    #[serde(default)]
    pub(crate) interval_ms: Option<u64>,
    /// `oversize_body`: body size (default 8 MiB).
    #[serde(default)]
    pub(crate) size_bytes: Option<u64>,
    /// `hang`: give up (reset the connection) after this long (default 300 s).
    #[serde(default)]
    pub(crate) max_s: Option<u64>,
    /// `rate_limit_seconds` / `rate_limit_http_date`: the wait announced (default 1 s).
    #[serde(default)]
    pub(crate) retry_after_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BurstSpec {
    /// A window opens every `every_s` seconds ...
    pub(crate) every_s: f64,
    /// ... and stays open `length_s` seconds ...
    pub(crate) length_s: f64,
    /// ... the first one opening `start_s` seconds after the server started (default 0).
    #[serde(default)]
    pub(crate) start_s: f64,
}

impl BurstSpec {
    pub(crate) fn active(&self, elapsed_s: f64) -> bool {
        elapsed_s >= self.start_s && (elapsed_s - self.start_s) % self.every_s < self.length_s
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CozeSpec {
    /// Conversations idle, and chats finished, for longer than this are forgotten (memory stays bounded).
    #[serde(default = "default_expire")]
    pub(crate) expire_s: u64,
    /// Messages kept per conversation (older ones are dropped).
    #[serde(default = "default_history")]
    pub(crate) history_limit: usize,
    /// `follow_up` messages after each answer.
    #[serde(default = "default_follow_ups")]
    pub(crate) follow_ups: usize,
    /// Read the bot id from this request header instead of the body's `bot_id` (a Coze-shaped gateway that takes it
    /// there, e.g. `X-Bot-Id`); a chat without the header is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id_header: Option<String>,
}

fn default_expire() -> u64 {
    600
}
fn default_history() -> usize {
    50
}
fn default_follow_ups() -> usize {
    2
}

impl Default for CozeSpec {
    fn default() -> Self {
        CozeSpec {
            expire_s: default_expire(),
            history_limit: default_history(),
            follow_ups: default_follow_ups(),
            bot_id_header: None,
        }
    }
}

/// Defaults that reproduce the figures the project started from (legacy = coze, gateway = openai).
impl MockProfile {
    pub fn latency(&self) -> DistSpec {
        self.latency.unwrap_or(match self.protocol {
            ProtocolKind::Coze => DistSpec {
                mean_ms: 420.0,
                p99_ms: 890.0,
            },
            ProtocolKind::Openai => DistSpec {
                mean_ms: 180.0,
                p99_ms: 340.0,
            },
            // A webhook server's model call (the time a synchronous server takes to acknowledge).
            ProtocolKind::Webhook => DistSpec {
                mean_ms: 600.0,
                p99_ms: 2400.0,
            },
        })
    }

    pub(crate) fn ttft(&self) -> DistSpec {
        self.stream
            .as_ref()
            .and_then(|s| s.ttft)
            .unwrap_or(match self.protocol {
                ProtocolKind::Coze => DistSpec {
                    mean_ms: 900.0,
                    p99_ms: 1800.0,
                },
                ProtocolKind::Openai | ProtocolKind::Webhook => DistSpec {
                    mean_ms: 250.0,
                    p99_ms: 520.0,
                },
            })
    }

    pub(crate) fn inter_token(&self) -> DistSpec {
        self.stream
            .as_ref()
            .and_then(|s| s.inter_token_ms)
            .unwrap_or(match self.protocol {
                ProtocolKind::Coze => DistSpec {
                    mean_ms: 35.0,
                    p99_ms: 90.0,
                },
                ProtocolKind::Openai | ProtocolKind::Webhook => DistSpec {
                    mean_ms: 15.0,
                    p99_ms: 40.0,
                },
            })
    }

    pub(crate) fn tokens_per_chunk(&self) -> u32 {
        self.stream.as_ref().map_or(1, |s| s.tokens_per_chunk)
    }

    pub(crate) fn output_tokens(&self) -> TokenRange {
        self.output_tokens
            .unwrap_or(TokenRange { min: 40, max: 160 })
    }

    pub(crate) fn errors(&self) -> ErrorSpec {
        self.errors.clone().unwrap_or_else(|| ErrorSpec {
            rate: match self.protocol {
                ProtocolKind::Coze => 0.012,
                ProtocolKind::Openai => 0.002,
                ProtocolKind::Webhook => 0.0,
            },
            status: default_statuses(),
            chat_failed_share: 0.0,
        })
    }

    /// No 429s unless the profile asks for them.
    pub(crate) fn rate_limit(&self) -> RateLimitSpec {
        self.rate_limit.clone().unwrap_or(RateLimitSpec {
            rate: 0.0,
            retry_after: RetryAfter::default(),
        })
    }

    pub(crate) fn coze_settings(&self) -> CozeSpec {
        self.coze.clone().unwrap_or_default()
    }

    /// The API this profile speaks.
    #[cfg(test)]
    pub(crate) fn protocol_kind(&self) -> ProtocolKind {
        self.protocol
    }

    /// The key the mock requires, if any (`cutover mock` prints it, so the first request is not a 401).
    pub fn bearer(&self) -> Option<String> {
        self.auth.as_ref().map(|a| a.bearer.clone())
    }

    /// Read and validate a profile file.
    pub fn from_yaml_file(path: impl AsRef<std::path::Path>) -> Result<MockProfile, MockError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| MockError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml_str(&text, &path.display().to_string())
    }

    /// Parse and validate a profile; `origin` names the text in errors (usually the file path).
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<MockProfile, MockError> {
        let profile: MockProfile = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            let mut message = e.to_string();
            // serde_yaml appends " at line L column C"; the location leads our message instead.
            if let Some(i) = message.rfind(" at line ") {
                message.truncate(i);
            }
            MockError::Parse {
                origin: origin.to_string(),
                line,
                column,
                message,
            }
        })?;
        profile
            .validate()
            .map_err(|(field, message)| MockError::Invalid {
                origin: origin.to_string(),
                location: crate::config::yaml::locate(text, &field),
                field,
                message,
            })?;
        Ok(profile)
    }
}
