//! Tests written to kill the mutants `cargo mutants` found alive in the price table (docs/mutants.md). Every expected
//! figure is worked out in the comment beside it from the prices the test writes.

use super::prices::{
    estimate_tokens, nano_to_usd, request_cost_nano, usd_to_nano, NanoPrice, PriceFile, PriceTable,
};

fn table(yaml: &str) -> Result<PriceTable, String> {
    let pf: PriceFile = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    PriceTable::from_file(pf, "p.yaml").map_err(|e| e.to_string())
}

#[test]
fn an_alias_naming_another_model_is_refused() {
    // `b` lists `a` (a model of its own) as an alias: prices would depend on which name wins.
    let e = table(
        "models:\n  a: {input_per_mtok: 1, output_per_mtok: 2}\n  b: {input_per_mtok: 3, output_per_mtok: 4, aliases: [a]}\n",
    )
    .unwrap_err();
    assert_eq!(
        e,
        "p.yaml: models.b.aliases: alias `a` is already a model or another model's alias"
    );
    // The same alias under two models is refused too.
    let e = table(
        "models:\n  a: {input_per_mtok: 1, output_per_mtok: 2, aliases: [x]}\n  b: {input_per_mtok: 3, output_per_mtok: 4, aliases: [x]}\n",
    )
    .unwrap_err();
    assert!(e.starts_with("p.yaml: models.b.aliases: alias `x`"), "{e}");
}

#[test]
fn models_lists_every_model_with_its_nano_prices() {
    // 1.234 and 5.677 USD per million tokens = 1,234 and 5,677 nano-dollars per token; 0.001 = 1.
    let t = table(
        "models:\n  a: {input_per_mtok: 1.234, output_per_mtok: 5.677}\n  b: {input_per_mtok: 0.001, output_per_mtok: 0}\n",
    )
    .unwrap();
    let got: Vec<(String, NanoPrice)> = t.models().map(|(m, p)| (m.to_string(), p)).collect();
    assert_eq!(
        got,
        vec![
            (
                "a".to_string(),
                NanoPrice {
                    input: 1234,
                    output: 5677
                }
            ),
            (
                "b".to_string(),
                NanoPrice {
                    input: 1,
                    output: 0
                }
            ),
        ]
    );
}

#[test]
fn loading_a_file_reads_its_prices_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("prices.yaml");
    std::fs::write(
        &p,
        "source: vendor page, 2026-11-01\nmodels:\n  m: {input_per_mtok: 0.28, output_per_mtok: 0.42}\n",
    )
    .unwrap();
    let t = PriceTable::load(&p).unwrap();
    assert_eq!(t.source.as_deref(), Some("vendor page, 2026-11-01"));
    assert_eq!(
        t.price("m").unwrap(),
        NanoPrice {
            input: 280,
            output: 420
        }
    );
    // A currency other than USD is refused, naming the file.
    std::fs::write(
        &p,
        "currency: EUR\nmodels:\n  m: {input_per_mtok: 1, output_per_mtok: 1}\n",
    )
    .unwrap();
    let e = PriceTable::load(&p).unwrap_err().to_string();
    assert!(
        e.ends_with("currency: only USD is supported, got EUR"),
        "{e}"
    );
}

#[test]
fn three_decimals_are_accepted_and_a_fourth_is_refused() {
    // 0.005 USD / Mtok is 5 nano-dollars per token; 1234.567 is 1,234,567.
    let t = table("models:\n  m: {input_per_mtok: 0.005, output_per_mtok: 1234.567}\n").unwrap();
    assert_eq!(
        t.price("m").unwrap(),
        NanoPrice {
            input: 5,
            output: 1_234_567
        }
    );
    for bad in ["0.0005", "2.0001", ".inf", ".nan", "-0.001"] {
        let e = table(&format!(
            "models:\n  m: {{input_per_mtok: 1, output_per_mtok: {bad}}}\n"
        ))
        .unwrap_err();
        assert!(
            e.starts_with("p.yaml: models.m.output_per_mtok"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn request_cost_is_exact_in_nano_dollars() {
    // 17 x 1,234 + 4 x 5,677 = 20,978 + 22,708 = 43,686 nano-USD; no markup, no fee.
    let p = NanoPrice {
        input: 1234,
        output: 5677,
    };
    assert_eq!(request_cost_nano(p, 17, 4, 0.0, 0.0), 43_686);
    // +12.5% = 5,460.75 -> 5,461 (rounded once, per request); + 0.000000007 USD = 7 nano.
    assert_eq!(
        request_cost_nano(p, 17, 4, 12.5, 0.000_000_007),
        43_686 + 5_461 + 7
    );
    // A markup alone on a zero base adds nothing; a fee alone is the cost.
    assert_eq!(request_cost_nano(p, 0, 0, 50.0, 0.25), 250_000_000);
}

#[test]
fn usd_and_nano_convert_both_ways() {
    assert_eq!(usd_to_nano(1.5), 1_500_000_000);
    assert_eq!(usd_to_nano(0.000_000_002_4), 2);
    assert_eq!(usd_to_nano(-3.0), 0);
    assert_eq!(nano_to_usd(2_500_000_000), 2.5);
    assert_eq!(nano_to_usd(123), 0.000_000_123);
}

#[test]
fn token_estimate_is_a_quarter_of_the_characters_or_the_words() {
    // 10 characters -> ceil(10 / 4) = 3; two words.
    assert_eq!(estimate_tokens("abcde fghi"), 3);
    // 13 characters, 7 words: the words win.
    assert_eq!(estimate_tokens("a b c d e f g"), 7);
    // Characters, not bytes: 8 two-byte characters are 2 tokens.
    assert_eq!(estimate_tokens("éééééééé"), 2);
}
