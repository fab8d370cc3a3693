//! Which claude runs, and how: the arguments and environment a session was started with come
//! back with every restart, the daemon's API variables reach claude however the tmux server was
//! started, and the session says which executable and version it runs and in which permission
//! mode.

use std::collections::HashMap;

use zbus::Variant;

use crate::harness::*;

const KEY: &str = "sk-ant-test-0123456789";

/// Waits until the session's pane shows `text`.
async fn shows(env: &Env, name: &str, text: &str) {
    screen_until(env, name, &format!("{name} shows {text:?}"), |s| {
        s.contains(text)
    })
    .await;
}

/// Waits until the session's pane satisfies `done`; fails showing the pane.
async fn screen_until(env: &Env, name: &str, what: &str, done: impl Fn(&str) -> bool) {
    let m = env.manager().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let screen = m.capture_output(name, 500, "off").await.unwrap();
        if done(&screen) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}; the pane shows:\n{screen}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn arguments_and_environment_survive_restarts_and_api_variables_reach_claude() {
    // A tmux server that never saw the API key, as under systemd (the user manager starts it).
    let mut env = Env::with_env(&[("ANTHROPIC_API_KEY", KEY), ("UNLISTED_SECRET", "no")]).await;
    let out = env.tmux(&["new-session", "-d", "-s", "bystander", "sleep", "100000"]);
    assert!(out.status.success(), "{out:?}");
    let m = env.manager().await;
    let mut options: HashMap<&str, Variant<'_>> = HashMap::new();
    options.insert("args", Variant::from(vec!["--model", "opus"]));
    let shown = "ANTHROPIC_API_KEY MY_VAR UNLISTED_SECRET";
    let vars = HashMap::from([("MY_VAR", "mine"), ("FAKE_CLAUDE_SHOW_ENV", shown)]);
    options.insert("env", Variant::from(vars));
    let (_, _, path) = m
        .start_session(&env.project("api"), "api", options)
        .await
        .unwrap();
    let s = env.session_uncached(&path).await;
    let id = s.claude_session_id().await.unwrap();
    for text in [
        "started: --model opus --session-id",
        &format!("env ANTHROPIC_API_KEY={KEY}"),
        "env MY_VAR=mine",
        "env UNLISTED_SECRET=unset",
    ] {
        shows(&env, "api", text).await;
    }
    assert_eq!(s.args().await.unwrap(), ["--model", "opus"]);

    m.restart_session("api").await.unwrap();
    shows(&env, "api", &format!("started: --model opus --resume {id}")).await;
    // And after a daemon restart, from the registry.
    env.restart_daemon().await;
    let m = env.manager().await;
    m.stop_session("api", true).await.unwrap();
    m.restart_session("api").await.unwrap();
    // The claude it starts has the arguments, the key and the session's variable.
    let s = env.session_uncached(&path).await;
    wait_for("the restarted claude runs", || async {
        s.status().await.unwrap() == "active"
    })
    .await;
    let pid = s.pid().await.unwrap();
    let argv = crate::procs::cmdline(pid);
    let resumed = ["--model", "opus", "--resume", id.as_str()];
    assert!(argv.windows(4).any(|w| w == resumed), "{argv:?}");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
    for want in [format!("ANTHROPIC_API_KEY={KEY}"), "MY_VAR=mine".to_owned()] {
        assert!(vars.contains(&want.as_bytes()), "claude lacks {want}");
    }
}

#[tokio::test]
async fn a_session_says_which_claude_it_runs_and_in_which_mode() {
    let env = Env::new().await;
    let (_, path, _) = env.start_active("which").await;
    let s = env.session_uncached(&path).await;
    assert_eq!(
        s.claude_command().await.unwrap(),
        fake_claude().to_string_lossy()
    );
    wait_for("the version is known", || async {
        s.claude_version().await.unwrap() == "0.0.0 (Claude Code stand-in)"
    })
    .await;
    let pane = pane_of(&env, "which");
    let start = r#"{"hook_event_name":"SessionStart","source":"startup","permission_mode":"plan"}"#;
    relay(&env, start, &pane).await;
    assert_eq!(s.permission_mode().await.unwrap(), "plan");

    let status = std::process::Command::new(DAEMON)
        .args(["status", "which"])
        .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains(&format!(
            "0.0.0 (Claude Code stand-in) ({})",
            fake_claude().display()
        )) && text.contains("plan"),
        "{text}"
    );
}

#[tokio::test]
async fn background_tasks_keep_a_turn_working_and_the_last_reply_is_the_pause_summary() {
    let env = Env::new().await;
    env.start_active("bg").await;
    let pane = pane_of(&env, "bg");
    let m = env.manager().await;
    let s = env
        .session_uncached(&m.get_session("bg").await.unwrap())
        .await;
    let stop = r#"{"hook_event_name":"Stop","background_tasks":[{"id":"t1","command":"npm run dev"}],"last_assistant_message":"Started the dev server.\n\nIt listens on port 3000."}"#;
    relay(&env, stop, &pane).await;
    assert_eq!(s.activity().await.unwrap(), "working");
    let summary = m.pause_session("bg", "", false).await.unwrap();
    assert_eq!(summary, "Started the dev server. It listens on port 3000.");
    m.resume_session("bg").await.unwrap();
    relay(
        &env,
        r#"{"hook_event_name":"Stop","background_tasks":[]}"#,
        &pane,
    )
    .await;
    assert_eq!(s.activity().await.unwrap(), "ready");
}

/// Under the C locale (a minimal server, an ssh login without PAM, a user manager without a
/// locale) tmux prints what is not printable ASCII as `_`, the tabs between fields included,
/// unless it is told that its client reads UTF-8.
#[tokio::test]
async fn sessions_start_under_the_c_locale() {
    let env = Env::with_env(&[("LANG", "C"), ("LC_ALL", "C"), ("LC_CTYPE", "C")]).await;
    let (_, path, pid) = env.start_active("c-locale").await;
    let s = env.session_uncached(&path).await;
    assert_eq!(s.tmux_session().await.unwrap(), "c-locale");
    signal(pid, "KILL");
    wait_for("stopped", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
    env.manager()
        .await
        .restart_session("c-locale")
        .await
        .unwrap();
    wait_for("active again", || async {
        s.status().await.unwrap() == "active"
    })
    .await;
}
