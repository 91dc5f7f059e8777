use super::*;

fn metric(t: &str, m: &str) -> Expr {
    Expr::Metric {
        target: t.into(),
        metric: m.into(),
    }
}

fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
    Expr::Binary {
        op,
        lhs: Box::new(l),
        rhs: Box::new(r),
    }
}

fn syntax_err(s: &str) -> (usize, String, String) {
    match Threshold::parse(s) {
        Err(ThresholdError::Syntax {
            column,
            expected,
            found,
        }) => (column, expected, found),
        other => panic!("{s}: {other:?}"),
    }
}

fn lookup(target: &str, metric: &str) -> Option<f64> {
    match (target, metric) {
        ("gateway", "p99_ms") => Some(352.1),
        ("gateway", "error_rate") => Some(0.004),
        ("gateway", "mean_ms") => Some(120.0),
        ("legacy", "mean_ms") => Some(160.0),
        ("gateway", "monthly_cost_usd") => Some(900.0),
        ("legacy", "monthly_cost_usd") => Some(900.0),
        ("gateway", "ttft_p95_ms") => Some(800.0),
        ("legacy", "availability") => Some(0.985),
        ("gw-2", "zero") => Some(0.0),
        _ => None,
    }
}

#[test]
fn parses_the_examples() {
    let t = Threshold::parse("gateway.p99_ms < 400").unwrap();
    assert_eq!(
        t,
        Threshold {
            lhs: metric("gateway", "p99_ms"),
            op: CmpOp::Lt,
            rhs: Expr::Number(400.0)
        }
    );
    let t = Threshold::parse("gateway.mean_ms < legacy.mean_ms * 0.8").unwrap();
    assert_eq!(
        t.rhs,
        bin(BinOp::Mul, metric("legacy", "mean_ms"), Expr::Number(0.8))
    );
    assert_eq!(
        t.references(),
        vec![
            ("gateway".to_string(), "mean_ms".to_string()),
            ("legacy".to_string(), "mean_ms".to_string())
        ]
    );
    for (s, op) in [
        ("gateway.ttft_p95_ms <= 800", CmpOp::Le),
        ("legacy.availability >= 0.99", CmpOp::Ge),
        ("a.b > 1", CmpOp::Gt),
        ("a.b == 1", CmpOp::Eq),
        ("a.b != 1", CmpOp::Ne),
        ("gateway.error_rate<0.005", CmpOp::Lt),
    ] {
        assert_eq!(Threshold::parse(s).unwrap().op, op, "{s}");
    }
    let t = Threshold::parse("  gw-2.p99_ms  <  1.5e3 ").unwrap();
    assert_eq!(t.lhs, metric("gw-2", "p99_ms"));
    assert_eq!(t.rhs, Expr::Number(1500.0));
    assert_eq!(
        "a.x < a.x + 1 - a.x"
            .parse::<Threshold>()
            .unwrap()
            .references(),
        vec![("a".to_string(), "x".to_string())]
    );
}

#[test]
fn precedence_and_associativity() {
    let rhs = |s: &str| Threshold::parse(&format!("x.y < {s}")).unwrap().rhs;
    let n = Expr::Number;
    // 1 + 2 * 3 = 1 + (2 * 3)
    assert_eq!(
        rhs("1 + 2 * 3"),
        bin(BinOp::Add, n(1.0), bin(BinOp::Mul, n(2.0), n(3.0)))
    );
    // 8 - 4 - 2 = (8 - 4) - 2; 8 / 4 / 2 = (8 / 4) / 2
    assert_eq!(
        rhs("8 - 4 - 2"),
        bin(BinOp::Sub, bin(BinOp::Sub, n(8.0), n(4.0)), n(2.0))
    );
    assert_eq!(
        rhs("8 / 4 / 2"),
        bin(BinOp::Div, bin(BinOp::Div, n(8.0), n(4.0)), n(2.0))
    );
    assert_eq!(
        rhs("(1 + 2) * 3"),
        bin(BinOp::Mul, bin(BinOp::Add, n(1.0), n(2.0)), n(3.0))
    );
    assert_eq!(
        rhs("-2 * 3"),
        bin(BinOp::Mul, Expr::Neg(Box::new(n(2.0))), n(3.0))
    );
    let ev = |s: &str| {
        Threshold::parse(&format!("{s} == 0"))
            .unwrap()
            .evaluate(&|t, m: &String| lookup(t, m))
            .unwrap()
            .lhs
    };
    assert_eq!(ev("1 + 2 * 3"), 7.0);
    assert_eq!(ev("8 - 4 - 2"), 2.0);
    assert_eq!(ev("8 / 4 / 2"), 1.0);
    assert_eq!(ev("(1 + 2) * 3"), 9.0);
    assert_eq!(ev("2 * (3 - 5) / 4"), -1.0);
    assert_eq!(ev("--3"), 3.0);
    assert_eq!(ev("legacy.mean_ms - gateway.mean_ms * 2"), -80.0);
}

