//! `trusty-mpm hooks …`: installing the relay into Claude Code settings and checking the
//! config file, with plain messages for a person.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::hooks::policy::Policy;
use crate::hooks::settings::{self, EVENTS, Scope};

use super::hosts::Hosts;

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
    match settings::install(&path, &settings::relay_command(&bin)) {
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
    let path = scope.path();
    match settings::uninstall(&path) {
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

pub fn status() -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut code = ExitCode::SUCCESS;
    for (label, scope) in [("user", Scope::User), ("project", Scope::Project(cwd))] {
        let path = scope.path();
        match settings::status(&path) {
            Ok(entries) if entries.is_empty() => {
                println!("{label}: not installed ({})", path.display())
            }
            Ok(entries) => {
                let events: Vec<&str> = entries.iter().map(|(e, _)| e.as_str()).collect();
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
    let policy = Policy::load(path).and_then(|p| Ok((p, Hosts::load_from(path)?)));
    match policy {
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
