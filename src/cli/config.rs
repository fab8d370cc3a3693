//! `trusty-mpm config`: every setting the daemon and the desktop clients read, with its value
//! and where it comes from (an environment variable, config.toml, or the built-in default), as
//! this shell's environment and the file say. A broken file is reported as `hooks check` does.

use std::collections::BTreeSet;
use std::process::ExitCode;

use super::output::{bytes, visible};
use crate::config::file::ConfigFile;
use crate::config::{Config, DEFAULT_SLICE};
use crate::lifecycle::resolve_claude;

/// Where a value comes from: the environment variable when it is set, else config.toml when it
/// names `key`, else the default.
struct Sources {
    keys: BTreeSet<String>,
}

impl Sources {
    fn of(&self, env: Option<&str>, key: &str) -> String {
        if let Some(var) = env.filter(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty())) {
            return var.to_owned();
        }
        match self.keys.contains(key) {
            true => "config.toml".to_owned(),
            false => "default".to_owned(),
        }
    }
}

/// The top-level keys the file sets (none when it is missing).
fn keys_in(path: &std::path::Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let table: toml::Table = toml::from_str(&text).unwrap_or_default();
    table.keys().cloned().collect()
}

fn size(v: Option<u64>) -> String {
    v.map_or_else(|| "none".to_owned(), bytes)
}

fn number(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "none".to_owned(), |n| n.to_string())
}

/// The rows of `trusty-mpm config`: setting, value, where from.
fn rows(cfg: &Config, policy: &ConfigFile, src: &Sources) -> Vec<[String; 3]> {
    let settings = &policy.settings;
    let limits = &settings.limits;
    let claude = match resolve_claude(cfg.claude_command.as_deref()) {
        Ok(path) => path,
        Err(e) => format!("not found ({e})"),
    };
    let env_names: Vec<&str> = cfg.claude_env.keys().map(String::as_str).collect();
    // A setting of config.toml, named as there.
    let file = |key: &'static str, value: String| (key, value, src.of(None, key));
    let mut rows = vec![
        (
            "config file",
            cfg.config_file.display().to_string(),
            src.of(Some("TRUSTY_MPM_CONFIG"), ""),
        ),
        (
            "state dir",
            cfg.state_dir.display().to_string(),
            src.of(Some("TRUSTY_MPM_STATE_DIR"), ""),
        ),
        (
            "tmux socket",
            cfg.tmux_socket
                .as_ref()
                .map_or("tmux's default server".to_owned(), |s| {
                    s.display().to_string()
                }),
            src.of(Some("TRUSTY_MPM_TMUX_SOCKET"), ""),
        ),
        (
            "tmux timeout",
            format!("{} ms", cfg.tmux_timeout.as_millis()),
            src.of(Some("TRUSTY_MPM_TMUX_TIMEOUT_MS"), ""),
        ),
        (
            "log filter",
            std::env::var("RUST_LOG").unwrap_or("info".to_owned()),
            src.of(Some("RUST_LOG"), ""),
        ),
        (
            "claude_command",
            claude,
            src.of(Some("TRUSTY_MPM_CLAUDE_COMMAND"), "claude_command"),
        ),
        file("restore_on_start", cfg.restore_on_start.to_string()),
        file(
            "permission_wait_secs",
            policy.permission_wait.as_secs().to_string(),
        ),
        file("auto_adopt", policy.auto_adopt.to_string()),
        file(
            "slice",
            settings.slice.clone().unwrap_or(DEFAULT_SLICE.to_owned()),
        ),
        file("memory_high", size(limits.memory_high)),
        file("memory_max", size(limits.memory_max)),
        file("cpu_weight", number(limits.cpu_weight)),
        file("tasks_max", number(limits.tasks_max)),
        file("slice_memory_max", size(settings.slice_memory_max)),
        file("pass_env", cfg.pass_env.join(" ")),
        file(
            "env",
            match env_names.as_slice() {
                [] => "none".to_owned(),
                names => format!("{} (values not shown)", names.join(" ")),
            },
        ),
        file(
            "terminal_command",
            match policy.terminal_command.as_slice() {
                [] => "xdg-terminal-exec, else x-terminal-emulator -e".to_owned(),
                words => words.join(" "),
            },
        ),
        file("deny", crate::text::count(policy.deny.len(), "rule")),
    ];
    for (i, rule) in policy.deny.iter().enumerate() {
        let what = format!("{} /{}/: {}", rule.tool, rule.pattern.as_str(), rule.reason);
        rows.push(("", what, format!("rule {}", i + 1)));
    }
    rows.into_iter()
        .map(|(k, v, from)| [k.to_owned(), visible(&v), from])
        .collect()
}

pub fn run() -> ExitCode {
    let mut cfg = Config::from_env();
    let policy = match ConfigFile::load(&cfg.config_file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("trusty-mpm: the config file is broken: {}", visible(&e));
            return ExitCode::FAILURE;
        }
    };
    cfg.apply(&policy.settings);
    let src = Sources {
        keys: keys_in(&cfg.config_file),
    };
    // The value last: a long one (pass_env, a deny rule) pushes nothing out of line.
    let rows = rows(&cfg, &policy, &src);
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w2) = (width(0).max("SETTING".len()), width(2).max("FROM".len()));
    println!("{:w0$}  {:w2$}  VALUE", "SETTING", "FROM");
    for [k, v, from] in rows {
        println!("{k:w0$}  {from:w2$}  {v}");
    }
    if !cfg.config_file.exists() {
        println!("\nThere is no config file; every setting not set by a variable has its default.");
    }
    println!(
        "\nLimits left at none are systemd's for any unit of yours: trusty-mpm sets no limit you \
         did not ask for.\nThis is what this shell's environment and the file say; the service \
         reads the same file with the environment systemd gives it\n(`systemctl --user \
         show-environment`, and its drop-ins)."
    );
    ExitCode::SUCCESS
}
