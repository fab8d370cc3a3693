//! End to end under a real, private `systemd --user` (its own runtime, config and data dirs):
//! the installed unit reaches `active` only after READY, D-Bus activation starts it, each
//! session runs in a scope of its own with its limits (or stops, saying why, when systemd
//! refuses the scope), a runaway meets its memory limit, a
//! session freezes whole, the watchdog restarts a frozen daemon, and restarts never touch tmux,
//! claude or the sessions' units.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use trusty_mpm::cli::proxy::{ManagerProxy, SessionProxy};

use crate::harness::user_manager;
use crate::harness::*;

/// A private user manager; everything it runs is stopped with it.
pub struct UserManager {
    child: Child,
    dir: TempDir,
    /// Locked until the manager is gone (closed after `drop` stopped it).
    _turn: std::fs::File,
}

impl UserManager {
    pub fn start() -> UserManager {
        let turn = user_manager::wait_for_turn();
        for tool in [
            "systemd",
            "systemctl",
            "systemd-run",
            "systemd-analyze",
            "make",
        ] {
            require(tool);
        }
        let dir = tempfile::Builder::new()
            .prefix("trusty-mpm-e2e")
            .tempdir()
            .unwrap();
        UserManager {
            child: user_manager::spawn(dir.path()),
            dir,
            _turn: turn,
        }
    }

