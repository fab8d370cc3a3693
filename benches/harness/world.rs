//! The private world one benchmark run owns: a dbus-daemon, a tmux server on a socket in a
//! temp dir, and the release daemon (a copy of the binary, so a concurrent rebuild cannot swap
//! it mid-run). Everything started is recorded and undone at the end, on panic (Drop) and on
//! Ctrl-C (see `cleanup_all`), by pid or by tmux socket, never by name.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use tempfile::TempDir;

// Shared with the integration tests (tests/support/): one target cannot import another's
// modules, so the file is included by path.
#[path = "../../tests/support/private_bus.rs"]
mod private_bus;
#[path = "../../tests/support/tools.rs"]
mod tools;
pub use tools::require;
use zbus::Connection;

pub const BUS_NAME: &str = "org.trusty.Mpm1";
pub const MANAGER_PATH: &str = "/org/trusty/Mpm1";

/// Something to undo when the run ends, however it ends.
#[derive(Clone, PartialEq)]
enum Undo {
    Kill(u32),
    TmuxServer(PathBuf),
    RemoveDir(PathBuf),
}

static CLEANUP: Mutex<Vec<Undo>> = Mutex::new(Vec::new());

fn remember(u: Undo) {
    lock_cleanup().push(u);
}

fn forget(u: &Undo) {
    lock_cleanup().retain(|x| x != u);
}

fn lock_cleanup() -> std::sync::MutexGuard<'static, Vec<Undo>> {
    CLEANUP.lock().unwrap_or_else(|p| p.into_inner())
}

