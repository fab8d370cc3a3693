//! The core error type and its one table. Every failure below the D-Bus layer is an `Error`:
//! a kind and one readable sentence. The kind is the contract's error name on the bus
//! (`org.trusty.Mpm1.Error.<Kind>`, zbus's derive), and `KINDS` gives each its CLI exit code and
//! the line `trusty-mpm --help` shows.

/// A failure of a core operation.
#[derive(Debug, Clone, PartialEq, Eq, zbus::DBusError)]
#[zbus(prefix = "org.trusty.Mpm1.Error", impl_display = false)]
pub enum Error {
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

/// One kind of failure: its name in the contract, and what it means to a person.
pub struct Kind {
    pub name: &'static str,
    pub meaning: &'static str,
}

/// The first exit code of the CLI's error kinds: kind `i` of `KINDS` exits with this plus `i`.
pub const FIRST_EXIT_CODE: u8 = 10;

/// Every kind, in the order of their exit codes.
pub const KINDS: [Kind; 9] = [
    kind("NotFound", "no session matches the key"),
    kind(
        "InvalidState",
        "not allowed in the session's current status",
    ),
    kind("InvalidArgument", "bad name, path, key, size or format"),
    kind("AlreadyExists", "the name is taken"),
    kind("TmuxUnavailable", "tmux or its server cannot be reached"),
    kind("TmuxFailed", "a tmux command failed"),
    kind("Timeout", "tmux or a helper did not answer in time"),
    kind("AccessDenied", "the caller is not the daemon's user"),
    kind("Internal", "the daemon failed; see its log"),
];

const fn kind(name: &'static str, meaning: &'static str) -> Kind {
    Kind { name, meaning }
}

impl Error {
    /// The contract's name of this kind, the last part of its D-Bus error name (a method of
    /// another name than `DBusError::name`, which the derived reply calls).
    pub fn kind(&self) -> &'static str {
        KINDS[self.index()].name
    }

    /// The one readable sentence.
    pub fn message(&self) -> &str {
        match self {
            Error::NotFound(m)
            | Error::InvalidState(m)
            | Error::InvalidArgument(m)
            | Error::AlreadyExists(m)
            | Error::TmuxUnavailable(m)
            | Error::TmuxFailed(m)
            | Error::Timeout(m)
            | Error::AccessDenied(m)
            | Error::Internal(m) => m,
        }
    }

    /// The CLI's exit code for this kind.
    pub fn exit_code(&self) -> u8 {
        FIRST_EXIT_CODE + self.index() as u8
    }

    fn index(&self) -> usize {
        match self {
            Error::NotFound(_) => 0,
            Error::InvalidState(_) => 1,
            Error::InvalidArgument(_) => 2,
            Error::AlreadyExists(_) => 3,
            Error::TmuxUnavailable(_) => 4,
            Error::TmuxFailed(_) => 5,
            Error::Timeout(_) => 6,
            Error::AccessDenied(_) => 7,
            Error::Internal(_) => 8,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// The CLI's exit code for a D-Bus error name of the contract's kinds, by its last part.
pub fn exit_code(error_name: &str) -> Option<u8> {
    let kind = error_name
        .strip_prefix(crate::contract::ERROR_PREFIX)?
        .strip_prefix('.')?;
    KINDS
        .iter()
        .position(|k| k.name == kind)
        .map(|i| FIRST_EXIT_CODE + i as u8)
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

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::DBusError;

    /// The table, the wire names zbus derives and the contract's prefix say the same.
    #[test]
    fn every_kind_has_one_name_one_exit_code_and_one_meaning() {
        let all = [
            Error::NotFound("a".into()),
            Error::InvalidState("b".into()),
            Error::InvalidArgument("c".into()),
            Error::AlreadyExists("d".into()),
            Error::TmuxUnavailable("e".into()),
            Error::TmuxFailed("f".into()),
            Error::Timeout("g".into()),
            Error::AccessDenied("h".into()),
            Error::Internal("i".into()),
        ];
        assert_eq!(all.len(), KINDS.len());
        for (i, e) in all.iter().enumerate() {
            let wire = DBusError::name(e).to_string();
            assert_eq!(
                wire,
                format!("{}.{}", crate::contract::ERROR_PREFIX, e.kind())
            );
            assert_eq!(exit_code(&wire), Some(FIRST_EXIT_CODE + i as u8));
            assert_eq!(e.exit_code(), FIRST_EXIT_CODE + i as u8);
            assert_eq!(DBusError::description(e), Some(e.message()));
            assert_eq!(e.to_string(), e.message());
            let call = zbus::Message::method_call("/org/trusty/Mpm1", "Ping")
                .destination("org.trusty.Mpm1")
                .build(&())
                .unwrap();
            let reply = e.create_reply(&call.header()).expect("a valid error reply");
            let sent = reply.header().error_name().map(|n| n.to_string());
            assert_eq!(sent.as_deref(), Some(wire.as_str()));
            assert_eq!(
                reply.body().deserialize::<(String,)>().unwrap().0,
                e.message()
            );
        }
        assert_eq!(exit_code("org.trusty.Mpm1.Error.Bogus"), None);
        assert_eq!(exit_code("org.example.NotFound"), None);
    }
}
