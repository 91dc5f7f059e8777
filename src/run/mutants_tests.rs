//! Tests written to kill the mutants `cargo mutants` found alive in the sink, the accounting and the record helpers
//! (docs/mutants.md). Expected figures come from the rows each test sends, never from the sink's own tally. The attempt
//! loop's are in [`request`].

pub(super) mod request;

use std::time::Duration;

use tokio::sync::mpsc;

use super::record::{ms, read_records, whole_rows_len, Outcome, Record, OP_CHAT, OP_CREATE};
use super::sink::{write_records, Accounting, SinkOutput};
use super::state::Control;

/// The columns of `requests.csv`, in order (PROTOCOLS.md).
const HEADER: &str = "target,role,conversation,user,turn,op,model,stream,outcome,error_kind,not_sent_reason,status,\
attempts,retries,scheduled_ms,sent_ms,ttfb_ms,ttft_ms,latency_ms,e2e_ms,from_scheduled_ms,retry_wait_ms,itl_ms,\
max_gap_ms,chunks,input_tokens,output_tokens,tokens_estimated,cost_nano_usd,canary_phase,detail,warmup,\
fallback_target,fallback_outcome,fallback_latency_ms,ack_timeouts,answers,answer_ms";

fn row(target: &str, conversation: u64, outcome: Option<Outcome>) -> Record {
    Record {
        target: target.into(),
        role: "gateway".into(),
        conversation,
        turn: 1,
        op: OP_CHAT.into(),
        model: "m".into(),
        outcome,
        attempts: 1,
        scheduled_ms: 1.5,
        ..Default::default()
    }
}

/// Run the sink over `rows`, all queued before it starts, for targets `a` and `b`.
async fn sink(path: std::path::PathBuf, rows: &[Record], control: &Control) -> SinkOutput {
    let (tx, rx) = mpsc::channel(rows.len().max(1));
    for r in rows {
        tx.send(r.clone()).await.unwrap();
    }
    drop(tx);
    write_records(
        path,
        rx,
        vec!["a".into(), "b".into()],
        control.clone(),
        None,
    )
    .await
    .unwrap()
}

fn counts(a: &Accounting) -> (&str, u64, u64, u64, u64, u64) {
    (
        a.target.as_str(),
        a.scheduled,
        a.ok,
        a.errors,
        a.cancelled,
        a.not_sent,
    )
}

#[tokio::test]
async fn the_sink_counts_every_outcome_and_writes_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requests.csv");
    // Target a: 2 ok, 1 error, 1 cancelled, 2 not sent (one without an outcome); b: nothing; c: 1 ok.
    let rows: Vec<Record> = [
        Some(Outcome::Ok),
        Some(Outcome::Error),
        Some(Outcome::Ok),
        Some(Outcome::Cancelled),
        Some(Outcome::NotSent),
        None,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, o)| row("a", i as u64, o))
    .chain([row("c", 9, Some(Outcome::Ok))])
    .collect();
    let control = Control::default();
    let out = sink(p.clone(), &rows, &control).await;
    let acc: Vec<_> = out.accounting.iter().map(counts).collect();
    // `c` is not among the sink's targets: its row is counted under its own name all the same.
    assert_eq!(
        acc,
        [
            ("a", 6, 2, 1, 1, 2),
            ("b", 0, 0, 0, 0, 0),
            ("c", 1, 1, 0, 0, 0)
        ]
    );
    assert_eq!(
        (out.hard_exit, out.write_error.as_deref(), out.lost_rows),
        (false, None, 0)
    );
    assert!(!control.stop_arrivals.is_cancelled());
    let text = std::fs::read_to_string(&p).unwrap();
    assert_eq!(text.lines().next(), Some(HEADER));
    assert_eq!(text.lines().count(), 8, "{text}");
    let back: Vec<Record> = read_records(&p).unwrap().map(Result::unwrap).collect();
    assert_eq!(back, rows);
}

#[tokio::test]
async fn a_run_without_rows_still_writes_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requests.csv");
    let out = sink(p.clone(), &[], &Control::default()).await;
    assert_eq!(std::fs::read_to_string(&p).unwrap(), format!("{HEADER}\n"));
    let acc: Vec<_> = out.accounting.iter().map(counts).collect();
    assert_eq!(acc, [("a", 0, 0, 0, 0, 0), ("b", 0, 0, 0, 0, 0)]);
}