    /// `make install` of the binary under test into this manager's directories (`prefix`,
    /// `data`); returns the data dir, whose `systemd/user` is on the manager's unit path.
    pub fn install(&self) -> PathBuf {
        let (prefix, data) = (self.path("prefix"), self.path("data"));
        let out = self.run(
            "make",
            &[
                "-s",
                "-C",
                env!("CARGO_MANIFEST_DIR"),
                "install",
                &format!("PREFIX={}", prefix.display()),
                &format!("DATADIR={}", data.display()),
                &format!("BIN={DAEMON}"),
            ],
        );
        assert!(
            out.status.success(),
            "make install: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        data
    }

    /// The service's sessions run the stand-in claude with a tool, on a private tmux server,
    /// with `more` variables (`NAME=VALUE`) besides.
    pub fn use_test_claude(&self, more: &[&str]) {
        let claude = format!(
            "TRUSTY_MPM_CLAUDE_COMMAND={}",
            crate::units::claude_with_tool()
        );
        let socket = format!(
            "TRUSTY_MPM_TMUX_SOCKET={}",
            self.path("tmux.sock").display()
        );
        let mut args = vec!["set-environment", &claude, &socket];
        args.extend_from_slice(more);
        self.ok(&args);
        self.ok(&["daemon-reload"]);
    }

    /// A drop-in for the service with `text` (a `[Service]` section).
    pub fn drop_in(&self, name: &str, text: &str) {
        let dir = self.path("config/systemd/user/trusty-mpm.service.d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    /// A connection to this manager's session bus.
    pub async fn bus(&self) -> zbus::Connection {
        let address = user_manager::bus_address(self.dir.path());
        zbus::connection::Builder::address(address.as_str())
            .build()
            .await
            .unwrap()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.command(program).args(args).output().unwrap()
    }

    /// `program` pointed at this manager and its directories, stdin closed.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.stdin(Stdio::null());
        user_manager::env(self.dir.path(), &mut cmd);
        cmd
    }

    pub fn systemctl(&self, args: &[&str]) -> Output {
        user_manager::systemctl(self.dir.path(), args)
    }

    pub fn ok(&self, args: &[&str]) {
        let out = self.systemctl(args);
        assert!(
            out.status.success(),
            "systemctl --user {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn show(&self, prop: &str) -> String {
        let out = self.systemctl(&["show", "-p", prop, "--value", "trusty-mpm.service"]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn tmux(&self, args: &[&str]) -> Output {
        let mut all = vec!["-S", "tmux.sock"];
        all.extend_from_slice(args);
        let mut cmd = Command::new("tmux");
        cmd.args(&all).current_dir(self.dir.path());
        user_manager::env(self.dir.path(), &mut cmd)
            .output()
            .unwrap()
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        let _ = self.systemctl(&["stop", "trusty-mpm.service"]);
        let _ = self.tmux(&["kill-server"]);
        signal(self.child.id(), "TERM");
        if wait_child(&mut self.child, Duration::from_secs(10)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A session proxy that asks the daemon for every property read.
async fn uncached(conn: &zbus::Connection, path: zbus::OwnedObjectPath) -> SessionProxy<'static> {
    trusty_mpm::cli::bus::session_proxy(conn, path)
        .await
        .unwrap()
}

#[tokio::test]
async fn unit_activation_watchdog_and_restarts_under_systemd_user() {
    let um = UserManager::start();
    let data = um.install();
    let unit = data.join("systemd/user/trusty-mpm.service");
    assert!(
        data.join("dbus-1/services/org.trusty.Mpm1.service")
            .is_file()
    );

    let verify = um.run(
        "systemd-analyze",
        &["verify", "--user", "--man=no", unit.to_str().unwrap()],
    );
    assert_eq!(
        String::from_utf8_lossy(&verify.stderr),
        "",
        "systemd-analyze verify complained"
    );

    // Short timings for the test, and the fake claude on a private tmux server.
    um.drop_in(
        "test.conf",
        "[Service]\nWatchdogSec=2s\nRestartSec=200ms\nTimeoutAbortSec=1s\n\
         Environment=ANTHROPIC_API_KEY=sk-ant-e2e-key\n",
    );
    um.use_test_claude(&["RUST_LOG=debug"]);

    // start returns once READY=1 came: the name is served at that moment.
    um.ok(&["start", "trusty-mpm.service"]);
    assert_eq!(um.show("ActiveState"), "active");
    let conn = um.bus().await;
    let m = ManagerProxy::new(&conn).await.unwrap();
    m.list_sessions().await.unwrap();

    // D-Bus activation of a stopped service.
    um.ok(&["stop", "trusty-mpm.service"]);
    assert_eq!(um.show("ActiveState"), "inactive");
    assert!(m.list_sessions().await.unwrap().is_empty());
    assert_eq!(
        um.show("ActiveState"),
        "active",
        "a bus call activated the service"
    );

    // A session; its tmux server runs outside the daemon's cgroup.
    let project = um.path("project");
    std::fs::create_dir_all(&project).unwrap();
    let limits = std::collections::HashMap::from([
        ("memory_max", zbus::Variant::from(1u64 << 30)),
        ("cpu_weight", zbus::Variant::from(50u32)),
        ("tasks_max", zbus::Variant::from(200u64)),
    ]);
    let (_, _, path) = m
        .start_session(project.to_str().unwrap(), "e2e", limits)
        .await
        .unwrap();
    let s = uncached(&conn, path.clone()).await;
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
    let claude = s.pid().await.unwrap();
    let tmux_pid: u32 =
        String::from_utf8_lossy(&um.tmux(&["display-message", "-p", "#{pid}"]).stdout)
            .trim()
            .parse()
            .unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{tmux_pid}/cgroup")).unwrap();
    assert!(
        !cgroup.contains("trusty-mpm.service"),
        "tmux server in the daemon's cgroup:\n{cgroup}"
    );
    // The key the service was given (a drop-in, the systemd way) reaches claude, although its
    // tmux server is a unit of the user manager, which never had it.
    // claude-with-tool execs the stand-in claude; while an exec is under way the kernel shows
    // an empty environ, so the check waits for the stand-in to be claude.
    wait_for("the stand-in execs claude", || async {
        std::fs::read(format!("/proc/{claude}/cmdline"))
            .unwrap()
            .windows(b"/fixtures/claude\0".len())
            .any(|w| w == b"/fixtures/claude\0")
    })
    .await;
    let environ = |pid: u32| std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let has_key = |pid| {
        environ(pid)
            .split(|b| *b == 0)
            .any(|v| v == b"ANTHROPIC_API_KEY=sk-ant-e2e-key")
    };
    assert!(
        has_key(claude),
        "claude lacks the service's ANTHROPIC_API_KEY"
    );
    assert!(
        !has_key(tmux_pid),
        "the key is in the tmux server's environment"
    );

    // The session is a unit of its own, in the slice, with its limits and its tool inside.
    let unit = s.unit().await.unwrap();
    assert_eq!(unit, "trusty-mpm-session-e2e.scope");
    let shown = um.systemctl(&[
        "show",
        "-p",
        "MemoryMax,CPUWeight,TasksMax,Slice,ActiveState",
        &unit,
    ]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    for want in [
        "MemoryMax=1073741824",
        "CPUWeight=50",
        "TasksMax=200",
        "Slice=trusty-mpm.slice",
        "ActiveState=active",
    ] {
        assert!(shown.contains(want), "{want} not in:\n{shown}");
    }
    wait_for("the tool runs", || async {
        find_descendant(claude, "sleep").is_some()
    })
    .await;
    let tool = find_descendant(claude, "sleep").unwrap();
    for pid in [claude, tool] {
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(cg.contains(&unit), "pid {pid} is not in {unit}:\n{cg}");
    }
    assert!(s.memory_current().await.unwrap() > 0);
    assert!(s.tasks_current().await.unwrap() >= 2);
    println!(
        "session unit figures: memory {} B, CPU {} ns, {} tasks",
        s.memory_current().await.unwrap(),
        s.cpu_usage_n_sec().await.unwrap(),
        s.tasks_current().await.unwrap()
    );

    // A runaway is stopped by its own memory limit, saying so; the other session goes on.
    let hog_dir = um.path("hog");
    std::fs::create_dir_all(&hog_dir).unwrap();
    let hog_opts = std::collections::HashMap::from([
        ("memory_max", zbus::Variant::from(64u64 << 20)),
        ("args", zbus::Variant::from(vec!["--grow"])),
    ]);
    let (_, _, hog_path) = m
        .start_session(hog_dir.to_str().unwrap(), "hog", hog_opts)
        .await
        .unwrap();
    let hog = uncached(&conn, hog_path).await;
    wait_for("the runaway is stopped", || async {
        hog.status().await.unwrap() == "stopped" && !hog.status_detail().await.unwrap().is_empty()
    })
    .await;
    let why = hog.status_detail().await.unwrap();
    assert!(why.contains("memory limit"), "{why:?}");
    assert_eq!(s.status().await.unwrap(), "active");
    assert!(alive(claude) && alive(tool));

    // A claude started by hand in a tmux pane moves into a unit of its own when adopted.
    let by_hand = crate::units::claude_with_tool();
    let out = um.tmux(&["new-session", "-d", "-s", "byhand", &by_hand]);
    assert!(out.status.success(), "{out:?}");
    let hand_pid: u32 = String::from_utf8_lossy(
        &um.tmux(&["list-panes", "-t", "=byhand:", "-F", "#{pane_pid}"])
            .stdout,
    )
    .trim()
    .parse()
    .unwrap();
    wait_for("claude by hand runs", || async {
        std::fs::read_to_string(format!("/proc/{hand_pid}/comm"))
            .is_ok_and(|c| c.trim() == "claude")
    })
    .await;
    let (_, adopted_path) = m.adopt_session("byhand").await.unwrap();
    let adopted = uncached(&conn, adopted_path).await;
    assert_eq!(
        adopted.unit().await.unwrap(),
        "trusty-mpm-session-byhand.scope"
    );
    let cg = std::fs::read_to_string(format!("/proc/{hand_pid}/cgroup")).unwrap();
    assert!(
        cg.contains("trusty-mpm-session-byhand.scope"),
        "not moved:\n{cg}"
    );

    // Frozen whole (this host's cgroup layout refuses FreezeUnit, so by SIGSTOP), and a
    // daemon restart keeps it frozen.
    m.pause_session("e2e", "", true).await.unwrap();
    assert_eq!((proc_state(claude), proc_state(tool)), ('T', 'T'));
    um.ok(&["restart", "trusty-mpm.service"]);
    assert_eq!(
        (proc_state(claude), proc_state(tool)),
        ('T', 'T'),
        "a restart thawed"
    );
    assert!(s.frozen().await.unwrap());
    m.resume_session("e2e").await.unwrap();
    wait_for("thawed", || async {
        proc_state(claude) != 'T' && proc_state(tool) != 'T'
    })
    .await;

    // systemctl restart leaves tmux and claude alone.
    let main1 = um.show("MainPID");
    um.ok(&["restart", "trusty-mpm.service"]);
    assert_ne!(um.show("MainPID"), main1);
    assert!(alive(claude) && alive(tmux_pid), "restart killed a session");
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(s.pid().await.unwrap(), claude);

    // A frozen daemon stops pinging; systemd restarts it and the session is still there.
    let main2: u32 = um.show("MainPID").parse().unwrap();
    let t = Instant::now();
    signal(main2, "STOP");
    loop {
        let main: u32 = um.show("MainPID").parse().unwrap_or(0);
        if main != 0 && main != main2 && um.show("ActiveState") == "active" {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "no watchdog restart within 15 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "watchdog restart after SIGSTOP took {:?} (WatchdogSec=2s, TimeoutAbortSec=1s, RestartSec=200ms)",
        t.elapsed()
    );
    assert!(
        alive(claude) && alive(tmux_pid),
        "watchdog restart killed a session"
    );
    let rows = m.list_sessions().await.unwrap();
    let rows: Vec<(&str, &str, u32)> = rows
        .iter()
        .map(|r| (r.1.as_str(), r.3.as_str(), r.5))
        .collect();
    assert_eq!(
        rows,
        [
            ("e2e", "active", claude),
            ("hog", "stopped", 0),
            ("byhand", "active", hand_pid)
        ]
    );
    // The session's unit outlived every daemon restart.
    let state = um.systemctl(&["show", "-p", "ActiveState", "--value", &unit]);
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "active");

    // A scope systemd refuses (in a slice whose name it does not take): claude never starts,
    // and the session stops saying why.
    let config = um.path("refusing.toml");
    std::fs::write(&config, "slice = \"trusty-.slice\"\n").unwrap();
    um.ok(&[
        "set-environment",
        &format!("TRUSTY_MPM_CONFIG={}", config.display()),
    ]);
    um.ok(&["restart", "trusty-mpm.service"]);
    let refused_dir = um.path("refused");
    std::fs::create_dir_all(&refused_dir).unwrap();
    let (_, _, refused) = m
        .start_session(refused_dir.to_str().unwrap(), "refused", Default::default())
        .await
        .unwrap();
    let refused = uncached(&conn, refused).await;
    wait_for("the refused session stopped", || async {
        refused.status().await.unwrap() == "stopped"
    })
    .await;
    // The reason is in the pane's last lines, quoted once the launcher's exit status is known
    // (from tmux, or from the launcher tmux has not reaped yet).
    let why = refused.status_detail().await.unwrap();
    assert!(
        why.contains("before it started") && why.contains("trusty-mpm-session-refused.scope"),
        "{why}"
    );
    assert_eq!(refused.pid().await.unwrap(), 0, "claude ran");
    println!("a session systemd refused: {why}");
}
