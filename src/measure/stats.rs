//! Statistical comparison of two samples, A (baseline: legacy, or last night) and B (candidate: gateway, or tonight),
//! for metrics where lower is better (latency, error rate).
//!
//! - [`mann_whitney_u`]: rank test of "B is stochastically larger / smaller than A" (normal approximation with tie
//!   and continuity correction).
//! - [`bootstrap_quantile_diff`] / [`bootstrap_quantile_ratio`]: percentile-bootstrap interval of
//!   quantile(B) - quantile(A) (or B / A), seeded and deterministic.
//! - [`rate_diff_ci`]: Newcombe hybrid score interval (from two Wilson intervals) of rate(B) - rate(A).
//! - [`compare_metric`] ([`compare_latency`], [`compare_error_rate`]): the verdict Better / Worse / no significant
//!   difference / insufficient data.

use std::f64::consts::{PI, SQRT_2};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Fewest samples per side for the rank test (and any verdict).
pub(crate) const MIN_SAMPLES: usize = 30;
/// Samples beyond a quantile needed to estimate it: quantile q needs `TAIL_SAMPLES / min(q, 1 - q)` per side.
pub(crate) const TAIL_SAMPLES: f64 = 10.0;

/// A point estimate with a two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct ConfidenceInterval {
    pub(crate) estimate: f64,
    pub(crate) low: f64,
    pub(crate) high: f64,
}

/// Result of a Mann-Whitney U test of B against A.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct MannWhitney {
    /// U of B: the number of pairs (a, b) with b > a, plus half the pairs with b == a.
    pub(crate) u: f64,
    /// Tie- and continuity-corrected normal score of `u`; positive when B tends to be larger.
    pub(crate) z: f64,
    pub(crate) p_two_sided: f64,
    /// One-sided p-value of "B is stochastically larger than A" (B worse, for latency).
    pub(crate) p_b_greater: f64,
    /// One-sided p-value of "B is stochastically smaller than A".
    pub(crate) p_b_less: f64,
    pub(crate) n_a: usize,
    pub(crate) n_b: usize,
    /// Common-language effect size P(B > A) + 0.5 P(B = A), i.e. `u / (n_a n_b)`.
    pub(crate) effect: f64,
}

/// Mann-Whitney U test of B against A, normal approximation with tie correction and continuity correction
/// (the formulas of `scipy.stats.mannwhitneyu(b, a, method="asymptotic")`). O(n log n): both samples are sorted,
/// then ranked in one merge, tied values getting their average rank. Values should be finite. With an empty side, or
/// when every value is equal, there is no evidence either way: z = 0 and all p-values are 1.
#[cfg(test)]
pub(crate) fn mann_whitney_u(a: &[f64], b: &[f64]) -> MannWhitney {
    mann_whitney_sorted(&sorted_copy(a), &sorted_copy(b))
}

/// [`mann_whitney_u`] on two ascending samples, ranking by a merge in O(n).
fn mann_whitney_sorted(a: &[f64], b: &[f64]) -> MannWhitney {
    let (n_a, n_b) = (a.len(), b.len());
    let n = n_a + n_b;
    let (mut rank_sum_b, mut ties) = (0.0, 0.0);
    let (mut i, mut j, mut used) = (0, 0, 0usize);
    while i < n_a || j < n_b {
        let v = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x.total_cmp(&y).is_le() => x,
            (Some(&x), None) => x,
            (_, Some(&y)) => y,
            (None, None) => unreachable!(),
        };
        let same = |x: f64| x == v || x.total_cmp(&v).is_eq();
        let (i0, j0) = (i, j);
        while i < n_a && same(a[i]) {
            i += 1;
        }
        while j < n_b && same(b[j]) {
            j += 1;
        }
        // This value takes ranks used + 1 ..= used + t; each copy gets their average.
        let t = (i - i0 + j - j0) as f64;
        rank_sum_b += (used as f64 + (t + 1.0) / 2.0) * (j - j0) as f64;
        ties += t * t * t - t;
        used += i - i0 + j - j0;
    }
    let (fa, fb, fn_) = (n_a as f64, n_b as f64, n as f64);
    let u = rank_sum_b - fb * (fb + 1.0) / 2.0;
    let pairs = fa * fb;
    let var = if n < 2 {
        0.0
    } else {
        pairs / 12.0 * ((fn_ + 1.0) - ties / (fn_ * (fn_ - 1.0)))
    };
    let effect = if pairs > 0.0 { u / pairs } else { 0.5 };
    if var <= 0.0 {
        return MannWhitney {
            u,
            z: 0.0,
            p_two_sided: 1.0,
            p_b_greater: 1.0,
            p_b_less: 1.0,
            n_a,
            n_b,
            effect,
        };
    }
    let sd = var.sqrt();
    let d = u - pairs / 2.0;
    let z = d.signum() * (d.abs() - 0.5).max(0.0) / sd;
    MannWhitney {
        u,
        z,
        p_two_sided: (2.0 * normal_sf(z.abs())).min(1.0),
        p_b_greater: normal_sf((d - 0.5) / sd),
        p_b_less: normal_cdf((d + 0.5) / sd),
        n_a,
        n_b,
        effect,
    }
}

