//! cutover: load-test chatbot / LLM API endpoints and decide, with numbers, whether a migration from a legacy
//! endpoint to a new gateway is safe. See DESIGN.md in ../shared for the architecture.

pub mod app;
pub mod charts;
pub mod compat;
pub mod cost;
pub mod html;
pub mod metrics;
pub mod mock;
pub mod protocol;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod secret;
pub mod sink;
pub mod sse;
pub mod stats;
pub mod threshold;
pub mod traffic;
pub mod verdict;
pub mod yamlpos;
