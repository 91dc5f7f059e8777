use super::*;

fn close(x: f64, y: f64, tol: f64) -> bool {
    (x - y).abs() <= tol * y.abs().max(1.0)
}

fn lognormal_sample(rng: &mut ChaCha8Rng, n: usize, mu: f64, sigma: f64, scale: f64) -> Vec<f64> {
    let mut normal = Normals::default();
    (0..n)
        .map(|_| scale * (mu + sigma * normal.sample(rng)).exp())
        .collect()
}

#[test]
fn normal_functions() {
    assert!(close(normal_quantile(0.975), 1.959_963_984_540_054, 1e-8));
    assert!(close(normal_quantile(0.8), 0.841_621_233_572_914, 1e-8));
    assert!(close(normal_quantile(0.99), Z99, 1e-8));
    assert!(close(normal_quantile(0.001), -3.090_232_306_167_813, 1e-8));
    assert!(close(normal_cdf(1.959_963_984_540_054), 0.975, 1e-7));
    assert!(close(normal_cdf(0.0), 0.5, 1e-7));
    // Upper tail, relative accuracy: P(Z > 5) = 2.866515718791939e-7.
    assert!((normal_sf(5.0) / 2.866_515_718_791_939e-7 - 1.0).abs() < 1e-6);
    assert!(normal_quantile(0.0).is_nan() && normal_quantile(1.0).is_nan());
}

#[test]
fn mann_whitney_no_ties() {
    // A = [1,2,3], B = [4,5,6]: B's pooled ranks are 4,5,6, R_B = 15, U_B = 15 - 3*4/2 = 9 = n_a n_b (every b is
    // larger). mean = 9/2 = 4.5, var = 3*3*(6+1)/12 = 5.25, sd = 2.2912878. With continuity correction
    // z = (9 - 4.5 - 0.5)/2.2912878 = 1.7457431; P(Z > z) = 0.0404278 (one-sided), two-sided 0.0808556.
    let m = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
    assert_eq!(m.u, 9.0);
    assert_eq!((m.n_a, m.n_b), (3, 3));
    assert_eq!(m.effect, 1.0);
    assert!(close(m.z, 1.745_743_121_887_939, 1e-9), "{}", m.z);
    assert!(close(m.p_b_greater, 0.040_427_799_185_026, 1e-6));
    assert!(close(m.p_two_sided, 0.080_855_598_370_052, 1e-6));
    // Same test the other way round: U_A = 0, z = -1.7457, B smaller.
    let r = mann_whitney_u(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]);
    assert_eq!(r.u, 0.0);
    assert!(close(r.z, -1.745_743_121_887_939, 1e-9));
    assert!(close(r.p_b_less, m.p_b_greater, 1e-12));
    assert!(close(r.p_two_sided, m.p_two_sided, 1e-12));
}

#[test]
fn mann_whitney_ties() {
    // A = [1,2,2,3], B = [2,3,4,5]. Pooled, sorted: 1a 2a 2a 2b 3a 3b 4b 5b. Ranks: 1 -> 1; the three 2s share
    // ranks 2,3,4 -> 3; the two 3s share 5,6 -> 5.5; 4 -> 7; 5 -> 8. R_B = 3 + 5.5 + 7 + 8 = 23.5,
    // U_B = 23.5 - 4*5/2 = 13.5 (check by pairs: b=2 beats 1, ties two 2s -> 2; b=3 beats 1,2,2, ties 3 -> 3.5;
    // b=4 -> 4; b=5 -> 4; total 13.5). effect = 13.5/16 = 0.84375.
    // Tie groups t = 3 and t = 2: sum(t^3 - t) = 24 + 6 = 30; n = 8.
    // var = 4*4/12 * ((8+1) - 30/(8*7)) = 1.3333333 * 8.4642857 = 11.2857143, sd = 3.3594217.
    // d = 13.5 - 8 = 5.5; z = (5.5 - 0.5)/3.3594217 = 1.4883514; P(Z > z) = 0.0683291; two-sided 0.1366582;
    // p_b_less = P(Z <= (5.5 + 0.5)/sd) = 1 - 0.0370479 = 0.9629521.
    let m = mann_whitney_u(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 4.0, 5.0]);
    assert_eq!(m.u, 13.5);
    assert_eq!(m.effect, 0.843_75);
    assert!(close(m.z, 1.488_351_394_468_968_9, 1e-9), "{}", m.z);
    assert!(close(m.p_b_greater, 0.068_329_123_869_073, 1e-6));
    assert!(close(m.p_two_sided, 0.136_658_247_738_147, 1e-6));
    assert!(close(m.p_b_less, 1.0 - 0.037_047_874_490_673_96, 1e-6));
}

