//! What the client prints beyond the command's own output: `watch` saying it waits for the
//! daemon, `watch --waybar` printing a line only when it changed, and colours on a terminal
//! unless NO_COLOR is set to something.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout};

use crate::harness::*;

fn spawn(env: &Env, args: &[&str]) -> Child {
    tokio::process::Command::new(DAEMON)
        .args(args)
        .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn next<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut Lines<R>) -> String {
    tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("a line within 10 s")
        .unwrap()
        .expect("the output ended")
}

#[tokio::test]
async fn watch_says_it_waits_for_the_daemon() {
    let mut env = Env::new().await;
    env.stop_daemon();
    let mut watch = spawn(&env, &["watch"]);
    let mut err: Lines<BufReader<ChildStderr>> =
        BufReader::new(watch.stderr.take().unwrap()).lines();
    assert_eq!(
        next(&mut err).await,
        "trusty-mpm: the daemon is not running; waiting for it to start."
    );
    env.start_daemon().await;
    assert_eq!(next(&mut err).await, "trusty-mpm: the daemon is running.");
    env.stop_daemon();
    assert_eq!(
        next(&mut err).await,
        "trusty-mpm: the daemon stopped; waiting for it to start again."
    );
}

#[tokio::test]
async fn waybar_prints_a_line_only_when_it_changed() {
    let env = Env::new().await;
    let mut watch = spawn(&env, &["watch", "--waybar"]);
    let mut out: Lines<BufReader<ChildStdout>> =
        BufReader::new(watch.stdout.take().unwrap()).lines();
    let line = |s: String| serde_json::from_str::<Value>(&s).unwrap();
    assert_eq!(line(next(&mut out).await)["text"], "No sessions");
    env.start_active("bar").await;
    let pane = pane_of(&env, "bar");
    let hook = |event: &str, tool: &str| {
        format!(
            r#"{{"session_id":"c","hook_event_name":"{event}","tool_name":"{tool}","tool_input":{{}}}}"#
        )
    };
    relay(&env, &hook("PreToolUse", "Bash"), &pane).await;
    let mut lines = Vec::new();
    while lines.last().is_none_or(|v: &Value| v["class"] != "working") {
        lines.push(line(next(&mut out).await));
    }
    assert!(
        lines.iter().any(|v| v["text"] == "1 session"),
        "one session is \"1 session\": {lines:?}"
    );
    // Two more tool calls change the activity's detail, not the line; then the agent stops.
    relay(&env, &hook("PostToolUse", "Bash"), &pane).await;
    relay(&env, &hook("PreToolUse", "Read"), &pane).await;
    relay(&env, &hook("Stop", ""), &pane).await;
    let after = line(next(&mut out).await);
    assert_eq!(
        (after["text"].as_str(), after["class"].as_str()),
        (Some("1 ready"), Some("idle")),
        "the unchanged working lines were printed again"
    );
    for pair in lines.windows(2) {
        assert_ne!(pair[0], pair[1], "a repeated line: {lines:?}");
    }
}

/// `trusty-mpm list` on a pseudo-terminal (util-linux `script`), with NO_COLOR as given.
fn list_on_a_terminal(env: &Env, no_color: &str) -> String {
    require("script");
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{DAEMON} list"), "/dev/null"])
        .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
        .env("NO_COLOR", no_color)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn an_empty_no_color_keeps_the_colours() {
    let env = Env::new().await;
    // A paused session (bookkeeping only: no tmux needed) has a coloured status.
    let m = env.manager().await;
    m.register_session(&env.project("tty"), "tty")
        .await
        .unwrap();
    m.pause_session("tty", "a note", false).await.unwrap();
    assert!(list_on_a_terminal(&env, "").contains("\x1b[33mpaused"));
    assert!(!list_on_a_terminal(&env, "1").contains('\x1b'));
}

#[tokio::test]
async fn watch_lines_up_what_happened_whatever_the_name() {
    let env = Env::new().await;
    let m = env.manager().await;
    m.register_session(&env.project("a"), "a").await.unwrap();
    let mut watch = spawn(&env, &["watch"]);
    let mut out: Lines<BufReader<ChildStdout>> =
        BufReader::new(watch.stdout.take().unwrap()).lines();
    // watch follows the signals once a new session shows; the names grow longer meanwhile.
    let mut first = None;
    for n in 0.. {
        let probe = format!("probe-{n}");
        m.register_session(&env.project(&probe), &probe)
            .await
            .unwrap();
        if let Ok(line) = tokio::time::timeout(Duration::from_millis(500), out.next_line()).await {
            first = line.unwrap();
            break;
        }
    }
    let first = first.expect("a line");
    m.pause_session("a", "lunch", false).await.unwrap();
    let paused = loop {
        let line = next(&mut out).await;
        if line.contains("  a ") {
            break line;
        }
    };
    let column = |line: &str, word: &str| {
        line.find(word)
            .unwrap_or_else(|| panic!("{word} in {line:?}"))
    };
    assert_eq!(
        column(&paused, "status paused"),
        column(&first, "new session"),
        "\n{first}\n{paused}"
    );
    assert!(!paused.contains('\x1b'), "colours in a pipe: {paused:?}");
}