/// Kills every process and tmux server this run started and has not stopped yet.
pub fn cleanup_all() {
    let todo: Vec<Undo> = std::mem::take(&mut *lock_cleanup());
    for u in todo.into_iter().rev() {
        match u {
            Undo::Kill(pid) => signal(pid, Signal::KILL),
            Undo::TmuxServer(sock) => {
                let _ = tmux_cmd(&sock).arg("kill-server").output();
            }
            Undo::RemoveDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// Kills `pid` when the run ends (a process this run caused but did not spawn itself).
pub fn kill_at_end(pid: u32) {
    remember(Undo::Kill(pid));
}

/// A tmux server on `sock` that something else starts, to kill if the run is cut short.
pub fn remember_tmux_server(sock: &Path) {
    remember(Undo::TmuxServer(sock.to_owned()));
}

pub fn signal(pid: u32, sig: Signal) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        let _ = kill_process(pid, sig);
    }
}

/// A tmux client of the private server, with nothing of the caller's tmux in its environment.
pub fn tmux_cmd(sock: &Path) -> Command {
    let mut cmd = Command::new("tmux");
    cmd.arg("-S")
        .arg(sock)
        .arg("-f")
        .arg("/dev/null")
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .stdin(Stdio::null());
    cmd
}

/// A child process killed and reaped when dropped.
pub struct Owned(pub Child);

impl Owned {
    pub fn spawn(cmd: &mut Command) -> Owned {
        Owned::own(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")))
    }

    /// Takes a started child in hand: killed when the harness is interrupted.
    pub fn own(child: Child) -> Owned {
        remember(Undo::Kill(child.id()));
        Owned(child)
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Waits for the process to exit by itself.
    pub fn wait_output(mut self) -> Output {
        let mut out = Vec::new();
        if let Some(mut s) = self.0.stdout.take() {
            std::io::Read::read_to_end(&mut s, &mut out).expect("read child stdout");
        }
        // Reaped here, so the drop below neither signals nor waits again.
        let status = self.0.wait().expect("wait for child");
        Output {
            status,
            stdout: out,
            stderr: Vec::new(),
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        forget(&Undo::Kill(self.0.id()));
    }
}

pub struct World {
    pub dir: TempDir,
    /// The daemon binary (a private copy of the release build).
    pub bin: PathBuf,
    /// The hook relay's own executable, `trusty-mpm-hook` (a private copy, beside `bin`).
    pub relay: PathBuf,
    pub claude: PathBuf,
    bus: Owned,
    pub bus_addr: String,
    pub daemon: Option<Owned>,
    pub conn: Connection,
    log: PathBuf,
}

impl World {
    pub async fn new(bin: &Path, claude: &Path) -> World {
        for tool in ["dbus-daemon", "tmux", "busctl"] {
            require(tool);
        }
        let dir = tempfile::Builder::new()
            .prefix("trusty-mpm-bench")
            .tempdir()
            .expect("temp dir");
        // Undone last (the list is undone in reverse): only when the run is cut short, since
        // the TempDir removes itself otherwise.
        remember(Undo::RemoveDir(dir.path().to_owned()));
        let copy = dir.path().join("trusty-mpm");
        std::fs::copy(bin, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", bin.display()));
        let (relay_bin, relay) = (
            bin.with_file_name("trusty-mpm-hook"),
            dir.path().join("trusty-mpm-hook"),
        );
        std::fs::copy(&relay_bin, &relay)
            .unwrap_or_else(|e| panic!("copy {}: {e}", relay_bin.display()));
        remember(Undo::TmuxServer(dir.path().join("tmux.sock")));

        let mut bus = Owned::spawn(&mut private_bus::command(dir.path()));
        let bus_addr = private_bus::address(&mut bus.0);
        let conn = zbus::connection::Builder::address(bus_addr.as_str())
            .build()
            .await
            .expect("connect to the private bus");
        let log = dir.path().join("daemon.log");
        World {
            bin: copy,
            relay,
            claude: claude.to_owned(),
            bus,
            bus_addr,
            daemon: None,
            conn,
            log,
            dir,
        }
    }

    pub fn tmux_socket(&self) -> PathBuf {
        self.dir.path().join("tmux.sock")
    }

    pub fn tmux(&self, args: &[&str]) -> Output {
        tmux_cmd(&self.tmux_socket())
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// The pid of the private tmux server (it must be running).
    pub fn tmux_server_pid(&self) -> u32 {
        String::from_utf8_lossy(&self.tmux(&["display-message", "-p", "#{pid}"]).stdout)
            .trim()
            .parse()
            .expect("tmux server pid")
    }

    /// A directory that exists, for use as a project dir.
    pub fn project(&self, name: &str) -> String {
        let p = self.dir.path().join("projects").join(name);
        std::fs::create_dir_all(&p).expect("project dir");
        p.to_string_lossy().into_owned()
    }

    pub fn state_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The daemon command for `state_dir`, in the environment the issue prescribes.
    pub fn daemon_command(&self, state_dir: &Path) -> Command {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("daemon log");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("daemon")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_addr)
            .env("TRUSTY_MPM_STATE_DIR", state_dir)
            .env("TRUSTY_MPM_TMUX_SOCKET", self.tmux_socket())
            .env("TRUSTY_MPM_CLAUDE_COMMAND", &self.claude)
            .env(
                "RUST_LOG",
                std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1");
        for var in [
            "TMUX",
            "TMUX_PANE",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "JOURNAL_STREAM",
            "INVOCATION_ID",
        ] {
            cmd.env_remove(var);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        cmd
    }

    /// Starts a daemon from `cmd` without waiting for it.
    pub fn spawn_daemon(&mut self, cmd: &mut Command) {
        assert!(self.daemon.is_none(), "a daemon is already running");
        self.daemon = Some(Owned::spawn(cmd));
    }

    /// Starts the daemon on `state_dir` and waits until it owns its name.
    pub async fn start_daemon(&mut self, state_dir: &Path) {
        let mut cmd = self.daemon_command(state_dir);
        self.spawn_daemon(&mut cmd);
        self.wait_for_name().await;
    }

    pub async fn wait_for_name(&mut self) {
        let dbus = zbus::fdo::DBusProxy::new(&self.conn)
            .await
            .expect("bus proxy");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let name = zbus::names::BusName::try_from(BUS_NAME).expect("bus name");
            if dbus.name_has_owner(name).await.expect("NameHasOwner") {
                return;
            }
            if let Some(d) = self.daemon.as_mut()
                && let Some(status) = d.0.try_wait().expect("try_wait")
            {
                panic!(
                    "the daemon exited early ({status}); log:\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not take its bus name in 20 s; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn bus_pid(&self) -> u32 {
        self.bus.id()
    }

    pub fn daemon_pid(&self) -> u32 {
        self.daemon.as_ref().expect("daemon running").id()
    }

    /// SIGTERM, then SIGKILL after 5 s; waits for the exit.
    pub fn stop_daemon(&mut self) {
        let Some(mut d) = self.daemon.take() else {
            return;
        };
        signal(d.id(), Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while d.0.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                eprintln!("bench: the daemon ignored SIGTERM for 5 s; killing it");
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(d);
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop_daemon();
        let _ = self.tmux(&["kill-server"]);
        forget(&Undo::TmuxServer(self.tmux_socket()));
        forget(&Undo::RemoveDir(self.dir.path().to_owned()));
        // The bus goes with `bus`; anything else recorded goes now.
        cleanup_all();
    }
}
