//! Turning records into figures: HDR metrics, cost and the monthly projection, statistics, thresholds and the
//! statistical verdict, all as data (rendering lives in `report`).

pub mod abort;
pub mod capacity;
pub mod cost;
pub mod decision;
pub mod fallback;
pub mod metrics;
pub mod saving;
pub mod soak;
pub mod stats;
pub mod threshold;
pub mod verdict;

#[cfg(test)]
mod mutants_tests;
