//! One [`Record`] as the bytes of its `requests.csv` row, written by hand: the same bytes as the csv crate's default
//! writer gives for `serialize(record)`, without serde's per-field calls and csv_core's per-field state machine
//! (about 11,000 instructions a row, a seventh of a request's cost at saturation).
//!
//! What the csv crate writes, field by field (csv 1.4 `serializer.rs`, csv_core 0.1 `writer.rs`): integers by itoa,
//! floats by ryu (`0.0`, `1e-7`, `1e21`, `NaN`, `inf`, `-inf`), booleans as `true`/`false`, `None` as an empty field,
//! an enum's unit variant as its serde name, strings as they are unless they hold a byte the default writer quotes
//! (`,` `"` `\r` `\n`: the delimiter, the quote and both line ends), then in double quotes with every `"` doubled.
//! Fields end with `,`, the row with `\n`. `tests::the_encoder_writes_what_serde_writes` holds the two together.

use super::record::{Outcome, Record};

/// Append `r`'s row, its `\n` included, to `out`.
pub(crate) fn encode(r: &Record, out: &mut Vec<u8>) {
    // Every field named: a field added to `Record` does not compile here until it is written, in its place.
    let Record {
        target,
        role,
        conversation,
        user,
        turn,
        op,
        model,
        stream,
        outcome,
        error_kind,
        not_sent_reason,
        status,
        attempts,
        retries,
        scheduled_ms,
        sent_ms,
        ttfb_ms,
        ttft_ms,
        latency_ms,
        e2e_ms,
        from_scheduled_ms,
        retry_wait_ms,
        itl_ms,
        max_gap_ms,
        chunks,
        input_tokens,
        output_tokens,
        tokens_estimated,
        cost_nano_usd,
        canary_phase,
        detail,
        warmup,
        fallback_target,
        fallback_outcome,
        fallback_latency_ms,
        ack_timeouts,
        answers,
        answer_ms,
    } = r;
    let mut w = Row(out);
    w.text(target);
    w.text(role);
    w.int(*conversation);
    w.int(*user);
    w.int(u64::from(*turn));
    w.text(op);
    w.text(model);
    w.flag(*stream);
    w.text(outcome.map_or("", outcome_name));
    w.text(error_kind);
    w.text(not_sent_reason);
    w.opt_int(status.map(u64::from));
    w.int(u64::from(*attempts));
    w.int(u64::from(*retries));
    w.float(*scheduled_ms);
    for t in [
        sent_ms,
        ttfb_ms,
        ttft_ms,
        latency_ms,
        e2e_ms,
        from_scheduled_ms,
    ] {
        w.opt_float(*t);
    }
    w.float(*retry_wait_ms);
    w.opt_float(*itl_ms);
    w.opt_float(*max_gap_ms);
    w.int(u64::from(*chunks));
    w.int(*input_tokens);
    w.int(*output_tokens);
    w.flag(*tokens_estimated);
    w.int(*cost_nano_usd);
    w.opt_int(canary_phase.map(u64::from));
    w.text(detail);
    w.flag(*warmup);
    w.text(fallback_target);
    w.text(fallback_outcome);
    w.opt_float(*fallback_latency_ms);
    w.int(u64::from(*ack_timeouts));
    w.opt_int(answers.map(u64::from));
    w.opt_float(*answer_ms);
    w.end();
}

/// The serde name of an outcome (`#[serde(rename_all = "snake_case")]`).
fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ok",
        Outcome::Error => "error",
        Outcome::Cancelled => "cancelled",
        Outcome::NotSent => "not_sent",
    }
}

/// Write `v` as ryu would when it is a number of milliseconds with at most three decimals (what
/// [`super::record::ms`] makes: most floats of a row), in a fraction of ryu's instructions; return false, having
/// written nothing, for any other value.
///
/// Why the bytes are ryu's: `v` is the double nearest to n/1000 (`n / 1000.0 == v`, a correctly rounded division), so
/// n/1000's decimal reads back as `v`. Any other decimal with as few digits or fewer lies on a grid at least as
/// coarse as 0.001, so 0.001 or more away from it, while below 10^12 every decimal that reads back as `v` is within
/// half an ulp (< 0.0001) of it: ryu's shortest form is n/1000's digits. From 0.001 to 10^12 ryu writes them with
/// no exponent, the fraction's trailing zeros cut but one digit kept (`1234.5`, `0.025`, `7.0`). Zero, whose sign
/// matters, goes to ryu. `tests::milliseconds_are_written_as_ryu_writes_them` compares the two on millions of values.
fn millis(out: &mut Vec<u8>, v: f64) -> bool {
    let n = (v * 1000.0).round();
    if n == 0.0 || n.abs() >= 1e15 || n / 1000.0 != v {
        return false;
    }
    if n < 0.0 {
        out.push(b'-');
    }
    let n = n.abs() as u64;
    out.extend_from_slice(itoa::Buffer::new().format(n / 1000).as_bytes());
    let frac = n % 1000;
    let digits = [
        b'.',
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ];
    // ".000" -> ".0", ".250" -> ".25", ".025" -> ".025".
    let keep = if frac.is_multiple_of(100) {
        2
    } else if frac.is_multiple_of(10) {
        3
    } else {
        4
    };
    out.extend_from_slice(&digits[..keep]);
    true
}

/// A row being written: each field is followed by `,`; [`Row::end`] turns the last one into `\n`.
struct Row<'a>(&'a mut Vec<u8>);

impl Row<'_> {
    fn text(&mut self, s: &str) {
        let b = s.as_bytes();
        if b.iter().any(|&c| matches!(c, b',' | b'"' | b'\r' | b'\n')) {
            self.0.push(b'"');
            let mut parts = b.split(|&c| c == b'"');
            if let Some(first) = parts.next() {
                self.0.extend_from_slice(first);
            }
            for p in parts {
                self.0.extend_from_slice(b"\"\"");
                self.0.extend_from_slice(p);
            }
            self.0.push(b'"');
        } else {
            self.0.extend_from_slice(b);
        }
        self.0.push(b',');
    }

    fn int(&mut self, v: u64) {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        self.0.push(b',');
    }

    fn opt_int(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.int(v),
            None => self.0.push(b','),
        }
    }

    fn float(&mut self, v: f64) {
        if !millis(self.0, v) {
            self.0
                .extend_from_slice(ryu::Buffer::new().format(v).as_bytes());
        }
        self.0.push(b',');
    }

    fn opt_float(&mut self, v: Option<f64>) {
        match v {
            Some(v) => self.float(v),
            None => self.0.push(b','),
        }
    }

    fn flag(&mut self, v: bool) {
        self.0
            .extend_from_slice(if v { b"true," } else { b"false," });
    }

    fn end(self) {
        if let Some(last) = self.0.last_mut() {
            *last = b'\n';
        }
    }
}

#[cfg(test)]
mod tests;
