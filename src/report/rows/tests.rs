use super::*;
use crate::run::record::read_records;

fn write(path: &std::path::Path, rows: &[Record]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    for r in rows {
        w.serialize(r).unwrap();
    }
    w.flush().unwrap();
}

fn fast(path: &std::path::Path) -> Result<Vec<Record>, Fast> {
    let mut out = Vec::new();
    for_each_fast(path, |r| out.push(r.clone()))?;
    Ok(out)
}

/// Rows with every field set, every optional field empty, and text that needs quoting: the fast reader gives
/// exactly the records the reference reader (serde) does.
#[test]
fn reads_the_rows_the_reference_reader_reads() {
    let full = Record {
        target: "gate,way \"2\"".into(),
        role: "gateway".into(),
        conversation: 18_446_744_073_709_551_615,
        user: 7,
        turn: 3,
        op: "chat".into(),
        model: "gpt-4o-mini\nnext line".into(),
        stream: true,
        outcome: Some(Outcome::Error),
        error_kind: "http_503".into(),
        not_sent_reason: String::new(),
        status: Some(503),
        attempts: 4,
        retries: 3,
        scheduled_ms: 1_234.567,
        sent_ms: Some(1_234.6),
        ttfb_ms: Some(0.001),
        ttft_ms: Some(12.5),
        latency_ms: Some(99.999),
        e2e_ms: Some(1e-3),
        from_scheduled_ms: Some(250.25),
        retry_wait_ms: 42.0,
        itl_ms: Some(3.25),
        max_gap_ms: Some(8.0),
        chunks: 17,
        input_tokens: 1_000,
        output_tokens: 2_000,
        tokens_estimated: true,
        cost_nano_usd: 123_456_789,
        canary_phase: Some(2),
        detail: "é ✓ 日本".into(),
        warmup: true,
        fallback_target: "legacy".into(),
        fallback_outcome: "ok".into(),
        fallback_latency_ms: Some(5.5),
        ack_timeouts: 1,
        answers: Some(2),
        answer_ms: Some(77.7),
    };
    let empty = Record {
        outcome: None,
        ..Default::default()
    };
    let not_sent = Record {
        target: "l".into(),
        outcome: Some(Outcome::NotSent),
        not_sent_reason: "max_in_flight".into(),
        ..Default::default()
    };
    let rows = vec![full, empty, not_sent.clone(), not_sent];
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requests.csv");
    write(&p, &rows);
    let reference: Vec<Record> = read_records(&p).unwrap().map(Result::unwrap).collect();
    assert_eq!(reference, rows);
    assert_eq!(fast(&p).unwrap(), rows);
    // A trailing partial row is skipped, as the reference reader skips it.
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.extend_from_slice(b"g,gateway,9,9");
    std::fs::write(&p, bytes).unwrap();
    assert_eq!(fast(&p).unwrap(), rows);
}

/// What it does not read as serde would, it declines (and the caller asks the reference reader): a hexadecimal
/// integer (serde takes it), columns in another order (serde matches names), a value serde rejects too.
#[test]
fn declines_what_it_does_not_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requests.csv");
    let rows = vec![Record {
        target: "g".into(),
        conversation: 26,
        outcome: Some(Outcome::Ok),
        ..Default::default()
    }];
    write(&p, &rows);
    let text = std::fs::read_to_string(&p).unwrap();
    let (head, row) = text.split_once('\n').unwrap();
    // conversation 26 written as 0x1A: serde reads 26.
    let hex = format!("{head}\n{}", row.replacen(",26,", ",0x1A,", 1));
    std::fs::write(&p, &hex).unwrap();
    assert!(matches!(fast(&p), Err(Fast::Declined)));
    let reference: Vec<Record> = read_records(&p).unwrap().map(Result::unwrap).collect();
    assert_eq!(reference, rows);
    // An outcome serde does not know either.
    let bad = format!("{head}\n{}", row.replacen(",ok,", ",fine,", 1));
    std::fs::write(&p, &bad).unwrap();
    assert!(matches!(fast(&p), Err(Fast::Declined)));
    assert!(read_records(&p).unwrap().next().unwrap().is_err());
    // Another tool's column order.
    let swapped = text.replacen("target,role", "role,target", 1);
    std::fs::write(&p, swapped).unwrap();
    assert!(matches!(fast(&p), Err(Fast::Declined)));
}

