//! Figure 12: StartSession's reply beside its floor, `tmux new-session -d` of the same program
//! on the same tmux server, taking turns in the same run: once against the daemon of the private
//! world (no systemd), once against a daemon run as a service of a private `systemd --user`,
//! where each session gets a scope unit of its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trusty_mpm::cli::proxy::ManagerProxy;

use crate::log;
use crate::report::{Row, percentile, sorted};
use crate::world::{Owned, World, remember_tmux_server, require, signal, tmux_cmd};

// The private user manager is the e2e tests' own.
#[path = "../../tests/support/user_manager.rs"]
mod user_manager;

/// Starts timed per kind, after `WARM_UP` untimed ones.
const STARTS: usize = 20;
const WARM_UP: usize = 3;

/// Figure 12: both daemons, each beside its own floor.
pub async fn start_latency(
    w: &mut World,
    rows: &mut Vec<Row>,
    raw: &mut serde_json::Map<String, Value>,
) {
    let state = w.state_dir("state-start");
    w.start_daemon(&state).await;
    log(format!(
        "StartSession: {STARTS} starts beside tmux new-session -d, no systemd"
    ));
    let m = ManagerProxy::new(&w.conn).await.expect("manager proxy");
    let project = |name: &str| w.project(name);
    let (plain, floor) = starts_vs_floor(&m, &w.tmux_socket(), &w.claude, project).await;
    w.stop_daemon();
    push(rows, "no systemd", &plain, &floor);
    raw.insert(
        "start_session_ms".into(),
        json!({ "daemon": plain, "tmux_new_session": floor }),
    );

    log(format!(
        "StartSession: {STARTS} starts beside tmux new-session -d, under systemd --user"
    ));
    let um = UserManager::start(w.dir.path().join("systemd"));
    um.run_daemon(&w.bin, &w.claude);
    let conn = zbus::connection::Builder::address(um.bus_address().as_str())
        .build()
        .await
        .expect("connect to the user manager's bus");
    let m = ManagerProxy::new(&conn).await.expect("manager proxy");
    let dir = um.dir.clone();
    let project = |name: &str| {
        let p = dir.join("projects").join(name);
        std::fs::create_dir_all(&p).expect("project dir");
        p.to_string_lossy().into_owned()
    };
    let (sd, sd_floor) = starts_vs_floor(&m, &um.tmux_socket(), &w.claude, project).await;
    drop(um);
    push(rows, "under systemd --user", &sd, &sd_floor);
    raw.insert(
        "start_session_systemd_ms".into(),
        json!({ "daemon": sd, "tmux_new_session": sd_floor }),
    );
}

fn push(rows: &mut Vec<Row>, how: &str, daemon: &[f64], floor: &[f64]) {
    rows.push(
        Row::new(
            12,
            format!("StartSession reply, {how} (median of {STARTS})"),
            "ms",
            percentile(daemon, 50.0),
        )
        .against(percentile(floor, 50.0), "`tmux new-session -d`")
        .ratio_target("≤ 2×", 2.0, false),
    );
}

