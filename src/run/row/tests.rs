use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::run::record::{csv_header, OP_CHAT};

/// The reference: the row the csv crate's default writer gives through serde (what the sink wrote before).
fn serde_row(r: &Record) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(vec![]);
    w.serialize(r).unwrap();
    w.into_inner().unwrap()
}

fn encoded(r: &Record) -> Vec<u8> {
    let mut out = vec![];
    encode(r, &mut out);
    out
}

fn assert_same(r: &Record) {
    let (want, got) = (serde_row(r), encoded(r));
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want),
        "{r:?}"
    );
    assert_eq!(got, want, "{r:?}");
}

/// Text that needs quoting or looks as if it might: the quoted bytes, their neighbours, unicode, a NUL.
const PIECES: &[&str] = &[
    "", "a", "gw", " ", ",", "\"", "\r", "\n", "\r\n", "\t", "\\", "'", "#", ";", "\0", "é", "ß",
    "🙂", "中文", "x y", "\"\"", "=1+2", "-", "0", "1.5", "NaN",
];

fn text(rng: &mut ChaCha8Rng) -> String {
    let n = rng.gen_range(0..6);
    (0..n)
        .map(|_| PIECES[rng.gen_range(0..PIECES.len())])
        .collect()
}

/// Floats of every shape ryu writes: integers, three-decimal milliseconds, exponents both ways, specials, any bits.
fn float(rng: &mut ChaCha8Rng) -> f64 {
    const SPECIAL: &[f64] = &[
        0.0,
        -0.0,
        1e-7,
        1e-5,
        1e15,
        1e16,
        1e21,
        1e22,
        0.1,
        1234.567,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        f64::EPSILON,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    match rng.gen_range(0..4) {
        0 => SPECIAL[rng.gen_range(0..SPECIAL.len())],
        1 => (rng.gen_range(0.0..1e7_f64) * 1e3).round() / 1e3,
        2 => rng.gen_range(0..100_000) as f64,
        _ => f64::from_bits(rng.gen()),
    }
}

fn maybe<T>(rng: &mut ChaCha8Rng, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> Option<T> {
    rng.gen_bool(0.7).then(|| f(rng))
}

fn int(rng: &mut ChaCha8Rng) -> u64 {
    match rng.gen_range(0..3) {
        0 => rng.gen_range(0..10),
        1 => rng.gen(),
        _ => u64::MAX,
    }
}

fn record(rng: &mut ChaCha8Rng) -> Record {
    const OUTCOMES: [Option<Outcome>; 5] = [
        None,
        Some(Outcome::Ok),
        Some(Outcome::Error),
        Some(Outcome::Cancelled),
        Some(Outcome::NotSent),
    ];
    Record {
        target: text(rng),
        role: text(rng),
        conversation: int(rng),
        user: int(rng),
        turn: rng.gen(),
        op: text(rng),
        model: text(rng),
        stream: rng.gen(),
        outcome: OUTCOMES[rng.gen_range(0..OUTCOMES.len())],
        error_kind: text(rng),
        not_sent_reason: text(rng),
        status: maybe(rng, |r| r.gen()),
        attempts: rng.gen(),
        retries: rng.gen(),
        scheduled_ms: float(rng),
        sent_ms: maybe(rng, float),
        ttfb_ms: maybe(rng, float),
        ttft_ms: maybe(rng, float),
        latency_ms: maybe(rng, float),
        e2e_ms: maybe(rng, float),
        from_scheduled_ms: maybe(rng, float),
        retry_wait_ms: float(rng),
        itl_ms: maybe(rng, float),
        max_gap_ms: maybe(rng, float),
        chunks: rng.gen(),
        input_tokens: int(rng),
        output_tokens: int(rng),
        tokens_estimated: rng.gen(),
        cost_nano_usd: int(rng),
        canary_phase: maybe(rng, |r| r.gen()),
        detail: text(rng),
        warmup: rng.gen(),
        fallback_target: text(rng),
        fallback_outcome: text(rng),
        fallback_latency_ms: maybe(rng, float),
        ack_timeouts: rng.gen(),
        answers: maybe(rng, |r| r.gen()),
        answer_ms: maybe(rng, float),
    }
}

#[test]
fn the_encoder_writes_what_serde_writes() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for _ in 0..50_000 {
        assert_same(&record(&mut rng));
    }
    // Every field at its default and at its largest.
    assert_same(&Record::default());
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let big = Record {
        conversation: u64::MAX,
        turn: u32::MAX,
        status: Some(u16::MAX),
        canary_phase: Some(u32::MAX),
        answers: Some(u32::MAX),
        scheduled_ms: f64::MAX,
        sent_ms: Some(f64::NAN),
        ..record(&mut rng)
    };
    assert_same(&big);
}

#[test]
fn text_is_quoted_only_when_it_must_be() {
    // Worked by hand: a field with `,` `"` CR or LF is quoted and its quotes doubled; other text is written as is.
    let r = Record {
        target: "a,b".into(),
        role: "say \"hi\"".into(),
        op: OP_CHAT.into(),
        model: "é 🙂\t;".into(),
        error_kind: "x\ny".into(),
        not_sent_reason: "\r".into(),
        outcome: Some(Outcome::NotSent),
        scheduled_ms: 1e21,
        sent_ms: Some(1e-7),
        ttfb_ms: Some(0.0),
        ttft_ms: Some(f64::NAN),
        latency_ms: Some(f64::NEG_INFINITY),
        e2e_ms: Some(1234.5),
        detail: "\"".into(),
        fallback_latency_ms: Some(3.0),
        ..Default::default()
    };
    let want = "\"a,b\",\"say \"\"hi\"\"\",0,0,0,chat,é 🙂\t;,false,not_sent,\"x\ny\",\"\r\",,0,0,1e21,1e-7,0.0,NaN,\
-inf,1234.5,,0.0,,,0,0,0,false,0,,\"\"\"\",false,,,3.0,0,,\n";
    assert_eq!(String::from_utf8(encoded(&r)).unwrap(), want);
}

#[test]
fn rows_append_to_what_the_buffer_holds() {
    let mut out = b"head\n".to_vec();
    encode(&Record::default(), &mut out);
    encode(&Record::default(), &mut out);
    let mut want = b"head\n".to_vec();
    want.extend(serde_row(&Record::default()));
    want.extend(serde_row(&Record::default()));
    assert_eq!(out, want);
}

#[tokio::test]
async fn the_sink_writes_the_file_serde_wrote() {
    // The whole file through the sink (header, then rows across several page-sized writes) against the csv crate
    // writing the same records with its header.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let rows: Vec<Record> = (0..2_000).map(|_| record(&mut rng)).collect();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requests.csv");
    let (tx, rx) = tokio::sync::mpsc::channel(rows.len());
    for r in &rows {
        tx.send(r.clone()).await.unwrap();
    }
    drop(tx);
    let control = crate::run::state::Control::default();
    let out = crate::run::sink::write_records(p.clone(), rx, vec![], control, None)
        .await
        .unwrap();
    assert!(out.write_error.is_none());
    let mut w = csv::Writer::from_writer(vec![]);
    for r in &rows {
        w.serialize(r).unwrap();
    }
    let want = w.into_inner().unwrap();
    let got = std::fs::read(&p).unwrap();
    assert_eq!(got, want);
    // The header is the one every reader checks against.
    let first = got.split(|&b| b == b'\n').next().unwrap();
    assert_eq!(first, csv_header().join(",").as_bytes());
}

fn ryu_of(v: f64) -> String {
    ryu::Buffer::new().format(v).to_string()
}

fn fast_of(v: f64) -> Option<String> {
    let mut out = vec![];
    millis(&mut out, v).then(|| String::from_utf8(out).unwrap())
}

#[test]
fn milliseconds_are_written_as_ryu_writes_them() {
    // Every value with three decimals up to 2,000 ms, both signs, then a million random ones up to 10^12 and the
    // values one ulp either side of each, which must not take the short cut unless they are themselves n/1000.
    let mut checked = 0;
    let mut check = |v: f64| {
        if let Some(got) = fast_of(v) {
            assert_eq!(got, ryu_of(v), "{v:e}");
            checked += 1;
        }
    };
    for n in 1..=2_000_000_u64 {
        check(n as f64 / 1000.0);
        check(-(n as f64) / 1000.0);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..1_000_000 {
        let n = match rng.gen_range(0..3) {
            0 => rng.gen_range(1..1_000_000_000_u64),
            1 => rng.gen_range(1..1_000_000_000_000_000_u64),
            _ => 1_000_000_000_000_000 - rng.gen_range(1..1000_u64),
        };
        let v = n as f64 / 1000.0;
        check(v);
        check(f64::from_bits(v.to_bits() + 1));
        check(f64::from_bits(v.to_bits() - 1));
    }
    // What record::ms makes of durations.
    for _ in 0..200_000 {
        let d = std::time::Duration::from_nanos(rng.gen_range(0..3_600_000_000_000));
        check(crate::run::record::ms(d));
    }
    assert!(checked > 5_000_000, "{checked} values took the short cut");
}

#[test]
fn the_short_cut_takes_milliseconds_only() {
    // Worked by hand.
    assert_eq!(fast_of(1234.567).as_deref(), Some("1234.567"));
    assert_eq!(fast_of(0.025).as_deref(), Some("0.025"));
    assert_eq!(fast_of(2.5).as_deref(), Some("2.5"));
    assert_eq!(fast_of(7.0).as_deref(), Some("7.0"));
    assert_eq!(fast_of(-0.001).as_deref(), Some("-0.001"));
    assert_eq!(
        fast_of(999_999_999_999.999).as_deref(),
        Some("999999999999.999")
    );
    // Not three decimals, zero (ryu keeps its sign), 10^12 and up, not finite: ryu's.
    for v in [
        0.1 + 0.2,
        1e-4,
        0.0,
        -0.0,
        1e12,
        1e21,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        assert_eq!(fast_of(v), None, "{v:e}");
    }
}
