//! The callback listener of a run with webhook targets: one per run, on 127.0.0.1, taking the answers webhook
//! servers post back (`POST /callback`, body `{event_id, ...}`), matched to the events waiting for them by event id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::client::webhook::{CallbackAnswer, MAX_ANSWER_BODY};

/// The callback path cutover serves.
pub(crate) const CALLBACK_PATH: &str = "/callback";

/// One event awaiting (or having got) its answers.
#[derive(Default)]
struct Entry {
    first: Option<Instant>,
    count: u32,
    waiter: Option<oneshot::Sender<Instant>>,
}

/// The callback listener and the answers it took, by event id.
pub(crate) struct Callbacks {
    /// `http://127.0.0.1:PORT/callback`: put in every event.
    pub(crate) url: String,
    table: Mutex<HashMap<String, Entry>>,
    /// Answers for an event whose row had closed, or that cutover never sent.
    pub(crate) stray: AtomicU64,
    stop: CancellationToken,
}

impl Drop for Callbacks {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Callbacks {
    /// Bind 127.0.0.1 on an ephemeral port and serve `POST /callback` until dropped.
    pub(crate) async fn start() -> std::io::Result<Arc<Callbacks>> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let cb = Arc::new(Callbacks {
            url: format!("http://{addr}{CALLBACK_PATH}"),
            table: Mutex::new(HashMap::new()),
            stray: AtomicU64::new(0),
            stop: CancellationToken::new(),
        });
        let stop = cb.stop.clone();
        // The router holds a weak reference: the listener must not keep the table alive after the run.
        let app = axum::Router::new()
            .route(CALLBACK_PATH, axum::routing::post(answer))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_ANSWER_BODY))
            .with_state(Arc::downgrade(&cb));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        Ok(cb)
    }

    /// Register an event before its first delivery; the receiver gets the instant of its first answer.
    pub(super) fn expect(&self, id: &str) -> oneshot::Receiver<Instant> {
        let (tx, rx) = oneshot::channel();
        let mut t = self.table.lock().expect("callback table");
        t.insert(
            id.to_string(),
            Entry {
                waiter: Some(tx),
                ..Default::default()
            },
        );
        rx
    }

    /// Close an event's row: its answers so far and the first one's instant. Later answers count as stray.
    pub(super) fn close(&self, id: &str) -> (u32, Option<Instant>) {
        let mut t = self.table.lock().expect("callback table");
        t.remove(id).map_or((0, None), |e| (e.count, e.first))
    }

    fn on_answer(&self, id: &str, at: Instant) {
        let mut t = self.table.lock().expect("callback table");
        match t.get_mut(id) {
            Some(e) => {
                e.count = e.count.saturating_add(1);
                if e.first.is_none() {
                    e.first = Some(at);
                    if let Some(w) = e.waiter.take() {
                        let _ = w.send(at);
                    }
                }
            }
            None => {
                self.stray.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn answer(
    State(cb): State<std::sync::Weak<Callbacks>>,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let at = Instant::now();
    let Some(cb) = cb.upgrade() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "{\"error\":\"run over\"}");
    };
    match CallbackAnswer::parse(&body) {
        Some(a) => {
            cb.on_answer(&a.event_id, at);
            (StatusCode::OK, "{\"status\":\"ok\"}")
        }
        None => (
            StatusCode::BAD_REQUEST,
            "{\"error\":\"need a JSON body with event_id\"}",
        ),
    }
}
