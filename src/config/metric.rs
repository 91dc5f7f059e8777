//! The vocabulary of metrics a threshold, a comparison or a report row can name: `<target>.<metric>`, as one typed
//! [`Metric`]. Its names are written here only; thresholds, SLOs, summary.csv and results.json read and write them.

use std::fmt;

/// One figure of a target (or of one group of its requests: see [`Scope`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Metric {
    Requests,
    Ok,
    Errors,
    Cancelled,
    NotSent,
    ErrorRate,
    AttemptFailureRate,
    Availability,
    Retries,
    Rps,
    MeanMs,
    P50Ms,
    P90Ms,
    P95Ms,
    P99Ms,
    P999Ms,
    MaxMs,
    E2eP99Ms,
    SchedP99Ms,
    TtftMeanMs,
    TtftP50Ms,
    TtftP95Ms,
    TtftP99Ms,
    ItlMeanMs,
    ItlP50Ms,
    ItlP95Ms,
    ItlP99Ms,
    OutputTokensPerS,
    InputTokens,
    OutputTokens,
    EstimatedTokenRows,
    RunCostUsd,
    CostPer1kConversationsUsd,
    MonthlyCostUsd,
    GoodputRps,
}

/// Which requests of a target a metric's headline value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every request, conversation creates included.
    All,
    /// Chat requests, both stream modes.
    Chat,
    /// Non-streamed chat requests (the headline latency).
    ChatPlain,
    /// Streamed chat requests (TTFT, ITL, tokens/s).
    ChatStream,
    /// The target over the whole run: rates over the arrival window, projections over whole conversations.
    Run,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Count,
    /// A share in [0, 1].
    Ratio,
    Ms,
    PerSecond,
    Usd,
}

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Lower,
    Higher,
    /// A volume, neither better nor worse.
    Neither,
}

/// The histogram of a group of requests a millisecond metric summarises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hist {
    Latency,
    E2e,
    FromScheduled,
    Ttft,
    Itl,
}

/// How a millisecond metric summarises its histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Summary {
    Mean,
    Quantile(f64),
    Max,
}

/// The names thresholds, SLOs and results.json's headline use, in that order.
pub(crate) const NAMED: &[Metric] = &[
    Metric::Requests,
    Metric::Ok,
    Metric::Errors,
    Metric::NotSent,
    Metric::ErrorRate,
    Metric::AttemptFailureRate,
    Metric::Availability,
    Metric::Retries,
    Metric::Rps,
    Metric::MeanMs,
    Metric::P50Ms,
    Metric::P90Ms,
    Metric::P95Ms,
    Metric::P99Ms,
    Metric::P999Ms,
    Metric::MaxMs,
    Metric::E2eP99Ms,
    Metric::SchedP99Ms,
    Metric::TtftMeanMs,
    Metric::TtftP50Ms,
    Metric::TtftP95Ms,
    Metric::TtftP99Ms,
    Metric::ItlMeanMs,
    Metric::ItlP50Ms,
    Metric::ItlP95Ms,
    Metric::ItlP99Ms,
    Metric::OutputTokensPerS,
    Metric::RunCostUsd,
    Metric::CostPer1kConversationsUsd,
    Metric::MonthlyCostUsd,
    Metric::GoodputRps,
];

/// A name that is not in [`NAMED`], with the closest one when there is one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown metric `{name}`{}", .hint.as_ref().map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default())]
pub(crate) struct UnknownMetric {
    pub(crate) name: String,
    pub(crate) hint: Option<&'static str>,
}