#[test]
fn mann_whitney_identical_and_degenerate() {
    let x: Vec<f64> = (1..=50).map(f64::from).collect();
    let m = mann_whitney_u(&x, &x);
    assert_eq!(m.u, 1250.0);
    assert_eq!(m.z, 0.0);
    assert!(m.p_two_sided > 0.999);
    assert!(m.p_b_greater > 0.49 && m.p_b_less > 0.49);
    assert_eq!(m.effect, 0.5);
    let c = mann_whitney_u(&[7.0; 40], &[7.0; 40]);
    assert_eq!((c.z, c.p_two_sided, c.effect), (0.0, 1.0, 0.5));
    let e = mann_whitney_u(&[], &[1.0, 2.0]);
    assert_eq!((e.u, e.p_two_sided, e.p_b_greater), (0.0, 1.0, 1.0));
}

#[test]
fn mann_whitney_matches_pair_counting() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for (na, nb) in [(1, 1), (5, 3), (40, 70), (200, 150)] {
        // Small integers, so there are many ties.
        let a: Vec<f64> = (0..na).map(|_| rng.gen_range(0..12) as f64).collect();
        let b: Vec<f64> = (0..nb).map(|_| rng.gen_range(0..12) as f64).collect();
        let mut pairs = 0.0;
        for &y in &b {
            for &x in &a {
                pairs += if y > x {
                    1.0
                } else if y == x {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let m = mann_whitney_u(&a, &b);
        assert_eq!(m.u, pairs);
        let r = mann_whitney_u(&b, &a);
        assert_eq!(r.u, (na * nb) as f64 - pairs);
        assert!(close(r.p_b_greater, m.p_b_less, 1e-12));
        assert!(close(r.p_two_sided, m.p_two_sided, 1e-12));
    }
    // Signed zeros tie; the merge must not loop on NaN.
    assert_eq!(mann_whitney_u(&[-0.0], &[0.0]).u, 0.5);
    assert_eq!(mann_whitney_u(&[f64::NAN, 1.0], &[f64::NAN, 2.0]).n_b, 2);
}

/// The 95% interval covers the true difference of medians in about 95% of samples.
#[test]
fn bootstrap_coverage() {
    let mut covered = 0;
    for seed in 0..200 {
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + seed);
        let a = lognormal_sample(&mut rng, 300, 5.0, 0.5, 1.0);
        let b = lognormal_sample(&mut rng, 300, 5.0, 0.5, 1.2);
        let ci = bootstrap_quantile_diff(&a, &b, 0.5, 200, 0.95, seed).unwrap();
        let truth = 0.2 * 5f64.exp();
        covered += (ci.low <= truth && truth <= ci.high) as usize;
    }
    assert!((180..=198).contains(&covered), "covered {covered} of 200");
}

#[test]
fn quantile_matches_numpy_linear() {
    let v = [1.0, 2.0, 3.0, 4.0];
    // numpy.quantile([1,2,3,4], [0, .25, .5, .9, 1]) = [1, 1.75, 2.5, 3.7, 4]
    for (q, want) in [(0.0, 1.0), (0.25, 1.75), (0.5, 2.5), (0.9, 3.7), (1.0, 4.0)] {
        assert!(close(quantile(&v, q).unwrap(), want, 1e-12));
        assert!(close(
            quantile_unsorted(&[4.0, 1.0, 3.0, 2.0], q).unwrap(),
            want,
            1e-12
        ));
    }
    assert_eq!(quantile(&[5.0], 0.99), Some(5.0));
    assert_eq!(quantile(&[], 0.5), None);
    assert_eq!(quantile(&v, 1.5), None);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x: Vec<f64> = (0..1001).map(|_| rng.gen::<f64>()).collect();
    let s = sorted_copy(&x);
    for q in [0.0, 0.1, 0.5, 0.99, 0.999, 1.0] {
        assert_eq!(quantile(&s, q), quantile_unsorted(&x, q));
    }
}

/// The order-statistic shortcut must give the same bootstrap distribution as literally resampling.
#[test]
fn bootstrap_shortcut_matches_resampling() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let x = lognormal_sample(&mut rng, 200, 5.0, 0.6, 1.0);
    let s = sorted_copy(&x);
    let n = 2000;
    let mut normal = Normals::default();
    for q in [0.5, 0.95] {
        let mut fast: Vec<f64> = (0..n)
            .map(|_| resampled_quantile(&s, q, &mut rng, &mut normal))
            .collect();
        let mut buf = vec![0.0; x.len()];
        let mut slow: Vec<f64> = (0..n)
            .map(|_| {
                for v in buf.iter_mut() {
                    *v = x[rng.gen_range(0..x.len())];
                }
                quantile_unsorted(&buf, q).unwrap()
            })
            .collect();
        fast.sort_unstable_by(f64::total_cmp);
        slow.sort_unstable_by(f64::total_cmp);
        // Two-sample Kolmogorov-Smirnov distance; 0.062 is the 0.1% critical value for 2000 vs 2000.
        let mut d: f64 = 0.0;
        for t in fast.iter().chain(&slow) {
            let f = fast.partition_point(|v| v <= t) as f64 / n as f64;
            let g = slow.partition_point(|v| v <= t) as f64 / n as f64;
            d = d.max((f - g).abs());
        }
        assert!(d < 0.062, "q {q}: KS distance {d}");
    }
}

