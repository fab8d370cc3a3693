//! `trusty-mpm hook`: the command Claude Code runs for every hook event. It forwards the event
//! to the daemon and relays the decision. It fails open: when the bus or the daemon cannot be
//! reached in time it prints nothing and exits 0, so a broken daemon never blocks Claude Code.
//! In time is what the daemon can take: a second, or for a request (a permission request, a
//! question) while an answering client runs the wait config.toml sets and a few seconds (a
//! stopped daemon holds Claude Code no longer).
//! Nothing but the decision JSON is ever written to stdout.
//! It never starts the daemon (only the clients' calls D-Bus-activate it).
//!
//! It runs for every Claude Code event, so it is short: the call is one blocking exchange with
//! the daemon's hook socket, or the bus (`wire`, with messages `marshal` writes by hand),
//! without an async runtime, and it uses nothing but std, rustix and the config file's reader,
//! so that `trusty-mpm-hook`, the relay's own small executable, starts about as fast as any
//! process can (`trusty-mpm hook` runs the same code, after `main` saw its argument).

mod marshal;
#[cfg(test)]
mod tests;
mod wire;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use marshal::{Arg, Call, NO_AUTO_START, Value};

use crate::config::config_file;
use crate::config::file::permission_wait;
use crate::contract::{ANSWERER_NAME, BUS_NAME, MANAGER_IFACE, MANAGER_PATH};
use crate::hooks::payload::MAX_PAYLOAD;
use wire::Bus;

/// How long an ordinary event may take end to end.
const CALL_LIMIT: Duration = Duration::from_secs(1);
/// A permission request may take this much beyond the configured wait for an operator's
/// answer (connecting, the daemon's reply).
const PERMISSION_MARGIN: Duration = Duration::from_secs(5);

/// Runs the relay; the exit code is Claude Code's (0, or 2 to block).
pub fn run() -> ExitCode {
    ExitCode::from(relay_event())
}

/// The relay's work; its exit code (0, or 2 to block). Everything it writes to stdout is
/// flushed before it returns.
pub fn relay_event() -> u8 {
    let mut input = Vec::with_capacity(4096);
    let read = std::io::stdin()
        .lock()
        .take(MAX_PAYLOAD as u64 + 1)
        .read_to_end(&mut input);
    if read.is_err() || input.len() > MAX_PAYLOAD {
        return 0;
    }
    let Ok(payload) = String::from_utf8(input) else {
        return 0;
    };
    // A request: a permission request, or AskUserQuestion's question (at PreToolUse).
    let asks = payload.contains("\"PermissionRequest\"") || payload.contains("\"AskUserQuestion\"");
    let Some((stdout, code, stderr)) = relay(&payload, asks) else {
        return 0;
    };
    if !stdout.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(stdout.as_bytes()).and_then(|_| out.flush());
    }
    if !stderr.is_empty() {
        let _ = std::io::stderr().write_all(stderr.as_bytes());
    }
    match code {
        2 => 2,
        _ => 0,
    }
}

/// Hands the event to the daemon and returns its reply, or `None` when that fails or takes too
/// long. The daemon waits for an answer to a request only while an answering client (notify,
/// the tray) owns `ANSWERER_NAME`: nobody else could answer, so Claude Code should not be held.
fn relay(payload: &str, asks: bool) -> Option<(String, i32, String)> {
    let start = Instant::now();
    // An ordinary event goes straight to the daemon, on its hook socket: no bus connection,
    // Hello or routing, and the socket tells the daemon who called (the bus would be asked).
    // A request needs the bus (is an answerer running?), and without a hook socket (no daemon,
    // or one of another user) the bus decides: it fails when no daemon serves it.
    let direct = match asks {
        true => None,
        false => Bus::connect_daemon().ok(),
    };
    let mut bus = match direct {
        Some(daemon) => daemon,
        None => Bus::connect().ok()?,
    };
    let answerer = asks && has_owner(&mut bus, ANSWERER_NAME, start + CALL_LIMIT)?;
    let limit = match answerer {
        true => permission_wait(&config_file()) + PERMISSION_MARGIN,
        false => CALL_LIMIT,
    };
    let pane = std::env::var("TMUX_PANE").unwrap_or_default();
    let tmux = std::env::var("TMUX").unwrap_or_default();
    let ctx = [
        ("tmux_pane", Value::Str(&pane)),
        ("tmux", Value::Str(&tmux)),
        ("answerer", Value::Bool(answerer)),
    ];
    // Never D-Bus-activate the daemon: after `systemctl --user stop trusty-mpm` the hooks of the
    // claudes that exit next would start it again. Without a daemon the relay fails open.
    let call = Call {
        flags: NO_AUTO_START,
        path: MANAGER_PATH,
        destination: BUS_NAME,
        interface: MANAGER_IFACE,
        member: "HandleHook",
        args: &[Arg::Str(payload), Arg::Dict(&ctx)],
    };
    bus.call(&call, start + limit).ok()?.str_int_str().ok()
}

/// Whether a client owns `name` on the bus.
fn has_owner(bus: &mut Bus, name: &str, deadline: Instant) -> Option<bool> {
    let args = [Arg::Str(name)];
    let call = Call::to_bus("NameHasOwner", &args);
    bus.call(&call, deadline).ok()?.bool().ok()
}
