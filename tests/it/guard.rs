//! Never acting on what the daemon does not manage: caller text that tmux would parse, targets
//! that extend managed names, pane ids of a later tmux server, concurrent callers, processes
//! outside the session, calls that must change nothing when they fail, and a claude that
//! cannot be killed yet (ClaudeExited only after a real exit).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use zbus::Variant;

use crate::harness::*;
use crate::procs::cmdline;

fn args(list: &[&str]) -> HashMap<&'static str, Variant<'static>> {
    let owned: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    HashMap::from([("args", Variant::from(owned))])
}

/// What the fake claude of a project read, line by line.
fn input_of(dir: &str) -> Vec<String> {
    std::fs::read_to_string(Path::new(dir).join(".fake-claude-input"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until the session's claude has read `n` lines, and returns them.
async fn wait_input(dir: &str, n: usize) -> Vec<String> {
    wait_for(&format!("claude read {n} lines"), || async {
        input_of(dir).len() >= n
    })
    .await;
    input_of(dir)
}

#[tokio::test]
async fn semicolons_in_arguments_reach_claude_unchanged() {
    let env = Env::new().await;
    let m = env.manager().await;
    let out = env.tmux(&["new-session", "-d", "-s", "other", "sleep", "1000"]);
    assert!(out.status.success());
    let marker = env.dir.path().join("pwned");
    let touch = format!("touch {}", marker.display());
    let sneaky = [
        "y;",
        "run-shell",
        &touch,
        "x;",
        "kill-session",
        "-t",
        "other",
        ";",
        "a\\;",
    ];

    let dir = env.project("semi;");
    let (_, name, path) = m.start_session(&dir, "semi", args(&sneaky)).await.unwrap();
    assert_eq!(name, "semi");
    let s = env.session(&path).await;
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
    let pid = s.pid().await.unwrap();
    let argv = cmdline(pid);
    let at = argv
        .iter()
        .position(|a| a == "y;")
        .expect("arguments reach claude");
    assert_eq!(&argv[at..at + sneaky.len()], sneaky, "{argv:?}");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        Path::new(&dir),
        "a project dir ending in ';' is used as it is"
    );
    assert!(!marker.exists(), "run-shell ran");
    let mut names = env.tmux_sessions();
    names.sort();
    assert_eq!(names, ["other", "semi"], "a foreign session was touched");

    m.send_command("semi", "echo hi;").await.unwrap();
    m.send_keys("semi", &[";", "Enter"]).await.unwrap();
    assert_eq!(wait_input(&dir, 2).await, ["echo hi;", ";"]);
}

#[tokio::test]
async fn formats_in_the_project_dir_are_not_expanded() {
    let env = Env::new().await;
    let m = env.manager().await;
    // tmux would run the job and put its own pid in the path, then start claude elsewhere.
    let dir = env.project("x#(true)#{pid}##");
    let (_, _, path) = m.start_session(&dir, "fmt", HashMap::new()).await.unwrap();
    let s = env.session(&path).await;
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
    let pid = s.pid().await.unwrap();
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        Path::new(&dir),
        "claude starts in the requested directory"
    );
}

#[tokio::test]
async fn text_arrives_whole_up_to_64_kib() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, _, _) = env.start_active("big").await;
    let dir = env.project("big");
    // Lines shorter than a terminal's line limit, 64 KiB in all.
    let lines: Vec<String> = (0..1024)
        .map(|i| format!("{i:05} {}", "x".repeat(57)))
        .collect();
    let text = lines.join("\n");
    assert!(text.len() <= 64 * 1024 && text.len() > 60 * 1024);
    m.send_command("big", &text).await.unwrap();
    assert_eq!(wait_input(&dir, lines.len()).await, lines);
}