#[test]
fn bootstrap_ci_basics() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let a = lognormal_sample(&mut rng, 3000, 5.0, 0.5, 1.0);
    let b = lognormal_sample(&mut rng, 3000, 5.0, 0.5, 1.5);
    let ci = bootstrap_quantile_diff(&a, &b, 0.5, 500, 0.95, 42).unwrap();
    let again = bootstrap_quantile_diff(&a, &b, 0.5, 500, 0.95, 42).unwrap();
    assert_eq!(ci, again, "deterministic for a seed");
    let est = quantile_unsorted(&b, 0.5).unwrap() - quantile_unsorted(&a, 0.5).unwrap();
    assert_eq!(ci.estimate, est);
    // Coverage of the true value is tested below; here: a sane interval around the estimate.
    assert!(
        ci.low < est && est < ci.high && ci.high - ci.low < 0.5 * est,
        "{ci:?}"
    );
    let r = bootstrap_quantile_ratio(&a, &b, 0.9, 500, 0.95, 1).unwrap();
    let est = quantile_unsorted(&b, 0.9).unwrap() / quantile_unsorted(&a, 0.9).unwrap();
    assert_eq!(r.estimate, est);
    assert!(
        r.low < est && est < r.high && r.low > 1.2 && r.high < 1.8,
        "{r:?}"
    );
    assert!(bootstrap_quantile_diff(&[], &b, 0.5, 100, 0.95, 1).is_none());
    assert!(bootstrap_quantile_diff(&a, &b, 0.5, 0, 0.95, 1).is_none());
    // A single value per side: the interval collapses on the point estimate.
    let one = bootstrap_quantile_diff(&[1.0], &[3.0], 0.99, 10, 0.95, 1).unwrap();
    assert_eq!((one.estimate, one.low, one.high), (2.0, 2.0, 2.0));
}

