//! cutover: load-test chatbot / LLM API endpoints and decide, with numbers, whether a migration from a legacy
//! endpoint to a new gateway is safe.
//!
//! The house follows the data flow, and every dependency points down it:
//! `config` (scenario, prices, thresholds) -> `client` (HTTP, SSE, one adapter per API) -> `run` (traffic, runner,
//! one request's attempt loop, records, sink) -> `measure` (metrics, cost, stats, thresholds, verdict) -> `report`
//! (run directory, Markdown, HTML, CSV, JUnit, charts, compare). `mock` and `compat` sit beside `client`;
//! `commands` drives them all, one function per subcommand.

pub mod client;
pub mod commands;
pub mod compat;
pub mod config;
pub(crate) mod format;
pub mod measure;
pub mod mock;
pub mod report;
pub mod run;