/// Quantile `q` (0 ..= 1) of an ascending sorted sample, by linear interpolation between the closest ranks: with
/// h = (n - 1) q, the value is x[floor(h)] + (h - floor(h)) (x[floor(h) + 1] - x[floor(h)]). This is numpy's default
/// (`method="linear"`, Hyndman & Fan type 7). None when empty or q is outside 0 ..= 1.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let frac = h - lo as f64;
    let x = sorted[lo];
    Some(match sorted.get(lo + 1) {
        Some(&y) if frac > 0.0 => x + frac * (y - x),
        _ => x,
    })
}

/// [`quantile`] of an unsorted sample, in O(n) by selection on a copy.
#[cfg(test)]
pub(crate) fn quantile_unsorted(sample: &[f64], q: f64) -> Option<f64> {
    if sample.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let mut v = sample.to_vec();
    let h = (v.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let frac = h - lo as f64;
    let (_, &mut x, right) = v.select_nth_unstable_by(lo, f64::total_cmp);
    if frac > 0.0 && !right.is_empty() {
        let y = right.iter().copied().fold(f64::INFINITY, f64::min);
        Some(x + frac * (y - x))
    } else {
        Some(x)
    }
}

/// Percentile-bootstrap interval of quantile(B) - quantile(A) at level `confidence` (e.g. 0.95), from `iters`
/// resamples; deterministic for a given `seed`. The estimate is the difference on the original samples. None when a
/// side is empty, `iters` is 0, or `q` / `confidence` is out of range.
///
/// Each resample's quantile is drawn exactly from its bootstrap distribution without materialising the resample:
/// resampling n values with replacement from the sorted sample x picks x[floor(n U)] for uniform U, a monotone map, so
/// the k-th smallest resampled value is x[floor(n U_(k))] where U_(k) ~ Beta(k, n - k + 1) is the k-th uniform order
/// statistic, and U_(k+1) = U_(k) + (1 - U_(k)) Beta(1, n - k). O(n log n) to sort, then O(1) per resample.
#[cfg(test)]
pub(crate) fn bootstrap_quantile_diff(
    a: &[f64],
    b: &[f64],
    q: f64,
    iters: usize,
    confidence: f64,
    seed: u64,
) -> Option<ConfidenceInterval> {
    bootstrap_quantiles(a, b, q, iters, confidence, seed, |qa, qb| qb - qa)
}

/// Like [`bootstrap_quantile_diff`] for quantile(B) / quantile(A) (for positive data; a zero quantile of A gives an
/// infinite or NaN ratio).
#[cfg(test)]
pub(crate) fn bootstrap_quantile_ratio(
    a: &[f64],
    b: &[f64],
    q: f64,
    iters: usize,
    confidence: f64,
    seed: u64,
) -> Option<ConfidenceInterval> {
    bootstrap_quantiles(a, b, q, iters, confidence, seed, |qa, qb| qb / qa)
}

#[cfg(test)]
fn sorted_copy(x: &[f64]) -> Vec<f64> {
    let mut v = x.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    v
}

#[cfg(test)]
fn bootstrap_quantiles(
    a: &[f64],
    b: &[f64],
    q: f64,
    iters: usize,
    confidence: f64,
    seed: u64,
    combine: fn(f64, f64) -> f64,
) -> Option<ConfidenceInterval> {
    bootstrap_sorted(
        &sorted_copy(a),
        &sorted_copy(b),
        q,
        iters,
        confidence,
        seed,
        combine,
    )
}

/// The bootstrap on two ascending samples.
fn bootstrap_sorted(
    sa: &[f64],
    sb: &[f64],
    q: f64,
    iters: usize,
    confidence: f64,
    seed: u64,
    combine: fn(f64, f64) -> f64,
) -> Option<ConfidenceInterval> {
    if iters == 0 || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let estimate = combine(quantile(sa, q)?, quantile(sb, q)?);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut normal = Normals::default();
    let mut stats: Vec<f64> = (0..iters)
        .map(|_| {
            let qa = resampled_quantile(sa, q, &mut rng, &mut normal);
            let qb = resampled_quantile(sb, q, &mut rng, &mut normal);
            combine(qa, qb)
        })
        .collect();
    stats.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    Some(ConfidenceInterval {
        estimate,
        low: quantile(&stats, tail)?,
        high: quantile(&stats, 1.0 - tail)?,
    })
}

/// The `q` quantile of one bootstrap resample of the non-empty `sorted`, drawn via uniform order statistics.
fn resampled_quantile<R: Rng + ?Sized>(
    sorted: &[f64],
    q: f64,
    rng: &mut R,
    normal: &mut Normals,
) -> f64 {
    let n = sorted.len();
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize; // 0-based rank, so the (lo + 1)-th order statistic
    let frac = h - lo as f64;
    let k = (lo + 1) as f64;
    let u_k = sample_beta(rng, normal, k, n as f64 - k + 1.0);
    let pick = |u: f64| sorted[((u * n as f64) as usize).min(n - 1)];
    let x = pick(u_k);
    if frac > 0.0 && lo + 1 < n {
        // Smallest of the n - k uniforms above u_k: u_k + (1 - u_k) * Beta(1, n - k).
        let m = (n - lo - 1) as f64;
        let v: f64 = 1.0 - rng.gen::<f64>();
        let u_next = u_k + (1.0 - u_k) * (1.0 - v.powf(1.0 / m));
        let y = pick(u_next);
        x + frac * (y - x)
    } else {
        x
    }
}

/// Two independent standard normal draws (Box-Muller).
fn standard_normal_pair<R: Rng + ?Sized>(rng: &mut R) -> (f64, f64) {
    let u1 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2 = rng.gen::<f64>();
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (2.0 * PI * u2).sin_cos();
    (r * c, r * s)
}

/// Standard normal draws, using both values of each Box-Muller pair.
#[derive(Debug, Default)]
struct Normals {
    spare: Option<f64>,
}

impl Normals {
    fn sample<R: Rng + ?Sized>(&mut self, rng: &mut R) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (z, spare) = standard_normal_pair(rng);
        self.spare = Some(spare);
        z
    }
}

