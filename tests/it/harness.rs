//! Real parts for integration tests: a private dbus-daemon, a private tmux server, the real
//! `trusty-mpm daemon` binary and the fake claude in `tests/fixtures/`. Each `Env` owns what it
//! started and cleans up exactly that (by pid and by socket). Missing tools fail loudly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
#[path = "../support/private_bus.rs"]
pub mod private_bus;
#[path = "../support/tools.rs"]
mod tools;
pub use tools::require;
#[path = "../support/user_manager.rs"]
pub mod user_manager;
#[path = "../support/wire_errors.rs"]
mod wire_errors;
pub use wire_errors::{assert_error, error_name};

mod nobody;
mod relay;
mod systemd;
pub use nobody::*;
pub use relay::*;
pub use systemd::*;

pub use crate::procs::{alive, find_descendant, proc_state};

use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use trusty_mpm::cli::bus::session_proxy;
use trusty_mpm::cli::proxy::{ManagerProxy, SessionProxy};
use zbus::{Connection, OwnedObjectPath};

pub const DAEMON: &str = env!("CARGO_BIN_EXE_trusty-mpm");

pub fn fake_claude() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude")
}

/// A private session bus.
pub struct Bus {
    child: Child,
    pub address: String,
}

impl Bus {
    pub fn start(dir: &Path) -> Bus {
        require("dbus-daemon");
        let mut child = private_bus::command(dir)
            .spawn()
            .expect("dbus-daemon starts");
        let address = private_bus::address(&mut child);
        Bus { child, address }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One test's world: bus, tmux socket, state dir and (usually) a running daemon.
pub struct Env {
    pub dir: TempDir,
    pub bus: Bus,
    pub daemon: Option<Child>,
    pub conn: Connection,
    /// Extra environment for the daemon (e.g. a short tmux timeout).
    pub daemon_env: Vec<(String, String)>,
    /// Variables of the test's own environment the daemon must not get.
    pub daemon_env_remove: Vec<String>,
}

impl Env {
    /// Bus, tmux socket path and a ready daemon.
    pub async fn new() -> Env {
        Self::with_env(&[]).await
    }

    pub async fn with_env(extra: &[(&str, &str)]) -> Env {
        Self::with_env_removed(extra, &[]).await
    }

    /// `with_env`, and the daemon (so tmux and claude) without the variables `remove`.
    pub async fn with_env_removed(extra: &[(&str, &str)], remove: &[String]) -> Env {
        let mut env = Self::without_daemon(extra, remove).await;
        env.start_daemon().await;
        env
    }

    /// No daemon running, but a call to `org.trusty.Mpm1` starts this test's daemon, as the
    /// installed D-Bus activation file does. The activated daemon is a child of the bus, not
    /// of the test: `owner_pid` finds it.
    pub async fn activatable() -> Env {
        let env = Self::without_daemon(&[], &[]).await;
        let script = env.dir.path().join("activate.sh");
        // `env` takes its `-u NAME` options before any NAME=VALUE.
        let (mut unset, mut set) = (String::new(), String::new());
        for (k, v) in env.daemon_command().get_envs() {
            let k = k.to_string_lossy();
            match v {
                Some(v) => set += &format!(" '{k}={}'", v.to_string_lossy()),
                None => unset += &format!(" -u {k}"),
            }
        }
        let log = env.activations();
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho started >> '{}'\nexec env{unset}{set} '{DAEMON}' daemon </dev/null\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let services = env.dir.path().join("services");
        std::fs::write(
            services.join("org.trusty.Mpm1.service"),
            format!(
                "[D-BUS Service]\nName=org.trusty.Mpm1\nExec={}\n",
                script.display()
            ),
        )
        .unwrap();
        // Synchronous: the bus knows the service once this returns.
        zbus::fdo::DBusProxy::new(&env.conn)
            .await
            .unwrap()
            .reload_config()
            .await
            .unwrap();
        env
    }

    /// The file an activation of `activatable` appends a line to before it starts the daemon.
    pub fn activations(&self) -> PathBuf {
        self.dir.path().join("activations")
    }

    /// The pid of the daemon that owns the bus name (one the bus activated, say).
    pub async fn owner_pid(&self) -> u32 {
        let name = zbus::names::BusName::try_from("org.trusty.Mpm1").unwrap();
        zbus::fdo::DBusProxy::new(&self.conn)
            .await
            .unwrap()
            .get_connection_unix_process_id(name)
            .await
            .unwrap()
    }

    async fn without_daemon(extra: &[(&str, &str)], remove: &[String]) -> Env {
        require("tmux");
        let dir = tempfile::Builder::new()
            .prefix("trusty-mpm-it")
            .tempdir()
            .unwrap();
        // Let a test client of another uid reach the bus socket.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let bus = Bus::start(dir.path());
        let conn = zbus::connection::Builder::address(bus.address.as_str())
            .build()
            .await
            .expect("connect to the private bus");
        Env {
            dir,
            bus,
            daemon: None,
            conn,
            daemon_env: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            daemon_env_remove: remove.to_vec(),
        }
    }

    pub fn tmux_socket(&self) -> PathBuf {
        self.dir.path().join("tmux.sock")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A directory that exists, for use as a project dir.
    pub fn project(&self, name: &str) -> String {
        let p = self.dir.path().join("projects").join(name);
        std::fs::create_dir_all(&p).unwrap();
        p.to_string_lossy().into_owned()
    }

    /// The daemon command with this test's environment.
    pub fn daemon_command(&self) -> Command {
        let mut cmd = Command::new(DAEMON);
        cmd.arg("daemon")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus.address)
            .env("TRUSTY_MPM_STATE_DIR", self.state_dir())
            .env("TRUSTY_MPM_TMUX_SOCKET", self.tmux_socket())
            .env("TRUSTY_MPM_CLAUDE_COMMAND", fake_claude())
            // Never the config of whoever runs the tests; tests that want one override this.
            .env("TRUSTY_MPM_CONFIG", self.dir.path().join("no-config.toml"))
            .env("RUST_LOG", "debug")
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null());
        for k in &self.daemon_env_remove {
            cmd.env_remove(k);
        }
        for (k, v) in &self.daemon_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the daemon and waits until it owns its name.
    pub async fn start_daemon(&mut self) {
        assert!(self.daemon.is_none(), "daemon already running");
        let child = self.daemon_command().spawn().expect("daemon starts");
        self.daemon = Some(child);
        self.wait_for_name().await;
    }

    /// Waits until this test's daemon owns its bus name: its own process, not one that just
    /// exited (the bus lets a name go only once it notices the owner's socket closed).
    pub async fn wait_for_name(&mut self) {
        let dbus = zbus::fdo::DBusProxy::new(&self.conn).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let ours = self.daemon.as_ref().map(Child::id);
        loop {
            let name = zbus::names::BusName::try_from("org.trusty.Mpm1").unwrap();
            if let Ok(pid) = dbus.get_connection_unix_process_id(name).await
                && ours.is_none_or(|ours| ours == pid)
            {
                return;
            }
            if let Some(status) = self.daemon.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("daemon exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not take its bus name in 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the daemon with SIGTERM and returns its exit status.
    pub fn stop_daemon(&mut self) -> std::process::ExitStatus {
        let mut child = self.daemon.take().expect("daemon running");
        signal(child.id(), "TERM");
        wait_child(&mut child, Duration::from_secs(5)).expect("daemon exits after SIGTERM")
    }

    pub async fn restart_daemon(&mut self) {
        let status = self.stop_daemon();
        assert!(
            status.success(),
            "daemon exit status after SIGTERM: {status}"
        );
        self.start_daemon().await;
    }

    /// Runs tmux against this test's private server.
    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(self.tmux_socket())
            .arg("-f")
            .arg("/dev/null")
            .args(args)
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .stdin(Stdio::null())
            .output()
            .expect("tmux runs")
    }

    /// Kills this test's tmux server and waits until its process is gone: `kill-server`
    /// returns before the server has exited, and a daemon starting meanwhile finds a server
    /// that is going away rather than none.
    pub async fn kill_tmux_server(&self) {
        let pid = self.tmux(&["display-message", "-p", "#{pid}"]);
        let pid: u32 = String::from_utf8_lossy(&pid.stdout)
            .trim()
            .parse()
            .expect("the tmux server runs");
        assert!(self.tmux(&["kill-server"]).status.success());
        wait_for("the tmux server exited", || async move { !alive(pid) }).await;
    }

    pub async fn manager(&self) -> ManagerProxy<'static> {
        ManagerProxy::new(&self.conn).await.unwrap()
    }

    /// A client that answers requests, as notify and the tray are: a connection that owns
    /// the answerer name while it lives.
    pub async fn answerer(&self) -> Connection {
        let conn = zbus::connection::Builder::address(self.bus.address.as_str())
            .build()
            .await
            .unwrap();
        conn.request_name(trusty_mpm::contract::ANSWERER_NAME)
            .await
            .unwrap();
        conn
    }

    pub async fn session(&self, path: &OwnedObjectPath) -> SessionProxy<'static> {
        SessionProxy::builder(&self.conn)
            .path(path.clone())
            .build()
            .await
            .unwrap()
    }

    /// Starts a session of the fake claude and waits until it is active.
    pub async fn start_active(&self, name: &str) -> (String, OwnedObjectPath, u32) {
        let m = self.manager().await;
        let dir = self.project(name);
        let (id, _, path) = m
            .start_session(&dir, name, Default::default())
            .await
            .expect("StartSession");
        let s = self.session(&path).await;
        wait_for("session active", || async {
            s.status().await.unwrap() == "active"
        })
        .await;
        let pid = s.pid().await.unwrap();
        assert_ne!(pid, 0);
        (id, path, pid)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            signal(child.id(), "KILL");
            let _ = child.wait();
        }
        // Only our private server, by its socket.
        let _ = self.tmux(&["kill-server"]);
    }
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid} failed");
}

