//! The record sink: the only writer of `requests.csv`. Rows are streamed to disk as they arrive (never all held in
//! memory) and flushed at least every 250 ms, so an interrupted run keeps what it measured. Each row reaches the file
//! in one write. On a hard exit (second Ctrl-C) the sink writes the rows already queued, flushes and returns, telling
//! the caller to exit; on a write error it stops arrivals and keeps receiving (so no sender blocks) until the drain
//! ends, and reports the error.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::record::{Outcome, Record};
use super::state::Control;

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
pub(crate) const HARD_EXIT_CODE: i32 = 130;

/// How the sink ended: the accounting of every record it received, and whether the run must end at once.
#[derive(Debug, Default)]
pub struct SinkOutput {
    pub accounting: Vec<Accounting>,
    /// A second interrupt: the rows already queued were written and the caller should exit now
    /// ([`HARD_EXIT_CODE`]).
    pub(crate) hard_exit: bool,
    /// The first write error (`requests.csv: message`); arrivals were stopped when it happened.
    pub(crate) write_error: Option<String>,
    /// Records received after a write error, counted in the accounting but missing from `requests.csv`.
    pub(crate) lost_rows: u64,
}

/// The file's buffer: one page. The file gets whole rows, at most a page of them per `write`: Linux can end a
/// `write` to a file early, between two pages, when the process is killed (`kill -9` during the drain after Ctrl-C),
/// and the 256 KiB buffer this replaces gave such a kill 64 page boundaries per write to cut a row at (seen in CI);
/// now a row is cut only if the kill lands inside the copy of the one row that crosses a page. Costs a `write` per
/// ~25 rows (~2,000 a second at 50,000 rows/s).
pub(super) const FILE_BUFFER: usize = 4096;

/// The CSV file and what has been written to it. Each row is encoded whole into a buffer ([`super::row::encode`])
/// and handed to the file in one `write_all`, so the file only ever holds whole rows plus at most one cut by a crash
/// mid-write.
struct RowWriter {
    path: PathBuf,
    out: Option<std::io::BufWriter<std::fs::File>>,
    header_written: bool,
    row: Vec<u8>,
    error: Option<String>,
    lost: u64,
}

impl RowWriter {
    fn create(path: PathBuf) -> std::io::Result<RowWriter> {
        let file = std::fs::File::create(&path)?;
        Ok(RowWriter {
            path,
            out: Some(std::io::BufWriter::with_capacity(FILE_BUFFER, file)),
            header_written: false,
            row: Vec::with_capacity(1024),
            error: None,
            lost: 0,
        })
    }

    /// Write one record; on the first failure remember it, stop arrivals and drop the file (later rows are lost,
    /// and counted).
    fn write(&mut self, r: &Record, control: &Control) {
        if self.out.is_none() {
            self.lost += 1;
            return;
        }
        self.row.clear();
        if !self.header_written {
            // The first row carries the header, as the csv crate's writer would put it.
            self.row
                .extend_from_slice(super::record::csv_header().join(",").as_bytes());
            self.row.push(b'\n');
            self.header_written = true;
        }
        super::row::encode(r, &mut self.row);
        let res = self
            .out
            .as_mut()
            .expect("checked above")
            .write_all(&self.row);
        if let Err(e) = res {
            self.fail(e, control);
            self.lost += 1;
        }
    }

    fn flush(&mut self, control: &Control) {
        if let Some(Err(e)) = self.out.as_mut().map(|o| o.flush()) {
            self.fail(e, control);
        }
    }

    fn fail(&mut self, e: std::io::Error, control: &Control) {
        let msg = format!("{}: {e}", self.path.display());
        control.stop(&format!("write error: {msg}"));
        self.error.get_or_insert(msg);
        self.out = None;
    }

    /// A file with no record still gets its header, so it is a valid CSV.
    fn finish(mut self, control: &Control) -> (Option<String>, u64) {
        if !self.header_written {
            if let Some(o) = self.out.as_mut() {
                let header = super::record::csv_header().join(",") + "\n";
                if let Err(e) = o.write_all(header.as_bytes()) {
                    self.fail(e, control);
                }
            }
        }
        self.flush(control);
        if let Some(o) = self.out.take() {
            if let Err(e) = o.into_inner().map_err(|e| e.into_error()) {
                self.fail(e, control);
            }
        }
        (self.error, self.lost)
    }
}

fn count(acc: &mut BTreeMap<String, Accounting>, r: &Record) {
    // Looked up by `&str`: the target's name is cloned only for a target not met before, not per row.
    if !acc.contains_key(r.target.as_str()) {
        acc.insert(
            r.target.clone(),
            Accounting {
                target: r.target.clone(),
                ..Default::default()
            },
        );
    }
    let Some(a) = acc.get_mut(r.target.as_str()) else {
        return;
    };
    a.scheduled += 1;
    match r.outcome {
        Some(Outcome::Ok) => a.ok += 1,
        Some(Outcome::Error) => a.errors += 1,
        Some(Outcome::Cancelled) => a.cancelled += 1,
        Some(Outcome::NotSent) | None => a.not_sent += 1,
    }
}

/// Records taken from the channel per wake-up at most.
const BATCH: usize = 256;

/// After a batch smaller than [`BATCH`], the sink waits this long before taking the next: otherwise, below
/// saturation, every record woke the sink (and often a parked worker for it) on its own; 2 ms bounds its wake-ups
/// to a few hundred a second at any rate, and the channel (65,536 records) holds 2 ms of any rate cutover reaches.
const LINGER: Duration = Duration::from_millis(2);

/// Receive every record until the channel closes (or a second interrupt), write it to `path` and count it. Fails
/// only when the file cannot be created; a later write error stops arrivals and is reported in the output.
pub async fn write_records(
    path: PathBuf,
    mut rx: mpsc::Receiver<Record>,
    targets: Vec<String>,
    control: Control,
    progress: Option<std::sync::Arc<super::progress::Progress>>,
) -> std::io::Result<SinkOutput> {
    let mut w = RowWriter::create(path)?;
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
    let mut meter = progress.map(super::progress::Meter::new);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut hard_exit = false;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            biased;
            _ = control.hard_exit.cancelled() => {
                // Drain what is already queued: those rows are complete.
                while let Ok(r) = rx.try_recv() {
                    count(&mut acc, &r);
                    w.write(&r, &control);
                }
                hard_exit = true;
                break;
            }
            // Take what is queued in one go: one wake-up and one select per batch, not per row.
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break; // closed and empty
                }
                for r in batch.drain(..) {
                    count(&mut acc, &r);
                    if let Some(m) = meter.as_mut() {
                        m.observe(&r);
                    }
                    w.write(&r, &control);
                }
                if n < BATCH {
                    // Let rows gather before the next wake-up (a second interrupt cuts it short).
                    tokio::select! {
                        biased;
                        _ = control.hard_exit.cancelled() => {}
                        _ = tokio::time::sleep(LINGER) => {}
                    }
                }
            }
            _ = tick.tick() => {
                w.flush(&control);
                if let Some(m) = meter.as_mut() {
                    m.tick(acc.values().map(|a| (a.target.as_str(), a.ok, a.errors)));
                }
            }
        }
    }
    let (write_error, lost_rows) = w.finish(&control);
    if let Some(m) = meter.as_mut() {
        m.finish(acc.values().map(|a| (a.target.as_str(), a.ok, a.errors)));
    }
    Ok(SinkOutput {
        accounting: acc.into_values().collect(),
        hard_exit,
        write_error,
        lost_rows,
    })
}
