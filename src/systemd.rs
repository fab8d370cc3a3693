//! sd_notify: READY, STATUS, STOPPING and the watchdog. Every call is a no-op outside systemd
//! (no NOTIFY_SOCKET). The watchdog pings only after a round trip through the state owner, so a
//! wedged daemon stops pinging and systemd restarts it. Also what of systemd's environment
//! stays the daemon's own (`PRIVATE_ENV`).

use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use sd_notify::NotifyState;

/// Environment the daemon must not hand down to tmux servers and agents: systemd's notify and
/// watchdog hooks, the journal stream and the service's identity belong to the daemon alone.
pub const PRIVATE_ENV: [&str; 8] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
    "INVOCATION_ID",
    "MANAGERPID",
    "SYSTEMD_EXEC_PID",
    "TRUSTY_MPM_TEST_FAULTS",
];

/// Sends one notification without ever blocking: a service manager that stops reading its
/// socket must not freeze the daemon (sd_notify's own send blocks when the queue is full).
fn send(states: &[NotifyState<'_>]) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let msg: String = states.iter().map(|s| format!("{s}\n")).collect();
    match notify_socket(&path).and_then(|sock| sock.send(msg.as_bytes())) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            tracing::warn!("the service manager is not reading notifications; dropped {msg:?}");
        }
        Err(e) => tracing::warn!("sd_notify failed: {e}"),
    }
}

/// A non-blocking datagram socket connected to NOTIFY_SOCKET (a path, or `@abstract`).
fn notify_socket(path: &std::ffi::OsStr) -> std::io::Result<UnixDatagram> {
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    match path.as_bytes().strip_prefix(b"@") {
        Some(name) => sock.connect_addr(&SocketAddr::from_abstract_name(name)?)?,
        None => sock.connect(path)?,
    }
    Ok(sock)
}

/// Tells systemd what the daemon is doing.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// Start-up is complete: the bus name is owned and the registry reconciled.
pub fn ready(text: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(text)]);
}

/// The daemon is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Pings the watchdog at half its interval while `check` (a round trip through the state
/// owner) completes within that time.
pub fn spawn_watchdog<F, Fut>(check: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = interval / 2;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            if tokio::time::timeout(period, check()).await.is_ok() {
                send(&[NotifyState::Watchdog]);
            } else {
                tracing::error!(
                    "state owner did not answer within {period:?}; withholding the watchdog ping"
                );
            }
        }
    });
}