#[tokio::test]
async fn a_frozen_tmux_server_types_nothing_half() {
    let env = Env::with_env(&[("TRUSTY_MPM_TMUX_TIMEOUT_MS", "400")]).await;
    let m = env.manager().await;
    env.start_active("wedge").await;
    let dir = env.project("wedge");
    let out = env.tmux(&["display-message", "-p", "#{pid}"]);
    let server: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    signal(server, "STOP");
    let thaw = Thaw(server);
    assert_error(m.send_command("wedge", "rm -rf important").await, "Timeout");
    drop(thaw);
    wait_for("tmux answers again", || async {
        m.capture_output("wedge", 1, "off").await.is_ok()
    })
    .await;
    m.send_command("wedge", "ls").await.unwrap();
    assert_eq!(wait_input(&dir, 1).await, ["ls"]);
}

#[tokio::test]
async fn names_that_extend_managed_ones_are_never_targeted() {
    let env = Env::new().await;
    let m = env.manager().await;
    let foreign_dir = env.project("alpha");
    let foreign = env.tmux_with_claude("alpha", &foreign_dir).await;
    assert_error(m.adopt_session("alph").await, "NotFound");
    assert!(m.list_sessions().await.unwrap().is_empty());

    // A managed session whose tmux session vanished, beside a foreign one that extends it.
    env.start_active("eps").await;
    let out = env.tmux(&["new-session", "-d", "-s", "eps-foreign", "sleep", "1000"]);
    assert!(out.status.success());
    let foreign_pane = env.pane_pid("eps-foreign");
    assert!(env.tmux(&["kill-session", "-t", "=eps"]).status.success());
    let s = env
        .session_uncached(&m.get_session("eps").await.unwrap())
        .await;
    wait_for("stopped", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
    m.restart_session("eps").await.unwrap();
    wait_for("restarted", || async {
        s.status().await.unwrap() == "active"
    })
    .await;
    let out = env.tmux(&["list-panes", "-t", "=eps-foreign:", "-F", "#{pane_pid}"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        foreign_pane.to_string(),
        "the foreign session got a new pane or process"
    );
    assert!(env.tmux_sessions().contains(&"eps".to_owned()));
    assert!(alive(foreign));
}

#[tokio::test]
async fn pane_ids_of_a_later_tmux_server_reach_nothing() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, path, _) = env.start_active("old").await;
    let s = env.session_uncached(&path).await;
    env.kill_tmux_server().await;
    wait_for("stopped", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
    // A new server hands the same pane ids to someone else's session.
    let foreign_dir = env.project("foreign");
    env.tmux_with_claude("foreign", &foreign_dir).await;
    assert_eq!(pane_of(&env, "foreign"), "%0");

    assert_error(
        m.send_command("old", "rm -rf important").await,
        "InvalidState",
    );
    assert_error(m.send_keys("old", &["C-c"]).await, "InvalidState");
    assert_error(m.capture_output("old", 5, "off").await, "InvalidState");
    // Text that got through would reach the foreign claude within this window.
    stays_for(
        Duration::from_millis(200),
        "nothing typed into a foreign pane",
        || async { input_of(&foreign_dir).is_empty() },
    )
    .await;
    // A hook from the foreign pane is not taken for the old session.
    let payload = r#"{"hook_event_name":"UserPromptSubmit","session_id":"f00"}"#;
    let server = env.tmux(&["display-message", "-p", "#{pid}"]);
    let server = String::from_utf8_lossy(&server.stdout).trim().to_owned();
    let tmux = format!("{},{server},0", env.tmux_socket().display());
    let r = relay_from(&env.bus.address, &tmux, payload, "%0").await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(s.activity().await.unwrap(), "unknown");
}

#[tokio::test]
async fn concurrent_restarts_run_one_claude() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, path, _) = env.start_active("race").await;
    m.stop_session("race", true).await.unwrap();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move { m.restart_session("race").await })
        })
        .collect();
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap());
    }
    assert!(results.iter().any(|r| r.is_ok()), "{results:?}");
    for r in results.into_iter().filter(|r| r.is_err()) {
        assert_error(r, "InvalidState");
    }
    let s = env.session_uncached(&path).await;
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
    // A second claude, had a losing restart launched one, would show up within this window.
    let pid = s.pid().await.unwrap();
    stays_for(
        Duration::from_millis(300),
        "one claude process in the session",
        || async { claudes_of(&env, "race") == [pid] },
    )
    .await;
}

