//! Where the session bus is, as zbus finds it, and where the daemon's private hook socket is
//! beside it. Shared by the hook relay (which reaches either) and the daemon (which listens on
//! the hook socket); std and rustix only, as the relay's own executable links this.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::net::SocketAddrUnix;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// What the hook socket's name adds to the bus socket's.
const HOOK_SUFFIX: &str = ".trusty-mpm-hook";

/// The session bus's socket, as zbus finds it (so the relay reaches the bus the clients do):
/// `DBUS_SESSION_BUS_ADDRESS`, else `unix:path=$XDG_RUNTIME_DIR/bus` (or
/// `/run/user/<euid>/bus`). Of an address, the `unix` transport with `path` or `abstract`
/// is taken, its value as written (zbus decodes no `%` escapes in either).
pub fn session_socket() -> Result<SocketAddrUnix> {
    let address = match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(address) => address,
        Err(_) => {
            let dir = std::env::var("XDG_RUNTIME_DIR")
                .unwrap_or_else(|_| format!("/run/user/{}", rustix::process::geteuid().as_raw()));
            format!("unix:path={dir}/bus")
        }
    };
    socket_of(&address)
}

/// The socket a D-Bus address names (see `session_socket`).
pub fn socket_of(address: &str) -> Result<SocketAddrUnix> {
    let Some(("unix", options)) = address.split_once(':') else {
        return Err("the session bus is not on a unix socket".into());
    };
    let (mut path, mut name) = (None, None);
    for option in options.split(',') {
        match option.split_once('=') {
            Some(("path", v)) if !v.is_empty() => path = Some(v),
            Some(("abstract", v)) if !v.is_empty() => name = Some(v),
            Some((key, v)) if !key.is_empty() && !v.is_empty() => {}
            _ => return Err("the session bus address is not valid".into()),
        }
    }
    Ok(match (path, name) {
        (Some(path), None) => SocketAddrUnix::new(path)?,
        (None, Some(name)) => SocketAddrUnix::new_abstract_name(name.as_bytes())?,
        _ => return Err("the session bus address names no socket".into()),
    })
}

/// The daemon's hook socket for the bus on `bus`: beside a bus socket that is a file (as
/// `/run/user/1000/bus` → `/run/user/1000/bus.trusty-mpm-hook`), so that one bus has one, and
/// a relay finds the daemon of the bus it would call. None for a bus on an abstract socket.
pub fn hook_socket(bus: &SocketAddrUnix) -> Option<PathBuf> {
    let path = bus.path()?;
    let mut path = std::ffi::OsStr::from_bytes(path.to_bytes()).to_os_string();
    path.push(HOOK_SUFFIX);
    Some(path.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_addresses_name_their_socket_and_others_are_refused() {
        let path = socket_of("unix:path=/run/user/1000/bus").unwrap();
        assert_eq!(path.path().unwrap().to_str(), Ok("/run/user/1000/bus"));
        let named = socket_of("unix:abstract=/tmp/dbus-x1,guid=0123456789abcdef").unwrap();
        assert_eq!(named.abstract_name(), Some(&b"/tmp/dbus-x1"[..]));
        for bad in [
            "",
            "unix:",
            "tcp:host=localhost,port=1",
            "unix:dir=/tmp",
            "unix:path=/a,abstract=b",
            "unix:path=",
            "unix:path=/a,guid",
        ] {
            assert!(socket_of(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_hook_socket_is_beside_a_bus_socket_file_and_abstract_buses_have_none() {
        let bus = socket_of("unix:path=/run/user/1000/bus,guid=00").unwrap();
        let hook = hook_socket(&bus).unwrap();
        assert_eq!(hook.to_str(), Some("/run/user/1000/bus.trusty-mpm-hook"));
        let named = socket_of("unix:abstract=/tmp/dbus-x1").unwrap();
        assert_eq!(hook_socket(&named), None);
    }
}
