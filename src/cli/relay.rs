//! `trusty-mpm hook`: the command Claude Code runs for every hook event. It forwards the event
//! to the daemon and relays the decision. It fails open: when the bus or the daemon cannot be
//! reached in time it prints nothing and exits 0, so a broken daemon never blocks Claude Code.
//! In time is what the daemon can take: a second, or for a request (a permission request, a
//! question) while an answering client runs the wait config.toml sets and a few seconds (a
//! stopped daemon holds Claude Code no longer).
//! Nothing but the decision JSON is ever written to stdout.
//! It never starts the daemon (only the clients' calls D-Bus-activate it).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::ExitCode;
use tokio::time::{Duration, Instant};

use zbus::proxy::{self, CacheProperties, MethodFlags};
use zbus::{Proxy, Variant};

use super::bus::has_owner;
use crate::config::config_file;
use crate::config::file::permission_wait;
use crate::contract::{ANSWERER_NAME, BUS_NAME, MANAGER_IFACE, MANAGER_PATH};
use crate::hooks::payload::MAX_PAYLOAD;

/// How long an ordinary event may take end to end.
const CALL_LIMIT: Duration = Duration::from_secs(1);
/// A permission request may take this much beyond the configured wait for an operator's
/// answer (connecting, the daemon's reply).
const PERMISSION_MARGIN: Duration = Duration::from_secs(5);

/// Runs the relay; the exit code is Claude Code's (0, or 2 to block).
pub fn run() -> ExitCode {
    let mut input = Vec::with_capacity(4096);
    let read = std::io::stdin()
        .lock()
        .take(MAX_PAYLOAD as u64 + 1)
        .read_to_end(&mut input);
    if read.is_err() || input.len() > MAX_PAYLOAD {
        return ExitCode::SUCCESS;
    }
    let Ok(payload) = String::from_utf8(input) else {
        return ExitCode::SUCCESS;
    };
    // A request: a permission request, or AskUserQuestion's question (at PreToolUse).
    let asks = payload.contains("\"PermissionRequest\"") || payload.contains("\"AskUserQuestion\"");
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::SUCCESS;
    };
    let Some((stdout, code, stderr)) = rt.block_on(relay(&payload, asks)) else {
        return ExitCode::SUCCESS;
    };
    if !stdout.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(stdout.as_bytes()).and_then(|_| out.flush());
    }
    if !stderr.is_empty() {
        let _ = std::io::stderr().write_all(stderr.as_bytes());
    }
    match code {
        2 => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    }
}

/// Hands the event to the daemon and returns its reply, or `None` when that takes too long.
/// The daemon waits for an answer to a request only while an answering client (notify, the
/// tray) owns `ANSWERER_NAME`: nobody else could answer, so Claude Code should not be held.
async fn relay(payload: &str, asks: bool) -> Option<(String, i32, String)> {
    let start = Instant::now();
    let call = tokio::time::timeout_at(start + CALL_LIMIT, async {
        let conn = zbus::connection::Builder::session().build().await?;
        let answerer = asks && has_owner(&conn, ANSWERER_NAME).await?;
        zbus::Result::Ok((conn, answerer))
    });
    let (conn, answerer) = call.await.ok()?.ok()?;
    let limit = match answerer {
        true => permission_wait(&config_file()) + PERMISSION_MARGIN,
        false => CALL_LIMIT,
    };
    let reply = tokio::time::timeout_at(start + limit, forward(&conn, payload, answerer));
    reply.await.ok()?.ok()
}

async fn forward(
    conn: &zbus::Connection,
    payload: &str,
    answerer: bool,
) -> zbus::Result<(String, i32, String)> {
    let pane = std::env::var("TMUX_PANE").unwrap_or_default();
    let tmux = std::env::var("TMUX").unwrap_or_default();
    let mut ctx: HashMap<&str, Variant<'_>> = HashMap::new();
    ctx.insert("tmux_pane", Variant::from(pane.as_str()));
    ctx.insert("tmux", Variant::from(tmux.as_str()));
    ctx.insert("answerer", Variant::from(answerer));
    // An uncached proxy costs no round trip; it is what sends a call with flags.
    let manager: Proxy<'_> = proxy::Builder::new(conn)
        .destination(BUS_NAME)
        .path(MANAGER_PATH)
        .interface(MANAGER_IFACE)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    // Never D-Bus-activate the daemon: after `systemctl --user stop trusty-mpm` the hooks of the
    // claudes that exit next would start it again. Without a daemon the relay fails open.
    manager
        .call_with_flags("HandleHook", MethodFlags::NO_AUTO_START, &(payload, ctx))
        .await?
        .ok_or(zbus::Error::InvalidReply)
}
