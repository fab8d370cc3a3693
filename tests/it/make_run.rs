//! `make run` as the README's quick start runs it, with no session bus around: cargo's own
//! progress reaches the terminal (a stand-in cargo, since this suite's cargo holds the build
//! lock), the daemon runs on a private bus, and Ctrl-C stops it with a line that says so and
//! takes the private bus away.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

#[tokio::test]
async fn make_run_shows_the_build_and_says_when_it_stopped() {
    for tool in ["make", "dbus-daemon", "busctl", "tmux"] {
        require(tool);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |rel: &str| dir.path().join(rel);
    for sub in ["stub", "target/debug", "rt", "state"] {
        std::fs::create_dir_all(path(sub)).unwrap();
    }
    // cargo as the user sees it: progress on stderr, then the binary under the target dir.
    let cargo = path("stub/cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\necho \"$@\" > '{}'\necho '   Compiling trusty-mpm v0.1.0' >&2\n\
             echo '    Finished `dev` profile [unoptimized + debuginfo] target(s) in 1.00s' >&2\n",
            path("cargo-args").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(DAEMON, path("target/debug/trusty-mpm")).unwrap();
    let log = std::fs::File::create(path("make.log")).unwrap();
    let search = format!(
        "{}:{}",
        path("stub").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut make = Command::new("make");
    make.args(["-s", "-C", env!("CARGO_MANIFEST_DIR"), "run"])
        .env("PATH", search)
        .env("CARGO_TARGET_DIR", path("target"))
        .env("XDG_RUNTIME_DIR", path("rt"))
        .env("TRUSTY_MPM_STATE_DIR", path("state"))
        .env("TRUSTY_MPM_CONFIG", path("config.toml"))
        .env("TRUSTY_MPM_TMUX_SOCKET", path("tmux.sock"))
        .env("TRUSTY_MPM_CLAUDE_COMMAND", fake_claude())
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("TMUX")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        // Its own process group, as a terminal's foreground job: Ctrl-C goes to all of it.
        .process_group(0);
    let mut make = make.spawn().unwrap();
    let said = || std::fs::read_to_string(path("make.log")).unwrap_or_default();
    let address = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = said();
            let found = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("export DBUS_SESSION_BUS_ADDRESS='"))
                .map(|a| a.trim_end_matches('\'').to_owned());
            if let Some(a) = found.filter(|_| text.contains("Starting trusty-mpm")) {
                break a;
            }
            assert!(Instant::now() < deadline, "make run said:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Ctrl-C once the daemon serves (before that, its default SIGINT action would end it).
    let conn = zbus::connection::Builder::address(address.as_str())
        .build()
        .await
        .unwrap();
    let dbus = zbus::fdo::DBusProxy::new(&conn).await.unwrap();
    wait_for("the daemon owns its name", || async {
        let name = zbus::names::BusName::try_from("org.trusty.Mpm1").unwrap();
        dbus.name_has_owner(name).await.unwrap_or(false)
    })
    .await;
    drop(conn);
    let group = rustix::process::Pid::from_raw(make.id() as i32).unwrap();
    rustix::process::kill_process_group(group, rustix::process::Signal::INT).unwrap();
    let ended = wait_child(&mut make, Duration::from_secs(20));
    let text = said();
    assert!(ended.is_some(), "make run did not end:\n{text}");
    assert_eq!(
        std::fs::read_to_string(path("cargo-args")).unwrap().trim(),
        "build",
        "cargo ran quietly"
    );
    for want in [
        "Building trusty-mpm (cargo build)...",
        "   Compiling trusty-mpm v0.1.0",
        "    Finished `dev` profile",
        "trusty-mpm stopped (exit status 0); stopping the private bus it ran on. Sessions keep \
         running in tmux; `make run` again picks them up.",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    let socket = address.trim_start_matches("unix:path=");
    assert!(
        !std::path::Path::new(socket).exists(),
        "the private bus is still there: {socket}"
    );
}
