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

impl Error {
    /// Every kind, in the order of `name`: the contract's error names.
    pub const NAMES: [&'static str; 9] = [
        "NotFound",
        "InvalidState",
        "InvalidArgument",
        "AlreadyExists",
        "TmuxUnavailable",
        "TmuxFailed",
        "Timeout",
        "AccessDenied",
        "Internal",
    ];

    /// The kind's index in `NAMES`, and the sentence.
    fn parts(&self) -> (usize, &str) {
        match self {
            Error::NotFound(m) => (0, m),
            Error::InvalidState(m) => (1, m),
            Error::InvalidArgument(m) => (2, m),
            Error::AlreadyExists(m) => (3, m),
            Error::TmuxUnavailable(m) => (4, m),
            Error::TmuxFailed(m) => (5, m),
            Error::Timeout(m) => (6, m),
            Error::AccessDenied(m) => (7, m),
            Error::Internal(m) => (8, m),
        }
    }

    /// The contract's name of this kind (`org.trusty.Mpm1.Error.<name>`).
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.parts().0]
    }

    /// The one readable sentence.
    pub fn message(&self) -> &str {
        self.parts().1
    }
}

/// Result of a core operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An invalid-argument error from any message.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    /// `InvalidState` for a call that needs a running claude in a stopped session, saying how
    /// to start it again.
    pub fn stopped(name: &str) -> Self {
        Error::InvalidState(format!(
            "Session '{name}' is stopped; start it again with `trusty-mpm restart {name}`."
        ))
    }

    /// An internal error; the detail is logged, the caller sees a generic sentence.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {detail}");
        Error::Internal(format!(
            "Internal error while {context}; see the daemon's log."
        ))
    }
}
