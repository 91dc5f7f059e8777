//! A bounded, deterministic sample of ok chat requests (output tokens against TTFT and end-to-end time) for the
//! report's scatter charts: every `stride`-th request in completion-file order, the stride doubling (and every other
//! kept point dropped) whenever the sample would exceed its cap, so the sample spans the whole run, has the same
//! points on every rendering of the same requests.csv, and never grows past the cap.

use crate::run::record::{Outcome, Record};

/// Most points kept per target.
pub(crate) const TOKEN_SAMPLE_CAP: usize = 1500;

/// One ok chat request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TokenPoint {
    pub(crate) output_tokens: u64,
    /// Send of the first attempt → end of the answer, retries included (`e2e_ms`).
    pub(crate) e2e_ms: f64,
    /// Streams only.
    pub(crate) ttft_ms: Option<f64>,
    pub(crate) stream: bool,
}

/// Every `stride`-th ok chat request seen, at most `cap` of them.
#[derive(Debug, Clone)]
pub(crate) struct TokenSample {
    pub(crate) points: Vec<TokenPoint>,
    /// Ok chat requests seen (sampled or not).
    pub(crate) seen: u64,
    stride: u64,
    cap: usize,
}

impl Default for TokenSample {
    fn default() -> Self {
        TokenSample::with_cap(TOKEN_SAMPLE_CAP)
    }
}

impl TokenSample {
    pub(crate) fn with_cap(cap: usize) -> TokenSample {
        TokenSample {
            points: Vec::new(),
            seen: 0,
            stride: 1,
            cap: cap.max(2),
        }
    }

    /// Consider one record: ok chat requests with an end-to-end time only.
    pub(crate) fn add(&mut self, r: &Record) {
        let (true, Some(Outcome::Ok), Some(e2e)) = (r.is_chat(), r.outcome, r.e2e_ms) else {
            return;
        };
        let i = self.seen;
        self.seen += 1;
        if !i.is_multiple_of(self.stride) {
            return;
        }
        self.points.push(TokenPoint {
            output_tokens: r.output_tokens,
            e2e_ms: e2e,
            ttft_ms: if r.stream { r.ttft_ms } else { None },
            stream: r.stream,
        });
        if self.points.len() > self.cap {
            // Kept points are requests 0, s, 2s, ...: keeping the even positions keeps 0, 2s, 4s, ...
            let mut k = 0;
            self.points.retain(|_| {
                k += 1;
                k % 2 == 1
            });
            self.stride *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::record::OP_CHAT;

    fn ok(tokens: u64) -> Record {
        Record {
            op: OP_CHAT.into(),
            outcome: Some(Outcome::Ok),
            e2e_ms: Some(tokens as f64 * 2.0),
            output_tokens: tokens,
            ..Default::default()
        }
    }

    #[test]
    fn keeps_every_stride_th_request_and_stays_under_the_cap() {
        let mut s = TokenSample::with_cap(10);
        for i in 0..100 {
            s.add(&ok(i));
        }
        // Request i is kept when i is a multiple of the final stride: 100 requests, cap 10 -> stride 16.
        let kept: Vec<u64> = s.points.iter().map(|p| p.output_tokens).collect();
        assert_eq!(kept, vec![0, 16, 32, 48, 64, 80, 96]);
        assert_eq!(s.seen, 100);
    }

    #[test]
    fn skips_failures_and_creates() {
        let mut s = TokenSample::default();
        let mut failed = ok(5);
        failed.outcome = Some(Outcome::Error);
        let mut create = ok(5);
        create.op = "create_conversation".into();
        s.add(&failed);
        s.add(&create);
        assert!(s.points.is_empty() && s.seen == 0);
    }
}
