//! Real life beside the fixture: claude builds with other names, a claude that cannot start,
//! a service PATH without claude, reboots (the tmux server gone), restart semantics, session ids
//! from the start, and restoring sessions when the daemon starts.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;

use crate::harness::*;
use crate::procs::{cmdline, comm};

/// An executable script at `path` (directories created).
fn script(path: &Path, body: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

/// The fake claude copied to `path`, so that its process is named after that file.
fn claude_at(path: &Path) -> String {
    let body = std::fs::read_to_string(fake_claude()).unwrap();
    script(path, &body).to_string_lossy().into_owned()
}

#[tokio::test]
async fn a_claude_that_cannot_start_is_stopped_at_once() {
    let root = tempfile::tempdir().unwrap();
    let fails = script(
        &root.path().join("claude-fails"),
        // As a real claude would: it starts, then gives up (a claude that exits within a few
        // milliseconds of its pane can beat tmux's remain-on-exit, and its pane is gone).
        "#!/bin/sh\nsleep 0.2\necho 'Error: no API key was found' >&2\nexit 3\n",
    );
    let env = Env::with_env(&[("TRUSTY_MPM_CLAUDE_COMMAND", fails.to_str().unwrap())]).await;
    let m = env.manager().await;
    let mut exits = m.receive_claude_exited().await.unwrap();
    let dir = env.project("doomed");
    let (id, _, path) = m
        .start_session(&dir, "doomed", HashMap::new())
        .await
        .unwrap();
    let s = env.session_uncached(&path).await;
    wait_for("stopped", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
    let exited = tokio::time::timeout(Duration::from_secs(5), exits.next())
        .await
        .expect("ClaudeExited")
        .unwrap();
    assert_eq!(exited.args().unwrap().id, id);
    wait_for("detail", || async {
        !s.status_detail().await.unwrap().is_empty()
    })
    .await;
    let detail = s.status_detail().await.unwrap();
    assert!(detail.contains("status 3"), "{detail:?}");
    assert!(detail.contains("no API key was found"), "{detail:?}");
    assert_eq!(s.pid().await.unwrap(), 0);

    // Not stuck through reap, restart and a daemon restart either.
    m.reap_dead_sessions().await.unwrap();
    m.restart_session("doomed").await.unwrap();
    wait_for("stopped again", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
}

#[tokio::test]
async fn the_claude_command_is_found_before_anything_is_created() {
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap();
    // A user service's PATH: no ~/.local/bin, no claude.
    let env = Env::with_env(&[
        ("TRUSTY_MPM_CLAUDE_COMMAND", ""),
        ("HOME", home_str),
        ("PATH", "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"),
    ])
    .await;
    let m = env.manager().await;
    let dir = env.project("nowhere");
    if which("claude").is_none() {
        let msg = assert_error(
            m.start_session(&dir, "nowhere", HashMap::new()).await,
            "InvalidArgument",
        );
        assert!(
            msg.contains("'claude'") && msg.contains("claude_command"),
            "{msg:?}"
        );
        assert!(m.list_sessions().await.unwrap().is_empty());
        assert!(env.tmux_sessions().is_empty());
    }

    // Where Claude Code's installer puts it.
    let installed = claude_at(&home.path().join(".local/bin/claude"));
    let (_, _, path) = m
        .start_session(&dir, "found", HashMap::new())
        .await
        .unwrap();
    let s = env.session(&path).await;
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
    let argv = cmdline(s.pid().await.unwrap());
    assert!(argv.contains(&installed), "{argv:?}");
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

#[tokio::test]
async fn claude_command_from_the_config_file() {
    let root = tempfile::tempdir().unwrap();
    let claude = claude_at(&root.path().join("opt/claude"));
    let config = root.path().join("config.toml");
    std::fs::write(&config, format!("claude_command = {claude:?}\n")).unwrap();
    let env = Env::with_env(&[
        ("TRUSTY_MPM_CLAUDE_COMMAND", ""),
        ("TRUSTY_MPM_CONFIG", config.to_str().unwrap()),
    ])
    .await;
    let (_, _, pid) = env.start_active("configured").await;
    assert!(cmdline(pid).contains(&claude));

    let bad = Env::with_env(&[("TRUSTY_MPM_CLAUDE_COMMAND", "/nonexistent/claude")]).await;
    let m = bad.manager().await;
    let msg = assert_error(
        m.start_session(&bad.project("x"), "x", HashMap::new())
            .await,
        "InvalidArgument",
    );
    assert!(msg.contains("/nonexistent/claude"), "{msg:?}");
}

#[tokio::test]
async fn any_claude_build_is_the_claude_it_launched() {
    let root = tempfile::tempdir().unwrap();
    let npm = claude_at(
        &root
            .path()
            .join("lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe"),
    );
    let versioned = claude_at(&root.path().join("share/claude/versions/2.1.197"));
    for (build, name) in [(npm, "claude.exe"), (versioned, "2.1.197")] {
        let env = Env::with_env(&[("TRUSTY_MPM_CLAUDE_COMMAND", build.as_str())]).await;
        let (_, path, pid) = env.start_active("build").await;
        assert_eq!(comm(pid), name);
        let m = env.manager().await;
        m.stop_session("build", false).await.unwrap();
        assert_eq!(env.session(&path).await.status().await.unwrap(), "stopped");
        assert!(!alive(pid));

        // Run by hand in a tmux pane, the same build is recognised when adopted.
        let dir = env.project("by-hand");
        let out = env.tmux(&["new-session", "-d", "-s", "by-hand", "-c", &dir, &build]);
        assert!(out.status.success());
        let pane = env.pane_pid("by-hand");
        wait_for("running", || async { comm(pane) == name }).await;
        m.adopt_session("by-hand").await.unwrap();
        let s = env
            .session_uncached(&m.get_session("by-hand").await.unwrap())
            .await;
        assert_eq!(s.status().await.unwrap(), "active", "{name} not recognised");
        assert_eq!(s.pid().await.unwrap(), pane);
    }
}

#[tokio::test]
async fn new_sessions_carry_a_session_id_that_restart_resumes() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, path, pid) = env.start_active("ids").await;
    let s = env.session_uncached(&path).await;
    let claude_id = s.claude_session_id().await.unwrap();
    assert!(uuid::Uuid::parse_str(&claude_id).is_ok(), "{claude_id:?}");
    let argv = cmdline(pid);
    let at = argv
        .iter()
        .position(|a| a == "--session-id")
        .expect("--session-id");
    assert_eq!(argv[at + 1], claude_id);

    // Restarting an active session stops it, then starts it again resuming that id.
    m.restart_session("ids").await.unwrap();
    assert!(!alive(pid), "the old claude still runs");
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
    let again = s.pid().await.unwrap();
    assert_ne!(again, pid);
    let argv = cmdline(again);
    let at = argv.iter().position(|a| a == "--resume").expect("--resume");
    assert_eq!(argv[at + 1], claude_id);
    assert!(!argv.contains(&"--session-id".to_owned()));

    // Paused too.
    m.pause_session("ids", "", true).await.unwrap();
    m.restart_session("ids").await.unwrap();
    assert!(!alive(again));
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
}

#[tokio::test]
async fn after_a_reboot_sessions_are_stopped_and_restart_in_their_dir() {
    let mut env = Env::new().await;
    let (_, path, _) = env.start_active("agent").await;
    let claude_id = env.session(&path).await.claude_session_id().await.unwrap();
    assert!(env.stop_daemon().success());
    // The reboot: no tmux server any more.
    env.kill_tmux_server().await;

    env.start_daemon().await;
    let m = env.manager().await;
    let s = env.session_uncached(&path).await;
    assert_eq!(s.status().await.unwrap(), "stopped");
    assert_eq!(s.status_detail().await.unwrap(), "the tmux server is gone");
    assert!(m.discover_sessions().await.unwrap().is_empty());
    // The periodic reaper's rule: kept, restartable.
    assert_eq!(session_names(&m).await, ["agent"]);

    m.restart_session("agent").await.unwrap();
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
    assert_eq!(s.status_detail().await.unwrap(), "");
    let pid = s.pid().await.unwrap();
    let argv = cmdline(pid);
    let at = argv.iter().position(|a| a == "--resume").expect("--resume");
    assert_eq!(argv[at + 1], claude_id);
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        Path::new(&env.project("agent"))
    );
    assert_eq!(env.tmux_sessions(), ["agent"]);
}

#[tokio::test]
async fn a_tmux_server_that_exits_stops_its_sessions() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, path, pid) = env.start_active("gone").await;
    env.kill_tmux_server().await;
    let s = env.session_uncached(&path).await;
    wait_for("stopped", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
    assert!(!alive(pid));
    // An explicit reap forgets it; with no server there is nothing left to keep it for.
    let (reaped, names, _) = m.reap_dead_sessions().await.unwrap();
    assert_eq!((reaped, names), (1, vec!["gone".to_owned()]));
}

