//! The names of the public contract (`org.trusty.Mpm1`), shared by the daemon's bus face and
//! its clients (the CLI, the hook relay): bus name, object paths and interfaces. The error names
//! are the core error kinds (`crate::error::Error::name`).

/// The well-known bus name.
pub const BUS_NAME: &str = "org.trusty.Mpm1";
/// The name a client that answers requests (notify, the tray) owns while it runs, queued
/// behind any other: the relay waits for an answer only while it has an owner.
pub const ANSWERER_NAME: &str = "org.trusty.Mpm1.Answerer";
/// The manager's object path (also the ObjectManager root).
pub const MANAGER_PATH: &str = "/org/trusty/Mpm1";
/// The manager interface.
pub const MANAGER_IFACE: &str = "org.trusty.Mpm1";
/// The per-session interface.
pub const SESSION_IFACE: &str = "org.trusty.Mpm1.Session";
/// The prefix of every error name: `org.trusty.Mpm1.Error.<Name>`.
pub const ERROR_PREFIX: &str = "org.trusty.Mpm1.Error";

/// One row of `ListRequests`: session id, session name, request id, kind, details.
pub type RequestRow = (
    String,
    String,
    String,
    String,
    std::collections::HashMap<String, zbus::OwnedVariant>,
);
