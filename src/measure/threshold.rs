//! Thresholds evaluated against a run's metrics: one [`Check`] per expression and scope.

use serde::{Deserialize, Serialize};

use crate::config::metric::Metric;
use crate::config::threshold::Threshold;
use crate::measure::metrics::Metrics;

/// Result of one threshold check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Check {
    pub(crate) scope: String,
    pub(crate) expression: String,
    pub(crate) passed: bool,
    pub(crate) measured: String,
    /// The threshold could not be evaluated (a metric had no data): undecided, not failed.
    #[serde(default)]
    pub(crate) no_data: bool,
    /// The two sides' values, when evaluated.
    #[serde(default)]
    pub(crate) lhs: Option<f64>,
    #[serde(default)]
    pub(crate) rhs: Option<f64>,
}

pub(crate) fn evaluate_thresholds(scope: &str, list: &[String], m: &Metrics) -> Vec<Check> {
    list.iter()
        .map(|s| match Threshold::parse(s).and_then(Threshold::resolve) {
            Err(e) => Check {
                scope: scope.into(),
                expression: s.clone(),
                passed: false,
                measured: format!("invalid: {e}"),
                no_data: false,
                lhs: None,
                rhs: None,
            },
            Ok(t) => match t.evaluate(&|target: &str, metric: &Metric| m.value(target, *metric)) {
                Ok(ev) => Check {
                    scope: scope.into(),
                    expression: s.clone(),
                    passed: ev.passed,
                    measured: format!("{} vs {}", fmt_num(ev.lhs), fmt_num(ev.rhs)),
                    no_data: false,
                    lhs: Some(ev.lhs),
                    rhs: Some(ev.rhs),
                },
                Err(e) => Check {
                    scope: scope.into(),
                    expression: s.clone(),
                    passed: false,
                    measured: format!("no data: {e}"),
                    no_data: true,
                    lhs: None,
                    rhs: None,
                },
            },
        })
        .collect()
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.5}")
    }
}
