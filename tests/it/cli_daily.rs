//! What a day's work with the client meets: `pause` summarised by the agent's last reply and
//! `status` indenting a value of several lines, `start` in a folder whose session is only
//! stopped (it offers the restart), and `reap`, which names what it forgets and asks first.

use std::process::Stdio;

use crate::cli::{fails, ok};
use crate::harness::*;

#[tokio::test]
async fn pause_says_the_last_reply_in_one_paragraph_and_status_indents() {
    let env = Env::new().await;
    env.start_active("p").await;
    let pane = pane_of(&env, "p");
    let stop = r#"{"hook_event_name":"Stop","last_assistant_message":"Fixed the build.\n\n- 12 tests pass\n- 0 fail"}"#;
    relay(&env, stop, &pane).await;
    assert_eq!(
        ok(&env, &["pause", "p"]),
        "Paused p.\nFixed the build. - 12 tests pass - 0 fail\n"
    );
    // A note of several lines reads as a block under its label.
    env.manager()
        .await
        .register_session(&env.project("n"), "n")
        .await
        .unwrap();
    ok(&env, &["pause", "n", "--note", "first line\nsecond line"]);
    let status = ok(&env, &["status", "n"]);
    assert!(
        status.contains("\n   Summary: first line\n            second line\n"),
        "{status}"
    );
}

#[tokio::test]
async fn start_in_a_folder_with_a_stopped_session_offers_its_restart() {
    let env = Env::new().await;
    let dir = env.project("api");
    assert!(ok(&env, &["start", &dir]).starts_with("Started api "));
    assert_eq!(ok(&env, &["stop", "api"]), "Stopped api.\n");
    let hint = format!(
        "Session 'api' in {dir} is stopped; start it again with `trusty-mpm restart api`, or \
         start another session there with `trusty-mpm start --new {dir}`."
    );
    for args in [&["start", &dir][..], &["start", &dir, "--name", "api"]] {
        let (code, err) = fails(&env, args);
        assert_eq!(
            (code, err.trim_end()),
            (11, &*format!("trusty-mpm: {hint}"))
        );
    }
    let m = env.manager().await;
    assert_eq!(m.list_sessions().await.unwrap().len(), 1, "nothing started");
    // Another name, or --new, is a second session on purpose.
    assert!(ok(&env, &["start", &dir, "--new"]).starts_with("Started api-2 "));
    assert!(ok(&env, &["start", &dir, "--name", "review"]).starts_with("Started review "));
    assert_eq!(ok(&env, &["restart", "api"]), "Restarted api.\n");
}

