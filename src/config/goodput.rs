//! `goodput:` per-request objectives, as genai-perf and AIPerf define goodput: a chat request is *good* when it
//! succeeded within every limit that applies to it (`latency_ms` for non-streamed requests, `ttft_ms` for streamed
//! ones); goodput is good requests per second of the measured window, per target.
//!
//! ```yaml
//! goodput: {latency_ms: 400, ttft_ms: 800}
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Goodput {
    /// Limit on a non-streamed chat request's latency.
    #[serde(default)]
    pub(crate) latency_ms: Option<f64>,
    /// Limit on a streamed chat request's time to first token.
    #[serde(default)]
    pub(crate) ttft_ms: Option<f64>,
}

impl Goodput {
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        for (f, v) in [("latency_ms", self.latency_ms), ("ttft_ms", self.ttft_ms)] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err((format!("goodput.{f}"), format!("{v} must be > 0 ms")));
                }
            }
        }
        if self.latency_ms.is_none() && self.ttft_ms.is_none() {
            return Err(("goodput".into(), "give latency_ms and/or ttft_ms".into()));
        }
        Ok(())
    }
}
