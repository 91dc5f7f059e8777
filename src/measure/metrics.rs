//! One [`Record`] per scheduled request (a CSV row), and [`Metrics`]: HDR histograms and counters built from records.
//!
//! Latency figures come in three kinds, as wrk2 and HdrHistogram describe for coordinated omission:
//! - `latency_ms`: send -> done of the attempt that decided the outcome (retry waits excluded);
//! - `e2e_ms`: first send -> done, retries and their waits included;
//! - `from_scheduled_ms`: the instant the request *should* have been sent (its open-model arrival, or the previous
//!   answer plus think time) -> done; a runner that falls behind shows here even when `latency_ms` looks fine.
//!
//! Failed requests never enter latency histograms. The headline latency of a target (`mean_ms`, `p99_ms`, ...) is its
//! non-streamed chat requests; streams are described by TTFT and inter-token latency.

use std::collections::BTreeMap;

use crate::client::ErrorKind;
use crate::config::metric::{Hist, Metric, Scope, Summary};
use crate::run::record::{for_each_record, Outcome, Record};
use hdrhistogram::Histogram;

fn hist() -> Histogram<u64> {
    // 1 microsecond .. 1 hour, 3 significant digits
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

fn rec(h: &mut Histogram<u64>, ms: f64) {
    let us = (ms * 1000.0).round().max(1.0) as u64;
    h.saturating_record(us);
}

/// Histograms and counters for one group of requests.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) latency: Histogram<u64>,
    pub(crate) e2e: Histogram<u64>,
    pub(crate) from_scheduled: Histogram<u64>,
    pub(crate) ttft: Histogram<u64>,
    pub(crate) itl: Histogram<u64>,
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) cancelled: u64,
    pub(crate) not_sent: u64,
    pub(crate) unavailable: u64,
    pub(crate) retries: u64,
    /// Attempts sent (first tries and retries).
    pub(crate) attempts: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) estimated_rows: u64,
    pub(crate) cost_nano: u64,
    /// Sum over ok streams of output tokens after the first and of the first-to-last content chunk span, for tokens/s.
    pub(crate) stream_tokens: u64,
    pub(crate) stream_gen_ms: f64,
}

impl Default for Group {
    fn default() -> Self {
        Group {
            latency: hist(),
            e2e: hist(),
            from_scheduled: hist(),
            ttft: hist(),
            itl: hist(),
            requests: 0,
            ok: 0,
            errors: 0,
            cancelled: 0,
            not_sent: 0,
            unavailable: 0,
            retries: 0,
            attempts: 0,
            input_tokens: 0,
            output_tokens: 0,
            estimated_rows: 0,
            cost_nano: 0,
            stream_tokens: 0,
            stream_gen_ms: 0.0,
        }
    }
}

