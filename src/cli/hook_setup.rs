//! `trusty-mpm hooks …`: installing the relay into Claude Code settings and checking the
//! config file, with plain messages for a person. Every settings file `install` writes is noted
//! in the state dir (`hooks.list`, one path a line), so that `uninstall --everywhere` (what
//! `make uninstall` runs) takes the relay out of each of them before its binary goes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::hosts::Hosts;
use crate::config::Config;
use crate::config::file::ConfigFile;
use crate::hooks::settings::{self, EVENTS, Scope};

/// The list of settings files the relay was installed in.
fn list_path() -> PathBuf {
    Config::from_env().state_dir.join("hooks.list")
}

/// The settings files in the list, in the order they were added.
fn listed() -> Vec<PathBuf> {
    let text = std::fs::read_to_string(list_path()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect()
}

/// Adds `path` to the list, or takes it out; an empty list leaves no file behind.
fn note(path: &Path, installed: bool) -> std::io::Result<()> {
    let mut all = listed();
    all.retain(|p| p != path);
    if installed {
        all.push(path.to_owned());
    }
    let list = list_path();
    if all.is_empty() {
        return match std::fs::remove_file(&list) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let text: String = all.iter().map(|p| format!("{}\n", p.display())).collect();
    crate::store::write_atomic(&list, text.as_bytes())
}

/// `note`, saying when the list could not be kept (the install itself stands).
fn noted(path: &Path, installed: bool) {
    if let Err(e) = note(path, installed) {
        eprintln!(
            "trusty-mpm: could not update {} ({e}); `hooks uninstall --everywhere` will not know about {}.",
            list_path().display(),
            path.display()
        );
    }
}

/// The settings scope chosen on the command line (the user's by default).
pub fn scope(project: Option<PathBuf>) -> Scope {
    match project {
        Some(dir) => Scope::Project(std::path::absolute(&dir).unwrap_or(dir)),
        None => Scope::User,
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("trusty-mpm: {msg}");
    ExitCode::FAILURE
}

pub fn install(scope: Scope) -> ExitCode {
    let bin = match std::env::current_exe().and_then(std::fs::canonicalize) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot tell where this program is: {e}")),
    };
    let path = scope.path();
    let done = settings::install(&path, &settings::relay_command(&bin));
    if done.is_ok() {
        noted(&path, true);
    }
    match done {
        Ok(changed) if changed.is_empty() => {
            println!(
                "The relay is already installed in {} for all {} events.",
                path.display(),
                EVENTS.len()
            );
            ExitCode::SUCCESS
        }
        Ok(changed) => {
            println!(
                "Installed the relay in {} for: {}.",
                path.display(),
                changed.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

pub fn uninstall(scope: Scope) -> ExitCode {
    uninstall_from(&scope.path())
}

fn uninstall_from(path: &Path) -> ExitCode {
    let done = settings::uninstall(path);
    if done.is_ok() {
        noted(path, false);
    }
    match done {
        Ok(0) => {
            println!("The relay is not installed in {}.", path.display());
            ExitCode::SUCCESS
        }
        Ok(n) => {
            println!("Removed {n} relay entries from {}.", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `hooks uninstall --everywhere`: the user's settings and every file in the list; a file
/// that is gone is dropped from the list, one that cannot be changed fails the command and
/// stays listed.
pub fn uninstall_everywhere() -> ExitCode {
    let user = Scope::User.path();
    let mut all = vec![user.clone()];
    all.extend(listed().into_iter().filter(|p| *p != user));
    let mut code = ExitCode::SUCCESS;
    for path in all {
        if uninstall_from(&path) != ExitCode::SUCCESS {
            code = ExitCode::FAILURE;
        }
    }
    code
}

pub fn status() -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut code = ExitCode::SUCCESS;
    let mut places = vec![
        ("user", Scope::User.path()),
        ("project", Scope::Project(cwd).path()),
    ];
    for path in listed() {
        if !places.iter().any(|(_, p)| *p == path) {
            places.push(("installed", path));
        }
    }
    for (label, path) in places {
        match settings::status(&path) {
            Ok(entries) if entries.is_empty() => {
                println!("{label}: not installed ({})", path.display())
            }
            Ok(entries) => {
                // PreToolUse has two entries (every tool, and questions): one event.
                let mut events: Vec<&str> = entries.iter().map(|(e, _)| e.as_str()).collect();
                events.dedup();
                let missing: Vec<&str> = EVENTS
                    .iter()
                    .copied()
                    .filter(|e| !events.contains(e))
                    .collect();
                println!(
                    "{label}: {} ({} events{})",
                    path.display(),
                    events.len(),
                    match missing.as_slice() {
                        [] => String::new(),
                        m => format!("; missing {}", m.join(", ")),
                    }
                );
                for (event, command) in entries {
                    println!("  {event}: {command}");
                }
            }
            Err(e) => {
                println!("{label}: {e}");
                code = ExitCode::FAILURE;
            }
        }
    }
    code
}

pub fn check() -> ExitCode {
    let cfg = Config::from_env();
    let path = &cfg.config_file;
    let loaded = ConfigFile::load(path).and_then(|p| Ok((p, Hosts::load_from(path)?)));
    match loaded {
        Ok((p, _)) if !path.exists() => {
            println!(
                "No config file at {}; defaults apply (no deny rules, permission_wait_secs = {}).",
                path.display(),
                p.permission_wait.as_secs()
            );
            ExitCode::SUCCESS
        }
        Ok((p, hosts)) => {
            println!(
                "{} is valid: {} deny rules, permission_wait_secs = {}, auto_adopt = {}, {}.",
                path.display(),
                p.deny.len(),
                p.permission_wait.as_secs(),
                p.auto_adopt,
                super::output::count(hosts.remote.len(), "host")
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("the config file is broken: {e}")),
    }
}
