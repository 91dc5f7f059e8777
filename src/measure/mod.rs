//! Turning records into figures: HDR metrics, cost and the monthly projection, statistics, thresholds and the
//! statistical verdict, all as data (rendering lives in `report`).

pub(crate) mod abort;
pub(crate) mod capacity;
pub(crate) mod conv_costs;
pub(crate) mod cost;
pub mod decision;
pub(crate) mod fallback;
pub(crate) mod generator;
pub mod metrics;
pub(crate) mod samples;
pub(crate) mod saving;
pub(crate) mod soak;
pub(crate) mod stats;
pub(crate) mod threshold;
pub mod verdict;
pub(crate) mod webhook;

#[cfg(test)]
mod mutants_tests;