/// Gamma(shape, 1) for shape >= 1 (Marsaglia & Tsang 2000).
fn sample_gamma<R: Rng + ?Sized>(rng: &mut R, normal: &mut Normals, shape: f64) -> f64 {
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal.sample(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = 1.0 - rng.gen::<f64>();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Beta(a, b) for a, b >= 1.
fn sample_beta<R: Rng + ?Sized>(rng: &mut R, normal: &mut Normals, a: f64, b: f64) -> f64 {
    let x = sample_gamma(rng, normal, a);
    let y = sample_gamma(rng, normal, b);
    x / (x + y)
}

/// The standard normal's 99th percentile.
#[cfg(test)]
pub(crate) const Z99: f64 = 2.326_347_874_040_841;

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// P(Z <= z) for a standard normal Z.
pub(crate) fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / SQRT_2)
}

/// P(Z > z) for a standard normal Z (accurate in the far tail).
pub(crate) fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / SQRT_2)
}

/// Inverse of [`normal_cdf`] (Acklam's rational approximation, relative error < 1.2e-9); NaN outside (0, 1).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.024_25;
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - P_LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Wilson score interval of a proportion `x / n` at two-sided normal score `z` (None when n = 0).
pub(crate) fn wilson_interval(x: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (n, p) = (n as f64, x.min(n) as f64 / n as f64);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// Interval of rate(B) - rate(A), rate = failures / requests, by Newcombe's hybrid score method (Newcombe 1998,
/// method 10; built from the two Wilson score intervals). Good coverage even for rates near 0 and small counts, unlike
/// the Wald interval. None when a side has no requests or `confidence` is out of (0, 1).
pub(crate) fn rate_diff_ci(
    fail_a: u64,
    n_a: u64,
    fail_b: u64,
    n_b: u64,
    confidence: f64,
) -> Option<ConfidenceInterval> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let (la, ua) = wilson_interval(fail_a, n_a, z)?;
    let (lb, ub) = wilson_interval(fail_b, n_b, z)?;
    let pa = fail_a.min(n_a) as f64 / n_a as f64;
    let pb = fail_b.min(n_b) as f64 / n_b as f64;
    let d = pb - pa;
    Some(ConfidenceInterval {
        estimate: d,
        low: d - ((pb - lb).powi(2) + (ua - pa).powi(2)).sqrt(),
        high: d + ((ub - pb).powi(2) + (pa - la).powi(2)).sqrt(),
    })
}