#[tokio::test]
async fn restore_on_start_brings_the_agents_back() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("config.toml");
    std::fs::write(&config, "restore_on_start = true\n").unwrap();
    let mut env = Env::with_env(&[("TRUSTY_MPM_CONFIG", config.to_str().unwrap())]).await;
    let (_, one, _) = env.start_active("one").await;
    let (_, two, _) = env.start_active("two").await;
    env.manager().await.stop_session("two", true).await.unwrap();
    assert!(env.stop_daemon().success());
    env.kill_tmux_server().await;

    env.start_daemon().await;
    let s = env.session_uncached(&one).await;
    wait_for("restored", || async {
        s.status().await.unwrap() == "active"
    })
    .await;
    assert_ne!(s.pid().await.unwrap(), 0);
    let t = env.session_uncached(&two).await;
    assert_eq!(
        t.status().await.unwrap(),
        "stopped",
        "a stopped session stays stopped"
    );
    assert_eq!(env.tmux_sessions(), ["one"]);
}

#[tokio::test]
async fn a_hook_names_the_claude_of_a_session_that_had_none() {
    let env = Env::new().await;
    let m = env.manager().await;
    let dir = env.project("late");
    let bus = format!("DBUS_SESSION_BUS_ADDRESS={}", env.bus.address);
    let out = env.tmux(&[
        "new-session",
        "-d",
        "-s",
        "late",
        "-c",
        &dir,
        "-e",
        &bus,
        "bash",
        "--norc",
    ]);
    assert!(out.status.success());
    m.adopt_session("late").await.unwrap();
    let s = env
        .session_uncached(&m.get_session("late").await.unwrap())
        .await;
    assert_eq!(s.pid().await.unwrap(), 0, "no claude yet");

    // claude started by hand later: its first hook (a child of claude, as Claude Code runs
    // them) tells the daemon which process it is, long before the 30 s rescan.
    let root = tempfile::tempdir().unwrap();
    let claude = script(
        &root.path().join("claude"),
        &format!(
            "#!/bin/bash\nprintf '%s' '{{\"hook_event_name\":\"SessionStart\",\"session_id\":\"1a7e0000-0000-4000-8000-000000000001\",\"source\":\"startup\"}}' | {DAEMON} hook\nwhile true; do sleep 1; done\n"
        ),
    );
    let out = env.tmux(&[
        "send-keys",
        "-t",
        "=late:",
        claude.to_str().unwrap(),
        "Enter",
    ]);
    assert!(out.status.success());
    wait_for("claude found through its hook", || async {
        s.pid().await.unwrap() != 0
    })
    .await;
    let pid = s.pid().await.unwrap();
    assert_eq!(comm(pid), "claude");
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(
        s.claude_session_id().await.unwrap(),
        "1a7e0000-0000-4000-8000-000000000001"
    );
}