#[test]
fn display_round_trips() {
    for (s, want) in [
        ("gateway.p99_ms<400", "gateway.p99_ms < 400"),
        (
            "gateway.mean_ms < legacy.mean_ms * 0.8",
            "gateway.mean_ms < legacy.mean_ms * 0.8",
        ),
        ("a.b < ((1 + 2)) * 3", "a.b < (1 + 2) * 3"),
        ("a.b < 8 - (4 - 2)", "a.b < 8 - (4 - 2)"),
        ("a.b < (8 - 4) - 2", "a.b < 8 - 4 - 2"),
        ("a.b < 1 + (2 * 3)", "a.b < 1 + 2 * 3"),
        ("a.b < 8 / (4 * 2)", "a.b < 8 / (4 * 2)"),
        ("a.b < -(1 + a.c) + -2", "a.b < -(1 + a.c) + -2"),
        ("a.b >= 0.005", "a.b >= 0.005"),
        ("a.b != 1e-7", "a.b != 0.0000001"),
    ] {
        let t = Threshold::parse(s).unwrap();
        assert_eq!(t.to_string(), want);
        assert_eq!(Threshold::parse(&t.to_string()).unwrap(), t, "{s}");
    }
}

#[test]
fn errors_give_column_and_expectation() {
    let (c, e, f) = syntax_err("gateway.p99_ms 400");
    assert_eq!((c, f.as_str()), (16, "`400`"));
    assert!(e.starts_with("a comparison operator"), "{e}");
    let (c, e, f) = syntax_err("gateway.p99_ms <");
    assert_eq!((c, f.as_str()), (17, "the end"));
    assert!(e.contains("a number"), "{e}");
    let (c, e, _) = syntax_err("gateway < 400");
    assert_eq!(c, 9);
    assert!(e.contains("after target `gateway`"), "{e}");
    let (c, e, _) = syntax_err("gateway. < 400");
    assert_eq!(c, 10);
    assert!(e.contains("metric name"), "{e}");
    let (c, e, _) = syntax_err("(a.b + 1 < 4");
    assert_eq!((c, e.as_str()), (10, "`)` or an arithmetic operator"));
    let (c, _, f) = syntax_err("a.b < 4)");
    assert_eq!((c, f.as_str()), (8, "`)`"));
    let (c, e, _) = syntax_err("a.b = 4");
    assert_eq!((c, e.as_str()), (5, "`==` (comparison)"));
    let (c, _, f) = syntax_err("a.b < 4 @");
    assert_eq!((c, f.as_str()), (9, "`@`"));
    let (c, _, f) = syntax_err("a.b < 4 < 5");
    assert_eq!((c, f.as_str()), (9, "`<`"));
    let (c, e, _) = syntax_err("a.b < 4.");
    assert_eq!((c, e.as_str()), (9, "a digit after the decimal point"));
    let (c, e, _) = syntax_err("a.b < 1e999");
    assert_eq!((c, e.as_str()), (7, "a finite number"));
    let (c, _, _) = syntax_err("");
    assert_eq!(c, 1);
    // Columns count characters, not bytes.
    let (c, _, f) = syntax_err("a.b < 4 ≤ 5");
    assert_eq!((c, f.as_str()), (9, "`≤`"));
    let msg = Threshold::parse("gateway.p99_ms 400")
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("column 16: expected a comparison operator"),
        "{msg}"
    );
    assert!(msg.ends_with("found `400`"), "{msg}");
}

