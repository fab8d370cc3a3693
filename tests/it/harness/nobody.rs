//! Another user: clients run as uid 65534, to see what the daemon refuses them.

use super::*;

/// Runs `cmd` as user and group 65534 with no supplementary groups.
pub fn as_nobody(cmd: &[&str]) -> Output {
    require("setpriv");
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(cmd)
        .env("HOME", "/nonexistent")
        .output()
        .expect("setpriv runs")
}

/// Asserts that a client can run as uid 65534 here and reach the bus at `addr` itself, so that
/// a refusal by the daemon means the daemon refused.
pub fn assert_nobody_reaches_bus(addr: &str) {
    require("busctl");
    let who = as_nobody(&["id", "-u"]);
    assert!(
        who.status.success() && String::from_utf8_lossy(&who.stdout).trim() == "65534",
        "cannot run a client as uid 65534 with setpriv (needs root): {who:?}"
    );
    let ping = as_nobody(&[
        "busctl",
        &format!("--address={addr}"),
        "call",
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "GetId",
    ]);
    assert!(
        ping.status.success(),
        "uid 65534 cannot reach the private bus: {ping:?}"
    );
}

/// `gdbus call` of `member` (interface.Method) on the daemon's object `path`, as uid 65534.
/// `args` are GVariant text, e.g. `'name'`, `true`, `uint32 5`, `@a{sv} {}`.
pub fn gdbus_as_nobody(addr: &str, path: &str, member: &str, args: &[&str]) -> Output {
    require("gdbus");
    let mut cmd = vec![
        "gdbus",
        "call",
        "--address",
        addr,
        "--dest",
        "org.trusty.Mpm1",
        "--object-path",
        path,
        "--method",
        member,
    ];
    cmd.extend_from_slice(args);
    as_nobody(&cmd)
}