#[test]
fn newcombe_interval() {
    // Newcombe (1998), table II example (a): 56/70 vs 48/80, difference 0.2, interval 0.0524 .. 0.3339.
    let ci = rate_diff_ci(48, 80, 56, 70, 0.95).unwrap();
    assert!(close(ci.estimate, 0.2, 1e-12));
    assert!(
        (ci.low - 0.0524).abs() < 5e-4 && (ci.high - 0.3339).abs() < 5e-4,
        "{ci:?}"
    );
    // Example (h): 0/10 vs 0/20: -0.1611 .. 0.2775 (B - A = 0/10 - 0/20 here).
    let z = rate_diff_ci(0, 20, 0, 10, 0.95).unwrap();
    assert!(
        (z.low + 0.1611).abs() < 5e-4 && (z.high - 0.2775).abs() < 5e-4,
        "{z:?}"
    );
    assert!(rate_diff_ci(1, 0, 1, 10, 0.95).is_none());
}

#[test]
fn sample_size_for_proportions() {
    assert_eq!(
        required_sample_size_proportions(0.01, 0.02, 0.05, 0.8),
        Some(2319)
    );
    assert_eq!(
        required_sample_size_proportions(0.02, 0.01, 0.05, 0.8),
        Some(2319)
    );
    // 50% vs 60%: (1.96 sqrt(2 * .55 * .45) + 0.8416 sqrt(.25 + .24))^2 / 0.01 = 387.3 (the 385 often quoted
    // uses the unpooled variance under the null as well).
    assert_eq!(
        required_sample_size_proportions(0.5, 0.6, 0.05, 0.8),
        Some(388)
    );
    assert_eq!(required_sample_size_proportions(0.1, 0.1, 0.05, 0.8), None);
    assert_eq!(required_sample_size_proportions(0.1, 1.1, 0.05, 0.8), None);
}

#[test]
fn insufficient_data() {
    assert_eq!(needed_for_quantile(0.5), 30);
    assert_eq!(needed_for_quantile(0.95), 200);
    assert_eq!(needed_for_quantile(0.99), 1000);
    let a = vec![1.0; 999];
    let v = compare_latency(&a, &vec![1.0; 5000], 0.99, 100, 0.95, 0.02, 1);
    assert_eq!(
        v.direction,
        Direction::InsufficientData {
            needed_per_side: 1000
        }
    );
    assert!(v.ci.is_none());
    let v = compare_error_rate(0, 29, 0, 1000, 0.95, 0.02);
    assert_eq!(
        v.direction,
        Direction::InsufficientData {
            needed_per_side: 30
        }
    );
}

#[test]
fn error_rate_verdicts() {
    let v = compare_error_rate(10, 10_000, 40, 10_000, 0.95, 0.02);
    assert_eq!(v.direction, Direction::Worse);
    let ci = v.ci.unwrap();
    assert!(ci.low > 0.0 && close(ci.estimate, 0.003, 1e-9));
    assert!(v.required_per_side.unwrap() < 10_000);
    assert_eq!(
        compare_error_rate(40, 10_000, 10, 10_000, 0.95, 0.02).direction,
        Direction::Better
    );
    let same = compare_error_rate(10, 1000, 11, 1000, 0.95, 0.02);
    assert_eq!(same.direction, Direction::NoSignificantDifference);
    assert!(same.required_per_side.unwrap() > 100_000);
    let zero = compare_error_rate(0, 1000, 0, 1000, 0.95, 0.02);
    assert_eq!(zero.direction, Direction::NoSignificantDifference);
    assert_eq!(zero.required_per_side, None);
    // One failure against none is no evidence.
    assert_eq!(
        compare_error_rate(0, 1000, 1, 1000, 0.95, 0.02).direction,
        Direction::NoSignificantDifference
    );
}

const N: usize = 2000;
const ITERS: usize = 200;

