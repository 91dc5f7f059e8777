//! The record sink: the only writer of `requests.csv`. Rows are streamed to disk as they arrive (never all held in
//! memory) and flushed at least every 250 ms, so an interrupted run keeps what it measured. On a hard exit (second
//! Ctrl-C) the sink writes the rows it has whole, flushes, and exits the process itself: no row is ever half written
//! by a competing exit.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::record::{Outcome, Record};

/// Accounting of a finished run, per target.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Accounting {
    pub target: String,
    pub scheduled: u64,
    pub ok: u64,
    pub errors: u64,
    pub cancelled: u64,
    pub not_sent: u64,
}

/// Exit code of a hard exit (128 + SIGINT).
pub const HARD_EXIT_CODE: i32 = 130;

pub async fn write_records(
    path: PathBuf,
    mut rx: mpsc::Receiver<Record>,
    targets: Vec<String>,
    hard_exit: CancellationToken,
    progress_total: Option<u64>,
) -> std::io::Result<Vec<Accounting>> {
    let file = std::fs::File::create(&path)?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(256 * 1024, file));
    let mut acc: BTreeMap<String, Accounting> = targets
        .iter()
        .map(|t| {
            (
                t.clone(),
                Accounting {
                    target: t.clone(),
                    ..Default::default()
                },
            )
        })
        .collect();
    let bar = progress_total.and_then(|total| {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} conversations {msg}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            b
        })
    });
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut header_written = false;
    loop {
        tokio::select! {
            biased;
            _ = hard_exit.cancelled() => {
                // Drain what is already queued: those rows are complete.
                while let Ok(r) = rx.try_recv() {
                    w.serialize(&r).map_err(std::io::Error::other)?;
                }
                w.flush()?;
                if let Ok(inner) = w.into_inner() {
                    let _ = inner.into_inner().map(|f| f.sync_all());
                }
                eprintln!("cutover: second interrupt: exiting now; rows written so far are in {}", path.display());
                std::process::exit(HARD_EXIT_CODE);
            }
            msg = rx.recv() => {
                let Some(r) = msg else { break };
                if !header_written {
                    header_written = true;
                }
                let a = acc.entry(r.target.clone()).or_insert_with(|| Accounting { target: r.target.clone(), ..Default::default() });
                a.scheduled += 1;
                match r.outcome {
                    Some(Outcome::Ok) => a.ok += 1,
                    Some(Outcome::Error) => a.errors += 1,
                    Some(Outcome::Cancelled) => a.cancelled += 1,
                    Some(Outcome::NotSent) | None => a.not_sent += 1,
                }
                // Every conversation has exactly one turn-1 row (sent or not), so this counts conversations.
                if let (Some(b), 1) = (&bar, r.turn) {
                    b.inc(1);
                }
                w.serialize(&r).map_err(std::io::Error::other)?;
            }
            _ = tick.tick() => {
                w.flush()?;
                if let Some(b) = &bar {
                    let msg: Vec<String> = acc.values().map(|a| format!("{}: {} ok {} err", a.target, a.ok, a.errors)).collect();
                    b.set_message(msg.join(" | "));
                }
            }
        }
    }
    if !header_written {
        // No record at all: still leave a valid CSV with its header.
        w.write_record(super::record::csv_header())
            .map_err(std::io::Error::other)?;
    }
    w.flush()?;
    let mut inner = w
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    inner.flush()?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(acc.into_values().collect())
}