/// Requests per side needed to tell proportions `p1` and `p2` apart with a two-sided test at level `alpha` and the
/// given `power` (the standard normal-approximation formula, without continuity correction):
/// n = (z_{1-alpha/2} sqrt(2 pbar (1 - pbar)) + z_power sqrt(p1 (1 - p1) + p2 (1 - p2)))^2 / (p1 - p2)^2,
/// pbar = (p1 + p2) / 2. E.g. 1% vs 2% at alpha 0.05, power 0.8: 2,319. None when p1 == p2 or an input is out of range.
pub(crate) fn required_sample_size_proportions(
    p1: f64,
    p2: f64,
    alpha: f64,
    power: f64,
) -> Option<usize> {
    let unit = |x: f64| (0.0..=1.0).contains(&x);
    if !(unit(p1) && unit(p2) && alpha > 0.0 && alpha < 1.0 && power > 0.0 && power < 1.0)
        || p1 == p2
    {
        return None;
    }
    let za = normal_quantile(1.0 - alpha / 2.0);
    let zb = normal_quantile(power);
    let pbar = (p1 + p2) / 2.0;
    let num =
        za * (2.0 * pbar * (1.0 - pbar)).sqrt() + zb * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    let n = (num * num / ((p1 - p2) * (p1 - p2)) - 1e-9).ceil();
    Some(if n >= usize::MAX as f64 {
        usize::MAX
    } else {
        (n as usize).max(1)
    })
}

/// Samples per side needed before quantile `q` is compared: max(`MIN_SAMPLES`, `TAIL_SAMPLES` / tail) where tail =
/// min(q, 1 - q), e.g. 30 for p50, 200 for p95, 1,000 for p99, 10,000 for p99.9.
pub(crate) fn needed_for_quantile(q: f64) -> usize {
    let tail = q.min(1.0 - q).max(1e-7);
    let n = (TAIL_SAMPLES / tail - 1e-6).ceil() as usize;
    n.max(MIN_SAMPLES)
}

/// Outcome of comparing B with A on a metric where lower is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Direction {
    Better,
    NoSignificantDifference,
    Worse,
    /// Too few samples on a side; `needed_per_side` is the total needed on each side (not the shortfall).
    InsufficientData {
        needed_per_side: usize,
    },
}

