//! Semantic checks of a parsed scenario, one function per section. Every numeric field has a documented, finite
//! range (see [`ranges`]): a value outside it is refused with `file:line:col: field: message`, so nothing that
//! `validate` accepts can overflow, hang or crash a run.

use std::collections::HashSet;

use super::{ProtocolKind, Role, Scenario, ScenarioError, TargetSpec, Traffic};
use crate::config::prices::PriceTable;
use crate::config::yaml as yamlpos;

type At<'a> = &'a dyn Fn(&str, String) -> ScenarioError;

/// The accepted range of every numeric scenario field (README "Scenario limits" lists them).
pub(crate) mod ranges {
    /// Any duration in seconds: at most 7 days.
    pub(crate) const MAX_SECONDS: f64 = 7.0 * 86_400.0;
    /// `traffic.conversations_per_day`: (0, 1e8].
    pub(crate) const MAX_CONVERSATIONS_PER_DAY: f64 = 1e8;
    /// `traffic.time_scale`: (0, 1e6].
    pub(crate) const MAX_TIME_SCALE: f64 = 1e6;
    /// Conversations per wall-clock second after `time_scale`: at most 200,000, above what one machine can send
    /// (the saturation bench offers 60,000/s), so only runaway inputs are refused.
    pub(crate) const MAX_WALL_RATE: f64 = 2e5;
    /// Planned requests per target (conversations x mean requests per conversation): at most 10 million.
    pub(crate) const MAX_PLANNED_REQUESTS: f64 = 1e7;
    /// `traffic.turns[].turns`: 1..=1000.
    pub(crate) const MAX_TURNS: u64 = 1000;
    /// `traffic.users`: 1..=1e9.
    pub(crate) const MAX_USERS: u64 = 1_000_000_000;
    /// `traffic.max_tokens`: 1..=1,000,000.
    pub(crate) const MAX_TOKENS: u64 = 1_000_000;
    /// `traffic.timer_slack_us`: 0..=10,000 (10 ms, ten of oha's and k6's millisecond timer ticks).
    pub(crate) const MAX_TIMER_SLACK_US: u64 = 10_000;
    /// `limits.max_rps`: [1e-3, 1e7].
    pub(crate) const MIN_RPS: f64 = 1e-3;
    pub(crate) const MAX_RPS: f64 = 1e7;
    /// `traffic.closed.vus`: 1..=100,000 virtual users per target.
    pub(crate) const MAX_VUS: u64 = 100_000;
    /// `limits.max_in_flight`: 1..=1e6.
    pub(crate) const MAX_IN_FLIGHT: u64 = 1_000_000;
    /// `limits.max_requests`: 1..=1e9.
    pub(crate) const MAX_REQUESTS: u64 = 1_000_000_000;
    /// `limits.max_spend_usd`: (0, 1e9].
    pub(crate) const MAX_SPEND_USD: f64 = 1e9;
    /// `retry.max_retries`: 0..=100.
    pub(crate) const MAX_RETRIES: u64 = 100;
    /// `retry.initial_backoff_ms`, `retry.max_backoff_ms`, `coze.poll_interval_ms`: 1 ms ..= 7 days.
    pub(crate) const MAX_MS: u64 = 7 * 86_400_000;
    /// `targets[].pricing.markup_pct`: [0, 1000].
    pub(crate) const MAX_MARKUP_PCT: f64 = 1000.0;
    /// `targets[].pricing.per_request_usd`: [0, 1000].
    pub(crate) const MAX_FEE_USD: f64 = 1000.0;
    /// `name`: 1..=100 characters of `[A-Za-z0-9._-]` (it becomes a directory name).
    pub(crate) const MAX_NAME_CHARS: usize = 100;
}

/// Header names that carry credentials: refused in a scenario (keys come from `api_key_env`).
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-api-secret",
    "apikey",
    "api-key",
    "ocp-apim-subscription-key",
];

/// Query parameter names that look like secrets.
const SECRET_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "api-key",
    "token",
    "access_token",
    "secret",
    "password",
    "sig",
    "signature",
    "code",
];

