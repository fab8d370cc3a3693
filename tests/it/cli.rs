//! The real `trusty-mpm` client commands against a daemon on a private bus and tmux server:
//! their output (table and --json), exit codes and `watch` (`notify` and `attach` are in
//! `desktop/`).

use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::harness::*;

fn cli(env: &Env, args: &[&str]) -> Output {
    cli_with(env, &[], args)
}

/// `cli` with more environment (`HOME`, `COLUMNS`).
fn cli_with(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> Output {
    std::process::Command::new(DAEMON)
        .args(args)
        .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn ok(env: &Env, args: &[&str]) -> String {
    let out = cli(env, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn json(env: &Env, args: &[&str]) -> Value {
    serde_json::from_str(&ok(env, args)).unwrap()
}

/// Exit code and stderr of a failing command.
pub fn fails(env: &Env, args: &[&str]) -> (i32, String) {
    let out = cli(env, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn list_status_and_control_commands() {
    let env = Env::new().await;
    let dir = env.project("cli-a");
    let out = ok(&env, &["start", &dir, "--name", "a", "--", "--model", "x"]);
    assert!(out.starts_with("Started a ("), "{out}");
    let m = env.manager().await;
    let path = m.get_session("a").await.unwrap();
    let s = env.session_uncached(&path).await;
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
    ok(&env, &["register", &env.project("cli-b")]);

    let table = ok(&env, &["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME")
            && lines[0].contains("ACTIVITY")
            && lines[0].ends_with("PROJECT"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("a ") && lines[1].contains("active") && lines[1].contains(&dir),
        "{table}"
    );
    assert!(
        lines[2].starts_with("cli-b") && lines[2].contains("starting"),
        "{table}"
    );
    assert!(!table.contains('\x1b'), "no colour without a TTY");

    let all = json(&env, &["list", "--json"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["name"], "a");
    assert_eq!(all[0]["status"], "active");
    assert!(all[0]["pid"].as_u64().unwrap() > 0);
    assert_eq!(all[0]["path"], path.as_str());
    for key in [
        "id",
        "project_dir",
        "activity",
        "activity_detail",
        "created_at",
        "last_seen",
        "paused_at",
        "pause_summary",
        "frozen",
        "claude_session_id",
        "transcript_path",
    ] {
        assert!(all[0].get(key).is_some(), "no {key}");
    }
    let one = json(&env, &["status", "a", "--json"]);
    assert_eq!(one, all[0]);
    let human = ok(&env, &["status", "a"]);
    assert!(
        human.contains("Status: active") && human.contains("Project: "),
        "{human}"
    );

    ok(&env, &["send", "a", "hello", "there"]);
    wait_for("echo", || async {
        ok(&env, &["capture", "a", "-n", "20"]).contains("echo: hello there")
    })
    .await;
    ok(&env, &["keys", "a", "h", "i", "Enter"]);
    wait_for("keys", || async {
        ok(&env, &["capture", "a", "--compress", "trim"]).contains("echo: hi")
    })
    .await;
    let paused = ok(&env, &["pause", "a", "--note", "lunch", "--freeze"]);
    assert_eq!(paused, "Paused a (claude frozen).\nlunch\n");
    assert_eq!(proc_state(s.pid().await.unwrap()), 'T');
    ok(&env, &["resume", "a"]);
    let events = json(&env, &["events", "a", "-n", "3", "--json"]);
    let names: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["keys", "paused", "resumed"]);
    assert!(ok(&env, &["events", "a"]).contains("paused"));
    ok(&env, &["stop", "a", "--force"]);
    wait_for("stopped", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
    ok(&env, &["restart", "a"]);
    wait_for("active again", || async {
        s.status().await.unwrap() == "active"
    })
    .await;
    ok(&env, &["rm", "a", "--kill"]);
    let reap = json(&env, &["reap", "--json"]);
    assert_eq!(
        reap,
        serde_json::json!({"reaped": 0, "names": [], "stopped": 0})
    );

    // adopt / discover an unmanaged tmux session running claude.
    let wild = env.project("wild");
    env.tmux_with_claude("wild", &wild).await;
    assert_eq!(ok(&env, &["discover"]), "Adopted wild.\n");
    assert_eq!(
        ok(&env, &["discover"]),
        "No unmanaged tmux session runs claude.\n"
    );
    ok(&env, &["rm", "wild"]);
    assert!(ok(&env, &["adopt", "wild"]).starts_with("Adopted wild ("));
}

#[tokio::test]
async fn errors_exit_with_their_codes() {
    let mut env = Env::new().await;
    let dir = env.project("codes");
    ok(&env, &["start", &dir, "--name", "codes"]);
    let (code, err) = fails(&env, &["status", "nope"]);
    assert_eq!(
        (code, err.as_str()),
        (10, "trusty-mpm: No session matches 'nope'.\n")
    );
    assert_eq!(fails(&env, &["start", "relative/dir"]).0, 12);
    assert_eq!(fails(&env, &["start", &dir, "--name", "codes"]).0, 13);
    assert_eq!(fails(&env, &["approve", "codes", "nothing"]).0, 10);
    let m = env.manager().await;
    let s = env.session(&m.get_session("codes").await.unwrap()).await;
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
    let (code, err) = fails(&env, &["resume", "codes"]);
    assert_eq!(code, 11);
    assert!(err.contains("only paused sessions can be resumed"), "{err}");
    assert_eq!(fails(&env, &["capture", "codes", "-n", "20000"]).0, 12);
    assert_eq!(cli(&env, &["frobnicate"]).status.code(), Some(2));

    env.stop_daemon();
    let (code, err) = fails(&env, &["list"]);
    assert_eq!(code, 3);
    assert!(
        err.contains("daemon is not running") && err.contains("systemctl --user start trusty-mpm"),
        "{err}"
    );
}

/// Errors say what to do next: text for a paused or stopped session is refused (never queued
/// for a frozen claude to run at resume), `attach` and `stop` of a stopped session say so, and
/// a session whose tmux server is gone can still be removed with `--kill`.
#[tokio::test]
async fn paused_and_stopped_sessions_say_what_to_do_next() {
    let env = Env::new().await;
    env.start_active("nx").await;
    ok(&env, &["pause", "nx", "--note", "review", "--freeze"]);
    let (code, err) = fails(&env, &["send", "nx", "hello"]);
    assert_eq!(code, 11, "{err}");
    assert!(
        err.contains("'nx' is paused; resume it first with `trusty-mpm resume nx`"),
        "{err}"
    );
    ok(&env, &["resume", "nx"]);
    assert_eq!(ok(&env, &["stop", "nx"]), "Stopped nx.\n");
    let hint = "'nx' is stopped; start it again with `trusty-mpm restart nx`.";
    for cmd in [&["send", "nx", "hello"][..], &["attach", "nx"]] {
        let (code, err) = fails(&env, cmd);
        assert_eq!(code, 11, "{cmd:?}: {err}");
        assert!(err.contains(hint), "{cmd:?}: {err}");
    }
    assert_eq!(ok(&env, &["stop", "nx"]), "nx was already stopped.\n");
    env.kill_tmux_server().await;
    let (code, err) = fails(&env, &["send", "nx", "hello"]);
    assert_eq!((code, err.contains(hint)), (11, true), "{err}");
    assert!(ok(&env, &["rm", "nx", "--kill"]).starts_with("Removed nx"));
}

/// `start` takes the session's limits and claude's environment itself (clap used to suggest
/// `-- --memory-max`, which hands the option to claude).
#[tokio::test]
async fn start_takes_limits_and_environment() {
    let env = Env::new().await;
    let dir = env.project("cli-env");
    let show = "FAKE_CLAUDE_SHOW_ENV=MY_VAR OTHER";
    ok(
        &env,
        &[
            "start",
            &dir,
            "--name",
            "e",
            "--env",
            "MY_VAR=a=b",
            "--env",
            show,
            "--env",
            "OTHER=",
        ],
    );
    let m = env.manager().await;
    wait_for("claude shows its environment", || async {
        let screen = m.capture_output("e", 50, "off").await.unwrap();
        screen.contains("env MY_VAR=a=b") && screen.contains("env OTHER=\n")
    })
    .await;
    // Without systemd the daemon refuses limits: they reached it.
    let limits = [
        "--memory-high",
        "512M",
        "--memory-max",
        "1G",
        "--cpu-weight",
        "50",
        "--tasks-max",
        "64",
    ];
    let (code, err) = fails(
        &env,
        &[&["start", &dir, "--name", "lim"][..], &limits].concat(),
    );
    assert_eq!(code, 12, "{err}");
    assert!(err.contains("systemd user service"), "{err}");
    for bad in [&["--env", "NOVALUE"][..], &["--memory-max", "lots"]] {
        let (code, err) = fails(&env, &[&["start", &dir][..], bad].concat());
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
}

/// `list` fits the terminal's width (`COLUMNS`, as systemctl reads it): the project with `~`
/// for the home directory, long names and paths cut in the middle; counts have their plurals.
#[tokio::test]
async fn list_fits_the_terminal_and_counts_read_right() {
    let env = Env::new().await;
    let home = env.dir.path().join("home");
    let deep = home.join("src/a-project-folder-with-a-rather-long-name/and-a-subfolder-below-it");
    std::fs::create_dir_all(&deep).unwrap();
    let name = "a-session-name-that-goes-on-and-on-and-on";
    ok(&env, &["start", deep.to_str().unwrap(), "--name", name]);
    let home = home.to_str().unwrap();
    let out = cli_with(&env, &[("HOME", home), ("COLUMNS", "80")], &["list"]);
    let table = String::from_utf8(out.stdout).unwrap();
    for line in table.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns:\n{table}"
        );
    }
    let row = table.lines().nth(1).unwrap();
    assert!(row.starts_with("a-session"), "{table}");
    assert!(row.contains(" ~/src/a") && row.contains('…'), "{table}");
    assert!(row.ends_with("below-it"), "{table}");
    // Piped without COLUMNS, nothing is cut.
    let full = String::from_utf8(cli_with(&env, &[("HOME", home)], &["list"]).stdout).unwrap();
    assert!(
        full.contains(name) && full.contains("~/src/a-project-folder-with-a-rather-long-name/")
    );

    env.kill_tmux_server().await;
    let reaped = ok(&env, &["reap", "--yes"]);
    assert!(
        reaped.starts_with(&format!(
            "Removed 1 session whose tmux session is gone ({name})"
        )),
        "{reaped}"
    );
    assert!(ok(&env, &["list"]).starts_with("No sessions"));
}

/// Reads JSON lines from a running `watch` until `stop` returns true.
pub async fn read_until(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    mut stop: impl FnMut(&Value) -> bool,
) -> Vec<Value> {
    let mut got = Vec::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("watch printed nothing for 10 s")
            .unwrap()
            .expect("watch ended");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let done = stop(&v);
        got.push(v);
        if done {
            return got;
        }
    }
}

pub fn spawn_cli(env: &Env, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(DAEMON)
        .args(args)
        .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn watch_json_follows_lifecycle_and_hook_events() {
    let env = Env::new().await;
    let mut watch = spawn_cli(&env, &["watch", "--json"]);
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    // Probe until the watcher is subscribed: it prints the probe's SessionNew.
    let probe_dir = env.project("probe");
    let m = env.manager().await;
    loop {
        m.register_session(&probe_dir, "probe").await.unwrap();
        m.remove_session("probe", false).await.unwrap();
        if let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
        {
            // The watcher may have joined between the probe's two signals.
            let first: Value = serde_json::from_str(&line).unwrap();
            if first["event"] != "SessionRemoved" {
                read_until(&mut lines, |v| {
                    v["event"] == "SessionRemoved" && v["name"] == "probe"
                })
                .await;
            }
            break;
        }
    }

    let (id, _, pid) = env.start_active("w").await;
    // An event from no managed session is ignored.
    relay(
        &env,
        r#"{"session_id":"c1","hook_event_name":"UserPromptSubmit","prompt":"go"}"#,
        "",
    )
    .await;
    m.set_session_pid("w", pid).await.unwrap(); // no change
    let claude = r#"{"session_id":"c1","hook_event_name":"SessionStart","source":"startup"}"#;
    let pane = pane_of(&env, "w");
    for payload in [
        claude,
        r#"{"session_id":"c1","hook_event_name":"UserPromptSubmit","prompt":"go"}"#,
        r#"{"session_id":"c1","hook_event_name":"Stop"}"#,
    ] {
        relay(&env, payload, &pane).await;
    }
    ok(&env, &["stop", "w", "--force"]);
    ok(&env, &["rm", "w"]);

    let got = read_until(&mut lines, |v| v["event"] == "SessionRemoved").await;
    let seq: Vec<String> = got
        .iter()
        .map(|v| {
            assert_eq!(v["id"], id.as_str(), "{v}");
            assert!(v["at_usec"].as_u64().unwrap() > 0);
            let what = v["status"]
                .as_str()
                .or(v["activity"].as_str())
                .unwrap_or("");
            format!("{} {what}", v["event"].as_str().unwrap())
                .trim()
                .to_owned()
        })
        .collect();
    assert_eq!(
        seq,
        [
            "SessionNew",
            "StatusChanged active",
            "ActivityChanged working",
            "ActivityChanged ready",
            "ClaudeExited",
            "StatusChanged stopped",
            "ActivityChanged unknown",
            "SessionRemoved"
        ]
    );
    assert_eq!(got[4]["pid"], pid);
}

#[tokio::test]
async fn watch_waybar_summarises_activity() {
    let env = Env::new().await;
    let mut watch = spawn_cli(&env, &["watch", "--waybar"]);
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = read_until(&mut lines, |_| true).await;
    assert_eq!(first[0]["class"], "idle");
    assert_eq!(first[0]["text"], "No sessions");
    let (_, _, _) = env.start_active("bar").await;
    let pane = pane_of(&env, "bar");
    relay(
        &env,
        r#"{"session_id":"c","hook_event_name":"UserPromptSubmit","prompt":"x"}"#,
        &pane,
    )
    .await;
    let got = read_until(&mut lines, |v| v["class"] == "working").await;
    let last = got.last().unwrap();
    assert_eq!(last["text"], "1 working");
    assert_eq!(last["tooltip"], "bar: active / working");
}
