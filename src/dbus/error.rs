//! The wire errors of the contract (`org.trusty.Mpm1.Error.*`), one per core error kind.

use zbus::DBusError;

use crate::error::Error as CoreError;

/// An error as callers on the bus see it: a contract name and one sentence.
#[derive(Debug, DBusError)]
#[zbus(prefix = "org.trusty.Mpm1.Error")]
pub enum WireError {
    NotFound(String),
    InvalidState(String),
    InvalidArgument(String),
    AlreadyExists(String),
    TmuxUnavailable(String),
    TmuxFailed(String),
    Timeout(String),
    AccessDenied(String),
    Internal(String),
}

impl From<CoreError> for WireError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound(m) => WireError::NotFound(m),
            CoreError::InvalidState(m) => WireError::InvalidState(m),
            CoreError::InvalidArgument(m) => WireError::InvalidArgument(m),
            CoreError::AlreadyExists(m) => WireError::AlreadyExists(m),
            CoreError::TmuxUnavailable(m) => WireError::TmuxUnavailable(m),
            CoreError::TmuxFailed(m) => WireError::TmuxFailed(m),
            CoreError::Timeout(m) => WireError::Timeout(m),
            CoreError::AccessDenied(m) => WireError::AccessDenied(m),
            CoreError::Internal(m) => WireError::Internal(m),
        }
    }
}

/// Result of a D-Bus method handler.
pub type WireResult<T> = Result<T, WireError>;
