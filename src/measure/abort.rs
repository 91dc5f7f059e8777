//! Abort on fail: thresholds with `abort_on_fail: true` are evaluated while the run goes, on live metrics fed by
//! every record as it is emitted; one breached for `delay_s` seconds with `min_samples` finished requests on its
//! targets stops arrivals with the reason `aborted: <expr>` (in-flight requests still drain and are recorded).
//!
//! Evaluation happens as records arrive, at most every 100 ms; warm-up rows count for nothing, as everywhere.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::abort::AbortRule;
use crate::config::metric::Metric;
use crate::config::threshold::Threshold;
use crate::measure::metrics::Metrics;
use crate::run::record::Record;
use crate::run::state::Control;

struct Rule {
    rule: AbortRule,
    threshold: Threshold<Metric>,
    targets: Vec<String>,
    /// Since when it has been breached (with enough samples), if it is.
    since: Option<Instant>,
}

struct State {
    metrics: Metrics,
    rules: Vec<Rule>,
    last_eval: Option<Instant>,
}

pub(crate) struct AbortWatch {
    state: Mutex<State>,
    /// The run's control without its observer (no reference cycle).
    control: Control,
}

const EVERY: Duration = Duration::from_millis(100);

impl AbortWatch {
    /// A watch over the scenario's abort rules, None when there are none. Expressions were validated with the
    /// scenario; one that still fails to parse is skipped.
    pub(crate) fn new(rules: Vec<AbortRule>, control: &Control) -> Option<Arc<AbortWatch>> {
        let rules: Vec<Rule> = rules
            .into_iter()
            .filter_map(|rule| {
                let threshold = Threshold::parse(&rule.expr)
                    .and_then(Threshold::resolve)
                    .ok()?;
                let mut targets: Vec<String> =
                    threshold.references().into_iter().map(|(t, _)| t).collect();
                targets.dedup();
                Some(Rule {
                    rule,
                    threshold,
                    targets,
                    since: None,
                })
            })
            .collect();
        if rules.is_empty() {
            return None;
        }
        let mut control = control.clone();
        control.observer = None;
        Some(Arc::new(AbortWatch {
            state: Mutex::new(State {
                metrics: Metrics::new(0.0, 0.0),
                rules,
                last_eval: None,
            }),
            control,
        }))
    }

    /// Hook it into a control: every record the runner emits passes through [`AbortWatch::observe`].
    pub(crate) fn install(self: &Arc<Self>, control: &mut Control) {
        let me = self.clone();
        control.observer = Some(Arc::new(move |r: &Record| me.observe(r)));
    }

    pub(crate) fn observe(&self, r: &Record) {
        let now = Instant::now();
        let mut st = self.state.lock().expect("abort watch lock");
        st.metrics.add(r);
        if st.last_eval.is_some_and(|t| now.duration_since(t) < EVERY) {
            return;
        }
        st.last_eval = Some(now);
        let State { metrics, rules, .. } = &mut *st;
        for rule in rules.iter_mut() {
            let samples: u64 = rule
                .targets
                .iter()
                .filter_map(|t| metrics.targets.get(t))
                .map(|t| t.chat.finished() + t.create.finished())
                .sum();
            let breached = samples >= rule.rule.min_samples
                && rule
                    .threshold
                    .evaluate(&|t: &str, m: &Metric| metrics.value(t, *m))
                    .is_ok_and(|e| !e.passed);
            if !breached {
                rule.since = None;
                continue;
            }
            let since = *rule.since.get_or_insert(now);
            if now.duration_since(since).as_secs_f64() >= rule.rule.delay_s {
                self.control.stop(&format!("aborted: {}", rule.rule.expr));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::record::{Outcome, OP_CHAT};

    fn row(ok: bool) -> Record {
        Record {
            target: "gw".into(),
            role: "gateway".into(),
            op: OP_CHAT.into(),
            outcome: Some(if ok { Outcome::Ok } else { Outcome::Error }),
            error_kind: if ok { "" } else { "http_503" }.into(),
            latency_ms: Some(10.0),
            ..Default::default()
        }
    }

    fn rule(min_samples: u64, delay_s: f64) -> AbortRule {
        AbortRule {
            expr: "gw.error_rate < 0.5".into(),
            abort_on_fail: true,
            delay_s,
            min_samples,
        }
    }

    #[test]
    fn a_breach_with_enough_samples_stops_arrivals_and_names_the_expression() {
        let control = Control::default();
        let w = AbortWatch::new(vec![rule(5, 0.0)], &control).unwrap();
        // 4 errors: breached, but below min_samples
        for _ in 0..4 {
            w.state.lock().unwrap().last_eval = None;
            w.observe(&row(false));
        }
        assert!(!control.stop_arrivals.is_cancelled());
        w.state.lock().unwrap().last_eval = None;
        w.observe(&row(false));
        assert!(control.stop_arrivals.is_cancelled());
        assert_eq!(
            control.stopped_reason().as_deref(),
            Some("aborted: gw.error_rate < 0.5")
        );
    }

    #[test]
    fn a_breach_must_last_delay_s_and_recovery_resets_it() {
        let control = Control::default();
        let w = AbortWatch::new(vec![rule(1, 0.3)], &control).unwrap();
        let feed = |ok: bool| {
            w.state.lock().unwrap().last_eval = None;
            w.observe(&row(ok));
        };
        feed(false); // breached now
        std::thread::sleep(Duration::from_millis(100));
        feed(true);
        feed(true); // 1 error in 3: recovered, the clock resets
        feed(false);
        feed(false); // 3 of 5: breached again, since now
        assert!(!control.stop_arrivals.is_cancelled());
        std::thread::sleep(Duration::from_millis(350));
        feed(false);
        assert!(control.stop_arrivals.is_cancelled());
    }

    #[test]
    fn no_abort_rules_no_watch() {
        let mut r = rule(1, 0.0);
        r.abort_on_fail = false;
        assert!(AbortWatch::new(vec![], &Control::default()).is_none());
        let _ = r;
    }
}