/// Verdict counts [better, none, worse] for p50 and p99 over `seeds` pairs of samples: A from the lognormal with
/// the given mean and p99, B from the same one scaled by `scale`.
fn verdicts(seeds: u64, scale: f64, mean: f64, p99: f64) -> [[usize; 3]; 2] {
    // The one lognormal fit is the mock's (its profiles are written as mean and p99).
    let d = crate::mock::LogNormalMs::fit(mean, p99).unwrap();
    let (mu, sigma) = (d.mu, d.sigma);
    let mut counts = [[0; 3]; 2];
    for seed in 0..seeds {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a = lognormal_sample(&mut rng, N, mu, sigma, 1.0);
        let b = lognormal_sample(&mut rng, N, mu, sigma, scale);
        let opts = CompareOptions {
            iters: ITERS,
            seed,
            ..CompareOptions::default()
        };
        let vs = compare_quantiles(&a, &b, &[0.5, 0.99], &opts);
        if seed == 0 {
            let one = compare_latency(&a, &b, 0.99, ITERS, 0.95, 0.02, seed);
            assert_eq!(vs[1], one, "same verdict as one quantile at a time");
        }
        for (i, v) in vs.iter().enumerate() {
            let k = match v.direction {
                Direction::Better => 0,
                Direction::NoSignificantDifference => 1,
                Direction::Worse => 2,
                Direction::InsufficientData { .. } => panic!("enough data"),
            };
            counts[i][k] += 1;
        }
    }
    counts
}

#[test]
fn same_distribution_is_no_significant_difference() {
    // A wide tail: p99 = 4 x mean (sigma ~ 0.7).
    let counts = verdicts(200, 1.0, 300.0, 1200.0);
    for (q, [better, none, worse]) in [0.5, 0.99].into_iter().zip(counts) {
        assert!(
            none >= 190,
            "q {q}: better {better} none {none} worse {worse}"
        );
    }
}

#[test]
fn ten_percent_regression_is_worse() {
    // Every quantile of B is 10% higher. With mean 800 ms / p99 1,100 ms (sigma ~ 0.14) the p99 estimate is
    // tight enough at n = 2,000 for a 10% change to clear the 2% tolerance; wider tails need more samples.
    let counts = verdicts(200, 1.10, 800.0, 1100.0);
    for (q, [better, none, worse]) in [0.5, 0.99].into_iter().zip(counts) {
        assert!(
            worse >= 194,
            "q {q}: better {better} none {none} worse {worse}"
        );
    }
    // And a 10% improvement is Better.
    let counts = verdicts(50, 1.0 / 1.10, 800.0, 1100.0);
    for (q, [better, none, worse]) in [0.5, 0.99].into_iter().zip(counts) {
        assert!(
            better >= 48,
            "q {q}: better {better} none {none} worse {worse}"
        );
    }
}

/// Issue 10: a gateway whose p99 rose from ~298 to ~660 ms with the median unchanged. The rank test barely sees it
/// (only the top 3% of the values moved); p99 must be judged worse on its own interval, and p50 not.
#[test]
fn tail_only_regression_is_worse_on_p99_and_not_on_p50() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // median 150 ms, p99 298 ms: mu = ln 150, sigma = ln(298 / 150) / z(0.99)
    let sigma = (298.0f64 / 150.0).ln() / Z99;
    let a = lognormal_sample(&mut rng, 2000, 150f64.ln(), sigma, 1.0);
    let mut b = a.clone();
    b.sort_unstable_by(f64::total_cmp);
    for x in b.iter_mut().skip(2000 - 60) {
        *x *= 660.0 / 298.0;
    }
    assert!(mann_whitney_u(&a, &b).p_b_greater > 0.05);
    let opts = CompareOptions {
        iters: 1000,
        seed: 3,
        ..CompareOptions::default()
    };
    let v = compare_quantiles(&a, &b, &[0.5, 0.99], &opts);
    assert_eq!(v[0].direction, Direction::NoSignificantDifference);
    assert_eq!(v[1].direction, Direction::Worse, "{:?}", v[1]);
}
