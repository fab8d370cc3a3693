//! Taking over what the daemon did not start: bookkeeping-only sessions, hand-set pids, adopting
//! and discovering tmux sessions, reaping, removing, and the session object's own methods.

use std::process::Command;

use trusty_mpm::cli::proxy::ManagerProxy;

use crate::harness::*;

async fn names(m: &ManagerProxy<'_>) -> Vec<String> {
    let mut v = session_names(m).await;
    v.sort();
    v
}

/// The event names of session `key`'s history.
async fn event_names(m: &ManagerProxy<'_>, key: &str) -> Vec<String> {
    events_of(m, key)
        .await
        .into_iter()
        .map(|e| e.event)
        .collect()
}

#[tokio::test]
async fn set_session_pid_makes_active_and_exit_stops() {
    let env = Env::new().await;
    let m = env.manager().await;
    let dir = env.project("manual");
    let (_, _, path) = m.register_session(&dir, "manual").await.unwrap();
    let s = env.session_uncached(&path).await;

    // A session without tmux takes a process of its user working in its project directory.
    let mut child = Command::new("sleep")
        .arg("1000")
        .current_dir(&dir)
        .spawn()
        .unwrap();
    let pid = child.id();
    m.set_session_pid("manual", pid).await.unwrap();
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(s.pid().await.unwrap(), pid);
    assert_eq!(m.list_sessions().await.unwrap()[0].5, pid);

    child.kill().unwrap();
    child.wait().unwrap();
    wait_for("stopped by the exit watcher", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
    assert_eq!(s.pid().await.unwrap(), 0);
    assert_eq!(
        event_names(&m, "manual").await,
        ["registered", "pid", "exited"]
    );

    // A stopped session can be given a new process.
    let mut again = Command::new("sleep")
        .arg("1000")
        .current_dir(&dir)
        .spawn()
        .unwrap();
    m.set_session_pid("manual", again.id()).await.unwrap();
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(s.pid().await.unwrap(), again.id());
    again.kill().unwrap();
    again.wait().unwrap();
    wait_for("stopped again", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
}

#[tokio::test]
async fn adopt_session_finds_claude() {
    let env = Env::new().await;
    let m = env.manager().await;
    let dir = env.project("adoptme");
    let claude = env.tmux_with_claude("adoptme", &dir).await;

    let (id, path) = m.adopt_session("adoptme").await.unwrap();
    assert_eq!(m.get_session("adoptme").await.unwrap(), path);
    let s = env.session_uncached(&path).await;
    assert_eq!(s.id().await.unwrap(), id);
    assert_eq!(s.name().await.unwrap(), "adoptme");
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(s.pid().await.unwrap(), claude);
    assert_eq!(s.project_dir().await.unwrap(), dir);
    assert_eq!(event_names(&m, "adoptme").await, ["adopted"]);

    // It is driven like a started session.
    m.send_command("adoptme", "adopted and alive")
        .await
        .unwrap();
    wait_for("echo", || async {
        m.capture_output("adoptme", 10, "trim")
            .await
            .unwrap()
            .contains("echo: adopted and alive")
    })
    .await;

    // A tmux session without claude is adopted as starting, with no pid.
    let idle = env.project("idle");
    let out = env.tmux(&[
        "new-session",
        "-d",
        "-s",
        "idle",
        "-c",
        &idle,
        "sleep",
        "1000",
    ]);
    assert!(out.status.success());
    let (_, idle_path) = m.adopt_session("idle").await.unwrap();
    let i = env.session_uncached(&idle_path).await;
    assert_eq!(i.status().await.unwrap(), "starting");
    assert_eq!(i.pid().await.unwrap(), 0);
    assert_eq!(i.project_dir().await.unwrap(), idle);

    // Its exit is watched like any other.
    signal(claude, "KILL");
    wait_for("stopped", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
    assert_eq!(s.pid().await.unwrap(), 0);
}

#[tokio::test]
async fn discover_sessions_adopts_only_unmanaged_claude() {
    let env = Env::new().await;
    let m = env.manager().await;
    env.start_active("managed").await;
    let found_dir = env.project("found");
    let claude = env.tmux_with_claude("found", &found_dir).await;
    let out = env.tmux(&["new-session", "-d", "-s", "idle", "sleep", "1000"]);
    assert!(out.status.success());

    assert_eq!(m.discover_sessions().await.unwrap(), ["found"]);
    assert_eq!(names(&m).await, ["found", "managed"]);
    let s = env
        .session_uncached(&m.get_session("found").await.unwrap())
        .await;
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(s.pid().await.unwrap(), claude);
    assert_eq!(s.project_dir().await.unwrap(), found_dir);

    assert!(
        m.discover_sessions().await.unwrap().is_empty(),
        "nothing new the second time"
    );
    assert_eq!(names(&m).await, ["found", "managed"]);
    let mut tmux = env.tmux_sessions();
    tmux.sort();
    assert_eq!(tmux, ["found", "idle", "managed"]);
}

#[tokio::test]
async fn reap_dead_sessions_removes_and_stops() {
    let env = Env::new().await;
    let m = env.manager().await;
    env.start_active("gone").await;
    let (_, dead_path, dead_pid) = env.start_active("dead").await;
    env.start_active("fine").await;

    let out = env.tmux(&["kill-session", "-t", "=gone"]);
    assert!(out.status.success());
    signal(dead_pid, "KILL");

    let (reaped, reaped_names, stopped) = m.reap_dead_sessions().await.unwrap();
    assert_eq!((reaped, reaped_names), (1, vec!["gone".to_owned()]));
    assert!(stopped <= 1, "only 'dead' can be stopped: {stopped}");
    assert_eq!(names(&m).await, ["dead", "fine"]);
    let d = env.session_uncached(&dead_path).await;
    wait_for("dead is stopped", || async {
        d.status().await.unwrap() == "stopped"
    })
    .await;
    assert_eq!(d.pid().await.unwrap(), 0);
    let rows = m.list_sessions().await.unwrap();
    let fine = rows.iter().find(|r| r.1 == "fine").unwrap();
    assert_eq!(fine.3, "active");

    // The stopped session's tmux session lives on; nothing more to reap.
    assert!(env.tmux(&["has-session", "-t", "=dead"]).status.success());
    assert_eq!(m.reap_dead_sessions().await.unwrap(), (0, vec![], 0));
    assert_eq!(names(&m).await, ["dead", "fine"]);
}

#[tokio::test]
async fn remove_session_kills_tmux_only_when_asked() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, _, keep_pid) = env.start_active("keep").await;
    let (_, kill_path, kill_pid) = env.start_active("kill").await;

    m.remove_session("keep", false).await.unwrap();
    assert_eq!(names(&m).await, ["kill"]);
    assert_error(m.get_session("keep").await, "NotFound");
    assert!(env.tmux(&["has-session", "-t", "=keep"]).status.success());
    assert!(alive(keep_pid), "claude keeps running");

    let k = env.session(&kill_path).await;
    k.remove(true).await.unwrap();
    assert!(names(&m).await.is_empty());
    assert!(!env.tmux(&["has-session", "-t", "=kill"]).status.success());
    wait_for("claude of the killed session exits", || async {
        !alive(kill_pid)
    })
    .await;

    // The kept tmux session can be adopted back, with the same claude.
    let (_, path) = m.adopt_session("keep").await.unwrap();
    let s = env.session_uncached(&path).await;
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(s.pid().await.unwrap(), keep_pid);
}

#[tokio::test]
async fn session_object_mirrors_the_manager() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, path, _) = env.start_active("mirror").await;
    let s = env.session(&path).await;
    wait_for("prompt", || async {
        s.capture_output(5, "trim")
            .await
            .unwrap()
            .trim_end()
            .ends_with('>')
    })
    .await;

    s.send_keys(&["h", "i", "Enter"]).await.unwrap();
    wait_for("echo: hi", || async {
        s.capture_output(10, "off")
            .await
            .unwrap()
            .contains("echo: hi")
    })
    .await;
    let summary = s.capture_output(0, "summarise").await.unwrap();
    assert!(summary.contains("echo: hi"), "{summary:?}");
    assert!(summary.chars().count() <= 500);
    assert_eq!(
        s.capture_output(3, "off").await.unwrap(),
        m.capture_output("mirror", 3, "off").await.unwrap()
    );

    s.send_command("there").await.unwrap();
    wait_for("echo: there", || async {
        s.capture_output(10, "trim")
            .await
            .unwrap()
            .contains("echo: there")
    })
    .await;

    let events = s.get_events(0).await.unwrap();
    assert_eq!(events, m.get_events("mirror", 0).await.unwrap());
    assert_eq!(
        event_names(&m, "mirror").await,
        ["started", "keys", "command"]
    );
    assert_eq!(events[1].3, "h i Enter");
    assert_eq!(events[2].3, "there");
    assert!(events.windows(2).all(|w| w[0].0 <= w[1].0), "newest last");
    assert_eq!(s.get_events(1).await.unwrap(), events[2..]);
}
