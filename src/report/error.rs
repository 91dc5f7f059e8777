//! The report wing's one error type.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Data { path: String, message: String },
    /// Two runs that cannot be compared (different scenario, seed, duration, targets or tool version).
    #[error("{0}")]
    Incomparable(String),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.display().to_string(),
        source,
    }
}