impl Metric {
    /// The name as thresholds, summary.csv's header and results.json write it.
    pub(crate) fn name(self) -> &'static str {
        self.spec().0
    }

    pub(crate) fn scope(self) -> Scope {
        self.spec().1
    }

    pub(crate) fn unit(self) -> Unit {
        self.spec().2
    }

    pub(crate) fn direction(self) -> Direction {
        self.spec().3
    }

    /// For millisecond metrics, the histogram and how it is summarised.
    pub(crate) fn histogram(self) -> Option<(Hist, Summary)> {
        self.spec().4
    }

    /// The quantile a percentile metric reports (0.99 for `p99_ms`, `ttft_p99_ms`, `e2e_p99_ms`, ...).
    pub(crate) fn quantile(self) -> Option<f64> {
        match self.histogram() {
            Some((_, Summary::Quantile(q))) => Some(q),
            _ => None,
        }
    }

    /// The metric of a name in [`NAMED`], or an error with a did-you-mean suggestion.
    pub(crate) fn from_name(name: &str) -> Result<Metric, UnknownMetric> {
        NAMED
            .iter()
            .copied()
            .find(|m| m.name() == name)
            .ok_or_else(|| UnknownMetric {
                name: name.to_string(),
                hint: crate::config::yaml::suggest(name, NAMED.iter().map(|m| m.name())),
            })
    }

    /// One row of the table: name, scope, unit, direction, histogram summary.
    #[rustfmt::skip]
    fn spec(self) -> (&'static str, Scope, Unit, Direction, Option<(Hist, Summary)>) {
        use Direction::{Higher, Lower, Neither};
        use Hist::{E2e, FromScheduled, Itl, Latency, Ttft};
        use Scope::{All, Chat, ChatPlain, ChatStream, Run};
        use Summary::{Max, Mean, Quantile};
        use Unit::{Count, Ms, PerSecond, Ratio, Usd};
        match self {
            Metric::Requests => ("requests", All, Count, Neither, None),
            Metric::Ok => ("ok", All, Count, Higher, None),
            Metric::Errors => ("errors", All, Count, Lower, None),
            Metric::Cancelled => ("cancelled", All, Count, Lower, None),
            Metric::NotSent => ("not_sent", All, Count, Lower, None),
            Metric::ErrorRate => ("error_rate", All, Ratio, Lower, None),
            Metric::AttemptFailureRate => ("attempt_failure_rate", All, Ratio, Lower, None),
            Metric::Availability => ("availability", All, Ratio, Higher, None),
            Metric::Retries => ("retries", All, Count, Lower, None),
            Metric::Rps => ("rps", Run, PerSecond, Higher, None),
            Metric::MeanMs => ("mean_ms", ChatPlain, Ms, Lower, Some((Latency, Mean))),
            Metric::P50Ms => ("p50_ms", ChatPlain, Ms, Lower, Some((Latency, Quantile(0.50)))),
            Metric::P90Ms => ("p90_ms", ChatPlain, Ms, Lower, Some((Latency, Quantile(0.90)))),
            Metric::P95Ms => ("p95_ms", ChatPlain, Ms, Lower, Some((Latency, Quantile(0.95)))),
            Metric::P99Ms => ("p99_ms", ChatPlain, Ms, Lower, Some((Latency, Quantile(0.99)))),
            Metric::P999Ms => ("p999_ms", ChatPlain, Ms, Lower, Some((Latency, Quantile(0.999)))),
            Metric::MaxMs => ("max_ms", ChatPlain, Ms, Lower, Some((Latency, Max))),
            Metric::E2eP99Ms => ("e2e_p99_ms", Chat, Ms, Lower, Some((E2e, Quantile(0.99)))),
            Metric::SchedP99Ms => ("sched_p99_ms", Chat, Ms, Lower, Some((FromScheduled, Quantile(0.99)))),
            Metric::TtftMeanMs => ("ttft_mean_ms", ChatStream, Ms, Lower, Some((Ttft, Mean))),
            Metric::TtftP50Ms => ("ttft_p50_ms", ChatStream, Ms, Lower, Some((Ttft, Quantile(0.50)))),
            Metric::TtftP95Ms => ("ttft_p95_ms", ChatStream, Ms, Lower, Some((Ttft, Quantile(0.95)))),
            Metric::TtftP99Ms => ("ttft_p99_ms", ChatStream, Ms, Lower, Some((Ttft, Quantile(0.99)))),
            Metric::ItlMeanMs => ("itl_mean_ms", ChatStream, Ms, Lower, Some((Itl, Mean))),
            Metric::ItlP50Ms => ("itl_p50_ms", ChatStream, Ms, Lower, Some((Itl, Quantile(0.50)))),
            Metric::ItlP95Ms => ("itl_p95_ms", ChatStream, Ms, Lower, Some((Itl, Quantile(0.95)))),
            Metric::ItlP99Ms => ("itl_p99_ms", ChatStream, Ms, Lower, Some((Itl, Quantile(0.99)))),
            Metric::OutputTokensPerS => ("output_tokens_per_s", ChatStream, PerSecond, Higher, None),
            Metric::InputTokens => ("input_tokens", All, Count, Neither, None),
            Metric::OutputTokens => ("output_tokens", All, Count, Neither, None),
            Metric::EstimatedTokenRows => ("estimated_token_rows", All, Count, Lower, None),
            Metric::RunCostUsd => ("run_cost_usd", All, Usd, Lower, None),
            Metric::CostPer1kConversationsUsd => ("cost_per_1k_conversations_usd", Run, Usd, Lower, None),
            Metric::MonthlyCostUsd => ("monthly_cost_usd", Run, Usd, Lower, None),
            Metric::GoodputRps => ("goodput_rps", Run, PerSecond, Higher, None),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_misspellings_get_a_suggestion() {
        for m in NAMED {
            assert_eq!(Metric::from_name(m.name()), Ok(*m));
        }
        let e = Metric::from_name("p99ms").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown metric `p99ms` (did you mean `p99_ms`?)"
        );
        // summary.csv columns that thresholds do not name
        assert!(Metric::from_name("cancelled").is_err());
    }

    #[test]
    fn percentiles_report_their_quantile() {
        assert_eq!(Metric::P999Ms.quantile(), Some(0.999));
        assert_eq!(Metric::SchedP99Ms.quantile(), Some(0.99));
        assert_eq!(Metric::TtftP50Ms.quantile(), Some(0.5));
        assert_eq!(Metric::ItlMeanMs.quantile(), None);
        assert_eq!(Metric::ErrorRate.quantile(), None);
    }
}
