//! A private `systemd --user`, shared by the end-to-end tests and the benchmark harness: its own
//! runtime, config, data and state directories under one folder, one at a time on the machine,
//! and the environment that points a command at it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One private user manager at a time on this machine, whichever test or bench run starts it:
/// they all run in the machine's one cgroup tree, where two would manage the same cgroups (and
/// stop each other's units). An exclusive flock on this file is the turn; it is held until the
/// file is closed.
pub fn wait_for_turn() -> std::fs::File {
    let path = std::env::temp_dir().join("trusty-mpm-test-user-manager.lock");
    let file = std::fs::File::create(&path).expect("create the user manager lock");
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .expect("lock the user manager lock");
    file
}

/// Starts `systemd --user` with its directories in `dir` (its log in `dir/systemd.log`) and
/// returns once it runs. The caller holds the turn and stops the child.
pub fn spawn(dir: &Path) -> Child {
    assert!(
        Path::new("/run/systemd/system").is_dir(),
        "systemd --user needs /run/systemd/system; run the suite with `make test`"
    );
    for sub in ["rt", "config", "data", "state"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create the user manager's dirs");
    }
    std::fs::set_permissions(
        dir.join("rt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("make the runtime dir private");
    let log = std::fs::File::create(dir.join("systemd.log")).expect("create the systemd log");
    let mut cmd = Command::new("systemd");
    cmd.arg("--user")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the systemd log"))
        .stderr(log);
    let mut child = env(dir, &mut cmd).spawn().expect("systemd --user starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let state = loop {
        let out = systemctl(dir, &["is-system-running"]);
        let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if state == "running" || state == "degraded" {
            return child;
        }
        if Instant::now() >= deadline {
            break state;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "systemd --user did not come up ({state}); log: {}",
        std::fs::read_to_string(dir.join("systemd.log")).unwrap_or_default()
    );
}

/// The environment that points a command at the manager in `dir` and its directories.
pub fn env<'c>(dir: &Path, cmd: &'c mut Command) -> &'c mut Command {
    cmd.env("XDG_RUNTIME_DIR", dir.join("rt"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("DBUS_SESSION_BUS_ADDRESS", bus_address(dir))
        .env_remove("NOTIFY_SOCKET")
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
}

/// The address of the manager's session bus.
pub fn bus_address(dir: &Path) -> String {
    format!("unix:path={}", dir.join("rt/bus").display())
}

/// `systemctl --user ARGS` against the manager in `dir`, stdin closed.
pub fn systemctl(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("systemctl");
    cmd.arg("--user").args(args).stdin(Stdio::null());
    env(dir, &mut cmd).output().expect("systemctl runs")
}
