//! The record sink's cost per row: 200,000 typical records (a streamed chat with every timing set) sent through
//! `run::sink::write_records` into a temporary `requests.csv`, as the runner sends them. Prints the median ns per
//! row over several repetitions. For a stable figure on a shared machine count instructions instead:
//! `valgrind --tool=callgrind target/release/deps/sink_rows-* --reps 1` and divide by the rows.
//!
//! Run: `cargo bench --bench sink_rows`

use std::time::Instant;

use cutover::run::record::{Outcome, Record};
use cutover::run::sink::write_records;
use cutover::run::state::Control;

const ROWS: u64 = 200_000;

fn record(i: u64) -> Record {
    Record {
        target: "gateway".into(),
        role: "gateway".into(),
        conversation: i / 2,
        user: i % 977,
        turn: (i % 2) as u32 + 1,
        op: "chat".into(),
        model: "claude-sonnet-4-5".into(),
        stream: true,
        outcome: Some(Outcome::Ok),
        status: Some(200),
        attempts: 1,
        scheduled_ms: i as f64 * 0.731,
        sent_ms: Some(i as f64 * 0.731 + 0.113),
        ttfb_ms: Some(101.234),
        ttft_ms: Some(312.5),
        latency_ms: Some(1_234.567),
        e2e_ms: Some(1_234.612),
        from_scheduled_ms: Some(1_234.9),
        itl_ms: Some(16.25),
        max_gap_ms: Some(40.125),
        chunks: 57,
        input_tokens: 412,
        output_tokens: 57,
        cost_nano_usd: 2_091_000,
        ..Default::default()
    }
}

fn main() {
    let reps: usize = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let records: Vec<Record> = (0..ROWS).map(record).collect();
    let mut ns_per_row = Vec::new();
    for rep in 0..reps {
        let path = dir.path().join(format!("requests-{rep}.csv"));
        let rows = records.clone();
        let t = Instant::now();
        let out = rt.block_on(async move {
            let (tx, rx) = tokio::sync::mpsc::channel(65_536);
            let sink = tokio::spawn(write_records(
                path,
                rx,
                vec!["gateway".into()],
                Control::default(),
                None,
            ));
            for r in rows {
                tx.send(r).await.expect("sink alive");
            }
            drop(tx);
            sink.await.expect("sink task").expect("sink output")
        });
        ns_per_row.push(t.elapsed().as_nanos() as f64 / ROWS as f64);
        assert_eq!(out.accounting[0].ok, ROWS, "every row counted");
    }
    ns_per_row.sort_by(f64::total_cmp);
    println!(
        "sink: {ROWS} rows x {reps} reps, median {:.0} ns/row (min {:.0}, max {:.0})",
        ns_per_row[reps / 2],
        ns_per_row[0],
        ns_per_row[reps - 1]
    );
}