/// A comparison's verdict and the numbers behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Verdict {
    pub(crate) direction: Direction,
    /// Confidence level of the interval and the test (alpha = 1 - confidence).
    pub(crate) confidence: f64,
    /// Interval of B - A (quantile difference in the samples' unit, or rate difference); None when insufficient.
    pub(crate) ci: Option<ConfidenceInterval>,
    /// Differences within +- this (absolute, unit of `ci`) are never called better or worse: `min_effect` times A.
    pub(crate) tolerance: f64,
    /// One-sided p-value of "B larger (worse)"; Mann-Whitney for samples, pooled two-proportion z-test for rates.
    pub(crate) p_b_greater: Option<f64>,
    /// One-sided p-value of "B smaller (better)".
    pub(crate) p_b_less: Option<f64>,
    /// Error rates only: requests per side needed to detect the observed difference (alpha 0.05, power 0.8).
    pub(crate) required_per_side: Option<usize>,
}

/// Settings of [`compare_metric`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CompareOptions {
    /// Confidence level, e.g. 0.95 (alpha = 1 - confidence).
    pub(crate) confidence: f64,
    /// Relative practical tolerance, e.g. 0.02: a change under 2% of A is not called better or worse.
    pub(crate) min_effect: f64,
    /// Bootstrap resamples.
    pub(crate) iters: usize,
    pub(crate) seed: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            confidence: 0.95,
            min_effect: 0.02,
            iters: 1000,
            seed: 0,
        }
    }
}

/// What to compare.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Metric<'a> {
    /// Quantile `q` of two samples (e.g. latencies in ms).
    Quantile { a: &'a [f64], b: &'a [f64], q: f64 },
    /// Failure rate, `fail` out of `n` requests per side.
    ErrorRate {
        fail_a: u64,
        n_a: u64,
        fail_b: u64,
        n_b: u64,
    },
}

/// Verdict on B vs A, lower is better. Worse when the interval of B - A lies entirely above the tolerance
/// (`min_effect` x A's value) and, for rates and bulk quantiles (see [`is_bulk_quantile`]), the one-sided test of
/// "B larger" has p < alpha; a tail quantile is judged on its interval alone. Better symmetrically; otherwise no
/// significant difference. InsufficientData when a side has fewer than [`needed_for_quantile`] samples (quantiles;
/// non-finite values are dropped first) or fewer than [`MIN_SAMPLES`] requests (rates).
pub(crate) fn compare_metric(metric: Metric<'_>, opts: &CompareOptions) -> Verdict {
    match metric {
        Metric::Quantile { a, b, q } => compare_quantiles(a, b, &[q], opts).remove(0),
        Metric::ErrorRate {
            fail_a,
            n_a,
            fail_b,
            n_b,
        } => rate_verdict(fail_a, n_a, fail_b, n_b, opts),
    }
}

/// [`compare_metric`] for several quantiles of the same two samples, sorting and ranking them once; each verdict is
/// the one `compare_metric` gives for that quantile alone.
pub(crate) fn compare_quantiles(
    a: &[f64],
    b: &[f64],
    qs: &[f64],
    opts: &CompareOptions,
) -> Vec<Verdict> {
    let finite = |x: &[f64]| {
        let mut v: Vec<f64> = x.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_unstable_by(f64::total_cmp);
        v
    };
    let (a, b) = (finite(a), finite(b));
    let mut mw = None;
    qs.iter()
        .map(|&q| {
            let mut v = empty_verdict(opts);
            let needed = needed_for_quantile(q);
            if a.len() < needed || b.len() < needed {
                v.direction = Direction::InsufficientData {
                    needed_per_side: needed,
                };
                return v;
            }
            let mw = *mw.get_or_insert_with(|| mann_whitney_sorted(&a, &b));
            v.p_b_greater = Some(mw.p_b_greater);
            v.p_b_less = Some(mw.p_b_less);
            v.ci = bootstrap_sorted(&a, &b, q, opts.iters, opts.confidence, opts.seed, |x, y| {
                y - x
            });
            let baseline = quantile(&a, q).unwrap_or(0.0);
            if is_bulk_quantile(q) {
                decide(v, baseline, opts)
            } else {
                decide_on_interval(v, baseline, opts)
            }
        })
        .collect()
}

