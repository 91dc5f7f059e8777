//! Driving the load: seeded traffic, the runner (arrivals, caps, cancellation), one request's attempt loop, the
//! typed [`record::Record`] of every scheduled request, and the sink that writes them and owns the accounting.

pub mod callbacks;
pub(crate) mod clock;
pub mod fallback;
pub mod plan;
pub mod progress;
pub mod record;
pub mod request;
pub mod runner;
pub mod shard;
pub mod sink;
pub mod state;
pub mod traffic;
pub mod webhook;