/// The claude processes running in a tmux session's panes.
fn claudes_of(env: &Env, name: &str) -> Vec<u32> {
    let out = env.tmux(&[
        "list-panes",
        "-s",
        "-t",
        &format!("={name}:"),
        "-F",
        "#{pane_pid}",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .filter_map(|pane| find_descendant(pane, "claude"))
        .collect()
}

#[tokio::test]
async fn a_stop_right_after_start_ends_claude() {
    let env = Env::new().await;
    let m = env.manager().await;
    let dir = env.project("quick");
    let (_, _, path) = m
        .start_session(&dir, "quick", HashMap::new())
        .await
        .unwrap();
    m.stop_session("quick", true).await.unwrap();
    let s = env.session_uncached(&path).await;
    assert_eq!(s.status().await.unwrap(), "stopped");
    // A claude launched by the start, had the stop missed it, would show up (and detection
    // attach to it) within this window.
    stays_for(
        Duration::from_millis(500),
        "no claude runs and the session stays stopped",
        || async {
            claudes_of(&env, "quick").is_empty()
                && s.status().await.unwrap() == "stopped"
                && s.pid().await.unwrap() == 0
        },
    )
    .await;
}

#[tokio::test]
async fn set_session_pid_takes_only_the_sessions_own_processes() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, path, claude) = env.start_active("own").await;
    let daemon = env.daemon.as_ref().unwrap().id();
    let mut stray = Command::new("sleep").arg("1000").spawn().unwrap();
    for pid in [daemon, 1, stray.id(), std::process::id()] {
        let msg = assert_error(m.set_session_pid("own", pid).await, "InvalidArgument");
        assert!(msg.contains(&pid.to_string()), "{msg:?}");
    }
    let s = env.session_uncached(&path).await;
    assert_eq!(s.pid().await.unwrap(), claude);
    m.stop_session("own", true).await.unwrap();
    assert!(
        stray.try_wait().unwrap().is_none(),
        "an unrelated process was killed"
    );
    assert!(alive(daemon));
    stray.kill().unwrap();
    stray.wait().unwrap();

    // A process in the session's pane is accepted.
    m.restart_session("own").await.unwrap();
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
    let pid = s.pid().await.unwrap();
    m.set_session_pid("own", pid).await.unwrap();
}

#[tokio::test]
async fn removing_a_frozen_session_thaws_claude() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, _, pid) = env.start_active("icy").await;
    m.pause_session("icy", "cold", true).await.unwrap();
    wait_for("frozen", || async { proc_state(pid) == 'T' }).await;
    m.remove_session("icy", false).await.unwrap();
    wait_for("thawed", || async { proc_state(pid) != 'T' }).await;
    assert!(alive(pid), "remove without kill keeps claude running");
}

#[tokio::test]
async fn a_failed_save_changes_nothing() {
    let env = Env::new().await;
    let m = env.manager().await;
    env.start_active("keep").await;
    // Neither a journal record nor a new snapshot can be written: directories take the place of
    // the journal and of the temp file a snapshot is written through (which exists only while
    // the daemon writes one).
    let journal = env.state_dir().join("registry.journal");
    let tmp = env.state_dir().join("registry.json.tmp");
    wait_for(
        "directories in place of the journal and the temp file",
        || async {
            let _ = std::fs::remove_file(&journal);
            std::fs::create_dir_all(&journal).is_ok() && std::fs::create_dir_all(&tmp).is_ok()
        },
    )
    .await;

    let dir = env.project("reg");
    assert_error(m.register_session(&dir, "reg").await, "Internal");
    let dir = env.project("new");
    assert_error(
        m.start_session(&dir, "new", HashMap::new()).await,
        "Internal",
    );
    assert_error(m.remove_session("keep", false).await, "Internal");
    assert_eq!(session_names(&m).await, ["keep"]);
    assert_eq!(
        env.tmux_sessions(),
        ["keep"],
        "the started tmux session stayed"
    );

    std::fs::remove_dir(&tmp).unwrap();
    std::fs::remove_dir(&journal).unwrap();
    m.register_session(&env.project("reg"), "reg")
        .await
        .unwrap();
    assert_eq!(session_names(&m).await, ["keep", "reg"]);
}

