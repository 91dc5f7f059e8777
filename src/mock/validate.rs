//! Semantic checks of a mock profile, one function per section; an error names the field (`latency.p99_ms`) and
//! says what is wrong.

use super::dist::LogNormalMs;
use super::fault_kind::FaultKind;
use super::profile::{DistSpec, FaultSpec, MockProfile, RetryAfter};
use crate::config::scenario::ProtocolKind;

impl MockProfile {
    /// Semantic checks; the error names the field (`latency.p99_ms`) and says what is wrong.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: String| Err((f.to_string(), m));
        if self.name.trim().is_empty() {
            return err("name", "must not be empty".into());
        }
        if let Some(a) = &self.auth {
            if a.bearer.is_empty()
                || a.bearer
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                return err(
                    "auth.bearer",
                    "must be a non-empty key without spaces".into(),
                );
            }
        }
        self.check_protocol()?;
        self.check_catalogue()?;
        self.check_timing()?;
        self.check_errors()?;
        for (i, f) in self.faults.iter().enumerate() {
            check_fault(i, f)?;
        }
        self.check_coze()?;
        self.check_capacity()?;
        self.check_variants()
    }

    fn check_variants(&self) -> Result<(), (String, String)> {
        use super::profile::ShapeVariant;
        if !self.shape_variants.is_empty() && self.protocol != ProtocolKind::Coze {
            return Err((
                "shape_variants".into(),
                "shape variants are for coze profiles".into(),
            ));
        }
        for (i, v) in self.shape_variants.iter().enumerate() {
            match v {
                ShapeVariant::MissingField { field } | ShapeVariant::ChangedType { field }
                    if field.trim().is_empty() =>
                {
                    return Err((
                        format!("shape_variants[{i}].field"),
                        "must name a field".into(),
                    ))
                }
                ShapeVariant::NotFoundStatus { status } if !(200..=599).contains(status) => {
                    return Err((
                        format!("shape_variants[{i}].status"),
                        format!("must be an HTTP status, got {status}"),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_capacity(&self) -> Result<(), (String, String)> {
        let Some(c) = &self.capacity else {
            return Ok(());
        };
        if !(1..=100_000).contains(&c.concurrency) {
            return Err((
                "capacity.concurrency".into(),
                format!("must be in [1, 100000], got {}", c.concurrency),
            ));
        }
        if c.queue > 1_000_000 {
            return Err((
                "capacity.queue".into(),
                format!("must be at most 1000000, got {}", c.queue),
            ));
        }
        if c.reject_status != 429 && c.reject_status != 503 {
            return Err((
                "capacity.reject_status".into(),
                format!("must be 429 or 503, got {}", c.reject_status),
            ));
        }
        Ok(())
    }

    fn check_protocol(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: String| Err((f.to_string(), m));
        if self.webhook.is_some() && self.protocol != ProtocolKind::Webhook {
            return err(
                "webhook",
                "`webhook` settings are for webhook profiles".into(),
            );
        }
        match self.protocol {
            ProtocolKind::Openai => {
                if self.models.is_empty() {
                    return err(
                        "models",
                        "an openai profile needs at least one model".into(),
                    );
                }
                if !self.bots.is_empty() {
                    return err("bots", "`bots` is for coze profiles; use `models`".into());
                }
                if self.coze.is_some() {
                    return err("coze", "`coze` settings are for coze profiles".into());
                }
                if self
                    .errors
                    .as_ref()
                    .is_some_and(|e| e.chat_failed_share != 0.0)
                {
                    return err(
                        "errors.chat_failed_share",
                        "only coze chats can fail after being accepted".into(),
                    );
                }
            }
            ProtocolKind::Webhook => return super::webhook::check_profile(self),
            ProtocolKind::Coze => {
                if self.bots.is_empty() {
                    return err(
                        "bots",
                        "a coze profile needs at least one bot (`\"<bot_id>\": <model>`)".into(),
                    );
                }
                if !self.models.is_empty() {
                    return err(
                        "models",
                        "`models` is for openai profiles; coze profiles map `bots` to models"
                            .into(),
                    );
                }
            }
        }
        Ok(())
    }

    fn check_catalogue(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: String| Err((f.to_string(), m));
        for (i, m) in self.models.iter().enumerate() {
            if m.trim().is_empty() {
                return err(&format!("models[{i}]"), "empty model name".into());
            }
        }
        for (b, m) in &self.bots {
            if b.trim().is_empty() || m.trim().is_empty() {
                return err(
                    &format!("bots.{b}"),
                    "bot id and model must not be empty".into(),
                );
            }
        }
        Ok(())
    }

    fn check_timing(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: String| Err((f.to_string(), m));
        check_dist("latency", self.latency())?;
        check_dist("stream.ttft", self.ttft())?;
        check_dist("stream.inter_token_ms", self.inter_token())?;
        if self.tokens_per_chunk() == 0 {
            return err("stream.tokens_per_chunk", "must be at least 1".into());
        }
        let t = self.output_tokens();
        if t.min == 0 || t.min > t.max || t.max > 100_000 {
            return err(
                "output_tokens",
                format!(
                    "need 1 <= min <= max <= 100000, got min {} max {}",
                    t.min, t.max
                ),
            );
        }
        Ok(())
    }

    fn check_errors(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: String| Err((f.to_string(), m));
        let e = self.errors();
        check_rate("errors.rate", e.rate)?;
        check_rate("errors.chat_failed_share", e.chat_failed_share)?;
        if e.rate > 0.0 && e.status.is_empty() {
            return err(
                "errors.status",
                "needs at least one status when errors.rate > 0".into(),
            );
        }
        for (i, s) in e.status.iter().enumerate() {
            if !(400..=599).contains(s) || *s == 429 {
                return err(
                    &format!("errors.status[{i}]"),
                    format!("{s} is not an error status (400..599, and 429 belongs to rate_limit)"),
                );
            }
        }
        let r = self.rate_limit();
        check_rate("rate_limit.rate", r.rate)?;
        match r.retry_after {
            RetryAfter::Seconds(s) if !(s.is_finite() && s > 0.0 && s <= 3600.0) => {
                return err(
                    "rate_limit.retry_after",
                    format!("seconds must be in (0, 3600], got {s}"),
                )
            }
            RetryAfter::HttpDateInS(s) if !(1..=3600).contains(&s) => {
                return err(
                    "rate_limit.retry_after",
                    format!("http_date_in_s must be in [1, 3600], got {s}"),
                )
            }
            _ => {}
        }
        Ok(())
    }

    fn check_coze(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: String| Err((f.to_string(), m));
        if let Some(c) = &self.coze {
            if c.expire_s == 0 {
                return err("coze.expire_s", "must be at least 1".into());
            }
            if c.history_limit == 0 {
                return err("coze.history_limit", "must be at least 1".into());
            }
            if let Some(h) = &c.bot_id_header {
                if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return err("coze.bot_id_header", format!("`{h}` is not a header name"));
                }
            }
            if c.follow_ups > 10 {
                return err("coze.follow_ups", "at most 10".into());
            }
        }
        Ok(())
    }
}

/// One fault entry: `rate` or `burst`, and the parameters that belong to its kind.
fn check_fault(i: usize, f: &FaultSpec) -> Result<(), (String, String)> {
    let err = |f: &str, m: String| Err((f.to_string(), m));
    let p = |k: &str| format!("faults[{i}].{k}");
    match (f.rate, &f.burst) {
        (None, None) => {
            return err(&p("kind"), "a fault needs `rate` or `burst`".into());
        }
        (Some(r), _) => check_rate(&p("rate"), r)?,
        _ => {}
    }
    if let Some(b) = &f.burst {
        if !(b.every_s.is_finite() && b.every_s > 0.0) {
            return err(
                &p("burst.every_s"),
                format!("must be > 0, got {}", b.every_s),
            );
        }
        if !(b.length_s.is_finite() && b.length_s > 0.0 && b.length_s <= b.every_s) {
            return err(
                &p("burst.length_s"),
                format!(
                    "must be in (0, every_s = {}], got {}",
                    b.every_s, b.length_s
                ),
            );
        }
        if !(b.start_s.is_finite() && b.start_s >= 0.0) {
            return err(
                &p("burst.start_s"),
                format!("must be >= 0, got {}", b.start_s),
            );
        }
    }
    let only = |field: &str, set: bool, kinds: &[FaultKind]| -> Result<(), (String, String)> {
        if set && !kinds.contains(&f.kind) {
            let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
            return Err((p(field), format!("only applies to {}", names.join(" / "))));
        }
        Ok(())
    };
    only(
        "interval_ms",
        f.interval_ms.is_some(),
        &[FaultKind::SlowDrip],
    )?;
    only(
        "size_bytes",
        f.size_bytes.is_some(),
        &[FaultKind::OversizeBody],
    )?;
    only("max_s", f.max_s.is_some(), &[FaultKind::Hang])?;
    only(
        "retry_after_s",
        f.retry_after_s.is_some(),
        &[FaultKind::RateLimitSeconds, FaultKind::RateLimitHttpDate],
    )?;
    if f.interval_ms == Some(0) || f.interval_ms.is_some_and(|v| v > 60_000) {
        return err(&p("interval_ms"), "must be in [1, 60000]".into());
    }
    if f.size_bytes
        .is_some_and(|v| !(1024..=256 << 20).contains(&v))
    {
        return err(&p("size_bytes"), "must be in [1024, 268435456]".into());
    }
    if f.max_s.is_some_and(|v| v == 0 || v > 3600) {
        return err(&p("max_s"), "must be in [1, 3600]".into());
    }
    if let Some(s) = f.retry_after_s {
        if !(s.is_finite() && s > 0.0 && s <= 3600.0) {
            return err(
                &p("retry_after_s"),
                format!("must be in (0, 3600], got {s}"),
            );
        }
    }
    Ok(())
}

fn check_rate(field: &str, r: f64) -> Result<(), (String, String)> {
    if !(r.is_finite() && (0.0..=1.0).contains(&r)) {
        return Err((
            field.to_string(),
            format!("must be a probability in [0, 1], got {r}"),
        ));
    }
    Ok(())
}

fn check_dist(field: &str, d: DistSpec) -> Result<(), (String, String)> {
    if !(d.mean_ms.is_finite() && d.mean_ms > 0.0) {
        return Err((
            format!("{field}.mean_ms"),
            format!("must be > 0, got {}", d.mean_ms),
        ));
    }
    if !(d.p99_ms.is_finite() && d.p99_ms > d.mean_ms) {
        return Err((
            format!("{field}.p99_ms"),
            format!(
                "must be greater than mean_ms ({}), got {}",
                d.mean_ms, d.p99_ms
            ),
        ));
    }
    LogNormalMs::fit(d.mean_ms, d.p99_ms).map_err(|m| (format!("{field}.p99_ms"), m))?;
    Ok(())
}
