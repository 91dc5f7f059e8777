//! Outputs that plug a run into other tools: HdrHistogram interval logs (`hlog/`), an OpenMetrics text file for
//! node_exporter's textfile collector (`metrics.prom`), and Prometheus remote-write of the same series.

pub mod hlog;
pub mod openmetrics;
pub mod remote_write;
pub mod series;
