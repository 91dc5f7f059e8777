//! Response bodies delivered over time: timed SSE streams (with an optional cut for faults), slow drips and
//! half-sent bodies that end in a reset.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::{Bytes, BytesMut};

use super::server::ConnCtl;

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
    pub after: usize,
    pub kind: CutKind,
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
