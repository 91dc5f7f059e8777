//! Driving the load: seeded traffic, the runner (open-model arrivals or closed-model virtual users, caps,
//! cancellation), one request's attempt loop, the typed [`record::Record`] of every scheduled request, and the sink
//! that writes them and owns the accounting.

pub(crate) mod callbacks;
pub(crate) mod clock;
pub(crate) mod closed;
pub(crate) mod conversation;
pub(crate) mod fallback;
pub(crate) mod plan;
pub(crate) mod progress;
pub mod record;
pub(crate) mod request;
pub(crate) mod row;
pub(crate) mod runner;
pub(crate) mod shard;
pub mod sink;
pub mod state;
pub(crate) mod traffic;
pub(crate) mod webhook;

#[cfg(test)]
mod mutants_tests;
