//! Fallback figures per target, from the rows' `fallback_*` columns: the user-visible error rate without fallback
//! (the target's own errors) and with it (errors the fallback did not rescue), the share of requests that fell back,
//! and the latency the fallbacks added (nearest-rank p50/p99 of `fallback_latency_ms`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::run::record::{Outcome, Record};

#[derive(Debug, Default, Clone)]
pub(crate) struct TargetFallback {
    pub(crate) fallback_target: String,
    /// Requests that finished (ok or error): the error-rate denominator, as in `error_rate`.
    pub(crate) finished: u64,
    pub(crate) errors: u64,
    pub(crate) fell_back: u64,
    pub(crate) rescued: u64,
    pub(crate) added_ms: Vec<f64>,
}

/// One target's figures, as the report and `results.json` show them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FallbackFigures {
    pub(crate) target: String,
    pub(crate) fallback_target: String,
    pub(crate) finished: u64,
    pub(crate) fell_back: u64,
    pub(crate) rescued: u64,
    pub(crate) error_rate_without: Option<f64>,
    pub(crate) error_rate_with: Option<f64>,
    pub(crate) fallback_share: Option<f64>,
    pub(crate) added_p50_ms: Option<f64>,
    pub(crate) added_p99_ms: Option<f64>,
}

/// Every target's fallback figures; targets whose rows never fell back are left out.
#[derive(Debug, Default, Clone)]
pub(crate) struct Fallbacks {
    targets: BTreeMap<String, TargetFallback>,
}

impl Fallbacks {
    pub(crate) fn add(&mut self, r: &Record) {
        if r.warmup {
            return; // counted in the accounting, in no statistic
        }
        // The target's entry looked up before its name is cloned: once per target, not once per row.
        if !self.targets.contains_key(&r.target) {
            self.targets
                .insert(r.target.clone(), TargetFallback::default());
        }
        let t = self.targets.get_mut(&r.target).expect("inserted above");
        match r.outcome {
            Some(Outcome::Ok) => t.finished += 1,
            Some(Outcome::Error) => {
                t.finished += 1;
                t.errors += 1;
            }
            _ => return,
        }
        if r.fallback_target.is_empty() {
            return;
        }
        t.fallback_target = r.fallback_target.clone();
        t.fell_back += 1;
        if r.fallback_outcome == "ok" {
            t.rescued += 1;
        }
        if let Some(ms) = r.fallback_latency_ms {
            t.added_ms.push(ms);
        }
    }

    /// Figures of the targets that fell back at least once, by target name.
    pub(crate) fn figures(&self) -> Vec<FallbackFigures> {
        self.targets
            .iter()
            .filter(|(_, t)| t.fell_back > 0)
            .map(|(name, t)| {
                let rate = |n: u64| (t.finished > 0).then(|| n as f64 / t.finished as f64);
                let mut sorted = t.added_ms.clone();
                sorted.sort_by(f64::total_cmp);
                FallbackFigures {
                    target: name.clone(),
                    fallback_target: t.fallback_target.clone(),
                    finished: t.finished,
                    fell_back: t.fell_back,
                    rescued: t.rescued,
                    error_rate_without: rate(t.errors),
                    error_rate_with: rate(t.errors - t.rescued),
                    fallback_share: rate(t.fell_back),
                    added_p50_ms: nearest_rank(&sorted, 0.5),
                    added_p99_ms: nearest_rank(&sorted, 0.99),
                }
            })
            .collect()
    }
}

/// The nearest-rank quantile of sorted values.
fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(outcome: Outcome, fb: &str, fb_outcome: &str, added: Option<f64>) -> Record {
        Record {
            target: "g".into(),
            outcome: Some(outcome),
            fallback_target: fb.into(),
            fallback_outcome: fb_outcome.into(),
            fallback_latency_ms: added,
            ..Default::default()
        }
    }

    #[test]
    fn rates_with_and_without_fallback() {
        let mut f = Fallbacks::default();
        f.add(&row(Outcome::Ok, "", "", None));
        f.add(&row(Outcome::Error, "l", "ok", Some(10.0)));
        f.add(&row(Outcome::Error, "l", "ok", Some(30.0)));
        f.add(&row(Outcome::Error, "l", "error", Some(20.0)));
        f.add(&row(Outcome::NotSent, "", "", None));
        let v = f.figures();
        assert_eq!(v.len(), 1);
        let g = &v[0];
        assert_eq!((g.finished, g.fell_back, g.rescued), (4, 3, 2));
        assert_eq!(g.error_rate_without, Some(0.75));
        assert_eq!(g.error_rate_with, Some(0.25));
        assert_eq!(g.fallback_share, Some(0.75));
        assert_eq!(g.added_p50_ms, Some(20.0));
        assert_eq!(g.added_p99_ms, Some(30.0));
    }

    #[test]
    fn targets_without_fallbacks_are_left_out() {
        let mut f = Fallbacks::default();
        f.add(&row(Outcome::Error, "", "", None));
        assert!(f.figures().is_empty());
    }
}