impl Scenario {
    pub(super) fn validate(&self, at: At, prices: &PriceTable) -> Result<(), ScenarioError> {
        check_name(at, &self.name)?;
        if self.targets.is_empty() {
            return Err(at("targets", "at least one target is needed".into()));
        }
        let mut names = HashSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            if !names.insert(t.name.as_str()) {
                return Err(at(
                    &format!("targets[{i}].name"),
                    format!("duplicate target name `{}`", t.name),
                ));
            }
            check_target(at, i, t, &self.traffic)?;
            super::webhook::check(at, i, t, &self.targets, self.limits.request_timeout_s)?;
        }
        check_traffic(at, &self.traffic, prices)?;
        check_limits(at, self)?;
        check_retry(at, self)?;
        self.check_all_thresholds(at)?;
        check_fallbacks(at, &self.targets)?;
        self.check_canary(at)?;
        check_plan(self, self.traffic.duration_s).map_err(|(f, m)| at(f, m))
    }

    fn check_all_thresholds(&self, at: At) -> Result<(), ScenarioError> {
        check_thresholds(at, self, "thresholds", &self.thresholds)?;
        self.thresholds.check().map_err(|(f, m)| at(&f, m))?;
        if let Some(g) = &self.goodput {
            g.check().map_err(|(f, m)| at(&f, m))?;
        }
        Ok(())
    }

    fn check_canary(&self, at: At) -> Result<(), ScenarioError> {
        let Some(c) = &self.canary else {
            return Ok(());
        };
        if c.phases.is_empty() {
            return Err(at("canary.phases", "at least one phase".into()));
        }
        if self.traffic.closed.is_some() {
            return Err(at(
                "canary",
                "canary phases route arrivals by their planned instant; a closed run (`traffic.closed`) has none"
                    .into(),
            ));
        }
        let roles: Vec<Role> = self.targets.iter().map(|t| t.role).collect();
        if !(roles.contains(&Role::Legacy) && roles.contains(&Role::Gateway)) {
            return Err(at(
                "canary",
                "needs one legacy and one gateway target".into(),
            ));
        }
        for (i, p) in c.phases.iter().enumerate() {
            float(at, &format!("canary.phases[{i}].share"), p.share, 0.0, 1.0)?;
            seconds(at, &format!("canary.phases[{i}].duration_s"), p.duration_s)?;
            check_thresholds(
                at,
                self,
                &format!("canary.phases[{i}].thresholds"),
                &p.thresholds,
            )?;
        }
        Ok(())
    }
}

/// The plan's size for an arrival window of `duration_s`: a bounded wall-clock rate and a bounded number of
/// requests per target. Returns the field to blame and the message. Also used for `run --duration`.
pub(crate) fn check_plan(s: &Scenario, duration_s: f64) -> Result<(), (&'static str, String)> {
    let rate = s.traffic.wall_rate();
    let rate_field = if s.traffic.time_scale.is_some() {
        "traffic.time_scale"
    } else {
        "traffic.conversations_per_day"
    };
    if !(rate.is_finite() && rate <= ranges::MAX_WALL_RATE) {
        return Err((
            rate_field,
            format!(
                "{rate:.3e} conversations per wall-clock second; at most {} (conversations_per_day / 86400 x time_scale)",
                ranges::MAX_WALL_RATE
            ),
        ));
    }
    let requests = rate * duration_s * s.traffic.mean_requests_per_conversation();
    // A closed run's request count is what the target sustains in the window, not a plan (max_requests caps it).
    if s.traffic.closed.is_none()
        && !(requests.is_finite() && requests <= ranges::MAX_PLANNED_REQUESTS)
    {
        return Err((
            "traffic.duration_s",
            format!(
                "plans ~{requests:.3e} requests per target; at most {:.0e} (shorten the window or lower the rate)",
                ranges::MAX_PLANNED_REQUESTS
            ),
        ));
    }
    Ok(())
}

fn check_name(at: At, name: &str) -> Result<(), ScenarioError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty()
        || name.chars().count() > ranges::MAX_NAME_CHARS
        || !ok_chars
        || name.starts_with('.')
    {
        return Err(at(
            "name",
            format!(
                "must be 1..={} characters of letters, digits, `.`, `_` and `-`, not starting with `.` (it names the run directory)",
                ranges::MAX_NAME_CHARS
            ),
        ));
    }
    Ok(())
}

fn check_target(at: At, i: usize, t: &TargetSpec, traffic: &Traffic) -> Result<(), ScenarioError> {
    let f = |k: &str| format!("targets[{i}].{k}");
    if t.name.is_empty()
        || t.name.len() > ranges::MAX_NAME_CHARS
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
        (Some(u), None) => check_base_url(u).map_err(|m| at(&f("base_url"), m))?,
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
    for (k, v) in &t.headers {
        if is_credential_header(k, v) {
            return Err(at(
                &format!("targets[{i}].headers.{k}"),
                "credential-bearing header refused: secrets go in the environment, use `api_key_env`".into(),
            ));
        }
    }
    if t.protocol == ProtocolKind::Coze {
        check_coze(at, i, t, traffic)?;
    }

    let p = &t.pricing;
    float(
        at,
        &f("pricing.markup_pct"),
        p.markup_pct,
        0.0,
        ranges::MAX_MARKUP_PCT,
    )?;
    float(
        at,
        &f("pricing.per_request_usd"),
        p.per_request_usd,
        0.0,
        ranges::MAX_FEE_USD,
    )
}

