//! The hook relay as Claude Code runs it: `trusty-mpm-hook` (what `hooks install` writes into
//! the settings) with a payload, from a pane's claude (its child), from a nested claude, or from
//! outside every session; and `trusty-mpm hook`, the same relay under the contract's name.

use super::*;

/// A finished relay run.
pub struct Relay {
    pub stdout: String,
    pub code: i32,
}

/// The relay's own executable.
pub const RELAY: &str = env!("CARGO_BIN_EXE_trusty-mpm-hook");

/// Runs `trusty-mpm-hook` with `payload` on stdin as a hook process of `pane` would (an empty
/// pane: a hook process outside tmux).
pub async fn relay(env: &Env, payload: &str, pane: &str) -> Relay {
    relay_with(
        &env.bus.address,
        &env.tmux_socket().to_string_lossy(),
        payload,
        pane,
    )
    .await
}

/// `relay` against any bus and tmux socket.
pub async fn relay_with(bus: &str, socket: &str, payload: &str, pane: &str) -> Relay {
    relay_from(bus, &format!("{socket},1,0"), payload, pane).await
}

/// `relay` as a hook process of `pane` on the tmux server of the `TMUX` value `tmux`
/// (`socket,server pid,index`). When a stand-in claude runs in that pane, the relay runs as its
/// child, as Claude Code runs hooks (the daemon gives an event to the session whose claude the
/// relay descends from); otherwise it runs from the test, a process outside every session.
pub async fn relay_from(bus: &str, tmux: &str, payload: &str, pane: &str) -> Relay {
    let socket = tmux.split(',').next().unwrap_or("");
    let claude = pane_pid(socket, pane).and_then(|pid| find_descendant(pid, "claude"));
    if !pane.is_empty() && claude.is_some() {
        return relay_in_claude(RELAY, bus, socket, payload, pane, "!hook", "").await;
    }
    let mut child = tokio::process::Command::new(RELAY)
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("TMUX_PANE", pane)
        .env("TMUX", tmux)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(payload.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    Relay {
        stdout: String::from_utf8(out.stdout).unwrap(),
        code: out.status.code().unwrap(),
    }
}

/// The pid of a pane's process on the tmux server at `socket`, if the pane exists.
fn pane_pid(socket: &str, pane: &str) -> Option<u32> {
    if pane.is_empty() {
        return None;
    }
    let out = Command::new("tmux")
        .args(["-S", socket, "display-message", "-p", "-t", pane])
        .arg("#{pane_pid}")
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .flatten()
}

/// `relay` run by a nested claude (`claude -p`, as a tool of the agent in `pane` would run it).
pub async fn relay_nested(env: &Env, payload: &str, pane: &str) -> Relay {
    let socket = env.tmux_socket().to_string_lossy().into_owned();
    relay_in_claude(RELAY, &env.bus.address, &socket, payload, pane, "!sub", "").await
}

/// `relay` run by the claude in `pane` with `TMUX_PANE` set to `claimed`, another pane.
pub async fn relay_claiming(env: &Env, payload: &str, pane: &str, claimed: &str) -> Relay {
    let socket = env.tmux_socket().to_string_lossy().into_owned();
    relay_in_claude(
        RELAY,
        &env.bus.address,
        &socket,
        payload,
        pane,
        "!hook",
        claimed,
    )
    .await
}

/// `relay` as `trusty-mpm hook`, run by the claude in `pane`.
pub async fn relay_by_alias(env: &Env, payload: &str, pane: &str) -> Relay {
    let socket = env.tmux_socket().to_string_lossy().into_owned();
    relay_in_claude(
        DAEMON,
        &env.bus.address,
        &socket,
        payload,
        pane,
        "!hook",
        "",
    )
    .await
}

/// Has the stand-in claude in `pane` run the relay `bin` as its child (its `verb` line, `!hook`
/// or `!sub`), with `TMUX_PANE` set to `claimed` when it is not empty.
async fn relay_in_claude(
    bin: &str,
    bus: &str,
    socket: &str,
    payload: &str,
    pane: &str,
    verb: &str,
    claimed: &str,
) -> Relay {
    let dir = tempfile::Builder::new()
        .prefix("trusty-mpm-hook")
        .tempdir()
        .unwrap();
    let input = dir.path().join("payload.json");
    std::fs::write(&input, payload).unwrap();
    let out = dir.path().join("relay");
    let (input, out_path) = (input.display(), out.display());
    let line = format!("{verb} {bin} {bus} {input} {out_path} {claimed}");
    let typed = Command::new("tmux")
        .args(["-S", socket, "send-keys", "-t", pane, "-l", &line])
        .status()
        .unwrap()
        .success()
        && Command::new("tmux")
            .args(["-S", socket, "send-keys", "-t", pane, "Enter"])
            .status()
            .unwrap()
            .success();
    assert!(typed, "could not type the hook line into pane {pane}");
    let code = out.with_extension("code");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !code.exists() {
        assert!(
            Instant::now() < deadline,
            "the relay in pane {pane} did not end within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Relay {
        stdout: std::fs::read_to_string(out.with_extension("out")).unwrap(),
        code: std::fs::read_to_string(code)
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
    }
}
