//! Each session in a systemd unit of its own: the transient scope claude is launched in (under
//! the user manager, so everything claude starts stays in it), the resource limits applied to
//! it, its resource figures (from the unit's cgroup, else from the session's process tree in
//! /proc), and freezing the whole session (systemd's freezer, else SIGSTOP to every process).
//!
//! Nothing here knows of sessions' rules: the lifecycle decides when; this module knows how.

mod cgroup;
mod freeze;
mod limits;

pub use cgroup::{Figures, figures};
pub use freeze::{freeze, thaw};
pub use limits::{Limits, parse_size};

use std::time::Duration;

use tokio::process::Command;

use crate::error::{Error, Result};
use crate::model::SessionName;

/// How long a `systemctl --user` call may take.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(5);

/// The unit a session's claude runs in.
pub fn unit_name(session: &SessionName) -> String {
    format!("trusty-mpm-session-{session}.scope")
}

/// The command that runs `argv` in a new transient scope `unit` in `slice`, with accounting on
/// and `limits` applied: `systemd-run --scope` registers itself as the scope's only process and
/// then execs `argv`, so nothing claude starts can escape the unit.
pub fn scoped(unit: &str, slice: &str, limits: &Limits, argv: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = [
        "systemd-run",
        "--user",
        "--scope",
        "--quiet",
        "--collect",
        "--description=Claude Code session run by trusty-mpm",
    ]
    .map(String::from)
    .into();
    out.push(format!("--unit={unit}"));
    out.push(format!("--slice={slice}"));
    for p in [
        "MemoryAccounting=yes",
        "CPUAccounting=yes",
        "TasksAccounting=yes",
    ]
    .into_iter()
    .map(String::from)
    .chain(limits.properties())
    {
        out.extend(["-p".to_owned(), p]);
    }
    out.push("--".to_owned());
    out.extend(argv);
    out
}

/// Runs `systemctl --user ARGS`; its stderr as the error when it fails.
pub async fn systemctl(args: &[&str]) -> Result<()> {
    let mut cmd = Command::new("systemctl");
    cmd.arg("--user")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for var in crate::tmux::PRIVATE_ENV {
        cmd.env_remove(var);
    }
    let out = tokio::time::timeout(SYSTEMCTL_TIMEOUT, cmd.output())
        .await
        .map_err(|_| Error::Timeout("systemctl did not answer within 5 s.".into()))?
        .map_err(|e| Error::Internal(format!("systemctl could not run: {e}.")))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(Error::Internal(format!(
            "systemctl --user {} failed: {}.",
            args.join(" "),
            err.trim().trim_end_matches('.')
        )))
    }
}

/// Ends what an earlier launch left in `unit` (a tool claude started that outlived it), so the
/// name is free for the next launch. A unit that is not there is fine.
pub async fn clear(unit: &str) {
    if let Err(e) = systemctl(&["stop", unit]).await {
        tracing::debug!("stopping leftover unit {unit}: {e}");
    }
}
