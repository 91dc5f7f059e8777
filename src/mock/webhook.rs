//! A team's webhook server (`protocol: webhook` profiles): it takes the bot platform's events, calls a model (the
//! profile's `latency`, a lognormal like every mock's) and posts the answer to the callback URL the event names (or
//! the profile's `webhook.callback_url`).
//!
//! * `mode: sync` acknowledges only after the model call and the answer's delivery: its acknowledgement latency is
//!   the model's, so its tail crosses any platform timeout shorter than the model's p99.
//! * `mode: async` acknowledges at once (`{"status":"received"}`) and answers in the background: the robust shape.
//!
//! The work of an event runs in its own task: when the platform gives up on a delivery (its timeout closes the
//! connection), the server still finishes it and posts the answer, as a real server does, so a redelivery of the same
//! event is processed twice and its answer arrives twice (the duplicate the platform's retry causes).
//!
//! Answers go to loopback only: a callback URL elsewhere is refused (400).

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::http::{json, openai_error, read_body};
use super::{Outcome, Plan, Shared};

/// The profile's `webhook:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookSpec {
    /// `sync` (acknowledge after the model call) or `async` (acknowledge at once, answer in the background).
    pub(crate) mode: WebhookMode,
    /// The path events are POSTed to.
    #[serde(default = "default_path")]
    pub(crate) path: String,
    /// Where answers go when an event names no `callback_url` (loopback only).
    #[serde(default)]
    pub(crate) callback_url: Option<String>,
}

fn default_path() -> String {
    "/webhook".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WebhookMode {
    Sync,
    Async,
}

/// The fields of an event this server reads (the platform sends more: `event`, `bot_id`, `user_id`, `timestamp`).
#[derive(Debug, Deserialize)]
struct Event {
    event_id: String,
    message_id: String,
    conversation_id: String,
    content: String,
    #[serde(default)]
    callback_url: Option<String>,
}

/// What the server posts to the callback URL.
#[derive(Debug, Serialize)]
struct Answer<'a> {
    event_id: &'a str,
    message_id: &'a str,
    conversation_id: &'a str,
    answer: String,
    usage: Usage,
}

#[derive(Debug, Serialize)]
struct Usage {
    input_tokens: u32,
    output_tokens: u32,
}

impl WebhookSpec {
    /// Semantic checks: `(field, message)` as the profile validation reports them.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        if !self.path.starts_with('/') {
            return Err((
                "webhook.path".into(),
                format!("must start with `/`, got `{}`", self.path),
            ));
        }
        if let Some(u) = &self.callback_url {
            loopback_url(u).map_err(|m| ("webhook.callback_url".to_string(), m))?;
        }
        Ok(())
    }
}

/// A webhook profile's own checks: a `webhook:` section, and none of the chat APIs' settings.
pub(crate) fn check_profile(p: &super::MockProfile) -> Result<(), (String, String)> {
    let refuse = |field: &str| {
        Err((
            field.to_string(),
            format!("`{field}` is not used by webhook profiles (the model call is `latency`)"),
        ))
    };
    if !p.models.is_empty() {
        return refuse("models");
    }
    if !p.bots.is_empty() {
        return refuse("bots");
    }
    if p.stream.is_some() {
        return refuse("stream");
    }
    if p.coze.is_some() {
        return refuse("coze");
    }
    if !p.faults.is_empty() {
        return refuse("faults");
    }
    if p.capacity.is_some() {
        return refuse("capacity");
    }
    if p.errors
        .as_ref()
        .is_some_and(|e| e.chat_failed_share != 0.0)
    {
        return refuse("errors.chat_failed_share");
    }
    match &p.webhook {
        None => Err((
            "webhook".into(),
            "a webhook profile needs `webhook: {mode: sync | async}`".into(),
        )),
        Some(w) => w.check(),
    }
}