#[tokio::test]
async fn rows_reach_the_disk_while_the_run_goes_on() {
    // The sink flushes at least every 250 ms: a row sent now is on disk a second later, the channel still open.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requests.csv");
    let (tx, rx) = mpsc::channel(4);
    let task = tokio::spawn(write_records(
        p.clone(),
        rx,
        vec!["a".into()],
        Control::default(),
        None,
    ));
    tx.send(row("a", 0, Some(Outcome::Ok))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let text = std::fs::read_to_string(&p).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    drop(tx);
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_full_disk_stops_arrivals_and_counts_the_rows_it_lost() {
    // /dev/full accepts the file and refuses every write. Rows of equal length fill the sink's file buffer (a page);
    // the row that does not fit forces a write, which fails: that row and every later one are lost, and counted.
    const N: usize = 3000;
    let detail = "x".repeat(200);
    let rows: Vec<Record> = (0..N)
        .map(|_| Record {
            detail: detail.clone(),
            ..row("a", 7, Some(Outcome::Ok))
        })
        .collect();
    // Row and header lengths as the csv crate writes them (the format, not the sink).
    let mut w = csv::Writer::from_writer(vec![]);
    w.serialize(&rows[0]).unwrap();
    let first = w.into_inner().unwrap().len();
    let header = HEADER.len() + 1;
    let len = first - header;
    let fitted = (super::sink::FILE_BUFFER - header) / len;
    assert!(fitted < N / 2, "{len}-byte rows must overflow the buffer");
    let control = Control::default();
    let out = sink("/dev/full".into(), &rows, &control).await;
    let e = out.write_error.expect("a write error");
    assert!(e.starts_with("/dev/full: "), "{e}");
    assert_eq!(out.lost_rows, (N - fitted) as u64);
    assert!(control.stop_arrivals.is_cancelled());
    assert_eq!(control.stopped_reason(), Some(format!("write error: {e}")));
    // Lost rows are still accounted: the run knows what it scheduled.
    assert_eq!(
        counts(&out.accounting[0]),
        ("a", N as u64, N as u64, 0, 0, 0)
    );
}

#[test]
fn ms_keeps_three_decimals() {
    // 1.234567891 s = 1,234.567891 ms -> 1,234.568.
    assert_eq!(ms(Duration::from_nanos(1_234_567_891)), 1234.568);
    assert_eq!(ms(Duration::from_micros(250)), 0.25);
    assert_eq!(ms(Duration::from_secs(3)), 3000.0);
    assert_eq!(ms(Duration::ZERO), 0.0);
}

#[test]
fn only_chat_rows_are_chat() {
    assert!(row("a", 0, None).is_chat());
    let create = Record {
        op: OP_CREATE.into(),
        ..row("a", 0, None)
    };
    assert!(!create.is_chat());
}

#[test]
fn a_partial_row_longer_than_the_read_window_is_cut_off() {
    // Three whole rows, then 70,000 bytes without a newline (a write cut by a crash): the search for the last
    // newline has to step back over more than one 64 KiB window.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("requests.csv");
    let rows: Vec<Record> = (0..3).map(|i| row("a", i, Some(Outcome::Ok))).collect();
    let mut w = csv::Writer::from_path(&p).unwrap();
    for r in &rows {
        w.serialize(r).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let whole = std::fs::metadata(&p).unwrap().len();
    let mut text = std::fs::read(&p).unwrap();
    text.extend(std::iter::repeat_n(b'x', 70_000));
    std::fs::write(&p, &text).unwrap();
    assert_eq!(whole_rows_len(&p).unwrap().1, whole);
    let back: Vec<Record> = read_records(&p).unwrap().map(Result::unwrap).collect();
    assert_eq!(back, rows);
    // A file that is one unfinished line holds no whole row.
    std::fs::write(&p, vec![b'y'; 70_000]).unwrap();
    assert_eq!(whole_rows_len(&p).unwrap().1, 0);
    // An empty file neither.
    std::fs::write(&p, b"").unwrap();
    assert_eq!(whole_rows_len(&p).unwrap().1, 0);
}