impl Group {
    fn add(&mut self, r: &Record) {
        self.requests += 1;
        self.retries += u64::from(r.retries);
        self.attempts += u64::from(r.attempts);
        self.input_tokens = self.input_tokens.saturating_add(r.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(r.output_tokens);
        self.cost_nano = self.cost_nano.saturating_add(r.cost_nano_usd);
        if r.tokens_estimated {
            self.estimated_rows += 1;
        }
        match r.outcome {
            Some(Outcome::Ok) => {
                self.ok += 1;
                if let Some(v) = r.latency_ms {
                    rec(&mut self.latency, v);
                }
                if let Some(v) = r.e2e_ms {
                    rec(&mut self.e2e, v);
                }
                if let Some(v) = r.from_scheduled_ms {
                    rec(&mut self.from_scheduled, v);
                }
                if let Some(v) = r.ttft_ms {
                    rec(&mut self.ttft, v);
                }
                if let Some(v) = r.itl_ms {
                    rec(&mut self.itl, v);
                }
                // Output tokens/s: the tokens after the first over the span from the first to the last content
                // chunk (N tokens have N-1 gaps), i.e. 1 / ITL, pooled over streams.
                if let (true, Some(itl)) = (r.stream && r.output_tokens > 1, r.itl_ms) {
                    if itl > 0.0 {
                        let after_first = r.output_tokens - 1;
                        self.stream_tokens = self.stream_tokens.saturating_add(after_first);
                        self.stream_gen_ms += itl * after_first as f64;
                    }
                }
            }
            Some(Outcome::Error) => {
                self.errors += 1;
                if is_unavailability_kind(&r.error_kind) {
                    self.unavailable += 1;
                }
            }
            Some(Outcome::Cancelled) => self.cancelled += 1,
            Some(Outcome::NotSent) | None => self.not_sent += 1,
        }
    }

    fn merge(&mut self, o: &Group) {
        self.latency.add(&o.latency).ok();
        self.e2e.add(&o.e2e).ok();
        self.from_scheduled.add(&o.from_scheduled).ok();
        self.ttft.add(&o.ttft).ok();
        self.itl.add(&o.itl).ok();
        self.requests += o.requests;
        self.ok += o.ok;
        self.errors += o.errors;
        self.cancelled += o.cancelled;
        self.not_sent += o.not_sent;
        self.unavailable += o.unavailable;
        self.retries += o.retries;
        self.attempts += o.attempts;
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.estimated_rows += o.estimated_rows;
        self.cost_nano = self.cost_nano.saturating_add(o.cost_nano);
        self.stream_tokens = self.stream_tokens.saturating_add(o.stream_tokens);
        self.stream_gen_ms += o.stream_gen_ms;
    }

    /// Requests that finished by themselves (ok or error); the error-rate denominator.
    pub(crate) fn finished(&self) -> u64 {
        self.ok + self.errors
    }

    pub(crate) fn error_rate(&self) -> Option<f64> {
        (self.finished() > 0).then(|| self.errors as f64 / self.finished() as f64)
    }

    /// Failed attempts (retried ones included, 429s too) / attempts: what the endpoint does before retries hide it.
    pub(crate) fn attempt_failure_rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| (self.retries + self.errors) as f64 / self.attempts as f64)
    }

    pub(crate) fn availability(&self) -> Option<f64> {
        (self.finished() > 0).then(|| 1.0 - self.unavailable as f64 / self.finished() as f64)
    }

    fn histogram(&self, h: Hist) -> &Histogram<u64> {
        match h {
            Hist::Latency => &self.latency,
            Hist::E2e => &self.e2e,
            Hist::FromScheduled => &self.from_scheduled,
            Hist::Ttft => &self.ttft,
            Hist::Itl => &self.itl,
        }
    }

    /// A metric's figure over this group; None when it has no data, or for a metric of the whole run
    /// ([`Scope::Run`]).
    pub(crate) fn figure(&self, metric: Metric) -> Option<Figure> {
        if let Some((h, summary)) = metric.histogram() {
            let h = self.histogram(h);
            return match summary {
                Summary::Mean => mean(h),
                Summary::Quantile(q) => pct(h, q),
                Summary::Max => (!h.is_empty()).then(|| h.max() as f64 / 1000.0),
            }
            .map(Figure::Real);
        }
        let count = match metric {
            Metric::Requests => self.requests,
            Metric::Ok => self.ok,
            Metric::Errors => self.errors,
            Metric::Cancelled => self.cancelled,
            Metric::NotSent => self.not_sent,
            Metric::Retries => self.retries,
            Metric::InputTokens => self.input_tokens,
            Metric::OutputTokens => self.output_tokens,
            Metric::EstimatedTokenRows => self.estimated_rows,
            Metric::ErrorRate => return self.error_rate().map(Figure::Real),
            Metric::AttemptFailureRate => return self.attempt_failure_rate().map(Figure::Real),
            Metric::Availability => return self.availability().map(Figure::Real),
            Metric::OutputTokensPerS => {
                return (self.stream_gen_ms > 0.0)
                    .then(|| self.stream_tokens as f64 / (self.stream_gen_ms / 1000.0))
                    .map(Figure::Real)
            }
            Metric::RunCostUsd => {
                return Some(Figure::Real(crate::config::prices::nano_to_usd(
                    self.cost_nano,
                )))
            }
            _ => return None,
        };
        Some(Figure::Count(count))
    }
}

/// A figure as read: a count stays an integer (summary.csv prints it whole), anything else is a real number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Figure {
    Count(u64),
    Real(f64),
}

impl Figure {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Figure::Count(c) => c as f64,
            Figure::Real(v) => v,
        }
    }
}

/// Kinds that count against availability, by their CSV name: [`ErrorKind::is_unavailability`] decides (an unknown
/// name from another tool's CSV counts as unavailable, an empty one does not).
pub(crate) fn is_unavailability_kind(kind: &str) -> bool {
    match ErrorKind::from_csv(kind) {
        Some(k) => k.is_unavailability(),
        None => !kind.is_empty(),
    }
}

