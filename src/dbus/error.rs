//! The wire errors of the contract: a core error as callers on the bus see it,
//! `org.trusty.Mpm1.Error.<kind>` with the error's one sentence.

use zbus::DBusError;
use zbus::message::{Header, Message};
use zbus::names::ErrorName;

use crate::contract::ERROR_PREFIX;
use crate::error::Error as CoreError;

/// A core error on the wire: its kind's contract name and its sentence.
#[derive(Debug)]
pub struct WireError {
    name: ErrorName<'static>,
    error: CoreError,
}

impl From<CoreError> for WireError {
    fn from(error: CoreError) -> Self {
        let name = format!("{ERROR_PREFIX}.{}", error.name());
        WireError {
            // A fixed prefix and a fixed identifier always make a valid error name.
            name: ErrorName::from_string_unchecked(name),
            error,
        }
    }
}

impl DBusError for WireError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<Message> {
        Message::error(call, self.name.as_ref()).build(&(self.error.message(),))
    }

    fn name(&self) -> ErrorName<'_> {
        self.name.as_ref()
    }

    fn description(&self) -> Option<&str> {
        Some(self.error.message())
    }
}
impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.error)
    }
}

impl std::error::Error for WireError {}

/// Result of a D-Bus method handler.
pub type WireResult<T> = Result<T, WireError>;