#[test]
fn nesting_is_bounded() {
    let ok = format!("a.b < {}1{}", "(".repeat(60), ")".repeat(60));
    assert!(Threshold::parse(&ok).is_ok());
    let deep = format!("a.b < {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let (c, e, _) = syntax_err(&deep);
    assert_eq!(c, 7 + 64);
    assert!(e.starts_with("at most 64 nested"), "{e}");
    let (_, e, _) = syntax_err(&format!("a.b < {}1", "-".repeat(10_000)));
    assert!(e.starts_with("at most 64 nested"), "{e}");
}

/// Random input never panics, and whatever parses prints back to the same tree.
#[test]
fn random_input() {
    use rand::{Rng, SeedableRng};
    let alphabet: Vec<char> = "ab_.-+*/()<>=! 0123456789e.\u{e9}x".chars().collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut parsed = 0;
    for _ in 0..5000 {
        let len = rng.gen_range(0..24);
        let s: String = (0..len)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect();
        for s in [s.clone(), format!("a.b < {s}"), format!("{s} <= x.y")] {
            if let Ok(t) = Threshold::parse(&s) {
                parsed += 1;
                let back = Threshold::parse(&t.to_string()).unwrap();
                assert_eq!(back, t, "{s}");
                let _ = t.evaluate(&|_, _| Some(1.0));
            }
        }
    }
    assert!(parsed > 100, "{parsed}");
}

#[test]
fn evaluates() {
    let check = |s: &str| {
        Threshold::parse(s)
            .unwrap()
            .evaluate(&|t, m: &String| lookup(t, m))
            .unwrap()
    };
    let e = check("gateway.p99_ms < 400");
    assert!(e.passed);
    assert_eq!((e.lhs, e.rhs), (352.1, 400.0));
    assert_eq!(e.text, "352.1 < 400");
    assert!(check("gateway.error_rate < 0.005").passed);
    let e = check("gateway.mean_ms < legacy.mean_ms * 0.7");
    assert!(!e.passed);
    assert_eq!(e.text, "120 < 112");
    let e = check("gateway.mean_ms < legacy.mean_ms * 0.8");
    assert!(e.passed);
    assert_eq!(e.text, "120 < 128");
    assert!(!check("gateway.monthly_cost_usd < legacy.monthly_cost_usd").passed);
    assert!(check("gateway.monthly_cost_usd <= legacy.monthly_cost_usd").passed);
    assert!(check("gateway.ttft_p95_ms <= 800").passed);
    assert!(!check("legacy.availability >= 0.99").passed);
    assert!(check("legacy.availability != 0.99").passed);
    assert!(
        check("1 / gw-2.zero > 1000").passed,
        "division by zero is +inf"
    );
}

#[test]
fn evaluation_errors() {
    let t = Threshold::parse("gateway.p99_ms < legacy.p99_ms * 1.1").unwrap();
    let e = t.evaluate(&|t, m: &String| lookup(t, m)).unwrap_err();
    assert_eq!(
        e,
        ThresholdError::MissingMetric {
            target: "legacy".into(),
            metric: "p99_ms".into()
        }
    );
    assert_eq!(e.to_string(), "no value for metric `legacy.p99_ms`");
    let nan = Threshold::parse("gw-2.zero / gw-2.zero < 1").unwrap();
    assert!(matches!(
        nan.evaluate(&|t, m: &String| lookup(t, m)),
        Err(ThresholdError::NotANumber { side: "left", .. })
    ));
}

#[test]
fn short_numbers() {
    assert_eq!(short(352.1), "352.1");
    assert_eq!(short(0.004_567_89), "0.00456789");
    assert_eq!(short(1234567.8), "1234568");
    assert_eq!(short(1.0 / 3.0), "0.333333");
    assert_eq!(short(-2.5), "-2.5");
    assert_eq!(short(0.0), "0");
}

#[test]
fn resolve_types_every_metric_and_names_an_unknown_one() {
    let t = Threshold::parse("gateway.p99_ms < legacy.p99_ms * 0.9 + gateway.error_rate")
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(
        t.references(),
        vec![
            ("gateway".to_string(), Metric::P99Ms),
            ("legacy".to_string(), Metric::P99Ms),
            ("gateway".to_string(), Metric::ErrorRate)
        ]
    );
    assert_eq!(
        t.to_string(),
        "gateway.p99_ms < legacy.p99_ms * 0.9 + gateway.error_rate"
    );
    let e = Threshold::parse("gw.p99_ms < 1 + gw.eror_rate")
        .unwrap()
        .resolve()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown metric `eror_rate` (did you mean `error_rate`?)"
    );
    assert!(matches!(e, ThresholdError::UnknownMetric { target, .. } if target == "gw"));
}
