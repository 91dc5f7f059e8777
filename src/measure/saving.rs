//! The projected monthly saving of one target over another, with its interval over conversations: a saving is only
//! called when that interval excludes zero. The interval is a percentile bootstrap of the mean paired difference under
//! [`NORMAL_FROM`] paired conversations, and the normal (central limit) interval of that mean from there on, where the
//! two agree and the bootstrap's resampling of every conversation 1,000 times was most of a large report's time.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::config::prices::nano_to_usd;
use crate::measure::metrics::TargetMetrics;
use crate::measure::verdict::{BOOTSTRAP_ITERS, CONFIDENCE};

/// Projected monthly saving of B over A (positive: B is cheaper) with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Saving {
    pub(crate) a_monthly_usd: f64,
    pub(crate) b_monthly_usd: f64,
    /// a - b.
    pub(crate) monthly_usd: f64,
    /// 95% percentile-bootstrap interval of the saving, resampling the conversations measured whole on both sides
    /// (the same conversations went to both targets, so the resampling is paired).
    pub(crate) ci: Option<(f64, f64)>,
    /// The interval excludes zero: a saving (or an extra cost) is called.
    pub(crate) significant: bool,
    /// How the interval was drawn (the report names it); not in results.json.
    #[serde(skip)]
    pub(crate) method: IntervalMethod,
}

/// How a saving's interval was computed: see [`paired_mean_interval`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum IntervalMethod {
    #[default]
    Bootstrap,
    /// Normal approximation: mean +- z * sd / sqrt(n), from [`NORMAL_FROM`] paired conversations on.
    Normal,
}

/// Paired conversations from which the saving's interval is the normal approximation instead of the bootstrap (the
/// docs, docs/metrics.md, state this figure). At 5,000 conversations the mean of the paired differences is normal to
/// well within the bootstrap's own resampling noise for any cost distribution a chatbot run produces, and the bootstrap
/// costs 1,000 x n random draws (5 million here, 1.8 billion for a 10,000,000-row run).
pub(crate) const NORMAL_FROM: usize = 5_000;

/// The projected saving of B over A and its interval; None when a side has no conversation measured whole.
pub(crate) fn saving_interval(
    a: &TargetMetrics,
    b: &TargetMetrics,
    conversations_per_day: f64,
    seed: u64,
) -> Option<Saving> {
    let (am, bm) = (
        a.monthly_cost_usd(conversations_per_day)?,
        b.monthly_cost_usd(conversations_per_day)?,
    );
    let diffs: Vec<f64> = a
        .conv_costs
        .iter()
        .filter(|c| !c.incomplete)
        .filter_map(|ca| {
            let cb = b.conv_costs.get(ca.id).filter(|c| !c.incomplete)?;
            Some(nano_to_usd(ca.cost_nano) - nano_to_usd(cb.cost_nano))
        })
        .collect();
    let method = interval_method(diffs.len());
    let ci = paired_mean_interval(&diffs, seed).map(|(l, h)| {
        (
            l * conversations_per_day * 30.0,
            h * conversations_per_day * 30.0,
        )
    });
    Some(Saving {
        a_monthly_usd: am,
        b_monthly_usd: bm,
        monthly_usd: am - bm,
        ci,
        significant: ci.is_some_and(|(l, h)| l > 0.0 || h < 0.0),
        method,
    })
}

fn interval_method(n: usize) -> IntervalMethod {
    if n >= NORMAL_FROM {
        IntervalMethod::Normal
    } else {
        IntervalMethod::Bootstrap
    }
}

/// Interval of the mean of `d` at [`CONFIDENCE`]; None under 2 values. The percentile bootstrap under
/// [`NORMAL_FROM`] values, the normal approximation from there on.
fn paired_mean_interval(d: &[f64], seed: u64) -> Option<(f64, f64)> {
    if d.len() < 2 {
        return None;
    }
    match interval_method(d.len()) {
        IntervalMethod::Normal => Some(normal_mean_interval(d)),
        IntervalMethod::Bootstrap => Some(bootstrap_mean_interval(d, seed)?),
    }
}

