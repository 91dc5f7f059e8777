//! What the user wrote: scenario types and validation, the price table, the threshold language and metric names,
//! and the YAML position helpers behind file:line:col:field errors.

pub mod abort;
pub mod goodput;
pub mod metric;
pub mod prices;
pub mod scenario;
pub mod shape;
pub mod threshold;
pub mod yaml;

#[cfg(test)]
mod mutants_tests;
