//! A second machine on this one: a local user the test creates (`useradd`), with its own
//! private dbus-daemon at `$XDG_RUNTIME_DIR/bus`, its own `trusty-mpm daemon` and tmux server
//! running stand-in claudes, reached through a real `sshd` on 127.0.0.1 at a private port with a
//! private host key. sshd hands the user `XDG_RUNTIME_DIR` from `~/.ssh/environment`
//! (`PermitUserEnvironment`), as logind would on a real host, so the default remote command of a
//! host finds the bus. The client side gets an ssh config of its own (`ssh -F`: the host's alias,
//! port, key, private known_hosts, batch mode), passed through `TRUSTY_MPM_SSH`.
//!
//! Everything started here is stopped by pid on drop, then the user is deleted with its home.
//! Needs root (useradd, setpriv, sshd) and Debian's openssh-server: missing tools fail loudly.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::harness::{DAEMON, alive, fake_claude, private_bus, require, signal};
use crate::procs::descendants;

const SSHD: &str = "/usr/sbin/sshd";

/// useradd and userdel lock /etc/passwd: the tests of this binary take turns.
static ACCOUNTS: Mutex<()> = Mutex::new(());

/// A local user created for one test, deleted (with its home) on drop once none of its
/// processes is left.
pub struct User {
    pub name: String,
    pub uid: u32,
    pub home: PathBuf,
}