fn empty_verdict(opts: &CompareOptions) -> Verdict {
    Verdict {
        direction: Direction::NoSignificantDifference,
        confidence: opts.confidence,
        ci: None,
        tolerance: 0.0,
        p_b_greater: None,
        p_b_less: None,
        required_per_side: None,
    }
}

/// Quantiles of the bulk (p25 ..= p75) are judged on their interval and the rank test together: a rank test measures
/// a shift of the bulk. A tail quantile (p90, p99, ...) is judged on its own interval only, since a tail can move with
/// the bulk unchanged (enough tail samples are ensured by [`needed_for_quantile`]).
pub(crate) fn is_bulk_quantile(q: f64) -> bool {
    (0.25..=0.75).contains(&q)
}

/// Sets the tolerance from A's value and the direction from the interval alone (tail quantiles).
fn decide_on_interval(mut v: Verdict, baseline: f64, opts: &CompareOptions) -> Verdict {
    v.tolerance = (opts.min_effect * baseline).abs();
    if let Some(ci) = v.ci {
        if ci.low > v.tolerance {
            v.direction = Direction::Worse;
        } else if ci.high < -v.tolerance {
            v.direction = Direction::Better;
        }
    }
    v
}

/// Sets the tolerance from A's value and the direction from the interval and p-values.
fn decide(mut v: Verdict, baseline: f64, opts: &CompareOptions) -> Verdict {
    let alpha = 1.0 - opts.confidence;
    v.tolerance = (opts.min_effect * baseline).abs();
    if let (Some(ci), Some(pg), Some(pl)) = (v.ci, v.p_b_greater, v.p_b_less) {
        if ci.low > v.tolerance && pg < alpha {
            v.direction = Direction::Worse;
        } else if ci.high < -v.tolerance && pl < alpha {
            v.direction = Direction::Better;
        }
    }
    v
}

fn rate_verdict(fail_a: u64, n_a: u64, fail_b: u64, n_b: u64, opts: &CompareOptions) -> Verdict {
    let mut v = empty_verdict(opts);
    if n_a < MIN_SAMPLES as u64 || n_b < MIN_SAMPLES as u64 {
        v.direction = Direction::InsufficientData {
            needed_per_side: MIN_SAMPLES,
        };
        return v;
    }
    let (fa, fb) = (fail_a.min(n_a), fail_b.min(n_b));
    let (pa, pb) = (fa as f64 / n_a as f64, fb as f64 / n_b as f64);
    // Pooled two-proportion z-test.
    let pooled = (fa + fb) as f64 / (n_a + n_b) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n_a as f64 + 1.0 / n_b as f64)).sqrt();
    let (pg, pl) = if se > 0.0 {
        let z = (pb - pa) / se;
        (normal_sf(z), normal_cdf(z))
    } else {
        (1.0, 1.0)
    };
    v.p_b_greater = Some(pg);
    v.p_b_less = Some(pl);
    v.ci = rate_diff_ci(fa, n_a, fb, n_b, opts.confidence);
    v.required_per_side = required_sample_size_proportions(pa, pb, 0.05, 0.8);
    decide(v, pa, opts)
}

/// [`compare_metric`] on quantile `q` of two samples.
pub(crate) fn compare_latency(
    a: &[f64],
    b: &[f64],
    q: f64,
    iters: usize,
    confidence: f64,
    min_effect: f64,
    seed: u64,
) -> Verdict {
    compare_metric(
        Metric::Quantile { a, b, q },
        &CompareOptions {
            confidence,
            min_effect,
            iters,
            seed,
        },
    )
}

/// [`compare_metric`] on error rates (`fail_*` failures out of `n_*` requests).
pub(crate) fn compare_error_rate(
    fail_a: u64,
    n_a: u64,
    fail_b: u64,
    n_b: u64,
    confidence: f64,
    min_effect: f64,
) -> Verdict {
    compare_metric(
        Metric::ErrorRate {
            fail_a,
            n_a,
            fail_b,
            n_b,
        },
        &CompareOptions {
            confidence,
            min_effect,
            ..CompareOptions::default()
        },
    )
}

#[cfg(test)]
mod tests;
