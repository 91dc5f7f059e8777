//! Capacity sweep logic: SLOs (`p99_ms < 400`), how long a step must run for them to be stable, and the search for
//! the highest offered rate that meets every SLO (geometric steps up, then bisection between the last passing and
//! the first failing rate).

use serde::Serialize;

use crate::config::metric::{Direction, Metric, Unit, NAMED};

/// One service-level objective on a per-target metric, e.g. `p99_ms < 400`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Slo {
    pub(crate) metric: Metric,
    pub(crate) op: String,
    pub(crate) value: f64,
}

impl std::fmt::Display for Slo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.metric, self.op, self.value)
    }
}

impl Slo {
    pub(crate) fn parse(text: &str) -> Result<Slo, String> {
        let t = text.trim();
        for op in ["<=", ">=", "<", ">"] {
            if let Some((m, v)) = t.split_once(op) {
                let name = m.trim();
                let Ok(metric) = Metric::from_name(name) else {
                    let names: Vec<&str> = NAMED.iter().map(|m| m.name()).collect();
                    return Err(format!(
                        "--slo `{text}`: unknown metric `{name}` (one of {})",
                        names.join(", ")
                    ));
                };
                let value: f64 = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| format!("--slo `{text}`: `{}` is not a number", v.trim()))?;
                return Ok(Slo {
                    metric,
                    op: op.into(),
                    value,
                });
            }
        }
        Err(format!(
            "--slo `{text}`: expected `<metric> <op> <number>`, e.g. `p99_ms < 400`"
        ))
    }

    /// Whether a measured value meets the objective; no value (no samples) never does.
    pub(crate) fn met(&self, measured: Option<f64>) -> bool {
        let Some(v) = measured else { return false };
        match self.op.as_str() {
            "<" => v < self.value,
            "<=" => v <= self.value,
            ">" => v > self.value,
            _ => v >= self.value,
        }
    }

    /// How far past its limit a measured value is (> 1 = breached), to name the limiting metric.
    pub(crate) fn severity(&self, measured: Option<f64>) -> f64 {
        match measured {
            None => f64::INFINITY,
            Some(v) if self.op.starts_with('<') => v / self.value.max(1e-12),
            Some(v) => self.value / v.max(1e-12),
        }
    }

    /// Samples a step needs for this objective to be stable: a percentile p needs at least 10 samples beyond it
    /// (10 / (1 - p): 1,000 for p99, 20 for p50); a failure share below x needs 10 / x requests (1,000 for
    /// error_rate < 0.01) so that ten failures can be seen, and a success share above x 10 / (1 - x), at most 10,000;
    /// anything else 100.
    pub(crate) fn samples_needed(&self) -> u64 {
        if let Some(q) = self.metric.quantile() {
            return (10.0 / (1.0 - q)).round() as u64;
        }
        match (self.metric.unit(), self.metric.direction()) {
            (Unit::Ratio, Direction::Lower) => {
                (10.0 / self.value.max(1e-3)).ceil().min(10_000.0) as u64
            }
            (Unit::Ratio, Direction::Higher) => {
                (10.0 / (1.0 - self.value).max(1e-3)).ceil().min(10_000.0) as u64
            }
            _ => 100,
        }
    }
}

/// The search over offered rates: up by `factor` until a step fails, then bisect (geometrically) until the pass/fail
/// interval is narrower than `precision` (hi / lo), or the step budget is spent.
#[derive(Debug, Clone)]
pub(crate) struct Search {
    pub(crate) factor: f64,
    pub(crate) precision: f64,
    pub(crate) max_rate: f64,
    pub(crate) min_rate: f64,
    /// Highest rate that met every SLO.
    pub(crate) lo: Option<f64>,
    /// Lowest rate that failed one.
    pub(crate) hi: Option<f64>,
    next: Option<f64>,
}

impl Search {
    pub(crate) fn new(start: f64, factor: f64, precision: f64, max_rate: f64) -> Search {
        Search {
            factor,
            precision,
            max_rate,
            min_rate: start / factor.powi(6),
            lo: None,
            hi: None,
            next: Some(start.min(max_rate)),
        }
    }

    /// The next rate to try, None when done.
    pub(crate) fn next_rate(&self) -> Option<f64> {
        self.next
    }

    pub(crate) fn record(&mut self, rate: f64, passed: bool) {
        if passed {
            self.lo = Some(self.lo.map_or(rate, |l| l.max(rate)));
        } else {
            self.hi = Some(self.hi.map_or(rate, |h| h.min(rate)));
        }
        self.next = match (self.lo, self.hi) {
            (Some(lo), None) if lo >= self.max_rate => None,
            (Some(lo), None) => Some((lo * self.factor).min(self.max_rate)),
            (None, Some(hi)) if hi / self.factor < self.min_rate => None,
            (None, Some(hi)) => Some(hi / self.factor),
            (Some(lo), Some(hi)) if hi / lo <= self.precision => None,
            (Some(lo), Some(hi)) => Some((lo * hi).sqrt()),
            (None, None) => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_parses_checks_and_sizes_its_steps() {
        let s = Slo::parse("p99_ms < 400").unwrap();
        assert!(s.met(Some(399.0)) && !s.met(Some(400.0)) && !s.met(None));
        assert_eq!(s.samples_needed(), 1000);
        assert_eq!(Slo::parse("p50_ms<=10").unwrap().samples_needed(), 20);
        assert_eq!(
            Slo::parse("error_rate < 0.01").unwrap().samples_needed(),
            1000
        );
        assert!(Slo::parse("availability >= 0.999").unwrap().met(Some(1.0)));
        assert!(Slo::parse("p99 < 4")
            .unwrap_err()
            .contains("unknown metric"));
        assert!(Slo::parse("p99_ms < fast").is_err());
        assert!(Slo::parse("p99_ms").is_err());
        assert!(
            s.severity(Some(800.0)) > Slo::parse("error_rate < 0.5").unwrap().severity(Some(0.6))
        );
    }

    /// A system whose knee is at 80: the search brackets it within its precision, geometric steps then bisection.
    #[test]
    fn search_brackets_a_known_knee() {
        for (start, knee) in [(5.0, 80.0), (20.0, 80.0), (500.0, 80.0), (1.0, 7.3)] {
            let mut s = Search::new(start, 2.0, 1.05, 10_000.0);
            let mut steps = 0;
            while let Some(r) = s.next_rate() {
                s.record(r, r <= knee);
                steps += 1;
                assert!(steps < 30);
            }
            let (lo, hi) = (s.lo.unwrap(), s.hi.unwrap());
            assert!(
                lo <= knee && knee < hi && hi / lo <= 1.05,
                "{start}: {lo} {hi}"
            );
        }
        // never fails below the cap: stops at the cap
        let mut s = Search::new(10.0, 2.0, 1.05, 100.0);
        while let Some(r) = s.next_rate() {
            s.record(r, true);
        }
        assert_eq!((s.lo, s.hi), (Some(100.0), None));
    }
}