impl User {
    fn create() -> User {
        require("useradd");
        require("setpriv");
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("tmpm{}x{n}", std::process::id());
        let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        // '*': no password, yet not locked (sshd without PAM refuses locked accounts).
        let out = Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", "--password", "*"])
            .arg(&name)
            .output()
            .expect("useradd runs");
        assert!(
            out.status.success(),
            "useradd {name} (the remote tests run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = Command::new("id").args(["-u", &name]).output().unwrap();
        let uid = String::from_utf8_lossy(&id.stdout).trim().parse().unwrap();
        User {
            home: PathBuf::from("/home").join(&name),
            name,
            uid,
        }
    }

    /// `cmd` run as this user, with its groups and a clean environment of its own.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid",
            &self.name,
            "--regid",
            &self.name,
            "--init-groups",
        ])
        .arg(program)
        .env_clear()
        .env("HOME", &self.home)
        .env("USER", &self.name)
        .env("LOGNAME", &self.name)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .current_dir(&self.home)
        .stdin(Stdio::null());
        cmd
    }

    /// Writes a file of this user's (mode 0600 or 0700 with `exec`).
    pub fn write(&self, path: &Path, text: &str, exec: bool) {
        std::fs::write(path, text).unwrap();
        let mode = if exec { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, PermissionsExt::from_mode(mode)).unwrap();
        self.own(path);
    }

    /// A directory of this user's (mode 0700).
    pub fn dir(&self, path: &Path) {
        std::fs::create_dir_all(path).unwrap();
        std::fs::set_permissions(path, PermissionsExt::from_mode(0o700)).unwrap();
        self.own(path);
    }

    fn own(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.uid)).unwrap();
    }

    /// Pids of this user's processes (all of them started by this test).
    fn processes(&self) -> Vec<u32> {
        procfs::process::all_processes()
            .map(|all| {
                all.flatten()
                    .filter(|p| p.uid().ok() == Some(self.uid))
                    .map(|p| p.pid as u32)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for User {
    fn drop(&mut self) {
        // The account exists for this test alone, so every process of it is this test's.
        for pid in self.processes() {
            kill(pid);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.processes().iter().all(|p| !alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _turn = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let out = Command::new("userdel")
            .args(["--remove", &self.name])
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!(
                "userdel {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The other machine: its user, bus, daemon and sshd, and the client's ssh files for it.
pub struct Remote {
    /// The host's name in config.toml and its alias in the client's ssh config.
    pub alias: String,
    pub port: u16,
    pub bus_address: String,
    /// The client's side: ssh config, key and known_hosts, and the trusty-mpm config.toml.
    pub client: TempDir,
    sshd_dir: TempDir,
    sshd: Option<Child>,
    daemon: Option<Child>,
    bus: Option<Child>,
    pub user: User,
}

impl Remote {
    /// A running remote named `alias` whose daemon (config: `daemon_config`) owns its name.
    pub async fn start(alias: &str, daemon_config: &str) -> Remote {
        require("ssh");
        require("ssh-keygen");
        require("dbus-daemon");
        require("tmux");
        assert!(
            Path::new(SSHD).is_file(),
            "{SSHD} is needed (Debian: apt-get install openssh-server); .ci/run installs it"
        );
        let user = User::create();
        let run = user.home.join("run");
        user.dir(&run);
        let ssh = user.home.join(".ssh");
        user.dir(&ssh);
        let client = tempfile::Builder::new()
            .prefix("trusty-mpm-ssh")
            .tempdir()
            .unwrap();
        let key = client.path().join("id");
        keygen(&key);
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        user.write(&ssh.join("authorized_keys"), &public, false);
        // What logind would set on a real host: the remote command finds the bus through it.
        user.write(
            &ssh.join("environment"),
            &format!("XDG_RUNTIME_DIR={}\n", run.display()),
            false,
        );
        user.write(&user.home.join("config.toml"), daemon_config, false);

        let mut bus_cmd = user.command("dbus-daemon");
        bus_cmd.args(private_bus::command(&run).get_args());
        bus_cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut bus = bus_cmd.spawn().expect("dbus-daemon starts");
        let bus_address = private_bus::address(&mut bus);

        let sshd_dir = tempfile::Builder::new()
            .prefix("trusty-mpm-sshd")
            .tempdir()
            .unwrap();
        keygen(&sshd_dir.path().join("host_key"));
        let mut remote = Remote {
            alias: alias.to_owned(),
            port: 0,
            bus_address,
            client,
            sshd_dir,
            sshd: None,
            daemon: None,
            bus: Some(bus),
            user,
        };
        remote.start_daemon().await;
        remote.start_sshd();
        remote
    }

    fn run_dir(&self) -> PathBuf {
        self.user.home.join("run")
    }

    pub fn tmux_socket(&self) -> PathBuf {
        self.run_dir().join("tmux.sock")
    }

    /// A project directory of the remote user's.
    pub fn project(&self, name: &str) -> String {
        let p = self.user.home.join("projects").join(name);
        self.user.dir(&p);
        p.to_string_lossy().into_owned()
    }

    async fn start_daemon(&mut self) {
        let run = self.run_dir();
        let mut cmd = self.user.command(DAEMON);
        cmd.arg("daemon")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .env("XDG_RUNTIME_DIR", &run)
            .env("TRUSTY_MPM_STATE_DIR", self.user.home.join("state"))
            .env("TRUSTY_MPM_TMUX_SOCKET", self.tmux_socket())
            .env("TRUSTY_MPM_CLAUDE_COMMAND", fake_claude())
            .env("TRUSTY_MPM_CONFIG", self.user.home.join("config.toml"))
            .env("RUST_LOG", "debug");
        self.daemon = Some(cmd.spawn().expect("the remote daemon starts"));
        // The test may look at the bus (root is admitted); calls to the daemon it may not make.
        let conn = zbus::connection::Builder::address(self.bus_address.as_str())
            .build()
            .await
            .expect("connect to the remote bus");
        let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
        let daemon = self.daemon.as_mut().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let name = zbus::names::BusName::try_from("org.trusty.Mpm1").unwrap();
        while !dbus.name_has_owner(name.clone()).await.unwrap() {
            if let Some(status) = daemon.try_wait().unwrap() {
                panic!("the remote daemon exited early: {status}");
            }
            assert!(Instant::now() < deadline, "no remote daemon after 10 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A connection to the remote bus as root (to own names there; the daemon refuses root's
    /// calls, as it refuses every other user's).
    pub async fn bus(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.bus_address.as_str())
            .build()
            .await
            .unwrap()
    }

    /// Starts sshd (on a free port the first time, on the same one again after `kill_sshd`) and
    /// waits until it listens.
    pub fn start_sshd(&mut self) {
        assert!(self.sshd.is_none(), "sshd already runs");
        let log = self.sshd_dir.path().join("sshd.log");
        for _ in 0..10 {
            let port = match self.port {
                0 => free_port(),
                p => p,
            };
            let config = self.sshd_dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "ListenAddress 127.0.0.1\nPort {port}\nHostKey {key}\nPidFile none\n\
                     UsePAM no\nPermitUserEnvironment yes\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nAuthorizedKeysFile .ssh/authorized_keys\n\
                     AllowUsers {user}\n",
                    key = self.sshd_dir.path().join("host_key").display(),
                    user = self.user.name
                ),
            )
            .unwrap();
            // sshd's privilege separation directory, which Debian's ssh.service creates.
            std::fs::create_dir_all("/run/sshd").unwrap();
            let from = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
            let mut child = Command::new(SSHD)
                .args(["-D", "-f"])
                .arg(&config)
                .arg("-E")
                .arg(&log)
                .stdin(Stdio::null())
                .spawn()
                .expect("sshd starts");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let new = text.get(from..).unwrap_or("");
                if new.contains("Server listening on") {
                    self.port = port;
                    self.sshd = Some(child);
                    self.write_client_config();
                    return;
                }
                if let Some(status) = child.try_wait().unwrap() {
                    // Another process took the free port in between: try another one.
                    assert!(
                        self.port == 0 && new.contains("Address already in use"),
                        "sshd exited ({status}): {new}"
                    );
                    break;
                }
                assert!(Instant::now() < deadline, "sshd does not listen: {new}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("no free port for sshd after 10 tries");
    }

    /// Kills sshd and every connection it serves (the bridges too): the host is gone for its
    /// clients, while its bus and daemon run on, as behind a network outage.
    pub fn kill_sshd(&mut self) {
        let mut sshd = self.sshd.take().expect("sshd runs");
        let below = descendants(sshd.id());
        let _ = sshd.kill();
        let _ = sshd.wait();
        for pid in below {
            kill(pid);
        }
    }

    fn write_client_config(&self) {
        let dir = self.client.path();
        let host_key = std::fs::read_to_string(self.sshd_dir.path().join("host_key.pub")).unwrap();
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{} {host_key}", self.port),
        )
        .unwrap();
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  \
                 IdentityFile {dir}/id\n  IdentitiesOnly yes\n  IdentityAgent none\n  \
                 UserKnownHostsFile {dir}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  \
                 StrictHostKeyChecking yes\n  BatchMode yes\n",
                alias = self.alias,
                port = self.port,
                user = self.user.name,
                dir = dir.display()
            ),
        )
        .unwrap();
    }

    /// The ssh command the client runs (`TRUSTY_MPM_SSH`).
    pub fn ssh_command(&self) -> String {
        format!("ssh -F {}", self.client.path().join("ssh_config").display())
    }

    /// Runs `program args` as the remote user (tmux on its server, say).
    pub fn run_as(&self, program: &str, args: &[&str]) -> Output {
        self.user.command(program).args(args).output().unwrap()
    }

    /// tmux against the remote user's server.
    pub fn tmux(&self, args: &[&str]) -> Output {
        let socket = self.tmux_socket();
        let mut all = vec!["-S", socket.to_str().unwrap()];
        all.extend_from_slice(args);
        self.run_as("tmux", &all)
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if self.sshd.is_some() {
            self.kill_sshd();
        }
        if let Some(mut d) = self.daemon.take() {
            signal(d.id(), "KILL");
            let _ = d.wait();
        }
        let _ = self.tmux(&["kill-server"]);
        if let Some(mut b) = self.bus.take() {
            let _ = b.kill();
            let _ = b.wait();
        }
        // `user` drops next: whatever of its processes is left is killed, then it is deleted.
    }
}

/// SIGKILL to `pid`, which may have ended already.
fn kill(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "trusty-mpm-test",
            "-f",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen: {out:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