/// mean +- z * s / sqrt(n) with s the sample standard deviation (n - 1), by Welford's update (one pass, no
/// cancellation between a large sum of squares and a large squared mean). `d` holds at least 2 values.
fn normal_mean_interval(d: &[f64]) -> (f64, f64) {
    let (mut n, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
    for &x in d {
        n += 1.0;
        let delta = x - mean;
        mean += delta / n;
        m2 += delta * (x - mean);
    }
    let sd = (m2 / (n - 1.0)).sqrt();
    let z = crate::measure::stats::normal_quantile(1.0 - (1.0 - CONFIDENCE) / 2.0);
    let half = z * sd / n.sqrt();
    (mean - half, mean + half)
}

/// Percentile-bootstrap interval of the mean of `d` (at least 2 values): [`BOOTSTRAP_ITERS`] resamples.
fn bootstrap_mean_interval(d: &[f64], seed: u64) -> Option<(f64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xC057);
    let n = d.len();
    let mut means: Vec<f64> = (0..BOOTSTRAP_ITERS)
        .map(|_| (0..n).map(|_| d[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_unstable_by(f64::total_cmp);
    let alpha = (1.0 - CONFIDENCE) / 2.0;
    let q = |p: f64| crate::measure::stats::quantile(&means, p);
    Some((q(alpha)?, q(1.0 - alpha)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(costs: &[u64]) -> TargetMetrics {
        let mut t = TargetMetrics::default();
        for (i, c) in costs.iter().enumerate() {
            t.add(&crate::run::record::Record {
                conversation: i as u64,
                op: "chat".into(),
                outcome: Some(crate::run::record::Outcome::Ok),
                cost_nano_usd: *c,
                ..Default::default()
            });
        }
        t
    }

    #[test]
    fn saving_is_called_only_when_its_interval_excludes_zero() {
        // B costs 100 nano-dollars less on every conversation: the interval is that exact saving.
        let a: Vec<u64> = (0..200).map(|i| 1_000 + (i % 7) * 100).collect();
        let b: Vec<u64> = a.iter().map(|c| c - 100).collect();
        let s = saving_interval(&target(&a), &target(&b), 1000.0, 1).unwrap();
        let want = nano_to_usd(100) * 1000.0 * 30.0;
        assert!((s.monthly_usd - want).abs() < 1e-9, "{s:?}");
        let (l, h) = s.ci.unwrap();
        assert!((l - want).abs() < 1e-9 && (h - want).abs() < 1e-9, "{s:?}");
        assert!(s.significant);
        // B is cheaper on half the conversations and dearer on the other half by as much: no saving is called.
        let b: Vec<u64> = a
            .iter()
            .enumerate()
            .map(|(i, c)| if i % 2 == 0 { c - 300 } else { c + 300 })
            .collect();
        let s = saving_interval(&target(&a), &target(&b), 1000.0, 1).unwrap();
        let (l, h) = s.ci.unwrap();
        assert!(l < 0.0 && h > 0.0, "{s:?}");
        assert!(!s.significant);
    }

    /// The normal interval at [`NORMAL_FROM`] against figures worked out by hand, the bootstrap one conversation
    /// below it against an independent two-pass computation of the same formula, and the switch where the docs put it.
    #[test]
    fn normal_interval_takes_over_from_the_bootstrap_at_the_documented_count() {
        assert_eq!(NORMAL_FROM, 5_000);
        let docs = include_str!("../../docs/metrics.md");
        assert!(
            docs.contains("from 5,000 paired conversations on"),
            "docs/metrics.md names the switch"
        );
        // d = 0, 1, ..., 9, 0, 1, ...: at n = 5,000 each digit 500 times, mean 4.5, population variance
        // (0 + 1 + 4 + ... + 81) / 10 - 4.5^2 = 28.5 - 20.25 = 8.25, sample variance 8.25 * 5000 / 4999, so the
        // half-width is z * sqrt(8.25 / 4999) = 1.959964 * 0.0406243 = 0.0796221 (z of a 95% two-sided interval).
        let d = |n: usize| -> Vec<f64> { (0..n).map(|i| (i % 10) as f64).collect() };
        let (l, h) = paired_mean_interval(&d(NORMAL_FROM), 7).unwrap();
        assert!((l - (4.5 - 0.0796221)).abs() < 1e-6, "{l}");
        assert!((h - (4.5 + 0.0796221)).abs() < 1e-6, "{h}");
        // One conversation fewer: the bootstrap. Its interval is within 0.01 (an eighth of the half-width, about three
        // standard errors of a 1,000-resample percentile here) of the normal one, computed here in two passes.
        let x = d(NORMAL_FROM - 1);
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
        let half = 1.959_963_985 * (var / n).sqrt();
        let (bl, bh) = paired_mean_interval(&x, 7).unwrap();
        assert!((bl - (mean - half)).abs() < 0.01, "{bl} vs {}", mean - half);
        assert!((bh - (mean + half)).abs() < 0.01, "{bh} vs {}", mean + half);
        // ... and it is the bootstrap: resampled means are averages of digits over n, so its ends are multiples of
        // 1 / n (a percentile between two such means is not always, but never the normal formula to 1e-9).
        assert!((bl - (mean - half)).abs() > 1e-9 && (bh - (mean + half)).abs() > 1e-9);
        assert_eq!(interval_method(NORMAL_FROM - 1), IntervalMethod::Bootstrap);
        assert_eq!(interval_method(NORMAL_FROM), IntervalMethod::Normal);
        // Shifting every difference by a constant shifts the normal interval by exactly that: Welford's mean carries
        // no cancellation from a large offset (a sum of squares minus n * mean^2 would lose the 8.25 at 1e9).
        let far: Vec<f64> = d(NORMAL_FROM).iter().map(|v| v + 1e9).collect();
        let (fl, fh) = paired_mean_interval(&far, 7).unwrap();
        assert!(
            (fl - 1e9 - l).abs() < 1e-5 && (fh - 1e9 - h).abs() < 1e-5,
            "{fl} {fh}"
        );
    }
}
