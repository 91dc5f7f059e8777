//! What the user wrote: scenario types and validation, the price table, the threshold language and metric names,
//! and the YAML position helpers behind file:line:col:field errors.

pub(crate) mod abort;
pub(crate) mod goodput;
pub(crate) mod metric;
pub(crate) mod prices;
pub mod scenario;
pub(crate) mod schema;
pub(crate) mod shape;
pub(crate) mod threshold;
pub(crate) mod webhook;
pub mod yaml;

#[cfg(test)]
mod mutants_tests;