/// `trusty-mpm reap` on a pseudo-terminal (util-linux `script`), typing `answer`.
fn reap_on_a_terminal(env: &Env, answer: &str) -> String {
    require("script");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{DAEMON} reap"), "/dev/null"])
        .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(answer.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

#[tokio::test]
async fn reap_names_what_it_forgets_and_asks_first() {
    let env = Env::new().await;
    env.start_active("gone").await;
    env.start_active("kept").await;
    let m = env.manager().await;
    m.register_session(&env.project("books"), "books")
        .await
        .unwrap();
    env.tmux(&["kill-session", "-t", "=gone:"]);
    let names = || async {
        let rows = m.list_sessions().await.unwrap();
        rows.into_iter().map(|r| r.1).collect::<Vec<_>>()
    };
    // Scripts must say so: no terminal to ask on, no --yes, nothing forgotten.
    let (code, err) = fails(&env, &["reap"]);
    assert_eq!(
        (code, err.trim_end()),
        (
            2,
            "trusty-mpm: reap would forget 1 session whose tmux session is gone: gone; \
             confirm with `trusty-mpm reap --yes`."
        )
    );
    assert_eq!(names().await, ["gone", "kept", "books"]);
    let said = reap_on_a_terminal(&env, "n\n");
    assert!(
        said.contains("Forget 1 session whose tmux session is gone: gone? [y/N] ")
            && said.contains("Nothing was forgotten."),
        "{said}"
    );
    assert_eq!(names().await, ["gone", "kept", "books"]);
    let said = reap_on_a_terminal(&env, "y\n");
    assert!(
        said.contains("Removed 1 session whose tmux session is gone (gone)"),
        "{said}"
    );
    assert_eq!(names().await, ["kept", "books"]);
    // With nothing to forget there is nothing to ask.
    assert!(ok(&env, &["reap"]).starts_with("Removed 0 sessions"));
}

/// `trusty-mpm config` with `vars` (no bus needed): its rows as (setting, from, value).
fn config_rows(vars: &[(&str, &str)]) -> (std::process::Output, Vec<(String, String, String)>) {
    let out = std::process::Command::new(DAEMON)
        .arg("config")
        .envs(vars.iter().copied())
        .env_remove("TRUSTY_MPM_STATE_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows = text
        .lines()
        .take_while(|l| !l.is_empty())
        .skip(1)
        .map(|l| {
            let mut words = l.splitn(2, "  ").map(str::trim);
            let setting = words.next().unwrap_or("").to_owned();
            let rest = words.next().unwrap_or("").trim_start();
            let (from, value) = rest.split_once("  ").unwrap_or((rest, ""));
            (setting, from.to_owned(), value.trim().to_owned())
        })
        .collect();
    (out, rows)
}

#[test]
fn config_shows_every_setting_and_where_it_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "restore_on_start = true\nmemory_max = \"8G\"\ntasks_max = 512\n\
         pass_env = [\"ANTHROPIC_*\"]\n[env]\nMY_TOKEN = \"sk-hidden\"\n\
         [[deny]]\ntool = \"Bash\"\npattern = \"rm -rf /\"\nreason = \"Never.\"\n",
    )
    .unwrap();
    let claude = fake_claude().display().to_string();
    let vars = [
        ("TRUSTY_MPM_CONFIG", file.to_str().unwrap()),
        ("TRUSTY_MPM_CLAUDE_COMMAND", claude.as_str()),
        ("HOME", dir.path().to_str().unwrap()),
    ];
    let (out, rows) = config_rows(&vars);
    assert!(out.status.success(), "{out:?}");
    let row = |setting: &str| {
        rows.iter()
            .find(|r| r.0 == setting)
            .map(|r| (r.1.as_str(), r.2.as_str()))
            .unwrap_or_else(|| panic!("no {setting} in {rows:?}"))
    };
    assert_eq!(
        row("config file"),
        ("TRUSTY_MPM_CONFIG", file.to_str().unwrap())
    );
    assert_eq!(
        row("claude_command"),
        ("TRUSTY_MPM_CLAUDE_COMMAND", claude.as_str())
    );
    assert_eq!(row("restore_on_start"), ("config.toml", "true"));
    assert_eq!(row("permission_wait_secs"), ("default", "120"));
    assert_eq!(row("memory_max"), ("config.toml", "8.0G"));
    assert_eq!(row("tasks_max"), ("config.toml", "512"));
    // No limit is built in.
    assert_eq!(row("memory_high"), ("default", "none"));
    assert_eq!(row("cpu_weight"), ("default", "none"));
    assert_eq!(row("slice_memory_max"), ("default", "none"));
    assert_eq!(row("pass_env"), ("config.toml", "ANTHROPIC_*"));
    assert_eq!(row("env"), ("config.toml", "MY_TOKEN (values not shown)"));
    assert_eq!(row("deny"), ("config.toml", "1 rule"));
    assert!(
        rows.iter()
            .any(|r| r.1 == "rule 1" && r.2 == "Bash /rm -rf //: Never."),
        "{rows:?}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("sk-hidden"));

    std::fs::write(&file, "memory_max = \"8X\"\n").unwrap();
    let (out, _) = config_rows(&vars);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the config file is broken") && err.contains("memory_max"),
        "{err}"
    );
}