/// The URL, if it is http(s) on a loopback address.
fn loopback_url(u: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(u).map_err(|e| format!("not a URL: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if !matches!(url.scheme(), "http" | "https") || !loopback {
        return Err("callback URLs must be http(s) on loopback (127.0.0.1, ::1, localhost)".into());
    }
    Ok(url)
}

/// The server's client for its callbacks: no proxy, no redirects (an answer must not leave loopback), bounded time.
/// One per server (its pooled connections belong to the server's runtime).
fn callback_client(sh: &Shared) -> reqwest::Client {
    sh.callback_client
        .get_or_init(|| {
            reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .expect("reqwest client")
        })
        .clone()
}

fn bad_request(sh: &Shared, msg: &str) -> Response<Body> {
    sh.counters.outcome(Outcome::BadRequest);
    openai_error(
        StatusCode::BAD_REQUEST,
        msg,
        "invalid_request_error",
        None,
        None,
    )
}

/// `POST <webhook.path>`: one delivery of one event.
pub(crate) async fn handle(sh: &std::sync::Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let spec = sh.profile.webhook.clone().unwrap_or_else(|| WebhookSpec {
        mode: WebhookMode::Async,
        path: default_path(),
        callback_url: None,
    });
    if req.uri().path().trim_end_matches('/') != spec.path.trim_end_matches('/') {
        sh.counters.outcome(Outcome::NotFound);
        let msg = format!("no webhook at {}", req.uri().path());
        return openai_error(
            StatusCode::NOT_FOUND,
            &msg,
            "invalid_request_error",
            None,
            None,
        );
    }
    if !sh.auth_ok(req.headers()) {
        sh.counters.outcome(Outcome::Unauthorized);
        let msg = "missing or wrong bearer key";
        return openai_error(
            StatusCode::UNAUTHORIZED,
            msg,
            "invalid_request_error",
            None,
            None,
        );
    }
    let raw = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return bad_request(sh, &e),
    };
    let ev: Event = match serde_json::from_slice(&raw) {
        Ok(e) => e,
        Err(e) => return bad_request(sh, &format!("not a webhook event: {e}")),
    };
    let Some(cb) = ev.callback_url.clone().or(spec.callback_url) else {
        return bad_request(
            sh,
            "the event names no callback_url and the server has none",
        );
    };
    let cb = match loopback_url(&cb) {
        Ok(u) => u,
        Err(m) => return bad_request(sh, &m),
    };
    let (mut rng, key) = sh.rng(|| super::draw_key::identity([ev.event_id.as_str()]));
    match sh.draw(&mut rng, false, key) {
        Plan::Answer => {}
        Plan::RateLimited => {
            sh.counters.outcome(Outcome::RateLimited);
            let msg = "too many events, retry later";
            return openai_error(StatusCode::TOO_MANY_REQUESTS, msg, "requests", None, None);
        }
        // Faults and failed chats are refused in webhook profiles; a drawn error is a 5xx acknowledgement.
        Plan::ServerError(s) => return server_error(sh, s),
        Plan::Fault(_) | Plan::ChatFailed => return server_error(sh, 500),
    }
    let model = sh.latency.sample(&mut rng);
    let words = sh.answer_len(&mut rng);
    let body = Answer {
        event_id: &ev.event_id,
        message_id: &ev.message_id,
        conversation_id: &ev.conversation_id,
        answer: super::text::answer(&mut rng, words),
        usage: Usage {
            input_tokens: super::text::message_tokens(&ev.content),
            output_tokens: words,
        },
    };
    let body = serde_json::to_vec(&body).expect("answer serialises");
    // The work outlives this delivery's connection: a platform that gave up does not stop the server.
    let shutdown = sh.shutdown.clone();
    let client = callback_client(sh);
    let work = tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(model) => {}
            _ = shutdown.cancelled() => return,
        }
        let _ = client
            .post(cb)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
    });
    sh.counters.outcome(Outcome::Ok);
    let status = match spec.mode {
        WebhookMode::Sync => {
            let _ = work.await;
            "ok"
        }
        WebhookMode::Async => "received",
    };
    json(
        StatusCode::OK,
        format!("{{\"status\":\"{status}\"}}").into_bytes(),
    )
}

fn server_error(sh: &Shared, status: u16) -> Response<Body> {
    sh.counters.outcome(Outcome::ServerError);
    let s = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let msg = format!("the webhook server failed (HTTP {})", s.as_u16());
    openai_error(s, &msg, "server_error", None, None)
}
