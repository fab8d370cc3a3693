//! `watch` following both hosts: remote signals as soon as local ones, a host lost mid-watch
//! (said, the other host followed on, followed again once back), the human lines' host and
//! the status bar's counts over every host.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStderr, ChildStdout};

use super::Two;
use crate::harness::*;

/// The next line within 30 s (a lost host is tried again within 3 s of its return).
async fn next<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut Lines<R>) -> String {
    tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("a line within 30 s")
        .unwrap()
        .expect("the output ended")
}

/// JSON lines up to the first that `stop` accepts; that one last.
async fn until(
    lines: &mut Lines<BufReader<ChildStdout>>,
    stop: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut got = Vec::new();
    loop {
        let v: Value = serde_json::from_str(&next(lines).await).unwrap();
        let done = stop(&v);
        got.push(v);
        if done {
            return got;
        }
    }
}

fn is(v: &Value, event: &str, host: &str) -> bool {
    v["event"] == event && v["host"] == host
}

/// A `watch --json` that follows both hosts (it said so for each).
async fn watching(
    two: &Two,
    args: &[&str],
) -> (tokio::process::Child, Lines<BufReader<ChildStdout>>) {
    let mut watch = two.spawn(args);
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut reached = Vec::new();
    while reached.len() < 2 {
        let v = until(&mut lines, |v| v["event"] == "HostReachable")
            .await
            .pop()
            .unwrap();
        reached.push(v["host"].as_str().unwrap().to_owned());
    }
    reached.sort();
    assert_eq!(reached, ["lab", "local"]);
    (watch, lines)
}

fn pid_of(two: &Two, key: &str) -> String {
    two.json(&["status", key, "--json"])["pid"].to_string()
}

#[tokio::test]
async fn watch_json_hears_the_remote_host_as_soon_as_this_one() {
    let two = Two::new("").await;
    two.env.start_active("here").await;
    two.start_remote("there").await;
    let (_watch, mut lines) = watching(&two, &["watch", "--json"]).await;
    // Both claudes killed at once: each daemon says ClaudeExited; the remote one's comes
    // through sshd, the bridge, ssh and the follower.
    let mut gaps = Vec::new();
    for round in 0..5 {
        if round > 0 {
            two.ok(&["restart", "here"]);
            two.ok(&["restart", "there@lab"]);
            for key in ["here", "there@lab"] {
                wait_for("active again", || async {
                    two.json(&["status", key, "--json"])["status"] == "active"
                })
                .await;
            }
        }
        let pids = [pid_of(&two, "here"), pid_of(&two, "there@lab")];
        assert!(
            std::process::Command::new("kill")
                .args(["-KILL", &pids[0], &pids[1]])
                .status()
                .unwrap()
                .success()
        );
        let mut at = [None, None];
        while at.iter().any(Option::is_none) {
            let v = until(&mut lines, |v| v["event"] == "ClaudeExited")
                .await
                .pop()
                .unwrap();
            let i = usize::from(v["host"] == "lab");
            assert_eq!(v["name"], ["here", "there"][i], "{v}");
            at[i] = Some((v["at_usec"].as_u64().unwrap(), Instant::now()));
        }
        let [(local, _), (remote, _)] = at.map(Option::unwrap);
        gaps.push(remote as i64 - local as i64);
    }
    gaps.sort();
    println!("remote ClaudeExited after the local one, µs: {gaps:?}");
    // Each daemon notices its claude's exit at once (pidfds); what is left is the transport.
    let worst = gaps.iter().map(|g| g.abs()).max().unwrap();
    assert!(worst <= 200_000, "gaps {gaps:?}");
}

#[tokio::test]
async fn a_host_lost_mid_watch_is_said_and_followed_again_once_back() {
    let mut two = Two::new("").await;
    two.start_remote("there").await;
    let (mut watch, mut lines) = watching(&two, &["watch", "--json"]).await;
    let mut said: Lines<BufReader<ChildStderr>> =
        BufReader::new(watch.stderr.take().unwrap()).lines();
    let mut human = two.spawn(&["watch"]);
    let mut human_lines = BufReader::new(human.stdout.take().unwrap()).lines();

    two.lab.kill_sshd();
    let lost = until(&mut lines, |v| is(v, "HostUnreachable", "lab"))
        .await
        .pop()
        .unwrap();
    assert!(
        lost["error"]
            .as_str()
            .unwrap()
            .starts_with("the connection closed"),
        "{lost}"
    );
    let line = next(&mut said).await;
    assert!(
        line.starts_with("trusty-mpm: lab: unreachable: the connection closed"),
        "{line}"
    );
    assert!(line.ends_with("; trying again."), "{line}");

    // This machine is followed on meanwhile.
    two.env.start_active("here").await;
    let got = until(&mut lines, |v| is(v, "SessionNew", "local")).await;
    assert_eq!(got.last().unwrap()["name"], "here");
    // The host does not listen when it is tried again: said once only.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    two.lab.start_sshd();
    let got = until(&mut lines, |v| is(v, "HostReachable", "lab")).await;
    assert!(
        got.iter().all(|v| v["event"] != "HostUnreachable"),
        "said again: {got:?}"
    );
    assert_eq!(next(&mut said).await, "trusty-mpm: lab: reached again.");
    two.start_remote("after").await;
    let got = until(&mut lines, |v| is(v, "SessionNew", "lab")).await;
    assert_eq!(got.last().unwrap()["name"], "after");

    // A person's lines say their host first.
    loop {
        let line = next(&mut human_lines).await;
        if line.contains("  after  new session") {
            assert!(line.starts_with("lab    "), "{line}");
            break;
        }
    }
}

#[tokio::test]
async fn the_status_bar_counts_every_host() {
    let mut two = Two::new("").await;
    let mut watch = two.spawn(&["watch", "--waybar"]);
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    two.env.start_active("here").await;
    two.start_remote("there").await;
    let both_active = |v: &Value| {
        let tooltip = v["tooltip"].as_str().unwrap_or("");
        v["text"] == "2 sessions"
            && tooltip.contains("here: active / ")
            && tooltip.contains("there@lab: active / ")
    };
    until(&mut lines, both_active).await;

    two.lab.kill_sshd();
    let got = until(&mut lines, |v| v["text"] == "1 session").await;
    let tooltip = got.last().unwrap()["tooltip"].as_str().unwrap().to_owned();
    assert!(tooltip.ends_with("lab: not reached"), "{tooltip}");
    assert!(!tooltip.contains("there@lab"), "{tooltip}");
}
