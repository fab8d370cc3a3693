//! A session as a whole, without systemd (`make run` on a bare bus): claude, the tool it
//! started and what a tool left running in the pane's session are frozen and thawed together
//! (and nothing outside the session), a daemon restart keeps them frozen, the resource figures
//! come from the process tree. The same under a real `systemd --user` is in `e2e_systemd.rs`;
//! limits refused where no unit can apply them are checked in-process (src/dbus/tests/).

use std::path::Path;

use crate::harness::*;
use crate::procs::descends_from;

/// A stand-in claude of `tests/fixtures/`.
fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The fake claude that has started a tool (a `sleep` child).
pub fn claude_with_tool() -> String {
    fixture("claude-with-tool")
}

/// Kills a process the test left behind (a reparented tool) when dropped, frozen or not.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if alive(self.0) {
            signal(self.0, "KILL");
        }
    }
}

#[tokio::test]
async fn freeze_stops_claude_and_its_tools_and_survives_a_daemon_restart() {
    let tool_claude = claude_with_tool();
    let mut env = Env::with_env(&[("TRUSTY_MPM_CLAUDE_COMMAND", &tool_claude)]).await;
    let (_, path, claude) = env.start_active("whole").await;
    wait_for("the tool runs", || async {
        find_descendant(claude, "sleep").is_some()
    })
    .await;
    let tool = find_descendant(claude, "sleep").unwrap();
    let s = env.session_uncached(&path).await;
    assert_eq!(s.unit().await.unwrap(), "", "no systemd, no unit");

    let m = env.manager().await;
    m.pause_session("whole", "", true).await.unwrap();
    assert!(s.frozen().await.unwrap());
    assert_eq!((proc_state(claude), proc_state(tool)), ('T', 'T'));

    env.restart_daemon().await;
    let s = env.session_uncached(&path).await;
    assert!(s.frozen().await.unwrap(), "a restart thawed the session");
    assert_eq!((proc_state(claude), proc_state(tool)), ('T', 'T'));

    env.manager().await.resume_session("whole").await.unwrap();
    wait_for("thawed", || async {
        proc_state(claude) != 'T' && proc_state(tool) != 'T'
    })
    .await;
    assert!(!s.frozen().await.unwrap());
}

#[tokio::test]
async fn freeze_reaches_what_a_tool_left_running_in_the_pane_and_nothing_else() {
    let orphaning = fixture("claude-with-orphan");
    let env = Env::with_env(&[("TRUSTY_MPM_CLAUDE_COMMAND", &orphaning)]).await;
    let (_, path, claude) = env.start_active("left").await;
    let pidfile = Path::new(&env.project("left")).join(".orphan");
    let orphan = || {
        std::fs::read_to_string(&pidfile)
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
    };
    wait_for("the tool left a process", || async { orphan().is_some() }).await;
    let orphan = orphan().unwrap();
    let _reap = KillOnDrop(orphan);
    assert!(alive(orphan));
    assert!(
        !descends_from(orphan, claude),
        "the left process is out of claude's tree"
    );
    let daemon = env.daemon.as_ref().unwrap().id();
    let server = String::from_utf8(env.tmux(&["display", "-p", "#{pid}"]).stdout).unwrap();
    let server: u32 = server.trim().parse().unwrap();

    let m = env.manager().await;
    m.pause_session("left", "", true).await.unwrap();
    assert!(env.session_uncached(&path).await.frozen().await.unwrap());
    assert_eq!((proc_state(claude), proc_state(orphan)), ('T', 'T'));
    let pane = env.pane_pid("left");
    for (what, pid) in [
        ("the pane's launcher", pane),
        ("the daemon", daemon),
        ("tmux", server),
    ] {
        assert_ne!(proc_state(pid), 'T', "{what} (pid {pid}) was stopped");
    }

    m.resume_session("left").await.unwrap();
    wait_for("thawed", || async {
        proc_state(claude) != 'T' && proc_state(orphan) != 'T'
    })
    .await;
}

#[tokio::test]
async fn stop_and_remove_thaw_the_whole_session() {
    let tool_claude = claude_with_tool();
    let env = Env::with_env(&[("TRUSTY_MPM_CLAUDE_COMMAND", &tool_claude)]).await;
    let m = env.manager().await;
    let (_, _, claude) = env.start_active("icy").await;
    wait_for("the tool runs", || async {
        find_descendant(claude, "sleep").is_some()
    })
    .await;
    let tool = find_descendant(claude, "sleep").unwrap();
    m.pause_session("icy", "", true).await.unwrap();
    assert_eq!(proc_state(tool), 'T');
    m.remove_session("icy", false).await.unwrap();
    wait_for("tool thawed", || async { proc_state(tool) != 'T' }).await;
    assert!(alive(claude), "remove without kill keeps claude running");
}

#[tokio::test]
async fn figures_come_from_the_process_tree_when_read() {
    let tool_claude = claude_with_tool();
    let env = Env::with_env(&[("TRUSTY_MPM_CLAUDE_COMMAND", &tool_claude)]).await;
    let (_, path, claude) = env.start_active("busy").await;
    wait_for("the tool runs", || async {
        find_descendant(claude, "sleep").is_some()
    })
    .await;
    let s = env.session_uncached(&path).await;
    let memory = s.memory_current().await.unwrap();
    let tasks = s.tasks_current().await.unwrap();
    assert!(
        memory > 1 << 20,
        "claude and its tool use more than 1 MiB: {memory}"
    );
    assert!(tasks >= 2, "claude and its tool: {tasks} tasks");
    wait_for("CPU time counted", || async {
        s.cpu_usage_n_sec().await.unwrap() > 0
    })
    .await;
    // The CLI shows them: the MEM column and status.
    let out = std::process::Command::new(DAEMON)
        .args(["list", "--json"])
        .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        rows[0]["memory_bytes"].as_u64().unwrap() > 1 << 20,
        "{rows}"
    );
    assert!(rows[0]["tasks"].as_u64().unwrap() >= 2, "{rows}");
}