/// Quantile `q` of a histogram in milliseconds, None when empty: the one quantile definition of every output (tables,
/// verdict rows, chart legends, summary.csv, results.json, the terminal). HdrHistogram's `value_at_quantile` (the
/// smallest recorded value with at least a share `q` of the samples at or below it, at 3 significant digits) rounded
/// to 0.1 ms, so every output prints the same figure.
pub(crate) fn pct(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| round_ms(h.value_at_quantile(q) as f64 / 1000.0))
}

/// Round a millisecond figure to 0.1 ms, the precision every output prints.
pub(crate) fn round_ms(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub(crate) fn mean(h: &Histogram<u64>) -> Option<f64> {
    (!h.is_empty()).then(|| h.mean() / 1000.0)
}

/// Per-target aggregate.
#[derive(Debug, Clone, Default)]
pub struct TargetMetrics {
    pub(crate) role: String,
    /// All chat requests.
    pub(crate) chat: Group,
    /// Non-streamed chat requests (the headline latency).
    pub(crate) chat_plain: Group,
    /// Streamed chat requests (TTFT, ITL).
    pub(crate) chat_stream: Group,
    /// Conversation-create calls.
    pub(crate) create: Group,
    /// Chat requests by (model, stream).
    pub(crate) by_model: BTreeMap<(String, bool), Group>,
    pub(crate) errors_by_kind: BTreeMap<String, u64>,
    pub(crate) not_sent_by_reason: BTreeMap<String, u64>,
    /// Per second of the run (by completion time): (ok, errors).
    pub(crate) per_second: Vec<(u64, u64)>,
    /// Raw samples for statistical tests (ms): ok non-stream chat latency, ok stream TTFT.
    pub(crate) latency_samples: Vec<f64>,
    pub(crate) ttft_samples: Vec<f64>,
    /// Cost per conversation, for the projection (complete conversations only) and the saving's interval.
    pub(crate) conv_costs: crate::measure::conv_costs::ConvCosts,
    pub(crate) users: std::collections::BTreeSet<u64>,
    pub(crate) first_sent_ms: Option<f64>,
    pub(crate) last_done_ms: f64,
    /// Warm-up rows seen (and kept out of everything above).
    pub warmup: u64,
    /// Chat requests that met every goodput objective.
    pub good: u64,
    /// Per minute of the run (by completion time), for soak runs.
    pub(crate) per_minute: Vec<crate::measure::soak::Minute>,
    /// First send - scheduled instant of every sent request (microseconds): the generator's lag (see `generator`).
    pub(crate) send_lag: LagHistogram,
    /// The same series at [`Metrics::interval_s`] (empty when that is 0): the report's over-time chart.
    pub(crate) per_interval: Vec<crate::measure::soak::Minute>,
    /// Ok chat requests' output tokens against TTFT and e2e, sampled: the report's scatter charts.
    pub(crate) token_sample: crate::measure::samples::TokenSample,
    /// The previous row's user: consecutive rows often share one, and the set lookup is then skipped.
    last_user: Option<u64>,
}

/// A histogram that is empty by default (for `#[derive(Default)]` on [`TargetMetrics`]).
#[derive(Debug, Clone)]
pub(crate) struct LagHistogram(pub(crate) Histogram<u64>);

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram(hist())
    }
}

impl std::ops::Deref for LagHistogram {
    type Target = Histogram<u64>;
    fn deref(&self) -> &Histogram<u64> {
        &self.0
    }
}

const MAX_SAMPLES: usize = 2_000_000;

/// Whether a sample list holding `len` raw samples takes one more (the verdict's tests need no more than the cap).
pub(super) fn has_room(len: usize) -> bool {
    len < MAX_SAMPLES
}

