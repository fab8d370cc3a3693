//! `trusty-mpm attach` in real tmux clients: from a terminal outside tmux (a pane of another
//! tmux server, TMUX unset) and from inside a client of the daemon's own server
//! (switch-client); the nested case is the notification's terminal (notifications.rs). Also
//! the tmux target in `status` and the contract's TmuxSession and TmuxSocket.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use super::*;

/// The sessions the clients of the test's tmux server show.
fn client_sessions(env: &Env) -> Vec<String> {
    let out = env.tmux(&["list-clients", "-F", "#{client_session}"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn attach_from_a_terminal_then_switch_from_inside_tmux() {
    let env = Env::new().await;
    env.start_active("a").await;
    env.start_active("b").await;
    let outer = env.dir.path().join("outer.sock");
    let terminal = Terminal(outer.clone());
    let bus = format!("DBUS_SESSION_BUS_ADDRESS={}", env.bus.address);
    let out = terminal
        .open()
        .args([
            "env",
            "-u",
            "TMUX",
            "-u",
            "TMUX_PANE",
            &bus,
            DAEMON,
            "attach",
            "a",
        ])
        .env_remove("TMUX")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    wait_for("a client on a", || async { client_sessions(&env) == ["a"] }).await;

    // From a shell inside that client (its pane of session a), attach b switches the client.
    let server_pid = env.tmux(&["display-message", "-p", "#{pid}"]);
    let server_pid = String::from_utf8_lossy(&server_pid.stdout)
        .trim()
        .to_owned();
    let inside = format!("{},{server_pid},0", env.tmux_socket().display());
    let out = Command::new(DAEMON)
        .args(["attach", "b"])
        .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
        .env("TMUX", inside)
        .env("TMUX_PANE", pane_of(&env, "a"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    wait_for("the client on b", || async {
        client_sessions(&env) == ["b"]
    })
    .await;
}

#[tokio::test]
async fn status_shows_the_tmux_target_and_registered_sessions_have_none() {
    let env = Env::new().await;
    let (_, path, _) = env.start_active("a").await;
    let m = env.manager().await;
    let socket = env.tmux_socket().display().to_string();
    assert_eq!(m.tmux_socket().await.unwrap(), socket);
    assert_eq!(env.session(&path).await.tmux_session().await.unwrap(), "a");

    let cli = |args: &[&str]| {
        Command::new(DAEMON)
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
            .env_remove("TMUX")
            .output()
            .unwrap()
    };
    let out = String::from_utf8(cli(&["status", "a"]).stdout).unwrap();
    assert!(
        out.lines()
            .any(|l| l == format!("      Tmux: =a: on {socket}")),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&cli(&["status", "a", "--json"]).stdout).unwrap();
    assert_eq!(json["tmux_session"], "a");

    let (_, _, reg) = m.register_session(&env.project("r"), "r").await.unwrap();
    assert_eq!(env.session(&reg).await.tmux_session().await.unwrap(), "");
    let out = cli(&["attach", "r"]);
    assert_eq!(out.status.code(), Some(11), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no tmux session"),
        "{out:?}"
    );
}

#[tokio::test]
async fn tmux_socket_defaults_to_the_default_servers() {
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().to_str().unwrap();
    let env = Env::with_env(&[("TRUSTY_MPM_TMUX_SOCKET", ""), ("TMUX_TMPDIR", tmpdir)]).await;
    let uid = std::fs::metadata(tmp.path()).unwrap().uid();
    assert_eq!(
        env.manager().await.tmux_socket().await.unwrap(),
        format!("{tmpdir}/tmux-{uid}/default")
    );
}
