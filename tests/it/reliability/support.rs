//! What the reliability tests share: the contract's names and errors, raw calls with bodies of
//! any signature, property reads, the daemon's and tmux server's pids, and the contract's methods
//! as the shipped introspection XML declares them.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use trusty_mpm::cli::proxy::ManagerProxy;
use zbus::proxy::CacheProperties;
use zbus::{Connection, Message, Structure, Variant};
use zbus_xml::ArgDirection;

use crate::harness::*;

pub const BUS_NAME: &str = "org.trusty.Mpm1";
pub const MANAGER_PATH: &str = "/org/trusty/Mpm1";
pub const MANAGER_IFACE: &str = "org.trusty.Mpm1";
pub const SESSION_IFACE: &str = "org.trusty.Mpm1.Session";
pub const PROPERTIES_IFACE: &str = "org.freedesktop.DBus.Properties";

/// The error names of the contract, after `org.trusty.Mpm1.Error.`.
pub const CONTRACT_ERRORS: [&str; 9] = [
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

/// Longest any single call of these tests may take before it counts as a hang.
pub const CALL_LIMIT: Duration = Duration::from_secs(15);

/// The error name and message of a failed call; transport failures get a descriptive name.
pub fn error_of(e: &zbus::Error) -> (String, String) {
    match e {
        zbus::Error::MethodError(name, msg, _) => {
            (name.to_string(), msg.clone().unwrap_or_default())
        }
        // Error replies with a name of org.freedesktop.DBus.Error.* arrive as this variant.
        zbus::Error::FDO(e) => (
            zbus::DBusError::name(e.as_ref()).to_string(),
            zbus::DBusError::description(e.as_ref())
                .unwrap_or_default()
                .to_owned(),
        ),
        other => (format!("(no error reply) {other}"), String::new()),
    }
}

pub fn is_contract_error(name: &str) -> bool {
    name.strip_prefix("org.trusty.Mpm1.Error.")
        .is_some_and(|n| CONTRACT_ERRORS.contains(&n))
}

/// The contract's rule for error messages: one human sentence, no debug output (looked for
/// outside the quoted caller input, which may hold anything).
pub fn one_sentence(msg: &str) -> bool {
    let unquoted = match (msg.find('\''), msg.rfind('\'')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &msg[..a], &msg[b + 1..]),
        _ => msg.to_owned(),
    };
    !msg.is_empty()
        && !msg.contains('\n')
        && msg.ends_with('.')
        && !unquoted.contains("Error(")
        && !unquoted.contains("{ ")
}

pub async fn connect(addr: &str) -> Connection {
    zbus::connection::Builder::address(addr)
        .build()
        .await
        .expect("connect to the private bus")
}

/// A manager proxy that caches nothing (no match rules, every read asks the daemon).
pub async fn manager_on(conn: &Connection) -> ManagerProxy<'static> {
    ManagerProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .unwrap()
}

/// A method call with a body made of `args`, whatever their types (the signature follows them).
pub async fn call_raw(
    conn: &Connection,
    path: &str,
    iface: &str,
    member: &str,
    args: Vec<Variant<'static>>,
) -> zbus::Result<Message> {
    if args.is_empty() {
        return conn
            .call_method(Some(BUS_NAME), path, Some(iface), member, &())
            .await;
    }
    let mut body = Structure::builder();
    for a in args {
        body = body.append_field(a);
    }
    let body = body.build().expect("a non-empty body");
    conn.call_method(Some(BUS_NAME), path, Some(iface), member, &body)
        .await
}

/// `org.freedesktop.DBus.Properties.GetAll` of `iface` at `path`.
pub async fn get_all_raw(
    conn: &Connection,
    path: &str,
    iface: &str,
) -> zbus::Result<HashMap<String, zbus::OwnedVariant>> {
    let reply = call_raw(
        conn,
        path,
        PROPERTIES_IFACE,
        "GetAll",
        vec![Variant::from(iface.to_owned())],
    )
    .await?;
    reply.body().deserialize()
}

/// `GetAll`, rendered for comparison.
pub async fn get_all(
    conn: &Connection,
    path: &str,
    iface: &str,
) -> zbus::Result<BTreeMap<String, String>> {
    Ok(get_all_raw(conn, path, iface)
        .await?
        .into_iter()
        .map(|(k, v)| (k, format!("{v:?}")))
        .collect())
}

/// `org.freedesktop.DBus.Properties.Get` of one property at `path`.
pub async fn get_property(
    conn: &Connection,
    path: &str,
    iface: &str,
    name: &str,
) -> zbus::Result<zbus::OwnedVariant> {
    let reply = call_raw(
        conn,
        path,
        PROPERTIES_IFACE,
        "Get",
        vec![
            Variant::from(iface.to_owned()),
            Variant::from(name.to_owned()),
        ],
    )
    .await?;
    reply.body().deserialize()
}

pub fn daemon_pid(env: &Env) -> u32 {
    env.daemon.as_ref().expect("daemon running").id()
}

/// Whether the daemon process is still running (not exited: a zombie until reaped).
pub fn daemon_alive(env: &Env) -> bool {
    alive(daemon_pid(env))
}

/// The pid of this test's tmux server, when one runs.
pub fn tmux_server_pid(env: &Env) -> Option<u32> {
    let out = env.tmux(&["display-message", "-p", "#{pid}"]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .flatten()
}

/// A method of the contract, as the shipped introspection XML declares it.
#[derive(Debug, Clone)]
pub struct Method {
    pub iface: String,
    pub name: String,
    /// In-arguments: (name, D-Bus type).
    pub args: Vec<(String, String)>,
}

impl Method {
    pub fn signature(&self) -> String {
        self.args.iter().map(|(_, t)| t.as_str()).collect()
    }
}

/// Every method of `org.trusty.Mpm1` and `org.trusty.Mpm1.Session` in the contract XML (which
/// `contract.rs` keeps equal to the live introspection), so new methods are covered here too.
pub fn contract_methods() -> Vec<Method> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/dbus/org.trusty.Mpm1.xml");
    let xml = std::fs::read_to_string(&file).expect("the contract XML");
    let node = zbus_xml::Node::try_from(xml.as_str())
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
    let mut out: Vec<Method> = Vec::new();
    for iface in node.interfaces() {
        for method in iface.methods() {
            let args = method
                .args()
                .iter()
                .filter(|a| a.direction() != Some(ArgDirection::Out))
                .map(|a| {
                    let name = a.name().expect("every argument of the contract is named");
                    (name.to_owned(), a.ty().to_string())
                })
                .collect();
            out.push(Method {
                iface: iface.name().to_string(),
                name: method.name().to_string(),
                args,
            });
        }
    }
    for (iface, at_least) in [(MANAGER_IFACE, 17), (SESSION_IFACE, 9)] {
        let n = out.iter().filter(|m| m.iface == iface).count();
        assert!(n >= at_least, "only {n} methods of {iface} in the XML");
    }
    out
}