impl TargetMetrics {
    pub fn add(&mut self, r: &Record) {
        if self.role.is_empty() {
            self.role = r.role.clone();
        }
        // A conversation with a request that was never sent or was cancelled (an interrupted run, a cap) is left out
        // of the monthly projection, which is projected from the conversations actually completed.
        self.conv_costs.add(
            r.conversation,
            &r.model,
            r.cost_nano_usd,
            !matches!(r.outcome, Some(Outcome::Ok | Outcome::Error)),
        );
        if self.last_user != Some(r.user) {
            self.users.insert(r.user);
            self.last_user = Some(r.user);
        }
        if r.outcome == Some(Outcome::Error) {
            *self.errors_by_kind.entry(r.error_kind.clone()).or_default() += 1;
        }
        if r.outcome == Some(Outcome::NotSent) {
            *self
                .not_sent_by_reason
                .entry(r.not_sent_reason.clone())
                .or_default() += 1;
        }
        if let Some(s) = r.sent_ms {
            // 1 µs is the histogram's floor: a send on time records as 1 µs late.
            rec(&mut self.send_lag.0, (s - r.scheduled_ms).max(0.0));
            self.first_sent_ms = Some(self.first_sent_ms.map_or(s, |f: f64| f.min(s)));
            let done = s + r.e2e_ms.unwrap_or(0.0);
            self.last_done_ms = self.last_done_ms.max(done);
            // Chat requests only: Coze conversation-create calls would make legacy look busier.
            if r.is_chat() && matches!(r.outcome, Some(Outcome::Ok | Outcome::Error)) {
                let sec = (done / 1000.0).floor().max(0.0) as usize;
                if self.per_second.len() <= sec {
                    self.per_second.resize(sec + 1, (0, 0));
                }
                if r.outcome == Some(Outcome::Ok) {
                    self.per_second[sec].0 += 1;
                } else {
                    self.per_second[sec].1 += 1;
                }
            }
        }
        if !r.is_chat() {
            self.create.add(r);
            return;
        }
        self.chat.add(r);
        if r.stream {
            self.chat_stream.add(r);
            if r.outcome == Some(Outcome::Ok) && has_room(self.ttft_samples.len()) {
                if let Some(t) = r.ttft_ms {
                    self.ttft_samples.push(t);
                }
            }
        } else {
            self.chat_plain.add(r);
            if r.outcome == Some(Outcome::Ok) && has_room(self.latency_samples.len()) {
                if let Some(l) = r.latency_ms {
                    self.latency_samples.push(l);
                }
            }
        }
        // A scan of the few (model, stream) keys instead of a key String cloned per row.
        let known = self
            .by_model
            .iter_mut()
            .find(|((m, s), _)| *s == r.stream && *m == r.model);
        match known {
            Some((_, g)) => g.add(r),
            None => self
                .by_model
                .entry((r.model.clone(), r.stream))
                .or_default()
                .add(r),
        }
    }

    /// Every request of the target, creates included (accounting, error rate, availability, cost).
    pub(crate) fn all(&self) -> Group {
        let mut g = self.chat.clone();
        g.merge(&self.create);
        g
    }

    /// Conversations measured whole (every request finished): the denominator of every projection.
    pub(crate) fn measured_conversations(&self) -> u64 {
        self.conv_costs.measured().conversations
    }

    /// Cost of the conversations measured whole, in nano-dollars (per model: [`Self::measured_cost_by_model`]).
    pub(crate) fn measured_cost_nano(&self) -> u64 {
        self.conv_costs.measured().cost_nano
    }

    /// Cost of the conversations measured whole, per model (kept from one pass over the conversations until they
    /// change: the cost lines ask for it for every table, chart and export).
    pub(crate) fn measured_cost_by_model(&self) -> BTreeMap<&str, u64> {
        let m = &self.conv_costs.measured().by_model;
        m.iter().map(|(k, v)| (k.as_str(), *v)).collect()
    }

    /// Conversations not measured whole (left out of the projection).
    pub(crate) fn incomplete_conversations(&self) -> u64 {
        self.conv_costs.measured().incomplete
    }

    /// Projected monthly cost (USD) from the conversations measured whole; None when there are none.
    pub(crate) fn monthly_cost_usd(&self, conversations_per_day: f64) -> Option<f64> {
        let conv = self.measured_conversations();
        (conv > 0).then(|| {
            crate::measure::cost::monthly_projection_usd(
                self.measured_cost_nano(),
                conv,
                conversations_per_day,
            )
        })
    }

    /// Cost per model (chat requests, both stream modes) in nano-dollars, with tokens.
    pub(crate) fn cost_by_model(&self) -> BTreeMap<String, (u64, u64, u64, u64)> {
        let mut out: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
        for ((model, _), g) in &self.by_model {
            let e = out.entry(model.clone()).or_default();
            e.0 += g.requests;
            e.1 = e.1.saturating_add(g.input_tokens);
            e.2 = e.2.saturating_add(g.output_tokens);
            e.3 = e.3.saturating_add(g.cost_nano);
        }
        out
    }
}

/// All targets of a run (or of one canary phase).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub targets: BTreeMap<String, TargetMetrics>,
    /// Daily conversation volume for projections.
    pub(crate) conversations_per_day: f64,
    /// Wall-clock seconds the arrivals spanned (for rates).
    pub(crate) window_s: f64,
    /// Per-request objectives of goodput, if the scenario sets them.
    pub(crate) goodput: Option<crate::config::goodput::Goodput>,
    /// Width of the over-time chart's intervals, seconds; 0 keeps no such series.
    pub(crate) interval_s: f64,
}

