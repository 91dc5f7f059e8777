//! The report's reader of `requests.csv`: each row parsed from the CSV reader's bytes (`csv::ByteRecord`) by position
//! into one reused [`Record`], for the millions of rows of a long run, where serde's per-field machinery and the
//! per-row UTF-8 check of the whole record were a fifth of the report's time.
//!
//! It reads only what it can read exactly as serde does ([`crate::run::record::for_each_record`], the reference):
//! a file with [`Record`]'s own columns in order, each field plain (decimal integers, `true`/`false`, the outcome's
//! names, UTF-8 text). Anything else, a malformed row included, is [`Fast::Declined`], and the caller reads the file
//! again with the reference reader, which then gives the same values or the same error as ever.

use std::str::FromStr;

use crate::run::record::{csv_header, whole_rows_len, Outcome, Record};

/// Why the fast reader stopped short.
#[derive(Debug)]
pub(crate) enum Fast {
    /// Not a file (or a row) it reads exactly as the reference reader would: read it with that.
    Declined,
}

/// Rows per batch handed from the parsing thread to the caller's: large enough that the hand-over (two channel
/// operations) is noise next to the rows' work, small enough that the batches in flight stay a few MB.
const BATCH: usize = 1024;
/// Batches in flight between the two threads (being filled, queued, being folded).
const BATCHES: usize = 4;

/// Call `f` with every whole record of `path`, in order; [`Fast::Declined`] (after calling `f` for any rows before
/// the one it declined) when the reference reader must read the file instead.
///
/// Two threads: a scoped one splits and parses the rows into batches of reused [`Record`]s while the caller's thread
/// runs `f` over the previous batch (on a 10,000,000-row file each side is about half of the pass's work). `f` sees
/// the same records in the same order as a single-threaded read, so every figure folded from them is the same.
pub(crate) fn for_each_fast(
    path: &std::path::Path,
    mut f: impl FnMut(&Record),
) -> Result<(), Fast> {
    use std::sync::mpsc::sync_channel;
    let (file, whole) = whole_rows_len(path).map_err(|_| Fast::Declined)?;
    let (full_tx, full_rx) = sync_channel::<Batch>(BATCHES);
    let (empty_tx, empty_rx) = sync_channel::<Vec<Record>>(BATCHES);
    for _ in 0..BATCHES {
        empty_tx
            .send(Vec::with_capacity(BATCH))
            .expect("the receiver is alive");
    }
    // `move`: if `f` panics, the channels' ends drop as the closure unwinds, so the parser stops and the scope ends.
    std::thread::scope(move |s| {
        s.spawn(move || parse_batches(file, whole, &full_tx, &empty_rx));
        for batch in full_rx.iter() {
            match batch {
                Batch::Rows(rows) => {
                    rows.iter().for_each(&mut f);
                    // The parser may have stopped (it declined a row): then nobody takes the batch back.
                    let _ = empty_tx.send(rows);
                }
                Batch::End(end) => return end,
            }
        }
        // The parser ended without saying how: it panicked, and the scope re-raises the panic.
        Err(Fast::Declined)
    })
}

/// What the parsing thread hands over: a batch of rows, then the end of the file or the reason it stopped.
enum Batch {
    Rows(Vec<Record>),
    End(Result<(), Fast>),
}

/// The parsing side of [`for_each_fast`]: fills the batches `empty` gives back and sends them to `full`, in order.
fn parse_batches(
    file: std::fs::File,
    whole: u64,
    full: &std::sync::mpsc::SyncSender<Batch>,
    empty: &std::sync::mpsc::Receiver<Vec<Record>>,
) {
    use std::io::Read as _;
    let mut rdr = csv::ReaderBuilder::new()
        .buffer_capacity(1 << 20)
        .from_reader(file.take(whole));
    let header = csv_header();
    let own = rdr
        .byte_headers()
        .is_ok_and(|h| h.iter().eq(header.iter().map(String::as_bytes)));
    if !own {
        let _ = full.send(Batch::End(Err(Fast::Declined)));
        return;
    }
    let mut row = csv::ByteRecord::new();
    // The caller stops taking batches only after an End, so `empty` gives one back while rows remain.
    while let Ok(mut rows) = empty.recv() {
        let (mut n, mut end) = (0, None);
        while n < BATCH {
            match rdr.read_byte_record(&mut row) {
                Ok(true) => {}
                Ok(false) => {
                    end = Some(Ok(()));
                    break;
                }
                Err(_) => {
                    end = Some(Err(Fast::Declined));
                    break;
                }
            }
            if n == rows.len() {
                rows.push(Record::default());
            }
            if row.len() != header.len() || fill(&row, &mut rows[n]).is_none() {
                end = Some(Err(Fast::Declined));
                break;
            }
            n += 1;
        }
        // Only the first `n` records are this batch's rows (fewer than BATCH at the end of the file).
        rows.truncate(n);
        if n > 0 && full.send(Batch::Rows(rows)).is_err() {
            return;
        }
        if let Some(end) = end {
            let _ = full.send(Batch::End(end));
            return;
        }
    }
}

