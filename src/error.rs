//! The library's one error type. Each variant says what went wrong and where (file, line,
//! field, limit) so that the CLI and the gRPC service can pass it on to users unchanged;
//! the mapping to `tonic::Status` happens only at the service boundary.

use std::path::PathBuf;

/// Errors from any part of the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    // The io error is in the message and not a `#[source]`, so that a chain printed whole
    // (anyhow's `{:#}`) does not say it twice.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    /// A line of a JSONL or CSV input is not valid for its purpose.
    #[error("{path}:{line}: {message}")]
    InvalidRecord { path: String, line: usize, message: String },
    /// The options name a CSV column that the input's header lacks, or names twice: the
    /// command line does not fit the input (a usage error, unlike a bad record).
    #[error("{path}:1: {message}")]
    Column { path: String, message: String },
    /// A model file is truncated, corrupt or written by an incompatible version.
    #[error("model file {path}: {message}")]
    BadModel { path: PathBuf, message: String },
    /// No model of that name is loaded or present in the models directory.
    #[error("unknown model {name:?} (looked in {dir})")]
    UnknownModel { name: String, dir: String },
    /// A parameter was outside its valid range (caught before any work is done).
    #[error("invalid parameter {name}: {message}")]
    InvalidParam { name: &'static str, message: String },
    /// A request field is missing or invalid.
    #[error("invalid field {field}: {message}")]
    InvalidInput { field: String, message: String },
    /// A request went past a configured limit.
    #[error("limit {limit} exceeded: {message}")]
    LimitExceeded { limit: &'static str, message: String },
    /// Training data cannot train a model (e.g. one class only).
    #[error("training data: {0}")]
    Data(String),
    /// A batch met more bad rows than it was allowed to turn into error rows.
    #[error("{path}:{line}: {message} (stopped {})", stop_reason(*max))]
    TooManyBadRows { path: String, line: usize, message: String, max: usize },
    /// A batch was asked to stop (its `stop` flag set); the rows before were written.
    #[error("stopped on request after writing {rows} rows")]
    Interrupted { rows: usize },
    /// The caller of a request stopped waiting for it (its deadline passed, or it cancelled
    /// the call), so its work was given up.
    #[error("the caller stopped waiting; the work was given up")]
    Cancelled,
    /// An interrupted batch's output cannot be continued.
    #[error("cannot resume: {0}")]
    Resume(String),
    /// An error reported by linfa.
    #[error("linfa: {0}")]
    Linfa(#[from] linfa::Error),
}

/// Shorthand used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn stop_reason(max: usize) -> String {
    match max {
        0 => "at the first row that cannot be processed".into(),
        1 => "after 1 row that could not be processed".into(),
        _ => format!("after {max} rows that could not be processed"),
    }
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io { path: path.into(), error }
    }
}