#[tokio::test]
async fn a_bad_record_does_not_cost_the_others() {
    let mut env = Env::new().await;
    env.start_active("one").await;
    env.start_active("two").await;
    assert!(env.stop_daemon().success());
    let registry = env.state_dir().join("registry.json");
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&registry).unwrap()).unwrap();
    let sessions = file["sessions"].as_array_mut().unwrap();
    let mut twin = sessions[0].clone();
    twin["id"] = serde_json::json!(uuid::Uuid::new_v4().to_string());
    sessions.push(twin);
    sessions.push(serde_json::json!({"id": 7}));
    std::fs::write(&registry, serde_json::to_vec(&file).unwrap()).unwrap();

    env.start_daemon().await;
    let m = env.manager().await;
    assert_eq!(session_names(&m).await, ["one", "two"]);
    let kept = std::fs::read_dir(env.state_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains("skipped"));
    assert!(kept, "the file with the skipped records is kept");
}

/// A cgroup freezer holding one process: frozen tasks take no signal, SIGKILL included, until
/// thawed. Removed (thawed first) when dropped.
struct Freezer {
    dir: std::path::PathBuf,
    v1: bool,
}

impl Freezer {
    fn hold(pid: u32) -> Freezer {
        let v1 = Path::new("/sys/fs/cgroup/freezer").is_dir();
        let base = if v1 {
            "/sys/fs/cgroup/freezer"
        } else {
            "/sys/fs/cgroup"
        };
        let dir = Path::new(base).join(format!("trusty-mpm-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a freezer cgroup (needs root)");
        std::fs::write(dir.join("cgroup.procs"), pid.to_string()).unwrap();
        let f = Freezer { dir, v1 };
        f.set(true);
        f
    }

    fn set(&self, frozen: bool) {
        let (file, value) = match (self.v1, frozen) {
            (true, true) => ("freezer.state", "FROZEN"),
            (true, false) => ("freezer.state", "THAWED"),
            (false, true) => ("cgroup.freeze", "1"),
            (false, false) => ("cgroup.freeze", "0"),
        };
        std::fs::write(self.dir.join(file), value).unwrap();
    }
}

impl Drop for Freezer {
    fn drop(&mut self) {
        self.set(false);
        // Empty once its process is gone; then it can be removed.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[tokio::test]
async fn claude_exited_only_once_claude_really_exited() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, path, pid) = env.start_active("stuck").await;
    let mut exits = m.receive_claude_exited().await.unwrap();
    let freezer = Freezer::hold(pid);

    // SIGTERM and SIGKILL cannot land while it is frozen: the stop must not claim an exit.
    let msg = assert_error(m.stop_session("stuck", true).await, "Timeout");
    assert!(msg.contains("did not exit"), "{msg:?}");
    assert!(alive(pid));
    let s = env.session_uncached(&path).await;
    assert_eq!(s.pid().await.unwrap(), pid, "the record lost a live claude");
    assert_ne!(s.status().await.unwrap(), "stopped");
    let early = tokio::time::timeout(std::time::Duration::from_millis(200), exits.next()).await;
    assert!(early.is_err(), "ClaudeExited before claude exited");

    // Thawed, the pending SIGKILL lands: now it exited, and says so once.
    drop(freezer);
    let exited = tokio::time::timeout(std::time::Duration::from_secs(10), exits.next())
        .await
        .expect("ClaudeExited after the real exit")
        .unwrap();
    assert_eq!(exited.args().unwrap().pid, pid);
    wait_for("stopped", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
}
