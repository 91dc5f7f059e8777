//! `thresholds:` entries: a plain expression, or one that stops the run when breached (k6's `abortOnFail`):
//!
//! ```yaml
//! thresholds:
//!   - "gateway.p99_ms < 400"
//!   - {expr: "gateway.error_rate < 0.05", abort_on_fail: true, delay_s: 5, min_samples: 50}
//! ```
//!
//! The list derefs to the expressions (`Vec<String>`), so code that evaluates thresholds sees what it always saw.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum ThresholdEntry {
    #[schemars(schema_with = "crate::config::schema::threshold_expr")]
    Plain(String),
    Rule(AbortRule),
}

/// A threshold with abort settings: when breached continuously for `delay_s` seconds, with at least `min_samples`
/// finished requests on its targets, arrivals stop and the run ends as `aborted: <expr>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AbortRule {
    #[schemars(schema_with = "crate::config::schema::threshold_expr")]
    pub(crate) expr: String,
    #[serde(default)]
    pub(crate) abort_on_fail: bool,
    #[serde(default)]
    pub(crate) delay_s: f64,
    #[serde(default = "default_min_samples")]
    pub(crate) min_samples: u64,
}

fn default_min_samples() -> u64 {
    1
}

/// The `thresholds:` list: the expressions, plus the abort rules among them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(from = "Vec<ThresholdEntry>", into = "Vec<ThresholdEntry>")]
pub(crate) struct ThresholdList {
    exprs: Vec<String>,
    entries: Vec<ThresholdEntry>,
}

impl From<Vec<ThresholdEntry>> for ThresholdList {
    fn from(entries: Vec<ThresholdEntry>) -> Self {
        let exprs = entries
            .iter()
            .map(|e| match e {
                ThresholdEntry::Plain(s) => s.clone(),
                ThresholdEntry::Rule(r) => r.expr.clone(),
            })
            .collect();
        ThresholdList { exprs, entries }
    }
}

impl From<ThresholdList> for Vec<ThresholdEntry> {
    fn from(l: ThresholdList) -> Self {
        l.entries
    }
}

impl From<Vec<String>> for ThresholdList {
    fn from(v: Vec<String>) -> Self {
        ThresholdList::from(v.into_iter().map(ThresholdEntry::Plain).collect::<Vec<_>>())
    }
}

impl std::ops::Deref for ThresholdList {
    type Target = Vec<String>;
    fn deref(&self) -> &Vec<String> {
        &self.exprs
    }
}

impl ThresholdList {
    /// The entries that abort the run when breached.
    pub(crate) fn abort_rules(&self) -> Vec<AbortRule> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                ThresholdEntry::Rule(r) if r.abort_on_fail => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn clear(&mut self) {
        self.exprs.clear();
        self.entries.clear();
    }

    /// Check the abort settings; errors name the field under `thresholds`.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        for (i, e) in self.entries.iter().enumerate() {
            if let ThresholdEntry::Rule(r) = e {
                if !(r.delay_s.is_finite() && r.delay_s >= 0.0) {
                    return Err((
                        format!("thresholds[{i}].delay_s"),
                        format!("{} must be >= 0 seconds", r.delay_s),
                    ));
                }
                if r.min_samples == 0 {
                    return Err((
                        format!("thresholds[{i}].min_samples"),
                        "must be >= 1".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_abort_entries_parse_and_deref_to_expressions() {
        let l: ThresholdList = serde_yaml::from_str(
            "- \"gateway.p99_ms < 400\"\n- {expr: \"gateway.error_rate < 0.05\", abort_on_fail: true, delay_s: 2, min_samples: 20}\n",
        )
        .unwrap();
        assert_eq!(
            *l,
            vec![
                "gateway.p99_ms < 400".to_string(),
                "gateway.error_rate < 0.05".to_string()
            ]
        );
        let rules = l.abort_rules();
        assert_eq!(rules.len(), 1);
        assert_eq!((rules[0].delay_s, rules[0].min_samples), (2.0, 20));
        // round trip keeps the form
        let back: ThresholdList =
            serde_yaml::from_str(&serde_yaml::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l);
        assert!(serde_yaml::from_str::<ThresholdList>("- {expr: x, abort: true}\n").is_err());
    }
}