impl Metrics {
    pub fn new(conversations_per_day: f64, window_s: f64) -> Metrics {
        Metrics {
            conversations_per_day,
            window_s,
            ..Default::default()
        }
    }

    /// The one entry point of records into statistics: warm-up rows stop here, counted and nothing more.
    pub fn add(&mut self, r: &Record) {
        let goodput = self.goodput;
        let interval_s = self.interval_s;
        let t = self.target_mut(&r.target);
        if r.warmup {
            if t.role.is_empty() {
                t.role = r.role.clone();
            }
            t.warmup += 1;
            return;
        }
        if goodput.is_some_and(|g| crate::measure::soak::is_good(&g, r)) {
            t.good += 1;
        }
        crate::measure::soak::add_to_minutes(&mut t.per_minute, r);
        if interval_s > 0.0 {
            crate::measure::soak::add_to_intervals(&mut t.per_interval, r, interval_s * 1000.0);
        }
        t.token_sample.add(r);
        t.add(r);
    }

    /// Leave a conversation out of every target's projection when it is incomplete on any target that saw it, so
    /// every target is projected from the same conversations: a slower target has more long conversations cut by a
    /// stop, and its own complete set alone would favour it with shorter ones. (After a stop the level still leans
    /// to shorter conversations, on every target alike; the report says so.) Call once all records are added.
    pub(crate) fn align_measured_conversations(&mut self) {
        let cut: std::collections::BTreeSet<u64> = self
            .targets
            .values()
            .flat_map(|t| t.conv_costs.iter().filter(|c| c.incomplete))
            .map(|c| c.id)
            .collect();
        for t in self.targets.values_mut() {
            for id in &cut {
                t.conv_costs.mark_incomplete(*id);
            }
        }
    }

    /// The target's metrics, created on its first row (the name is cloned once, not per row).
    fn target_mut(&mut self, name: &str) -> &mut TargetMetrics {
        if !self.targets.contains_key(name) {
            self.targets
                .insert(name.to_string(), TargetMetrics::default());
        }
        self.targets.get_mut(name).expect("inserted above")
    }

    pub(crate) fn monthly_cost_usd(&self, target: &str) -> Option<f64> {
        self.targets
            .get(target)?
            .monthly_cost_usd(self.conversations_per_day)
    }

    /// Value of `<target>.<metric>`: the one place a metric's figure is read (thresholds, SLOs, compare, every
    /// report row). Group figures come from the group the metric's [`Scope`] names; run figures from the whole target.
    pub(crate) fn value(&self, target: &str, metric: Metric) -> Option<f64> {
        let t = self.targets.get(target)?;
        let group = match metric.scope() {
            Scope::All => return t.all().figure(metric).map(Figure::as_f64),
            Scope::Chat => &t.chat,
            Scope::ChatPlain => &t.chat_plain,
            Scope::ChatStream => &t.chat_stream,
            Scope::Run => {
                return match metric {
                    Metric::Rps => {
                        (self.window_s > 0.0).then(|| t.all().finished() as f64 / self.window_s)
                    }
                    Metric::CostPer1kConversationsUsd => {
                        let c = t.measured_conversations();
                        (c > 0).then(|| {
                            crate::config::prices::nano_to_usd(t.measured_cost_nano()) / c as f64
                                * 1000.0
                        })
                    }
                    Metric::MonthlyCostUsd => self.monthly_cost_usd(target),
                    Metric::GoodputRps => (self.goodput.is_some() && self.window_s > 0.0)
                        .then(|| t.good as f64 / self.window_s),
                    _ => None,
                }
            }
        };
        group.figure(metric).map(Figure::as_f64)
    }

    /// [`Metrics::value`] of a metric named as thresholds name it; None for an unknown name.
    pub fn metric(&self, target: &str, name: &str) -> Option<f64> {
        self.value(target, Metric::from_name(name).ok()?)
    }

    /// Read a run's `requests.csv` back.
    pub(crate) fn from_csv(
        path: &std::path::Path,
        conversations_per_day: f64,
        window_s: f64,
    ) -> Result<Metrics, csv::Error> {
        let mut m = Metrics::new(conversations_per_day, window_s);
        for_each_record(path, |r| {
            m.add(r);
            Ok::<(), csv::Error>(())
        })?;
        m.align_measured_conversations();
        Ok(m)
    }
}

#[cfg(test)]
mod tests;