pub fn wait_child(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Checks that `holds` stays true throughout `window`, polling it, and fails at the first look
/// that finds it false: a "nothing happened" check that watches the whole window instead of
/// sleeping through it and looking once.
pub async fn stays_for<F, Fut>(window: Duration, what: &str, mut holds: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        assert!(
            holds().await,
            "no longer true after {:?}: {what}",
            started.elapsed()
        );
        if started.elapsed() >= window {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `cond` until it holds, failing the test after 30 s.
pub async fn wait_for<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // Generous: a loaded 2-core machine runs many daemons, tmux servers and shells at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Env {
    /// Names of the sessions on this test's tmux server; none when no server runs.
    pub fn tmux_sessions(&self) -> Vec<String> {
        let out = self.tmux(&["list-sessions", "-F", "#{session_name}"]);
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .collect();
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no server running") || err.contains("error connecting to"),
            "tmux list-sessions failed: {err}"
        );
        Vec::new()
    }

    /// The pid of the first pane's process of tmux session `name`.
    pub fn pane_pid(&self, name: &str) -> u32 {
        let out = self.tmux(&[
            "list-panes",
            "-t",
            &format!("={name}:"),
            "-F",
            "#{pane_pid}",
        ]);
        assert!(
            out.status.success(),
            "tmux list-panes {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pane pid for {name}"))
    }

    /// Creates an unmanaged tmux session `name` in `dir` running the fake claude under a
    /// waiting `sh` (as the daemon launches it) and returns the fake claude's pid once it runs.
    pub async fn tmux_with_claude(&self, name: &str, dir: &str) -> u32 {
        let claude = fake_claude();
        let out = self.tmux(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-c",
            dir,
            "--",
            "sh",
            "-c",
            "\"$@\"; exit $?",
            "x",
            claude.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "tmux new-session {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pane = self.pane_pid(name);
        wait_for("claude runs in the tmux session", || async move {
            find_descendant(pane, "claude").is_some()
        })
        .await;
        find_descendant(pane, "claude").expect("claude still runs")
    }

    /// A session proxy that asks the daemon for every property read (no cache).
    pub async fn session_uncached(&self, path: &OwnedObjectPath) -> SessionProxy<'static> {
        session_proxy(&self.conn, path.clone()).await.unwrap()
    }
}

