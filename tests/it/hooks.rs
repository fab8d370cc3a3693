//! The real relay binary driven with recorded Claude Code payloads against a daemon on a
//! private bus and tmux server, with TMUX_PANE set as Claude Code's hook processes have it.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::harness::*;

fn event(name: &str, extra: &str) -> String {
    format!(
        r#"{{"session_id":"c0ffee00-0000-4000-8000-000000000001","transcript_path":"/tmp/t.jsonl","cwd":"/tmp","hook_event_name":"{name}"{extra}}}"#
    )
}

#[tokio::test]
async fn activity_follows_hooks_without_flicker() {
    let env = Env::new().await;
    let (id, path, _) = env.start_active("act").await;
    let pane = pane_of(&env, "act");
    let m = env.manager().await;
    let s = env.session_uncached(&path).await;
    let mut changes = m.receive_activity_changed().await.unwrap();

    let steps = [
        (
            event("UserPromptSubmit", r#","prompt":"run the tests""#),
            "working",
            "",
        ),
        (
            event(
                "PreToolUse",
                r#","tool_name":"Bash","tool_input":{"command":"cargo test"}"#,
            ),
            "",
            "Bash",
        ),
        (
            event(
                "PostToolUse",
                r#","tool_name":"Bash","tool_input":{"command":"cargo test"},"tool_response":{}"#,
            ),
            "",
            "Bash",
        ),
        (
            event(
                "Notification",
                r#","message":"Claude needs your permission to use Bash","notification_type":"permission_prompt""#,
            ),
            "needs-input",
            "Claude needs your permission to use Bash",
        ),
        (
            event(
                "PostToolUse",
                r#","tool_name":"Bash","tool_input":{"command":"rm x"}"#,
            ),
            "working",
            "Bash",
        ),
        (event("Stop", r#","stop_hook_active":false"#), "ready", ""),
        (
            event(
                "Notification",
                r#","message":"Claude is waiting for your input","notification_type":"idle_prompt""#,
            ),
            "",
            "Claude is waiting for your input",
        ),
        (event("BrandNewEvent", r#","x":1"#), "", ""),
    ];
    for (payload, expect_signal, detail) in &steps {
        let r = relay(&env, payload, &pane).await;
        assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{payload}");
        if !expect_signal.is_empty() {
            let sig = tokio::time::timeout(Duration::from_secs(5), changes.next())
                .await
                .unwrap()
                .unwrap();
            let a = sig.args().unwrap();
            assert_eq!(
                (*a.id(), *a.activity()),
                (id.as_str(), *expect_signal),
                "{payload}"
            );
            assert_eq!(*a.detail(), *detail);
        }
        if !detail.is_empty() {
            assert_eq!(s.activity_detail().await.unwrap(), *detail);
        }
    }
    // Repeated and detail-only events raised no ActivityChanged of their own.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), changes.next())
            .await
            .is_err(),
        "flicker: an extra ActivityChanged"
    );
    assert_eq!(s.activity().await.unwrap(), "ready");
    let summaries = summaries_of(&m, "act").await;
    for want in [
        "Bash: cargo test",
        "Notification: Claude needs your permission to use Bash",
        "UserPromptSubmit: run the tests",
        "Stop",
    ] {
        assert!(
            summaries.iter().any(|s| s == want),
            "no {want:?} in {summaries:?}"
        );
    }
    assert!(
        summaries.iter().any(|s| s == "BrandNewEvent"),
        "unknown events are kept too"
    );
}

#[tokio::test]
async fn session_ids_resume_and_session_end() {
    let env = Env::new().await;
    let (_, path, _) = env.start_active("ids").await;
    let pane = pane_of(&env, "ids");
    let m = env.manager().await;
    let s = env.session_uncached(&path).await;

    relay(
        &env,
        &event("SessionStart", r#","source":"startup""#),
        &pane,
    )
    .await;
    assert_eq!(
        s.claude_session_id().await.unwrap(),
        "c0ffee00-0000-4000-8000-000000000001"
    );
    assert_eq!(s.transcript_path().await.unwrap(), "/tmp/t.jsonl");
    // /clear: SessionEnd(clear) then SessionStart(clear) with a new id; the session lives on.
    relay(&env, &event("SessionEnd", r#","reason":"clear""#), &pane).await;
    let clear = r#"{"session_id":"beef0100-0000-4000-8000-000000000002","transcript_path":"/tmp/u.jsonl","hook_event_name":"SessionStart","source":"clear"}"#;
    relay(&env, clear, &pane).await;
    assert_eq!(
        s.claude_session_id().await.unwrap(),
        "beef0100-0000-4000-8000-000000000002"
    );
    assert_eq!(s.transcript_path().await.unwrap(), "/tmp/u.jsonl");
    assert_eq!(s.status().await.unwrap(), "active");

    // The id alone, from a process outside the session, speaks for nobody.
    let r = relay(
        &env,
        r#"{"session_id":"beef0100-0000-4000-8000-000000000002","hook_event_name":"Stop"}"#,
        "",
    )
    .await;
    assert_eq!(r.code, 0);
    assert_ne!(s.activity().await.unwrap(), "ready");
    relay(&env, &event("Stop", ""), &pane).await;
    assert_eq!(s.activity().await.unwrap(), "ready");

    relay(
        &env,
        &event("SessionEnd", r#","reason":"prompt_input_exit""#),
        &pane,
    )
    .await;
    assert_eq!(s.status().await.unwrap(), "stopped");
    assert_eq!(s.activity().await.unwrap(), "unknown");

    // Restart resumes Claude's conversation.
    m.stop_session("ids", true).await.unwrap();
    m.restart_session("ids").await.unwrap();
    wait_for("resumed", || async {
        m.capture_output("ids", 50, "off")
            .await
            .unwrap()
            .contains("started: --resume beef0100-0000-4000-8000-000000000002")
    })
    .await;
}

#[tokio::test]
async fn session_start_from_unmanaged_pane_adopts_and_others_are_ignored() {
    let env = Env::new().await;
    let m = env.manager().await;
    let dir = env.project("wild");
    env.tmux_with_claude("wild", &dir).await;
    let pane = pane_of(&env, "wild");

    let r = relay(&env, &event("UserPromptSubmit", r#","prompt":"x""#), &pane).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert!(
        m.list_sessions().await.unwrap().is_empty(),
        "a non-SessionStart event adopted"
    );
    let r = relay(
        &env,
        &event(
            "PreToolUse",
            r#","tool_name":"Bash","tool_input":{"command":"x"}"#,
        ),
        "%999",
    )
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));

    let mut new = m.receive_session_new().await.unwrap();
    relay(
        &env,
        &event("SessionStart", r#","source":"startup""#),
        &pane,
    )
    .await;
    let sig = tokio::time::timeout(Duration::from_secs(5), new.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*sig.args().unwrap().name(), "wild");
    let rows = m.list_sessions().await.unwrap();
    assert_eq!((rows.len(), rows[0].3.as_str()), (1, "active"));
    let s = env.session_uncached(&rows[0].6).await;
    assert_eq!(
        s.claude_session_id().await.unwrap(),
        "c0ffee00-0000-4000-8000-000000000001"
    );
}

/// An Env whose daemon reads `config` as its config file.
pub async fn env_with_config(config: &str) -> (Env, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", path.to_str().unwrap())]).await;
    (env, dir)
}

#[tokio::test]
async fn permission_requests_are_answered_or_time_out() {
    let (env, _cfg) = env_with_config("permission_wait_secs = 3\n").await;
    let (id, path, _) = env.start_active("perm").await;
    let pane = pane_of(&env, "perm");
    let _answerer = env.answerer().await;
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let request = event(
        "PermissionRequest",
        r#","tool_name":"Bash","tool_input":{"command":"rm -rf build"}"#,
    );

    for (allow, reason, want) in [
        (true, "", r#"{"behavior":"allow"}"#),
        (
            false,
            "not now",
            r#"{"behavior":"deny","message":"not now"}"#,
        ),
    ] {
        let run = relay(&env, &request, &pane);
        let answer = async {
            let sig = tokio::time::timeout(Duration::from_secs(5), asked.next())
                .await
                .unwrap()
                .unwrap();
            let a = sig.args().unwrap();
            assert_eq!(
                (*a.id(), *a.name(), *a.tool()),
                (id.as_str(), "perm", "Bash")
            );
            assert_eq!(*a.detail(), "Bash: rm -rf build");
            let rid = a.request_id().to_string();
            if allow {
                m.answer_permission("perm", &rid, true, reason)
                    .await
                    .unwrap();
            } else {
                env.session(&path)
                    .await
                    .answer_permission(&rid, false, reason)
                    .await
                    .unwrap();
            }
            rid
        };
        let (r, rid) = tokio::join!(run, answer);
        assert_eq!(r.code, 0);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            v["hookSpecificOutput"]["hookEventName"],
            "PermissionRequest"
        );
        assert_eq!(
            v["hookSpecificOutput"]["decision"],
            serde_json::from_str::<serde_json::Value>(want).unwrap()
        );
        assert_error(
            m.answer_permission("perm", &rid, true, "").await,
            "NotFound",
        );
    }

    // No answer: no decision after the wait, and the request is gone.
    let t = Instant::now();
    let r = relay(&env, &request, &pane).await;
    assert!(t.elapsed() >= Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    let sig = asked.next().await.unwrap();
    let rid = sig.args().unwrap().request_id().to_string();
    assert_error(
        m.answer_permission("perm", &rid, true, "").await,
        "NotFound",
    );
    assert_error(
        m.answer_permission("perm", "nonsense", true, "").await,
        "NotFound",
    );
    let s = env.session_uncached(&path).await;
    assert_eq!(s.activity().await.unwrap(), "needs-input");
}

#[tokio::test]
async fn deny_rules_block_matching_tool_calls() {
    let (env, _cfg) = env_with_config(
        "[[deny]]\ntool = \"Bash\"\npattern = \"rm -rf /\"\nreason = \"Never wipe the root.\"\n",
    )
    .await;
    env.start_active("deny").await;
    let pane = pane_of(&env, "deny");
    let r = relay(
        &env,
        &event(
            "PreToolUse",
            r#","tool_name":"Bash","tool_input":{"command":"sudo rm -rf / --no-preserve-root"}"#,
        ),
        &pane,
    )
    .await;
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    assert_eq!(
        v["hookSpecificOutput"]["permissionDecisionReason"],
        "Never wipe the root."
    );
    // `trusty-mpm hook`, the contract's name for the relay, decides the same.
    let alias = relay_by_alias(
        &env,
        &event(
            "PreToolUse",
            r#","tool_name":"Bash","tool_input":{"command":"rm -rf /"}"#,
        ),
        &pane,
    )
    .await;
    assert_eq!(alias.code, 0);
    let a: serde_json::Value = serde_json::from_str(&alias.stdout).unwrap();
    assert_eq!(a["hookSpecificOutput"], v["hookSpecificOutput"]);
    let ok = relay(
        &env,
        &event(
            "PreToolUse",
            r#","tool_name":"Bash","tool_input":{"command":"ls /"}"#,
        ),
        &pane,
    )
    .await;
    assert_eq!((ok.code, ok.stdout.as_str()), (0, ""));
    let events = events_of(&env.manager().await, "deny").await;
    assert!(
        events
            .iter()
            .any(|e| e.event == "Denied" && e.summary == "Bash: Never wipe the root.")
    );
}

#[tokio::test]
async fn broken_config_is_reported_at_start_and_by_hooks_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "[[deny]]\ntool = \"Bash\"\npattern = \"(\"\nreason = \"x\"\n",
    )
    .unwrap();
    let mut env = Env::new().await;
    env.stop_daemon();
    let mut cmd = env.daemon_command();
    cmd.env("TRUSTY_MPM_CONFIG", &path).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    env.daemon = None;
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).unwrap();
        s
    });
    env.daemon = Some(child);
    env.wait_for_name().await;
    env.stop_daemon();
    let log = reader.join().unwrap();
    assert!(
        log.contains("config file is broken") && log.contains("deny rule 1: bad pattern"),
        "{log}"
    );

    let out = std::process::Command::new(DAEMON)
        .args(["hooks", "check"])
        .env("TRUSTY_MPM_CONFIG", &path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deny rule 1: bad pattern"));
    std::fs::write(&path, "permission_wait_secs = 10\n").unwrap();
    let out = std::process::Command::new(DAEMON)
        .args(["hooks", "check"])
        .env("TRUSTY_MPM_CONFIG", &path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("permission_wait_secs = 10"));
}

#[tokio::test]
async fn relay_fails_open_without_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let payload = event(
        "PreToolUse",
        r#","tool_name":"Bash","tool_input":{"command":"ls"}"#,
    );
    // No bus at all.
    let t = Instant::now();
    let r = relay_with("unix:path=/nonexistent/bus", "", &payload, "%1").await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    // A bus without the daemon.
    let bus = Bus::start(dir.path());
    let r = relay_with(&bus.address, "", &payload, "%1").await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    // Garbage on stdin.
    let r = relay_with(&bus.address, "", "not json", "").await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    // Three runs, each bounded by the relay's 1 s call limit (a relay waiting on the bus would
    // take D-Bus's 25 s default), with room for a loaded machine.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_stopped_daemon_holds_a_permission_request_only_as_long_as_the_wait() {
    // No config file: permission_wait_secs is 0, so the relay waits a few seconds at most
    // (before, up to the hour a configured wait could take).
    let env = Env::new().await;
    let daemon = env.daemon.as_ref().unwrap().id();
    signal(daemon, "STOP");
    let _thaw = Thaw(daemon);
    let request = event(
        "PermissionRequest",
        r#","tool_name":"Bash","tool_input":{"command":"make"}"#,
    );
    let r = tokio::time::timeout(Duration::from_secs(15), relay(&env, &request, ""))
        .await
        .expect("the relay gave up on the stopped daemon within 15 s");
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
}

#[test]
fn hooks_install_status_uninstall_in_settings_json() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(DAEMON)
            .args(args)
            .env("HOME", home.path())
            // The list of settings files hooks install keeps goes below this HOME too.
            .env_remove("XDG_STATE_HOME")
            .env_remove("TRUSTY_MPM_STATE_DIR")
            .current_dir(home.path())
            .output()
            .unwrap()
    };
    let settings = home.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, r#"{"theme":"dark","hooks":{"Stop":[{"hooks":[{"type":"command","command":"notify-send done"}]}]}}"#).unwrap();

    assert!(run(&["hooks", "install", "--user"]).status.success());
    let again = run(&["hooks", "install"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already installed"));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(v["theme"], "dark");
    let stop = v["hooks"]["Stop"].as_array().unwrap();
    assert_eq!(stop.len(), 2);
    let ours = stop[1]["hooks"][0]["command"].as_str().unwrap();
    // The relay's own executable, beside the `trusty-mpm` that installed it.
    assert_eq!(
        Path::new(ours),
        Path::new(DAEMON)
            .with_file_name("trusty-mpm-hook")
            .canonicalize()
            .unwrap(),
        "{ours}"
    );
    let status = String::from_utf8_lossy(&run(&["hooks", "status"]).stdout).into_owned();
    assert!(
        status.contains("user:") && status.contains("(12 events)"),
        "{status}"
    );

    let project = home.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    assert!(
        run(&["hooks", "install", "--project", project.to_str().unwrap()])
            .status
            .success()
    );
    assert!(project.join(".claude/settings.json").is_file());

    assert!(run(&["hooks", "uninstall", "--user"]).status.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"theme":"dark","hooks":{"Stop":[{"hooks":[{"type":"command","command":"notify-send done"}]}]}})
    );
    assert!(
        run(&["hooks", "install", "--user", "--project", "/x"])
            .status
            .code()
            == Some(2),
        "clap refuses both"
    );
}

/// Claude Code 2.1.x's newer events and fields: auto mode's PermissionDenied, the agent
/// notifications, a forked conversation's SessionStart, and the permission mode.
#[tokio::test]
async fn newer_events_and_fields_are_understood() {
    let env = Env::new().await;
    let (_, path, _) = env.start_active("new").await;
    let pane = pane_of(&env, "new");
    let s = env.session_uncached(&path).await;
    let m = env.manager().await;
    const FORK: &str = "f0f0f0f0-0000-4000-8000-000000000001";
    let steps = [
        (
            r#"{"hook_event_name":"PermissionDenied","permission_mode":"auto","tool_name":"Bash","tool_input":{"command":"rm -rf build"},"reason":"classifier"}"#.to_owned(),
            ("working", "Bash denied"),
        ),
        (
            r#"{"hook_event_name":"Notification","notification_type":"agent_needs_input","message":"Claude needs your input"}"#.to_owned(),
            ("needs-input", "Claude needs your input"),
        ),
        (
            r#"{"hook_event_name":"Notification","notification_type":"agent_completed","message":"Claude is done"}"#.to_owned(),
            ("ready", "Claude is done"),
        ),
    ];
    for (payload, (activity, detail)) in steps {
        relay(&env, &payload, &pane).await;
        assert_eq!(
            (
                s.activity().await.unwrap(),
                s.activity_detail().await.unwrap()
            ),
            (activity.to_owned(), detail.to_owned()),
            "{payload}"
        );
    }
    assert_eq!(s.permission_mode().await.unwrap(), "auto");
    let events = events_of(&m, "new").await;
    assert!(
        events
            .iter()
            .any(|e| e.event == "PermissionDenied" && e.summary == "Bash: rm -rf build"),
        "{events:?}"
    );
    let fork = format!(
        r#"{{"hook_event_name":"SessionStart","source":"fork","session_id":"{FORK}","transcript_path":"/tmp/fork.jsonl"}}"#
    );
    relay(&env, &fork, &pane).await;
    assert_eq!(s.claude_session_id().await.unwrap(), FORK);
}

/// The unique names that came onto the bus while `run` ran: a relay through the bus is one.
async fn bus_clients_during<F: std::future::Future>(env: &Env, run: F) -> (usize, F::Output) {
    let dbus = zbus::fdo::DBusProxy::new(&env.conn).await.unwrap();
    let mut owners = dbus.receive_name_owner_changed().await.unwrap();
    let out = run.await;
    // A marker name, owned and dropped after the run, bounds what the run made the bus say.
    env.conn
        .request_name("org.trusty.Test.Marker")
        .await
        .unwrap();
    let mut came = 0;
    loop {
        let sig = tokio::time::timeout(Duration::from_secs(5), owners.next())
            .await
            .expect("NameOwnerChanged for the marker")
            .unwrap();
        let a = sig.args().unwrap();
        if a.name().as_str() == "org.trusty.Test.Marker" {
            break;
        }
        if a.name().as_str().starts_with(':') && a.new_owner().is_some() {
            came += 1;
        }
    }
    env.conn
        .release_name("org.trusty.Test.Marker")
        .await
        .unwrap();
    (came, out)
}

#[tokio::test]
async fn ordinary_events_reach_the_daemon_on_its_hook_socket_and_else_through_the_bus() {
    let mut env = Env::new().await;
    env.start_active("sock").await;
    let pane = pane_of(&env, "sock");
    let bus = trusty_mpm::bus_address::socket_of(&env.bus.address).unwrap();
    let socket = trusty_mpm::bus_address::hook_socket(&bus).unwrap();
    let bus_path =
        std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bus.path().unwrap().to_bytes()));
    assert_eq!(socket.file_name().unwrap(), "bus.trusty-mpm-hook");
    // The daemon listens once it owns its name (the harness waits for that), before READY=1.
    let listening = || async { std::os::unix::net::UnixStream::connect(&socket).is_ok() };
    wait_for("the hook socket", listening).await;
    let mode = std::fs::metadata(&socket).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let tmux = env.tmux_socket().to_string_lossy().into_owned();
    let prompt = |text: &str| event("UserPromptSubmit", &format!(r#","prompt":"{text}""#));

    // Beside its bus: no client comes onto the bus, and the event is the session's.
    let direct = prompt("straight to the daemon");
    let (came, r) = bus_clients_during(&env, relay(&env, &direct, &pane)).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(came, 0, "the relay connected to the bus");
    // Where the bus's socket has no hook socket beside it (the same bus through a link), the
    // relay goes through the bus, and the event arrives just the same.
    let link = env.dir.path().join("bus-link");
    std::os::unix::fs::symlink(&bus_path, &link).unwrap();
    let linked = format!("unix:path={}", link.display());
    let routed = prompt("through the bus");
    let (came, r) = bus_clients_during(&env, relay_with(&linked, &tmux, &routed, &pane)).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(came, 1, "the relay did not come through the bus");
    let summaries = summaries_of(&env.manager().await, "sock").await;
    for want in [
        "UserPromptSubmit: straight to the daemon",
        "UserPromptSubmit: through the bus",
    ] {
        assert!(
            summaries.iter().any(|s| s == want),
            "no {want:?} in {summaries:?}"
        );
    }

    // A stopped daemon takes its socket away; a killed one leaves it, and the next replaces it.
    assert!(env.stop_daemon().success());
    assert!(
        !Path::new(&socket).exists(),
        "the hook socket outlived the daemon"
    );
    env.start_daemon().await;
    signal(env.daemon.as_ref().unwrap().id(), "KILL");
    wait_child(env.daemon.as_mut().unwrap(), Duration::from_secs(5)).unwrap();
    env.daemon = None;
    assert!(
        Path::new(&socket).exists(),
        "a killed daemon's socket is left"
    );
    let r = relay(&env, &prompt("to nobody"), &pane).await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, ""),
        "fails open on a dead socket"
    );
    env.start_daemon().await;
    wait_for("the hook socket", listening).await;
    let (came, r) = bus_clients_during(&env, relay(&env, &prompt("again"), &pane)).await;
    assert_eq!((r.code, r.stdout.as_str(), came), (0, "", 0));
}
