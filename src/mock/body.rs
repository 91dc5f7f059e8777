//! Response bodies delivered over time: timed SSE streams (with an optional cut for faults), slow drips and
//! half-sent bodies that end in a reset.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::{Bytes, BytesMut};

use axum::http::{Response, StatusCode};

use super::http::{json, respond, sse_response, with_len, ConnCtl};

/// Pause between the last bytes handed to hyper and the reset, so those bytes reach the socket first.
const RESET_FLUSH: Duration = Duration::from_millis(30);

/// A body produced piece by piece, each piece due at an instant.
pub(crate) trait EventSource: Send + 'static {
    /// The next piece and when it is due (`None` = at once); `None` at the end of the body.
    fn next_event(&mut self) -> Option<(Option<Instant>, Bytes)>;
}

/// What happens when a cut is reached.
pub(crate) enum CutKind {
    /// Reset the connection (TCP RST).
    Reset,
    /// End the body cleanly right there.
    End,
    /// Send these bytes, then end cleanly.
    Then(Bytes),
}

/// Cut a body after `after` pieces.
pub(crate) struct Cut {
    pub(crate) after: usize,
    pub(crate) kind: CutKind,
}

struct Timed<S> {
    src: S,
    emitted: usize,
    cut: Option<Cut>,
    ctl: Arc<ConnCtl>,
    finished: bool,
}

pub(crate) fn timed_body<S: EventSource>(src: S, cut: Option<Cut>, ctl: Arc<ConnCtl>) -> Body {
    let st = Timed {
        src,
        emitted: 0,
        cut,
        ctl,
        finished: false,
    };
    Body::from_stream(futures_util::stream::unfold(st, |mut st| async move {
        if st.finished {
            return None;
        }
        if st.cut.as_ref().is_some_and(|c| c.after == st.emitted) {
            match st.cut.take().map(|c| c.kind) {
                Some(CutKind::Reset) => {
                    tokio::time::sleep(RESET_FLUSH).await;
                    st.ctl.reset();
                    // The connection task drops this body with the connection.
                    return std::future::pending().await;
                }
                Some(CutKind::Then(b)) => {
                    st.finished = true;
                    return Some((Ok::<_, Infallible>(b), st));
                }
                Some(CutKind::End) | None => return None,
            }
        }
        let (at, bytes) = st.src.next_event()?;
        if let Some(at) = at {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        }
        st.emitted += 1;
        Some((Ok(bytes), st))
    }))
}

/// The whole body at once, timing ignored (for a slow drip of a stream).
pub(crate) fn materialize<S: EventSource>(mut src: S) -> Bytes {
    let mut out = BytesMut::new();
    while let Some((_, b)) = src.next_event() {
        out.extend_from_slice(&b);
    }
    out.freeze()
}

/// `bytes`, one byte every `interval` (the first at once). Set the content length on the response yourself.
pub(crate) fn drip_body(bytes: Bytes, interval: Duration) -> Body {
    Body::from_stream(futures_util::stream::unfold(
        (bytes, 0usize),
        move |(bytes, pos)| async move {
            if pos >= bytes.len() {
                return None;
            }
            if pos > 0 {
                tokio::time::sleep(interval).await;
            }
            let b = bytes.slice(pos..pos + 1);
            Some((Ok::<_, Infallible>(b), (bytes, pos + 1)))
        },
    ))
}

/// The first half of `full`, then a reset.
pub(crate) fn half_then_reset(full: Bytes, ctl: Arc<ConnCtl>) -> Body {
    struct Two(Option<Bytes>);
    impl EventSource for Two {
        fn next_event(&mut self) -> Option<(Option<Instant>, Bytes)> {
            self.0.take().map(|b| (None, b))
        }
    }
    let half = full.slice(..full.len() / 2);
    timed_body(
        Two(Some(half)),
        Some(Cut {
            after: 1,
            kind: CutKind::Reset,
        }),
        ctl,
    )
}

/// Faults whose effect needs the protocol's normal answer (the handler builds it, then applies this).
pub(crate) enum BodyFault {
    /// Part of the answer, then a reset.
    ResetMid,
    /// The answer, one byte per interval.
    Drip(Duration),
    /// A broken JSON body / `data:` payload.
    Malformed,
    /// Stream: stop halfway, cleanly.
    Truncate,
    /// Stream: an error event halfway.
    ErrorEvent,
}

/// What a protocol's stream looks like when mangled: a broken event and an in-stream error event.
pub(crate) struct StreamFaultText {
    /// Pieces sent before a cut (the stream's head plus about half its chunks).
    pub(crate) cut_after: usize,
    /// A partial event whose JSON never closes.
    pub(crate) broken: Bytes,
    /// The protocol's in-stream error event.
    pub(crate) error_event: Bytes,
}

/// The one fault-to-body switch for streams (both protocols): the normal stream, or the stream mangled by `fault`.
pub(crate) fn stream_with_fault<S: EventSource>(
    src: S,
    fault: Option<BodyFault>,
    text: StreamFaultText,
    ctl: &Arc<ConnCtl>,
) -> Response<Body> {
    let cut = |kind| {
        Some(Cut {
            after: text.cut_after,
            kind,
        })
    };
    let body = match fault {
        None => timed_body(src, None, ctl.clone()),
        Some(BodyFault::Drip(interval)) => {
            let all = materialize(src);
            let len = all.len();
            return with_len(sse_response(drip_body(all, interval)), len);
        }
        Some(BodyFault::ResetMid) => timed_body(src, cut(CutKind::Reset), ctl.clone()),
        Some(BodyFault::Truncate) => timed_body(src, cut(CutKind::End), ctl.clone()),
        Some(BodyFault::Malformed) => {
            timed_body(src, cut(CutKind::Then(text.broken.clone())), ctl.clone())
        }
        Some(BodyFault::ErrorEvent) => timed_body(
            src,
            cut(CutKind::Then(text.error_event.clone())),
            ctl.clone(),
        ),
    };
    sse_response(body)
}

/// The one fault-to-body switch for whole JSON bodies (both protocols). Stream-only kinds are never drawn for a
/// non-streamed request; they leave the body whole.
pub(crate) fn json_with_fault(
    body: Bytes,
    fault: Option<BodyFault>,
    ctl: &Arc<ConnCtl>,
) -> Response<Body> {
    match fault {
        Some(BodyFault::Drip(interval)) => with_len(
            respond(
                StatusCode::OK,
                "application/json",
                drip_body(body.clone(), interval),
            ),
            body.len(),
        ),
        Some(BodyFault::ResetMid) => with_len(
            respond(
                StatusCode::OK,
                "application/json",
                half_then_reset(body.clone(), ctl.clone()),
            ),
            body.len(),
        ),
        Some(BodyFault::Malformed) => json(StatusCode::OK, body[..body.len() / 2].to_vec()),
        Some(BodyFault::Truncate | BodyFault::ErrorEvent) | None => {
            json(StatusCode::OK, body.to_vec())
        }
    }
}
