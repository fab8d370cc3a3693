//! The core error type. Every failure below the D-Bus layer is one of these; `dbus::error` maps
//! each variant to exactly one contract error name. Messages are one readable sentence.

/// A failure of a core operation.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    TmuxUnavailable(String),
    #[error("{0}")]
    TmuxFailed(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    Internal(String),
}

/// Result of a core operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An invalid-argument error from any message.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    /// An internal error; the detail is logged, the caller sees a generic sentence.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {detail}");
        Error::Internal(format!(
            "Internal error while {context}; see the daemon's log."
        ))
    }
}
