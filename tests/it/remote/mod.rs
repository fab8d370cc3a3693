//! Hosts over SSH with real parts (see `world`): a second user's daemon reached through a real
//! sshd and `systemd-stdio-bridge`, next to the local daemon of `harness::Env`.

mod commands;
mod errors;
mod follow;
mod notify;
mod tray;
mod world;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::harness::{DAEMON, Env, wait_for};
use world::Remote;

/// A D-Bus address value: every byte outside the spec's optionally-escaped set as `%XX`.
fn address_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'-' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'/' | b'.' | b'\\' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02x}"),
        })
        .collect()
}

/// The test world itself, with no trusty-mpm client: busctl reaches the remote user's daemon
/// through sshd and the issue's remote command, which finds the bus through the
/// `XDG_RUNTIME_DIR` sshd gave the session. `systemd-stdio-bridge --user` does not reach it:
/// systemd 252 (Debian 12) takes the system bus for `--user`, later ones look in
/// /run/user/UID only.
#[tokio::test]
async fn the_remote_daemon_answers_through_sshd_and_the_bridge() {
    crate::harness::require("busctl");
    let remote = Remote::start("lab", "").await;
    let config = remote.client.path().join("ssh_config");
    let busctl = |remote_command: &str| {
        let argv = ["-xT", "-F", config.to_str().unwrap(), "lab", remote_command];
        let mut address = "unixexec:path=ssh".to_owned();
        for (i, a) in argv.iter().enumerate() {
            address += &format!(",argv{}={}", i + 1, address_value(a));
        }
        Command::new("busctl")
            .arg(format!("--address={address}"))
            .args(["get-property", "org.trusty.Mpm1", "/org/trusty/Mpm1"])
            .args(["org.trusty.Mpm1", "SessionCount"])
            .output()
            .unwrap()
    };
    let out = busctl(
        "sh -c 'exec systemd-stdio-bridge --bus-path=unix:path=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bus'",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "u 0");
    let user = busctl("systemd-stdio-bridge --user");
    assert!(!user.status.success(), "--user reached a bus: {user:?}");
}

/// This machine's daemon (`Env`, the place `local`) and a remote named `lab`, with a client
/// config.toml naming it (`[hosts.lab]`, ssh to the alias `lab` of the client's ssh config).
pub struct Two {
    pub env: Env,
    pub lab: Remote,
}

impl Two {
    /// Both daemons; the remote one with `remote_config` as its config.toml.
    pub async fn new(remote_config: &str) -> Two {
        Self::with_hosts(remote_config, "[hosts.lab]\nssh = \"lab\"\n").await
    }

    /// Both daemons, the client's config.toml being `hosts`.
    pub async fn with_hosts(remote_config: &str, hosts: &str) -> Two {
        let (env, lab) = tokio::join!(Env::new(), Remote::start("lab", remote_config));
        std::fs::write(lab.client.path().join("config.toml"), hosts).unwrap();
        Two { env, lab }
    }

    /// A client command with this world's bus, hosts and ssh.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = Command::new(DAEMON);
        cmd.args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.env.bus.address)
            .env(
                "TRUSTY_MPM_CONFIG",
                self.lab.client.path().join("config.toml"),
            )
            .env("TRUSTY_MPM_SSH", self.lab.ssh_command())
            .env_remove("NO_COLOR")
            .env_remove("COLUMNS")
            .env_remove("TMUX")
            .stdin(Stdio::null());
        cmd
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The output of a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// Exit code and stderr of a command that must fail.
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.cli(args);
        assert!(!out.status.success(), "{args:?} succeeded: {out:?}");
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// A running client command, its stdout and stderr piped.
    pub fn spawn(&self, args: &[&str]) -> tokio::process::Child {
        tokio::process::Command::from(self.command(args))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    /// Starts a session of the stand-in claude on lab through the client and waits until it is
    /// active.
    pub async fn start_remote(&self, name: &str) {
        let dir = self.lab.project(name);
        let out = self.ok(&["start", "--host", "lab", &dir, "--name", name]);
        assert!(out.starts_with(&format!("Started {name} (")), "{out}");
        let key = format!("{name}@lab");
        wait_for("the remote session is active", || async {
            self.json(&["status", &key, "--json"])["status"] == "active"
        })
        .await;
    }

    /// Session `name` on lab asks to use Bash for `make deploy`: the stand-in claude runs the
    /// relay as its hook, as the remote user, on the remote bus, in the background. Where the
    /// relay's output goes (see `decided`).
    pub fn ask_remote(&self, name: &str) -> PathBuf {
        let payload = r#"{"session_id":"c0ffee00-0000-4000-8000-0000000000bb","transcript_path":"/tmp/t.jsonl","cwd":"/tmp","permission_mode":"default","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{"command":"make deploy","description":"Deploy"}}"#;
        let home = &self.lab.user.home;
        let input = home.join("payload.json");
        self.lab.user.write(&input, payload, false);
        let out = home.join("relay");
        let line = format!(
            "!hook {DAEMON} {} {} {}",
            self.lab.bus_address,
            input.display(),
            out.display()
        );
        self.ok(&["send", &format!("{name}@lab"), &line]);
        out
    }
}

/// What the relay of `ask_remote` printed (the decision Claude Code reads), once it ended
/// with exit code 0.
pub async fn decided(out: &Path) -> String {
    let code = out.with_extension("code");
    wait_for("the relay ended", || async { code.exists() }).await;
    assert_eq!(std::fs::read_to_string(code).unwrap().trim(), "0");
    std::fs::read_to_string(out.with_extension("out")).unwrap()
}
