//! The client commands across hosts: list, status and hosts over both daemons, the control
//! commands on the remote one (`--host`, `KEY@HOST`), a remote permission request answered by
//! the local `approve`, and `attach` through `ssh -t`.

use super::Two;
use crate::harness::*;

#[tokio::test]
async fn list_status_and_hosts_span_both_hosts() {
    let two = Two::new("").await;
    two.env.start_active("here").await;
    two.start_remote("there").await;

    let table = two.ok(&["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("HOST   NAME"), "{table}");
    assert!(lines[1].starts_with("local  here "), "{table}");
    assert!(lines[2].starts_with("lab    there"), "{table}");
    // The project is the remote user's.
    assert!(
        lines[2].contains(&format!("/home/{}/", two.lab.user.name)),
        "{table}"
    );

    let all = two.json(&["list", "--json"]);
    let rows: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["host"].as_str().unwrap(), v["name"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [("local", "here"), ("lab", "there")]);
    let first_key = all[0].as_object().unwrap().keys().next().unwrap();
    assert_eq!(first_key, "host");
    for (host, name) in [("local", "here"), ("lab", "there")] {
        let narrowed = two.json(&["list", "--json", "--host", host]);
        assert_eq!(narrowed.as_array().unwrap().len(), 1, "{narrowed}");
        assert_eq!(narrowed[0]["name"], name);
    }
    // The claude of `there` runs on the remote user's tmux server.
    let remote_tmux = two.lab.tmux(&["list-sessions", "-F", "#{session_name}"]);
    assert_eq!(String::from_utf8_lossy(&remote_tmux.stdout).trim(), "there");

    // status finds the host that has the session, or is told.
    let s = two.json(&["status", "there", "--json"]);
    assert_eq!(
        (s["host"].as_str(), s["name"].as_str()),
        (Some("lab"), Some("there"))
    );
    let text = two.ok(&["status", "there"]);
    assert!(text.contains("      Host: lab\n"), "{text}");
    let (code, err) = two.fails(&["status", "nowhere"]);
    assert_eq!(code, 10, "{err}");

    let hosts = two.json(&["hosts", "--json"]);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for (i, (host, ssh)) in [("local", ""), ("lab", "lab")].into_iter().enumerate() {
        let h = &hosts[i];
        assert_eq!(
            (h["host"].as_str(), h["ssh"].as_str()),
            (Some(host), Some(ssh))
        );
        assert_eq!(h["reachable"], true, "{h}");
        assert_eq!(h["running"], true, "{h}");
        assert_eq!(h["version"], env!("CARGO_PKG_VERSION"), "{h}");
        assert_eq!(h["hostname"], hostname.trim(), "{h}");
        assert_eq!(h["sessions"], 1, "{h}");
    }
    let text = two.ok(&["hosts"]);
    assert!(text.starts_with("HOST   SSH  MACHINE"), "{text}");
    assert!(
        text.lines().nth(2).unwrap().starts_with("lab    lab  "),
        "{text}"
    );
}

#[tokio::test]
async fn start_send_capture_and_stop_on_the_remote() {
    let two = Two::new("").await;
    let (code, err) = two.fails(&["start", "--host", "lab", "relative/dir"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("absolute path on host lab"), "{err}");
    let (code, err) = two.fails(&["send", "x@nowhere", "hi"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no host 'nowhere'"), "{err}");

    two.start_remote("api").await;
    two.ok(&["send", "api@lab", "run", "the", "tests"]);
    wait_for("the remote claude echoed the line", || async {
        two.ok(&["capture", "api@lab"])
            .contains("echo: run the tests")
    })
    .await;
    // `--host` names the host as well; a key on this machine is not there.
    assert!(
        two.ok(&["--host", "lab", "capture", "api"])
            .contains("echo: run the tests")
    );
    let (code, err) = two.fails(&["capture", "api"]);
    assert_eq!(code, 10, "{err}");
    let (code, err) = two.fails(&["capture", "api@lab", "--host", "local"]);
    assert_eq!(code, 2, "{err}");

    assert_eq!(two.ok(&["stop", "api@lab"]), "Stopped api.\n");
    let s = two.json(&["status", "api@lab", "--json"]);
    assert_eq!(s["status"], "stopped");
    assert_eq!(s["host"], "lab");
    two.ok(&["rm", "api@lab", "--kill"]);
    assert_eq!(
        two.json(&["list", "--json", "--host", "lab"]),
        serde_json::json!([])
    );
}

#[tokio::test]
async fn a_remote_permission_request_is_answered_by_the_local_approve() {
    let two = Two::new("permission_wait_secs = 60\n").await;
    // Someone answers requests on the remote bus (a notify there, say): the relay waits.
    let answerer = two.lab.bus().await;
    answerer
        .request_name(trusty_mpm::contract::ANSWERER_NAME)
        .await
        .unwrap();
    two.start_remote("api").await;
    let out = two.ask_remote("api");
    wait_for("the request is listed", || async {
        two.json(&["requests", "--host", "lab", "--json"])[0]["request_id"].is_string()
    })
    .await;
    let rows = two.json(&["requests", "--host", "lab", "--json"]);
    assert_eq!(rows[0]["detail"], "make deploy");
    assert_eq!(rows[0]["answerable"], true);
    let request = rows[0]["request_id"].as_str().unwrap().to_owned();

    assert_eq!(
        two.ok(&["approve", "api@lab", &request]),
        format!("Allowed {request}.\n")
    );
    let decided = super::decided(&out).await;
    assert!(decided.contains(r#""behavior":"allow""#), "{decided}");
    assert_eq!(
        two.json(&["requests", "--host", "lab", "--json"]),
        serde_json::json!([])
    );
}

#[tokio::test]
async fn attach_shows_a_remote_session_through_ssh() {
    let two = Two::new("").await;
    two.start_remote("api").await;
    // A terminal for the client: a pane of a tmux server of this test's own.
    let outer = Terminal(two.env.dir.path().join("outer.sock"));
    let mut cmd = outer.open();
    cmd.arg("env");
    for (k, v) in two.command(&[]).get_envs() {
        if let Some(v) = v {
            cmd.arg(format!("{}={}", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    let out = cmd
        .args([DAEMON, "attach", "api@lab"])
        .env_remove("TMUX")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let clients = || {
        let out = two.lab.tmux(&["list-clients", "-F", "#{client_session}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    wait_for("a client of the remote tmux server on api", || async {
        clients() == "api"
    })
    .await;
    drop(outer);
    // The remote client goes with the terminal it ran in.
    wait_for("the remote client is gone", || async {
        clients().is_empty()
    })
    .await;
}

/// The README's block about hosts runs as written, the reader's home on lab being the remote
/// user's (the rest of the README runs in `readme`).
#[tokio::test]
async fn the_readme_commands_about_hosts_run() {
    let two = Two::new("").await;
    let blocks: Vec<Vec<String>> = crate::readme::blocks()
        .into_iter()
        .filter(|b| b.iter().any(|c| crate::readme::about_hosts(c)))
        .collect();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let home = two.lab.user.home.display().to_string();
    two.lab.user.dir(&two.lab.user.home.join("src/api"));
    let bin = std::path::Path::new(DAEMON)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    for cmd in &blocks[0] {
        // A person types the next command once the last start has come up.
        wait_for("no session starting on lab", || async {
            let all = two.json(&["list", "--json", "--host", "lab"]);
            all.as_array()
                .unwrap()
                .iter()
                .all(|s| s["status"] != "starting")
        })
        .await;
        let cmd = cmd.replace("/home/me", &home);
        let out = std::process::Command::new("bash")
            .args(["-c", &cmd])
            .envs(
                two.command(&[])
                    .get_envs()
                    .filter_map(|(k, v)| Some((k, v?))),
            )
            .env("PATH", &path)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {out:?}");
    }
}
