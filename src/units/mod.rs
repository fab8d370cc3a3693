//! Each session in a systemd unit of its own: the transient scope claude is launched in (under
//! the user manager, so everything claude starts stays in it), the resource limits applied to
//! it, its resource figures (from the unit's cgroup, else from the session's process tree in
//! /proc), and freezing the whole session (systemd's freezer, else SIGSTOP to every process).
//!
//! Nothing here knows of sessions' rules: the lifecycle decides when; this module knows how.

mod cgroup;
mod freeze;
mod limits;

pub use cgroup::{Figures, figures, tree};
pub use freeze::{freeze, thaw};

use std::time::Duration;

use tokio::process::Command;

use crate::error::{Error, Result};
use crate::limits::Limits;
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

/// Moves running processes (an adopted session's claude and what it started) into a new scope
/// `unit` in `slice`: StartTransientUnit with their pids, asked of the user manager.
pub async fn move_into_scope(unit: &str, slice: &str, pids: &[u32]) -> Result<()> {
    let mut args: Vec<String> = [
        "call",
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "StartTransientUnit",
        "ssa(sv)a(sa(sv))",
        unit,
        "fail",
        "5",
        "PIDs",
        "au",
    ]
    .map(String::from)
    .into();
    args.push(pids.len().to_string());
    args.extend(pids.iter().map(u32::to_string));
    for (k, v) in [
        ("Slice", slice),
        ("Description", "Claude Code session adopted by trusty-mpm"),
        ("CollectMode", "inactive-or-failed"),
    ] {
        args.extend([k.to_owned(), "s".to_owned(), v.to_owned()]);
    }
    args.extend(["MemoryAccounting", "b", "true"].map(String::from));
    args.push("0".to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    user_tool("busctl", &args).await?;
    // The call queues a job: the processes have moved once the scope is active.
    for _ in 0..100 {
        if systemctl(&["is-active", "--quiet", unit]).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(Error::Timeout(format!(
        "{unit} did not become active within 2 s."
    )))
}

/// Runs `systemctl --user ARGS`; its stderr as the error when it fails.
pub async fn systemctl(args: &[&str]) -> Result<()> {
    user_tool("systemctl", args).await
}

/// Runs `PROGRAM --user ARGS` against the user manager, bounded in time.
async fn user_tool(program: &str, args: &[&str]) -> Result<()> {
    let mut cmd = Command::new(program);
    cmd.arg("--user")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for var in crate::systemd::PRIVATE_ENV {
        cmd.env_remove(var);
    }
    let out = tokio::time::timeout(SYSTEMCTL_TIMEOUT, cmd.output())
        .await
        .map_err(|_| Error::Timeout(format!("{program} did not answer within 5 s.")))?
        .map_err(|e| Error::Internal(format!("{program} could not run: {e}.")))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(Error::Internal(format!(
            "{program} --user {} failed: {}.",
            args.first().copied().unwrap_or_default(),
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
