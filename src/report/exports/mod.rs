//! Outputs that plug a run into other tools: HdrHistogram interval logs (`hlog/`), an OpenMetrics text file for
//! node_exporter's textfile collector (`metrics.prom`), and Prometheus remote-write of the same series.

pub(crate) mod hlog;
pub(crate) mod openmetrics;
pub(crate) mod remote_write;
pub(crate) mod series;