fn check_coze(at: At, i: usize, t: &TargetSpec, traffic: &Traffic) -> Result<(), ScenarioError> {
    let f = |k: &str| format!("targets[{i}].{k}");
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
    int(
        at,
        &f("coze.poll_interval_ms"),
        c.poll_interval_ms,
        1,
        ranges::MAX_MS,
    )?;
    if let Some(h) = &c.bot_id_header {
        if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err()
            || is_credential_header(h, "")
        {
            return Err(at(
                &f("coze.bot_id_header"),
                format!("`{h}` is not a header name a bot id can go in"),
            ));
        }
    }
    if c.bot_id.is_none() {
        for (w, m) in traffic.models.iter().enumerate() {
            if !c.model_bots.contains_key(&m.model) {
                return Err(at(
                    &f("coze.model_bots"),
                    format!(
                        "no bot for model `{}` (traffic.models[{w}]) and no default `bot_id`",
                        m.model
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// An http(s) URL with a host, and no credentials, query string or fragment. The message never repeats the URL, which
/// may hold a secret.
fn check_base_url(u: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(u)
        .ok()
        .filter(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some())
        .ok_or_else(|| "not an http(s) URL with a host".to_string())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "credentials in the URL are refused: secrets go in the environment, use `api_key_env`"
                .into(),
        );
    }
    // A plain query (Azure's `?api-version=...`) is kept after every request path; a secret in it is refused.
    if url
        .query_pairs()
        .any(|(k, _)| SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()))
    {
        return Err(
            "a secret in the query string is refused: secrets go in the environment, use `api_key_env`"
                .into(),
        );
    }
    if url.fragment().is_some() {
        return Err("a `#fragment` in base_url is not supported".into());
    }
    Ok(())
}

pub(crate) fn is_credential_header(name: &str, value: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let v = value.trim_start().to_ascii_lowercase();
    CREDENTIAL_HEADERS.contains(&n.as_str())
        || n.starts_with("x-auth")
        || n.contains("api-key")
        || n.contains("apikey")
        || n.contains("token")
        || n.contains("secret")
        || v.starts_with("bearer ")
        || v.starts_with("basic ")
}

fn check_traffic(at: At, tr: &Traffic, prices: &PriceTable) -> Result<(), ScenarioError> {
    float_pos(
        at,
        "traffic.conversations_per_day",
        tr.conversations_per_day,
        ranges::MAX_CONVERSATIONS_PER_DAY,
    )?;
    seconds(at, "traffic.duration_s", tr.duration_s)?;
    if let Some(ts) = tr.time_scale {
        float_pos(at, "traffic.time_scale", ts, ranges::MAX_TIME_SCALE)?;
    }
    if let Some(shape) = &tr.shape {
        shape.check().map_err(|(f, m)| at(&f, m))?;
    }
    if let Some(c) = &tr.closed {
        int(at, "traffic.closed.vus", c.vus.into(), 1, ranges::MAX_VUS)?;
        if tr.shape.is_some() {
            return Err(at(
                "traffic.closed",
                "a closed run has no arrival rate for `traffic.shape` to move: give one of the two"
                    .into(),
            ));
        }
    }
    crate::config::shape::check_warmup(tr.warmup_s, tr.duration_s).map_err(|(f, m)| at(&f, m))?;
    float(at, "traffic.stream_share", tr.stream_share, 0.0, 1.0)?;
    float(at, "traffic.think_time_s", tr.think_time_s, 0.0, 86_400.0)?;
    int(at, "traffic.users", tr.users, 1, ranges::MAX_USERS)?;
    int(
        at,
        "traffic.timer_slack_us",
        tr.timer_slack_us.into(),
        0,
        ranges::MAX_TIMER_SLACK_US,
    )?;
    if let Some(m) = tr.max_tokens {
        int(at, "traffic.max_tokens", m.into(), 1, ranges::MAX_TOKENS)?;
    }
    if tr.prompts.is_empty() {
        return Err(at(
            "traffic.prompts",
            "at least one prompt is needed".into(),
        ));
    }
    check_weights(at, "traffic.turns", tr.turns.iter().map(|w| w.weight))?;
    for (i, t) in tr.turns.iter().enumerate() {
        int(
            at,
            &format!("traffic.turns[{i}].turns"),
            t.turns.into(),
            1,
            ranges::MAX_TURNS,
        )?;
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
    Ok(())
}

fn check_limits(at: At, s: &Scenario) -> Result<(), ScenarioError> {
    let l = &s.limits;
    float(
        at,
        "limits.max_rps",
        l.max_rps,
        ranges::MIN_RPS,
        ranges::MAX_RPS,
    )?;
    int(
        at,
        "limits.max_in_flight",
        l.max_in_flight as u64,
        1,
        ranges::MAX_IN_FLIGHT,
    )?;
    seconds(at, "limits.request_timeout_s", l.request_timeout_s)?;
    seconds(at, "limits.max_duration_s", l.max_duration_s)?;
    float(at, "limits.grace_s", l.grace_s, 0.0, ranges::MAX_SECONDS)?;
    int(
        at,
        "limits.max_requests",
        l.max_requests,
        1,
        ranges::MAX_REQUESTS,
    )?;
    if let Some(v) = l.max_spend_usd {
        float_pos(at, "limits.max_spend_usd", v, ranges::MAX_SPEND_USD)?;
    }
    Ok(())
}

fn check_retry(at: At, s: &Scenario) -> Result<(), ScenarioError> {
    let r = &s.retry;
    int(
        at,
        "retry.max_retries",
        r.max_retries.into(),
        0,
        ranges::MAX_RETRIES,
    )?;
    int(
        at,
        "retry.initial_backoff_ms",
        r.initial_backoff_ms,
        1,
        ranges::MAX_MS,
    )?;
    int(
        at,
        "retry.max_backoff_ms",
        r.max_backoff_ms,
        1,
        ranges::MAX_MS,
    )?;
    if r.max_backoff_ms < r.initial_backoff_ms {
        return Err(at(
            "retry.max_backoff_ms",
            "need 0 < initial_backoff_ms <= max_backoff_ms".into(),
        ));
    }
    float(
        at,
        "retry.max_retry_after_s",
        r.max_retry_after_s,
        0.0,
        ranges::MAX_SECONDS,
    )?;
    float(at, "retry.budget_s", r.budget_s, 0.0, ranges::MAX_SECONDS)
}

/// `fallback` names another target of the scenario, which has no fallback itself (no chains, so no cycles).
fn check_fallbacks(at: At, targets: &[TargetSpec]) -> Result<(), ScenarioError> {
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

fn check_thresholds(
    at: At,
    s: &Scenario,
    field: &str,
    list: &[String],
) -> Result<(), ScenarioError> {
    let target_names: Vec<&str> = s.targets.iter().map(|t| t.name.as_str()).collect();
    for (i, text) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let th =
            crate::config::threshold::Threshold::parse(text).map_err(|e| at(&f, e.to_string()))?;
        for (target, metric) in th.references() {
            if !target_names.contains(&target.as_str()) {
                let hint = yamlpos::suggest(&target, target_names.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return Err(at(&f, format!("unknown target `{target}`{hint}")));
            }
            crate::config::metric::Metric::from_name(&metric).map_err(|e| at(&f, e.to_string()))?;
        }
    }
    Ok(())
}

/// A finite value in `[lo, hi]`.
fn float(at: At, field: &str, v: f64, lo: f64, hi: f64) -> Result<(), ScenarioError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(at(
            field,
            format!("{v} is outside the accepted range [{lo}, {hi}]"),
        ))
    }
}

/// A finite value in `(0, hi]`.
fn float_pos(at: At, field: &str, v: f64, hi: f64) -> Result<(), ScenarioError> {
    if v.is_finite() && v > 0.0 && v <= hi {
        Ok(())
    } else {
        Err(at(
            field,
            format!("{v} is outside the accepted range (0, {hi}]"),
        ))
    }
}

/// A duration in seconds: `(0, 7 days]`.
fn seconds(at: At, field: &str, v: f64) -> Result<(), ScenarioError> {
    float_pos(at, field, v, ranges::MAX_SECONDS)
}

fn int(at: At, field: &str, v: u64, lo: u64, hi: u64) -> Result<(), ScenarioError> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(at(
            field,
            format!("{v} is outside the accepted range {lo}..={hi}"),
        ))
    }
}

fn check_weights(
    at: At,
    field: &str,
    weights: impl Iterator<Item = f64>,
) -> Result<(), ScenarioError> {
    let mut sum = 0.0;
    let mut n = 0;
    for (i, w) in weights.enumerate() {
        if !(w.is_finite() && (0.0..=1.0).contains(&w)) {
            return Err(at(
                &format!("{field}[{i}].weight"),
                format!("{w} is outside the accepted range [0, 1]"),
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