/// Integers read from the bytes: what `str::parse` (serde's reader) reads, the same value; the rest declined.
#[test]
fn integers_from_bytes_agree_with_str_parse() {
    assert_eq!(uint::<u64>(b"0"), Some(0));
    assert_eq!(uint::<u64>(b"007"), Some(7));
    assert_eq!(uint::<u64>(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(uint::<u16>(b"65535"), Some(65_535));
    for declined in [
        &b"18446744073709551616"[..],
        b"",
        b"+1",
        b"-1",
        b"0x1A",
        b"1.0",
        b" 1",
    ] {
        assert_eq!(uint::<u64>(declined), None, "{declined:?}");
    }
    assert_eq!(uint::<u16>(b"65536"), None);
    assert_eq!(uint::<u32>(b"4294967296"), None);
    for s in [
        "0",
        "1",
        "42",
        "999999",
        "4294967295",
        "12345678901234567890",
    ] {
        assert_eq!(uint::<u64>(s.as_bytes()), s.parse::<u64>().ok(), "{s}");
        assert_eq!(uint::<u32>(s.as_bytes()), s.parse::<u32>().ok(), "{s}");
    }
    assert_eq!(opt_uint::<u16>(b""), Some(None));
    assert_eq!(opt_uint::<u16>(b"503"), Some(Some(503)));
    assert_eq!(opt_uint::<u16>(b"x"), None);
}

/// Rows handed over in batches from the parsing thread: a file of 2 batches and a part, with rows that differ in
/// their text's lengths (reused records must not keep a longer earlier value), reaches `f` whole and in order; a row
/// it declines in the third batch stops it after exactly the rows before that row.
#[test]
fn batches_give_every_row_in_order_and_stop_at_a_declined_one() {
    let n = 2 * BATCH + 3;
    let rows: Vec<Record> = (0..n as u64)
        .map(|i| Record {
            target: if i % 2 == 0 {
                "gateway".into()
            } else {
                "g".into()
            },
            conversation: i,
            detail: "x".repeat((i % 7) as usize),
            outcome: Some(Outcome::Ok),
            ..Default::default()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requests.csv");
    write(&p, &rows);
    assert_eq!(fast(&p).unwrap(), rows);
    // Row 2 * BATCH + 1 (conversation 2049 with BATCH 1024) gets an outcome neither reader knows.
    let bad = 2 * BATCH + 1;
    let text = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1 + bad] = lines[1 + bad].replacen(",ok,", ",fine,", 1);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let mut seen = Vec::new();
    let res = for_each_fast(&p, |r| seen.push(r.conversation));
    assert!(matches!(res, Err(Fast::Declined)));
    assert_eq!(seen, (0..bad as u64).collect::<Vec<_>>());
}

/// Floats read from the bytes: the same f64, bit for bit, as `str::parse` (serde's reader), for what the run writes
/// (plain decimals of every length up to and past 15 digits, up to and past 22 after the point) and for the forms
/// only `str::parse` reads; a value neither reads is declined.
#[test]
fn floats_from_bytes_agree_with_str_parse() {
    let mut texts: Vec<String> = [
        "0",
        "0.0",
        "00.5",
        "1",
        "1.",
        ".5",
        "-0.0",
        "-1.25",
        "+3.5",
        "1e3",
        "2.5E-3",
        "inf",
        "NaN",
        "0.1",
        "0.3",
        "123456789012345",
        "1234567890123456",
        "9007199254740993",
        "0.0000000000000000000001",
        "0.00000000000000000000001",
        "1.7976931348623157e308",
        "4503599627370496.5",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A deterministic spread of mantissas and decimals (xorshift), as ryu writes them and longer.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let digits = (x % 19 + 1) as u32;
        let m = x % 10u64.pow(digits);
        let k = ((x >> 40) % 25) as usize;
        let s = format!("{m:0>w$}", w = k + 1);
        let (int, frac) = s.split_at(s.len() - k);
        texts.push(if k == 0 {
            int.to_string()
        } else {
            format!("{int}.{frac}")
        });
        texts.push(format!("{}", f64::from_bits(x >> 2)));
    }
    for t in &texts {
        let want = t.parse::<f64>().ok();
        let got = float(t.as_bytes());
        assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{t}");
    }
    for declined in ["", "1.2.3", "0x1A", " 1", "1,5"] {
        assert_eq!(float(declined.as_bytes()), None, "{declined}");
    }
    assert_eq!(opt_float(b""), Some(None));
    assert_eq!(opt_float(b"2.5"), Some(Some(2.5)));
}
