//! Talking to endpoints: HTTP with body caps and retry hints, the SSE parser and stream timing, one adapter per API
//! (OpenAI-compatible, Coze), and secrets. The runner hands over a turn and gets back an [`Attempt`]; it never sees a
//! URL or a JSON field.

pub(crate) mod attempt;
pub(crate) mod coze;
pub(crate) mod gaps;
pub(crate) mod h1;
pub mod http;
pub(crate) mod json_scan;
pub(crate) mod openai;
pub(crate) mod pool;
pub(crate) mod retry_hint;
pub mod secret;
pub mod sse;
mod swar;
pub(crate) mod transport;
pub(crate) mod webhook;

#[cfg(test)]
mod mutants_tests;
#[cfg(test)]
mod transport_tests;
#[cfg(test)]
mod wire_tests;

pub(crate) use attempt::{Attempt, ErrorKind};
pub use http::{ConvState, Endpoint};

use crate::config::scenario::ProtocolKind;

impl Endpoint {
    /// Send one user turn and read the whole answer. One attempt: the runner does retries.
    pub(crate) async fn send_turn(
        &self,
        client: &reqwest::Client,
        conv: &ConvState,
        prompt: &str,
        model: &str,
        stream: bool,
    ) -> Attempt {
        let a = match self.kind {
            ProtocolKind::Openai => self.openai_turn(client, conv, prompt, model, stream).await,
            // Boxed: its polling loop makes its future the largest of the two, and every OpenAI turn's task would
            // carry that size inline for the whole stream (issue 12: memory per concurrent stream).
            ProtocolKind::Coze => {
                Box::pin(self.coze_turn(client, conv, prompt, model, stream)).await
            }
            // The runner sends a webhook target events (`run::webhook`), never chat turns.
            ProtocolKind::Webhook => self.attempt().fail(
                ErrorKind::WrongContentType,
                "a webhook target takes events, not chat turns",
            ),
        };
        self.scrub(a)
    }

    /// Every detail leaves the client redacted, then clipped to [`attempt::DETAIL_CHARS`]: whatever path wrote it
    /// (HTTP error body, envelope message, malformed SSE line, content type, transport error).
    pub(crate) fn scrub(&self, mut a: Attempt) -> Attempt {
        if let Some(d) = a.detail.take() {
            // The pre-clip only bounds the redaction's work; it is far longer than the final clip, so a key it cuts
            // is beyond the characters kept.
            let d = sse::clip_chars(&d, 16 * attempt::DETAIL_CHARS);
            a.detail = Some(sse::clip_chars(&self.redact(&d), attempt::DETAIL_CHARS));
        }
        a
    }
}
