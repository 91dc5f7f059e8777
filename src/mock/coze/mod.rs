//! Coze-style bot API v3: conversations, chats (streamed, or created then polled), message listings.
//!
//! `state` holds conversations and chats, `wire` the JSON shapes, `chat` the create and chat handlers, `stream` a
//! streamed chat's events, `poll` the retrieve and listing routes.

mod chat;
mod page;
mod poll;
mod state;
mod stream;
mod wire;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::http::{envelope_error, ConnCtl};
use super::{Outcome, Route, Shared};
pub(crate) use state::{sweeper, CozeState};
use wire::{not_found, CODE_AUTH};

pub(crate) async fn handle(
    sh: &Arc<Shared>,
    ctl: &Arc<ConnCtl>,
    route: Route,
    req: Request<Incoming>,
) -> Response<Body> {
    if !sh.auth_ok(req.headers()) {
        sh.counters.outcome(Outcome::Unauthorized);
        let msg = if req.headers().contains_key(header::AUTHORIZATION) {
            "authentication is invalid: the access token is wrong or expired"
        } else {
            "authentication is invalid: missing `Authorization: Bearer <token>`"
        };
        return envelope_error(StatusCode::UNAUTHORIZED, CODE_AUTH, msg);
    }
    let state = sh.coze.as_ref().expect("coze profile has coze state");
    match route {
        Route::ConversationCreate => chat::conversation_create(sh, state, req).await,
        Route::Chat => chat::chat(sh, state, ctl, req).await,
        Route::ChatRetrieve => poll::retrieve(sh, state, &req),
        Route::ChatMessages => poll::chat_messages(sh, state, &req),
        Route::ConversationMessages => poll::conversation_messages(sh, state, req).await,
        Route::ChatCancel => poll::cancel(sh, state, req).await,
        _ => not_found(sh, "no such route"),
    }
}
