//! The client's checks before a call that is easy to regret: `start` in a folder whose session
//! is only stopped (it offers `trusty-mpm restart NAME` instead of a second session beside it),
//! and `reap`, which names the sessions it would forget and asks on a terminal first. Both
//! only read the contract (and, for reap, ask the daemon's tmux server which sessions are
//! there, as the daemon does), so `StartSession` and `ReapDeadSessions` stay as they are.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use zbus::Connection;

use super::bus::{manager, sessions};
use super::output::{self, SessionInfo, count, visible};
use crate::config::Config;
use crate::tmux::{Tmux, TmuxDriver, TmuxError};

/// Exit code of a command that needs `--yes` where nobody can be asked.
const NEEDS_YES: u8 = 2;

/// The stopped session that works in `dir` and that `start` would put a second one beside:
/// with no `name` asked for, any stopped session there; with one, the stopped session of that
/// name there.
pub fn stopped_in<'a>(
    all: &'a [SessionInfo],
    dir: &str,
    name: Option<&str>,
) -> Option<&'a SessionInfo> {
    let canon = |p: &str| std::fs::canonicalize(p).unwrap_or_else(|_| Path::new(p).to_owned());
    let dir = canon(dir);
    all.iter().find(|s| {
        s.status == "stopped" && name.is_none_or(|n| n == s.name) && canon(&s.project_dir) == dir
    })
}

/// Why `start` refuses, and what to run instead.
pub fn start_refused(s: &SessionInfo, dir: &str) -> String {
    visible(&format!(
        "Session '{name}' in {dir} is stopped; start it again with `trusty-mpm restart {name}`, \
         or start another session there with `trusty-mpm start --new {dir}`.",
        name = s.name,
    ))
}

/// The sessions `ReapDeadSessions` would forget now: those in tmux whose tmux session is gone
/// (all of them when no tmux server runs); `None` when tmux cannot be asked.
async fn doomed(conn: &Connection, all: &[SessionInfo]) -> zbus::Result<Option<Vec<String>>> {
    let mut cfg = Config::from_env();
    cfg.tmux_socket = Some(manager(conn).await?.tmux_socket().await?.into());
    let there = match TmuxDriver::new(&cfg).list_sessions().await {
        Ok(names) => names,
        Err(TmuxError::NoServer(_)) => Vec::new(),
        Err(_) => return Ok(None),
    };
    Ok(Some(
        all.iter()
            .filter(|s| !s.tmux_session.is_empty() && !there.contains(&s.tmux_session))
            .map(|s| s.name.clone())
            .collect(),
    ))
}

/// Whether the person at the terminal says yes to `question`.
fn confirmed(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES")
}

/// `trusty-mpm reap [--yes] [--json]`.
pub async fn reap(conn: &Connection, json: bool, yes: bool) -> zbus::Result<ExitCode> {
    let all = sessions(conn).await?;
    let doomed = doomed(conn, &all).await?;
    let what = match &doomed {
        Some(names) if names.is_empty() => None,
        Some(names) => Some(format!(
            "{} whose tmux session is gone: {}",
            count(names.len(), "session"),
            names.join(", ")
        )),
        // The daemon forgets only what tmux confirms is gone; which that is cannot be told here.
        None => Some("every session whose tmux session is gone".to_owned()),
    };
    if let (Some(what), false) = (&what, yes) {
        let what = visible(what);
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "trusty-mpm: reap would forget {what}; confirm with `trusty-mpm reap --yes`."
            );
            return Ok(ExitCode::from(NEEDS_YES));
        }
        if !confirmed(&format!("Forget {what}?")) {
            eprintln!("Nothing was forgotten.");
            return Ok(ExitCode::FAILURE);
        }
    }
    let (reaped, names, stopped) = manager(conn).await?.reap_dead_sessions().await?;
    if json {
        let v = json!({"reaped": reaped, "names": names, "stopped": stopped});
        println!("{}", output::json(&v, true));
    } else {
        println!(
            "{}",
            visible(&format!(
                "Removed {} whose tmux session is gone{}; marked {stopped} stopped.",
                count(reaped as usize, "session"),
                match names.as_slice() {
                    [] => String::new(),
                    n => format!(" ({})", n.join(", ")),
                }
            ))
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_finds_the_stopped_session_of_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path().to_str().unwrap().to_owned();
        let session = |name: &str, status: &str, project: &str| SessionInfo {
            name: name.into(),
            status: status.into(),
            project_dir: project.into(),
            ..Default::default()
        };
        let all = [
            session("busy", "active", &here),
            session("api", "stopped", &format!("{here}/.")),
            session("other", "stopped", "/elsewhere"),
        ];
        assert_eq!(
            stopped_in(&all, &here, None).map(|s| s.name.as_str()),
            Some("api")
        );
        assert_eq!(
            stopped_in(&all, &here, Some("api")).map(|s| s.name.as_str()),
            Some("api")
        );
        assert!(stopped_in(&all, &here, Some("fresh")).is_none());
        assert!(
            stopped_in(&all[..1], &here, None).is_none(),
            "active ones are left be"
        );
        let why = start_refused(&all[1], &here);
        assert!(why.contains("`trusty-mpm restart api`"), "{why}");
        assert!(
            why.contains(&format!("`trusty-mpm start --new {here}`")),
            "{why}"
        );
    }
}
