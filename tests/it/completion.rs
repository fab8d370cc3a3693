//! Shell completion as a shell runs it: the script `trusty-mpm completions SHELL` prints is
//! sourced (or autoloaded, for zsh) in a real bash, zsh and fish, its function is called with
//! the words of a command line, and the completions must come back at every depth, with the
//! daemon's session names for a KEY.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::*;

/// Runs `script` in `shell` with the test's `trusty-mpm` first on PATH and the private bus.
fn run_shell(env: &Env, shell: &str, args: &[&str], script: &str) -> Vec<String> {
    require(shell);
    let bin_dir = Path::new(DAEMON).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(shell)
        .args(args)
        .arg(script)
        .env("PATH", path)
        .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
        .env("HOME", env.dir.path())
        .env("XDG_CONFIG_HOME", env.dir.path().join("config"))
        .env("XDG_DATA_HOME", env.dir.path().join("data"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{shell} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The completion script for `shell`, written into the test's directory.
fn script(env: &Env, shell: &str, file: &str) -> String {
    let out = Command::new(DAEMON)
        .args(["completions", shell])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dir = env.dir.path().join("completions");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, out.stdout).unwrap();
    path.display().to_string()
}

async fn with_sessions() -> Env {
    let env = Env::new().await;
    let m = env.manager().await;
    for name in ["alpha", "beta"] {
        m.register_session(&env.project(name), name).await.unwrap();
    }
    env
}

/// COMPREPLY of the bash completion function for `words` (the last one is being completed).
fn bash(env: &Env, script: &str, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    run_shell(
        env,
        "bash",
        &["--norc", "-c"],
        &format!(
            "source {script}\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\n\
             _clap_complete_trusty_mpm trusty-mpm {} {}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
            quoted.join(" "),
            quoted[cword],
            quoted[cword - 1]
        ),
    )
    .into_iter()
    .filter(|l| !l.is_empty())
    .collect()
}

#[tokio::test]
async fn bash_completes_options_subcommands_and_session_names() {
    let env = with_sessions().await;
    let s = script(&env, "bash", "trusty-mpm");
    assert_eq!(bash(&env, &s, &["trusty-mpm", "watch", "--j"]), ["--json"]);
    assert_eq!(bash(&env, &s, &["trusty-mpm", "hooks", "in"]), ["install"]);
    assert_eq!(
        bash(&env, &s, &["trusty-mpm", "hooks", "install", "--p"]),
        ["--project"]
    );
    assert_eq!(bash(&env, &s, &["trusty-mpm", "status", "al"]), ["alpha"]);
    let all = bash(&env, &s, &["trusty-mpm", "rm", ""]);
    assert!(
        all.contains(&"alpha".into()) && all.contains(&"beta".into()),
        "{all:?}"
    );
    assert_eq!(
        bash(
            &env,
            &s,
            &["trusty-mpm", "capture", "beta", "--compress", "s"]
        ),
        ["summarise"]
    );
}

#[tokio::test]
async fn zsh_completes_from_fpath_on_the_first_tab() {
    let env = with_sessions().await;
    let s = script(&env, "zsh", "_trusty-mpm");
    let dir = Path::new(&s).parent().unwrap().display().to_string();
    // Autoloaded from fpath, as zsh's compinit does; _describe and compdef stand in for the
    // completion system (they print what would be offered).
    let got = run_shell(
        &env,
        "zsh",
        &["-f", "-c"],
        &format!(
            "fpath=({dir} $fpath); autoload -Uz _trusty-mpm\n\
             compdef() {{ : }}\n_describe() {{ print -l -- \"${{(@P)3}}\" }}\n\
             words=(trusty-mpm watch --j); CURRENT=3; _trusty-mpm\n\
             words=(trusty-mpm status ''); CURRENT=3; _clap_dynamic_completer_trusty_mpm"
        ),
    );
    assert!(got[0].starts_with("--json:"), "{got:?}");
    assert!(
        got.iter().any(|l| l.starts_with("alpha:")) && got.iter().any(|l| l.starts_with("beta:")),
        "{got:?}"
    );
}

#[tokio::test]
async fn fish_completes_options_subcommands_and_session_names() {
    let env = with_sessions().await;
    let s = script(&env, "fish", "trusty-mpm.fish");
    let got = run_shell(
        &env,
        "fish",
        &["--no-config", "-c"],
        &format!(
            "source {s}\ncomplete -C 'trusty-mpm watch --j'\ncomplete -C 'trusty-mpm hooks un'\n\
             complete -C 'trusty-mpm pause '"
        ),
    );
    assert!(got[0].starts_with("--json\t"), "{got:?}");
    assert!(got[1].starts_with("uninstall\t"), "{got:?}");
    assert!(
        got.iter().any(|l| l.starts_with("alpha\tstarting")),
        "session names with their status: {got:?}"
    );
}

#[tokio::test]
async fn session_names_without_a_daemon_are_none_and_quick() {
    let mut env = Env::new().await;
    env.stop_daemon();
    let s = script(&env, "bash", "trusty-mpm");
    // The names are asked with a short limit, so a TAB never hangs on a missing daemon.
    let t = std::time::Instant::now();
    let got = bash(&env, &s, &["trusty-mpm", "status", ""]);
    assert!(
        got.iter().all(|w| w.starts_with('-')),
        "only options: {got:?}"
    );
    assert!(
        t.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
}
