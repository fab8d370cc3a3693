//! Every command of the README's shell blocks runs, as written, against real parts: the `$ `
//! lines of `console` blocks and the lines of `sh` blocks. The client and busctl commands run
//! on a private bus and tmux server (a fresh daemon per block), the service commands (`make
//! install`, `systemctl --user …`, `journalctl`) under a private `systemd --user`. Placeholders
//! a reader fills in (a request id, a claude session id, an object path) are filled in with real
//! ones, and what a command needs to exist first (a tmux session to adopt, a waiting permission
//! request) is made just before it. A command the README gains lands in one of the two runs.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use futures_util::StreamExt;

use crate::e2e_systemd::UserManager;
use crate::harness::*;

/// Commands that run elsewhere, and where.
const ELSEWHERE: &[(&str, &str)] = &[
    ("make test", "it is this suite"),
    (
        "make run",
        "it builds the crate without the test features, which would replace the binary the \
         running tests use; scripts/run-daemon.sh is what it runs",
    ),
];

/// The commands of each shell block, in order, comments cut.
pub fn blocks() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut out = Vec::new();
    let mut current: Option<(bool, Vec<String>)> = None;
    for line in readme.lines() {
        match (&mut current, line) {
            (None, "```sh") => current = Some((false, Vec::new())),
            (None, "```console") => current = Some((true, Vec::new())),
            (Some(_), "```") => out.push(current.take().unwrap().1),
            (Some((console, cmds)), l) => {
                let cmd = if *console {
                    l.strip_prefix("$ ")
                } else {
                    Some(l)
                };
                if let Some(c) = cmd.map(strip_comment).filter(|c| !c.is_empty()) {
                    cmds.push(c.to_owned());
                }
            }
            (None, _) => {}
        }
    }
    out
}

/// The command without a trailing `# comment` (a `#` after a blank, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => return line[..i].trim_end(),
            _ => {}
        }
        prev = c;
    }
    line.trim_end()
}

/// A command naming a host of "Remote hosts": its block runs in tests/it/remote, against a
/// real sshd.
pub fn about_hosts(cmd: &str) -> bool {
    cmd.contains("@lab") || cmd.contains("--host")
}

fn elsewhere(cmd: &str) -> bool {
    ELSEWHERE.iter().any(|(c, _)| cmd == *c)
}

/// A command of the service world (installed units, the user manager, its journal).
fn service(cmd: &str) -> bool {
    [
        "make install",
        "make uninstall",
        "systemctl ",
        "journalctl ",
    ]
    .iter()
    .any(|p| cmd.starts_with(p))
}

/// Runs until stopped: given 2 s, it must still be running then.
fn follows(cmd: &str) -> bool {
    cmd.contains(" monitor ") || cmd.ends_with(" -f")
}

/// The bash script for `cmd`, after the block's variable assignments so far.
fn script(prelude: &[String], cmd: &str) -> String {
    let cmd = if follows(cmd) {
        format!("timeout 2 {cmd} && exit 1; [ $? = 124 ]")
    } else {
        cmd.to_owned()
    };
    format!("set -euo pipefail\n{}\n{cmd}\n", prelude.join("\n"))
}

