//! Driving the load: seeded traffic, the runner (arrivals, caps, cancellation), one request's attempt loop, the
//! typed [`record::Record`] of every scheduled request, and the sink that writes them and owns the accounting.

pub mod fallback;
pub mod plan;
pub mod record;
pub mod request;
pub mod runner;
pub mod shard;
pub mod sink;
pub mod state;
pub mod traffic;

#[cfg(test)]
mod mutants_tests;