/// `STARTS` StartSession calls, each followed by one `tmux new-session -d` of the fake claude
/// on the daemon's tmux server (which the first, untimed start started): the sorted ms of
/// each. Every session but the first is removed (and its tmux session killed) before the next
/// turn; the next turn begins once claude runs, so that nothing a start left running competes
/// with the next measurement.
async fn starts_vs_floor(
    m: &ManagerProxy<'static>,
    sock: &Path,
    claude: &Path,
    project: impl Fn(&str) -> String,
) -> (Vec<f64>, Vec<f64>) {
    let (mut daemon, mut floor) = (Vec::new(), Vec::new());
    for i in 0..WARM_UP + STARTS {
        let name = format!("st{i:02}");
        let dir = project(&name);
        let t = Instant::now();
        m.start_session(&dir, &name, HashMap::new())
            .await
            .unwrap_or_else(|e| panic!("StartSession {name}: {e}"));
        let d = t.elapsed();
        wait_active(m, &name).await;

        let bare = format!("fl{i:02}");
        let t = Instant::now();
        let out = tmux_cmd(sock)
            .args(["new-session", "-d", "-s", &bare, "-c", &dir])
            .arg(claude)
            .output()
            .expect("tmux runs");
        let f = t.elapsed();
        assert!(out.status.success(), "tmux new-session: {out:?}");
        if i >= WARM_UP {
            daemon.push(d.as_secs_f64() * 1000.0);
            floor.push(f.as_secs_f64() * 1000.0);
        }
        let _ = tmux_cmd(sock)
            .args(["kill-session", "-t", &format!("={bare}")])
            .output();
        // The first session stays: with none left, tmux's server would exit, and every turn
        // would measure starting a server.
        if i > 0 {
            m.remove_session(&name, true)
                .await
                .unwrap_or_else(|e| panic!("RemoveSession {name}: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    m.remove_session("st00", true)
        .await
        .unwrap_or_else(|e| panic!("RemoveSession st00: {e}"));
    (sorted(daemon), sorted(floor))
}

/// Waits (up to 20 s) until the session `name` is active: its claude runs.
async fn wait_active(m: &ManagerProxy<'static>, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = m.list_sessions().await.expect("ListSessions");
        if rows.iter().any(|r| r.1 == name && r.3 == "active") {
            return;
        }
        assert!(Instant::now() < deadline, "{name} did not become active");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A private `systemd --user` (its own runtime, config, data and state dirs), as the e2e tests
/// run it; one at a time on the machine (the tests' lock). Stopped, with all it runs, on drop.
struct UserManager {
    child: Option<Owned>,
    dir: PathBuf,
    _turn: std::fs::File,
}

const UNIT: &str = "trusty-mpm-bench.service";

impl UserManager {
    fn start(dir: PathBuf) -> UserManager {
        for tool in ["systemd", "systemctl", "systemd-run"] {
            require(tool);
        }
        log("waiting for the machine's one private user manager turn");
        let turn = user_manager::wait_for_turn();
        let child = Owned::own(user_manager::spawn(&dir));
        remember_tmux_server(&dir.join("tmux.sock"));
        UserManager {
            child: Some(child),
            dir,
            _turn: turn,
        }
    }

    fn tmux_socket(&self) -> PathBuf {
        self.dir.join("tmux.sock")
    }

    fn bus_address(&self) -> String {
        user_manager::bus_address(&self.dir)
    }

    fn systemctl(&self, args: &[&str]) -> std::process::Output {
        user_manager::systemctl(&self.dir, args)
    }

    /// Runs the daemon as a notify service of this manager; returns once it is ready.
    fn run_daemon(&self, bin: &Path, claude: &Path) {
        let set = |k: &str, v: &dyn AsRef<std::ffi::OsStr>| {
            let mut s = std::ffi::OsString::from(format!("--setenv={k}="));
            s.push(v.as_ref());
            s
        };
        let mut cmd = Command::new("systemd-run");
        cmd.args(["--user", "--quiet", "-p", "Type=notify"])
            .arg(format!("--unit={UNIT}"))
            .arg(format!(
                "--property=StandardError=append:{}",
                self.dir.join("daemon.log").display()
            ))
            .arg(set("DBUS_SESSION_BUS_ADDRESS", &self.bus_address()))
            .arg(set(
                "TRUSTY_MPM_STATE_DIR",
                &self.dir.join("state/trusty-mpm"),
            ))
            .arg(set("TRUSTY_MPM_TMUX_SOCKET", &self.tmux_socket()))
            .arg(set("TRUSTY_MPM_CLAUDE_COMMAND", &claude))
            .arg(set(
                "RUST_LOG",
                &std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "info".into()),
            ))
            .arg(set("NO_COLOR", &"1"))
            .arg(bin)
            .arg("daemon")
            .stdin(Stdio::null());
        let out = user_manager::env(&self.dir, &mut cmd)
            .output()
            .expect("systemd-run runs");
        assert!(
            out.status.success(),
            "the daemon did not start under systemd --user: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
        );
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        let _ = self.systemctl(&["stop", UNIT]);
        let _ = tmux_cmd(&self.tmux_socket()).arg("kill-server").output();
        if let Some(mut child) = self.child.take() {
            signal(child.id(), rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