fn text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

fn set(dst: &mut String, b: &[u8]) -> Option<()> {
    dst.clear();
    dst.push_str(text(b)?);
    Some(())
}

/// A number as serde's CSV reader parses it (`str::parse`), except the hexadecimal `0x` integers it also takes.
fn num<T: FromStr>(b: &[u8]) -> Option<T> {
    if b.starts_with(b"0x") {
        return None;
    }
    text(b)?.parse().ok()
}

/// 10^0 ..= 10^22: every one exactly an f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// An f64 written as plain decimal digits with an optional fraction (`1234.567`, what the run writes), read from the
/// bytes; anything else (a sign, an exponent, `inf`, more digits than an f64 holds exactly) goes to `str::parse`.
/// Same value as `str::parse`: digits d with k of them after the point are d / 10^k, and with d < 2^53 and k <= 22
/// both are exact f64s, so the one division rounds correctly, as `str::parse` does (Clinger's fast path).
fn float(b: &[u8]) -> Option<f64> {
    let (mut m, mut k, mut point, mut digits) = (0u64, 0usize, false, 0usize);
    for &c in b {
        match c {
            b'0'..=b'9' => {
                m = m.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                digits += 1;
                k += usize::from(point);
            }
            b'.' if !point => point = true,
            _ => return num(b),
        }
    }
    let whole = digits > 0 && (!point || k > 0) && b[0] != b'.';
    if !whole || digits > 15 || k >= POW10.len() {
        return num(b);
    }
    Some(m as f64 / POW10[k])
}

/// An optional f64 ([`float`]): empty is `None`.
fn opt_float(b: &[u8]) -> Option<Option<f64>> {
    if b.is_empty() {
        Some(None)
    } else {
        float(b).map(Some)
    }
}

/// An unsigned integer of plain decimal digits, read from the bytes (no UTF-8 pass, no `str::parse`); None for
/// anything else (a sign, hexadecimal, overflow), which [`num`] or serde reads or rejects.
fn uint<T: TryFrom<u64>>(b: &[u8]) -> Option<T> {
    if b.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    T::try_from(v).ok()
}

/// An optional unsigned integer: empty is `None`.
fn opt_uint<T: TryFrom<u64>>(b: &[u8]) -> Option<Option<T>> {
    if b.is_empty() {
        Some(None)
    } else {
        uint(b).map(Some)
    }
}

fn flag(b: &[u8]) -> Option<bool> {
    match b {
        b"true" => Some(true),
        b"false" => Some(false),
        _ => None,
    }
}

fn outcome(b: &[u8]) -> Option<Option<Outcome>> {
    Some(Some(match b {
        b"" => return Some(None),
        b"ok" => Outcome::Ok,
        b"error" => Outcome::Error,
        b"cancelled" => Outcome::Cancelled,
        b"not_sent" => Outcome::NotSent,
        _ => return None,
    }))
}

/// Overwrite every field of `r` from `row` (in [`Record`]'s column order); None when a field is not plain.
fn fill(row: &csv::ByteRecord, r: &mut Record) -> Option<()> {
    let mut it = row.iter();
    let mut next = || it.next();
    set(&mut r.target, next()?)?;
    set(&mut r.role, next()?)?;
    r.conversation = uint(next()?)?;
    r.user = uint(next()?)?;
    r.turn = uint(next()?)?;
    set(&mut r.op, next()?)?;
    set(&mut r.model, next()?)?;
    r.stream = flag(next()?)?;
    r.outcome = outcome(next()?)?;
    set(&mut r.error_kind, next()?)?;
    set(&mut r.not_sent_reason, next()?)?;
    r.status = opt_uint(next()?)?;
    r.attempts = uint(next()?)?;
    r.retries = uint(next()?)?;
    r.scheduled_ms = float(next()?)?;
    r.sent_ms = opt_float(next()?)?;
    r.ttfb_ms = opt_float(next()?)?;
    r.ttft_ms = opt_float(next()?)?;
    r.latency_ms = opt_float(next()?)?;
    r.e2e_ms = opt_float(next()?)?;
    r.from_scheduled_ms = opt_float(next()?)?;
    r.retry_wait_ms = float(next()?)?;
    r.itl_ms = opt_float(next()?)?;
    r.max_gap_ms = opt_float(next()?)?;
    r.chunks = uint(next()?)?;
    r.input_tokens = uint(next()?)?;
    r.output_tokens = uint(next()?)?;
    r.tokens_estimated = flag(next()?)?;
    r.cost_nano_usd = uint(next()?)?;
    r.canary_phase = opt_uint(next()?)?;
    set(&mut r.detail, next()?)?;
    r.warmup = flag(next()?)?;
    set(&mut r.fallback_target, next()?)?;
    set(&mut r.fallback_outcome, next()?)?;
    r.fallback_latency_ms = opt_float(next()?)?;
    r.ack_timeouts = uint(next()?)?;
    r.answers = opt_uint(next()?)?;
    r.answer_ms = opt_float(next()?)?;
    next().is_none().then_some(())
}

#[cfg(test)]
mod tests;
