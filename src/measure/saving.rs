//! The projected monthly saving of one target over another, with its bootstrap interval over conversations: a
//! saving is only called when that interval excludes zero.

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
}

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
        .filter(|(_, c)| !c.incomplete)
        .filter_map(|(id, ca)| {
            let cb = b.conv_costs.get(id).filter(|c| !c.incomplete)?;
            Some(nano_to_usd(ca.cost_nano) - nano_to_usd(cb.cost_nano))
        })
        .collect();
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
    })
}

/// Percentile-bootstrap interval of the mean of `d` at [`CONFIDENCE`]; None under 2 values.
fn paired_mean_interval(d: &[f64], seed: u64) -> Option<(f64, f64)> {
    if d.len() < 2 {
        return None;
    }
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
}
