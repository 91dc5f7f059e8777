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

/// Call `f` with every whole record of `path`, in order, reusing one [`Record`]; [`Fast::Declined`] (after calling
/// `f` for any rows before the one it declined) when the reference reader must read the file instead.
pub(crate) fn for_each_fast(
    path: &std::path::Path,
    mut f: impl FnMut(&Record),
) -> Result<(), Fast> {
    use std::io::Read as _;
    let (file, whole) = whole_rows_len(path).map_err(|_| Fast::Declined)?;
    let mut rdr = csv::ReaderBuilder::new()
        .buffer_capacity(1 << 20)
        .from_reader(file.take(whole));
    let header = csv_header();
    let own = rdr
        .byte_headers()
        .is_ok_and(|h| h.iter().eq(header.iter().map(String::as_bytes)));
    if !own {
        return Err(Fast::Declined);
    }
    let mut row = csv::ByteRecord::new();
    let mut rec = Record::default();
    loop {
        match rdr.read_byte_record(&mut row) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(_) => return Err(Fast::Declined),
        }
        if row.len() != header.len() || fill(&row, &mut rec).is_none() {
            return Err(Fast::Declined);
        }
        f(&rec);
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

/// An optional field: empty is `None`.
fn opt<T: FromStr>(b: &[u8]) -> Option<Option<T>> {
    if b.is_empty() {
        Some(None)
    } else {
        num(b).map(Some)
    }
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
    r.scheduled_ms = num(next()?)?;
    r.sent_ms = opt(next()?)?;
    r.ttfb_ms = opt(next()?)?;
    r.ttft_ms = opt(next()?)?;
    r.latency_ms = opt(next()?)?;
    r.e2e_ms = opt(next()?)?;
    r.from_scheduled_ms = opt(next()?)?;
    r.retry_wait_ms = num(next()?)?;
    r.itl_ms = opt(next()?)?;
    r.max_gap_ms = opt(next()?)?;
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
    r.fallback_latency_ms = opt(next()?)?;
    r.ack_timeouts = uint(next()?)?;
    r.answers = opt_uint(next()?)?;
    r.answer_ms = opt(next()?)?;
    next().is_none().then_some(())
}

#[cfg(test)]
mod tests;