fn is_assignment(cmd: &str) -> bool {
    cmd.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn assert_ran(cmd: &str, out: &Output) {
    assert!(
        out.status.success(),
        "README command failed: {cmd}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_readme_command_is_run_somewhere() {
    let all: Vec<String> = blocks().into_iter().flatten().collect();
    assert!(
        all.len() > 40,
        "the README's commands were not found: {all:?}"
    );
    for (cmd, _) in ELSEWHERE {
        assert!(
            all.iter().any(|c| c == cmd),
            "{cmd} is no longer in the README"
        );
    }
    assert_eq!(strip_comment("a 'b # c' # d"), "a 'b # c'");
}

/// Runs a client block against a fresh daemon, as a user in a shell would.
async fn run_client_block(cmds: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "permission_wait_secs = 30\n").unwrap();
    let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", config.to_str().unwrap())]).await;
    let home = env.dir.path().join("home");
    for p in ["src/myproj", "src/api", "src/notes"] {
        std::fs::create_dir_all(home.join(p)).unwrap();
    }
    let bin_dir = Path::new(DAEMON).parent().unwrap().display().to_string();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    // notify or the tray would run: approve and deny answer a request someone waits on.
    let _answerer = env.answerer().await;
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let mut prelude = Vec::new();
    for cmd in cmds {
        if is_assignment(cmd) {
            prelude.push(cmd.clone());
            continue;
        }
        // A person types the next command once the last start has come up (a registered
        // session, without tmux, stays starting).
        wait_for("no session starting", || async {
            let tmux = env.tmux_sessions();
            m.list_sessions()
                .await
                .unwrap()
                .iter()
                .all(|r| r.3 != "starting" || !tmux.contains(&r.1))
        })
        .await;
        let words: Vec<&str> = cmd.split_whitespace().collect();
        if words.iter().any(|w| *w == "adopt" || *w == "AdoptSession") {
            let name = words.last().unwrap();
            env.tmux_with_claude(name, &env.project(name)).await;
        }
        let mut cmd = cmd.replace("0f6c…", "0f6c2b1e-7d1a-4c55-9a31-2b8f0c1d7e42");
        if cmd.contains("<32 hex digits>") {
            let rows = m.list_sessions().await.unwrap();
            let object = rows[0].6.as_str().rsplit('/').next().unwrap().to_owned();
            cmd = cmd.replace("<32 hex digits>", &object);
        }
        // approve / deny: a waiting permission request of that session, answered by the command.
        let pending = if cmd.contains("9c1d…") {
            let key = words[words
                .iter()
                .position(|w| *w == "approve" || *w == "deny")
                .unwrap()
                + 1];
            let (bus, socket, pane) = (
                env.bus.address.clone(),
                env.tmux_socket().display().to_string(),
                pane_of(&env, key),
            );
            let relay = tokio::spawn(async move {
                relay_with(&bus, &socket, r#"{"session_id":"c","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{"command":"ls"}}"#, &pane).await
            });
            let sig = tokio::time::timeout(Duration::from_secs(10), asked.next())
                .await
                .expect("PermissionRequested")
                .unwrap();
            cmd = cmd.replace("9c1d…", sig.args().unwrap().request_id);
            Some((
                relay,
                if words.contains(&"approve") {
                    "allow"
                } else {
                    "deny"
                },
            ))
        } else {
            None
        };
        let shell = |program: &str| {
            let mut c = tokio::process::Command::new(program);
            c.env("HOME", &home)
                .env("PATH", &path)
                .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
                .env_remove("TMUX")
                .env_remove("TMUX_PANE")
                .stdin(std::process::Stdio::null());
            c
        };
        let out = if let Some(name) = attached_session(&words) {
            let file = env.dir.path().join("attach.sh");
            std::fs::write(&file, script(&prelude, &cmd)).unwrap();
            let run = format!("bash {}", file.display());
            attach(&env, shell("script"), &run, &name).await
        } else {
            shell("bash")
                .args(["-c", &script(&prelude, &cmd)])
                .output()
                .await
                .unwrap()
        };
        assert_ran(&cmd, &out);
        if let Some((relay, behaviour)) = pending {
            let out = relay.await.unwrap();
            let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
            assert_eq!(
                v["hookSpecificOutput"]["decision"]["behavior"], behaviour,
                "{cmd}"
            );
        }
    }
}

/// The session an attaching command (`trusty-mpm attach KEY`, `tmux … attach -t "=NAME:"`)
/// shows, if it is one.
fn attached_session(words: &[&str]) -> Option<String> {
    match words {
        ["trusty-mpm", "attach", key, ..] => Some(key.to_string()),
        ["tmux", ..] if words.contains(&"attach") => {
            let target = words[words.iter().position(|w| *w == "-t")? + 1];
            Some(target.trim_matches(|c| "\"'=:".contains(c)).to_owned())
        }
        _ => None,
    }
}

/// Runs an attach on a pseudo-terminal (util-linux `script`) until its tmux client is there,
/// then detaches that client, as a person would with C-b d.
async fn attach(env: &Env, mut script: tokio::process::Command, cmd: &str, name: &str) -> Output {
    require("script");
    let child = script
        .args(["-qec", cmd, "/dev/null"])
        // Kept open: at the end of its input, script would type C-d into the session.
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for("the attached tmux client", || async {
        !env.tmux(&["list-clients", "-t", &format!("={name}")])
            .stdout
            .is_empty()
    })
    .await;
    let detach = env.tmux(&["detach-client", "-s", &format!("={name}")]);
    assert!(detach.status.success(), "{detach:?}");
    tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("attach returns once detached")
        .unwrap()
}

#[tokio::test]
async fn readme_client_and_busctl_commands_run() {
    require("busctl");
    for block in blocks()
        .into_iter()
        .filter(|b| !b.iter().any(|c| about_hosts(c)))
    {
        let cmds: Vec<String> = block
            .into_iter()
            .filter(|c| !elsewhere(c) && !service(c))
            .collect();
        if cmds.iter().any(|c| !is_assignment(c)) {
            run_client_block(&cmds).await;
        }
    }
}

#[tokio::test]
async fn readme_service_commands_run() {
    let um = UserManager::start();
    um.ok(&[
        "set-environment",
        &format!("TRUSTY_MPM_CLAUDE_COMMAND={}", fake_claude().display()),
        &format!("TRUSTY_MPM_TMUX_SOCKET={}", um.path("tmux.sock").display()),
    ]);
    let make = format!(
        "make -s -C {} BIN={DAEMON} PREFIX={} DATADIR={}",
        env!("CARGO_MANIFEST_DIR"),
        um.path("prefix").display(),
        um.path("data").display()
    );
    let all: Vec<String> = blocks()
        .into_iter()
        .flatten()
        .filter(|c| service(c))
        .collect();
    // Uninstall last: the later blocks use what install put there.
    let (uninstall, rest): (Vec<String>, Vec<String>) = all
        .into_iter()
        .partition(|c| c.starts_with("make uninstall"));
    for cmd in rest.iter().chain(&uninstall) {
        let run = match cmd.strip_prefix("make ") {
            Some(target) => format!("{make} {target}"),
            None => cmd.clone(),
        };
        assert_ran(cmd, &um.run("bash", &["-c", &script(&[], &run)]));
        if cmd.starts_with("systemctl --user enable --now trusty-mpm") {
            let unit = cmd.rsplit(' ').next().unwrap();
            let state = um.systemctl(&["is-active", unit]);
            assert_eq!(
                String::from_utf8_lossy(&state.stdout).trim(),
                "active",
                "{cmd}"
            );
        }
    }
    assert!(!uninstall.is_empty() && rest.len() >= 4, "{rest:?}");
}
