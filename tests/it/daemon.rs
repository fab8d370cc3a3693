//! The daemon process itself: restarts and crashes keep sessions, the registry survives
//! corruption, a second daemon is refused, losing the bus ends the daemon, and only clients
//! (never the hook relay) start it on demand.

use std::time::Duration;

use crate::harness::*;

#[tokio::test]
async fn restart_keeps_sessions_pause_summaries_and_pids() {
    let mut env = Env::new().await;
    let (id_a, path_a, pid_a) = env.start_active("keep-a").await;
    let (_, path_b, pid_b) = env.start_active("keep-b").await;
    let m = env.manager().await;
    m.pause_session("keep-a", "waiting for review", true)
        .await
        .unwrap();
    wait_for("frozen", || async { proc_state(pid_a) == 'T' }).await;
    let before = m.list_sessions().await.unwrap();

    env.restart_daemon().await;
    // The daemon never takes sessions down with it.
    assert!(alive(pid_a) && alive(pid_b));
    assert_eq!(proc_state(pid_a), 'T', "still frozen across the restart");

    let m = env.manager().await;
    assert_eq!(m.list_sessions().await.unwrap(), before);
    let a = env.session(&path_a).await;
    assert_eq!(a.id().await.unwrap(), id_a);
    assert_eq!(a.status().await.unwrap(), "paused");
    assert_eq!(a.pause_summary().await.unwrap(), "waiting for review");
    assert!(a.frozen().await.unwrap());
    assert_eq!(a.pid().await.unwrap(), pid_a);
    m.resume_session("keep-a").await.unwrap();
    wait_for("thawed", || async { proc_state(pid_a) != 'T' }).await;

    // Exit watching is re-established for the reloaded sessions.
    let b = env.session(&path_b).await;
    assert_eq!(b.pid().await.unwrap(), pid_b);
    signal(pid_b, "KILL");
    wait_for("b stopped", || async {
        b.status().await.unwrap() == "stopped"
    })
    .await;
}

#[tokio::test]
async fn crash_then_reconcile_with_what_changed_meanwhile() {
    let mut env = Env::new().await;
    let (_, _, pid_dies) = env.start_active("dies").await;
    let (_, _, _) = env.start_active("vanishes").await;
    let (_, path_lives, pid_lives) = env.start_active("lives").await;

    // Crash: no chance to clean up or save anything more.
    let mut daemon = env.daemon.take().unwrap();
    signal(daemon.id(), "KILL");
    daemon.wait().unwrap();
    assert!(
        alive(pid_dies) && alive(pid_lives),
        "sessions outlive a crashed daemon"
    );

    signal(pid_dies, "KILL");
    wait_for("claude gone", || async { !alive(pid_dies) }).await;
    assert!(
        env.tmux(&["kill-session", "-t", "=vanishes"])
            .status
            .success()
    );

    env.start_daemon().await;
    let m = env.manager().await;
    let rows = m.list_sessions().await.unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        names,
        ["dies", "vanishes", "lives"],
        "a vanished tmux session keeps its record, to be restarted"
    );
    assert_eq!(rows[0].3, "stopped");
    assert_eq!(rows[0].5, 0);
    assert_eq!(rows[1].3, "stopped");
    assert_eq!(rows[1].5, 0);
    let vanished = env.session_uncached(&rows[1].6).await;
    assert_eq!(
        vanished.status_detail().await.unwrap(),
        "the tmux session is gone"
    );
    assert_eq!(rows[2].3, "active");
    assert_eq!(
        env.session(&path_lives).await.pid().await.unwrap(),
        pid_lives
    );
}

#[tokio::test]
async fn corrupt_registry_is_moved_aside_not_overwritten() {
    let mut env = Env::new().await;
    env.start_active("x").await;
    assert!(env.stop_daemon().success());
    let registry = env.state_dir().join("registry.json");
    std::fs::write(&registry, b"{ this is not json").unwrap();

    env.start_daemon().await;
    assert!(
        env.manager()
            .await
            .list_sessions()
            .await
            .unwrap()
            .is_empty()
    );
    let aside: Vec<_> = std::fs::read_dir(env.state_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("registry.json.unreadable-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), b"{ this is not json");
}

#[tokio::test]
async fn second_daemon_on_the_same_bus_exits_with_a_clear_message() {
    let env = Env::new().await;
    let out = env.daemon_command().output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already owns org.trusty.Mpm1"), "{err}");
    // The first one still serves.
    env.manager().await.list_sessions().await.unwrap();
}

#[tokio::test]
async fn daemon_exits_nonzero_when_the_bus_goes_away() {
    let mut env = Env::new().await;
    let (_, _, pid) = env.start_active("bus").await;
    env.bus.kill();
    let mut daemon = env.daemon.take().unwrap();
    let status =
        wait_child(&mut daemon, Duration::from_secs(5)).expect("daemon exits when the bus closes");
    assert!(!status.success(), "{status}");
    assert!(alive(pid), "the session outlives the daemon");
}

#[tokio::test]
async fn the_daemon_names_its_machine() {
    let env = Env::new().await;
    let uname = std::process::Command::new("uname")
        .arg("-n")
        .output()
        .unwrap();
    let want = String::from_utf8(uname.stdout).unwrap();
    let m = env.manager().await;
    assert_eq!(m.hostname().await.unwrap(), want.trim());
}

/// `systemctl --user stop trusty-mpm` stays stopped: the hooks of the claudes that exit next
/// must not D-Bus-activate it again, while a command of the user does.
#[tokio::test]
async fn the_relay_never_starts_the_daemon_a_client_does() {
    let env = Env::activatable().await;
    let start = r#"{"session_id":"c0ffee00-0000-4000-8000-000000000001","cwd":"/tmp","hook_event_name":"SessionStart"}"#;
    let r = relay(&env, start, "").await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "fails open");
    assert!(
        !env.activations().exists(),
        "the relay's call activated the daemon"
    );

    let list = crate::cli::ok(&env, &["list"]);
    assert!(list.starts_with("No sessions"), "{list}");
    let runs = std::fs::read_to_string(env.activations()).expect("`list` activated the daemon");
    assert_eq!(runs.lines().count(), 1);
    let pid = env.owner_pid().await;
    signal(pid, "TERM");
    wait_for("the activated daemon exited", || async move { !alive(pid) }).await;
}