/// The id of the first pane of a tmux session.
pub fn pane_of(env: &Env, name: &str) -> String {
    let out = env.tmux(&["list-panes", "-t", &format!("={name}"), "-F", "#{pane_id}"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

/// The hook events Claude Code sends that the tests feed the daemon (beside unknown ones).
pub const HOOK_EVENTS: [&str; 11] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PermissionRequest",
    "Notification",
    "Stop",
    "StopFailure",
    "SessionEnd",
    "SubagentStop",
    "PreCompact",
];

/// One record of a session's history (`GetEvents`), by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at_usec: u64,
    pub event: String,
    pub tool: String,
    pub summary: String,
}

/// The history of session `key`, oldest first.
pub async fn events_of(m: &ManagerProxy<'_>, key: &str) -> Vec<Event> {
    let rows = m.get_events(key, 0).await.unwrap();
    rows.into_iter()
        .map(|(at_usec, event, tool, summary)| Event {
            at_usec,
            event,
            tool,
            summary,
        })
        .collect()
}

/// The summaries in the history of `key`, oldest first.
pub async fn summaries_of(m: &ManagerProxy<'_>, key: &str) -> Vec<String> {
    events_of(m, key)
        .await
        .into_iter()
        .map(|e| e.summary)
        .collect()
}

/// The names of the managed sessions, in `ListSessions` order.
pub async fn session_names(m: &ManagerProxy<'_>) -> Vec<String> {
    m.list_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.1)
        .collect()
}

/// A terminal of the test's own for a client to run in: a pane of a private tmux server at
/// this socket, whose server is killed on drop.
pub struct Terminal(pub PathBuf);

impl Terminal {
    /// `tmux new-session` of a detached 100x30 pane running the arguments added after this.
    pub fn open(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&self.0).args([
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "--",
        ]);
        cmd
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.0)
            .arg("kill-server")
            .output();
    }
}
