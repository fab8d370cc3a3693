//! Hosts over SSH with real parts (see `world`): a second user's daemon reached through a real
//! sshd and `systemd-stdio-bridge`, next to the local daemon of `harness::Env`.

mod world;

use std::process::Command;

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
/// through sshd and the remote command, which finds the bus through the
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
