//! Freezing a whole session: claude and every tool it started. systemd's freezer when the
//! unit supports it (cgroup v2); otherwise SIGSTOP to every process of the session (claude's
//! tree, its unit, the terminal sessions and process groups of the pane: `cgroup::processes`)
//! through a pidfd, parents first (so none can start a child meanwhile), until no process of it
//! runs; thawing continues the same processes, children first.

use super::cgroup::processes;
use super::systemd::{freeze_unit, thaw_unit};
use crate::model::ProcIdentity;
use crate::procwatch::{self, ProcHandle, Sig};

/// Rounds of stopping processes that appeared while the session was being frozen.
const ROUNDS: usize = 8;

/// Freezes the session of `claude`, started by `launcher` (the pane's process, when the daemon
/// launched it), running in `unit` (empty: none). Fails only when claude itself cannot be
/// stopped.
pub async fn freeze(
    claude: ProcIdentity,
    launcher: Option<ProcIdentity>,
    unit: &str,
) -> std::io::Result<()> {
    if !unit.is_empty() {
        match freeze_unit(unit).await {
            Ok(()) => return Ok(()),
            Err(e) => tracing::debug!(
                "{unit} is not frozen by systemd ({e}); stopping its processes instead"
            ),
        }
    }
    let unit = unit.to_owned();
    procwatch::blocking(move || signal_all(claude, launcher, &unit))
        .await
        .unwrap_or_else(|| Err(std::io::Error::other("the freezing task failed")))
}

/// Thaws what `freeze` froze: systemd's freezer, then SIGCONT to every process of the session.
/// A session that is not frozen is left as it is.
pub async fn thaw(claude: Option<ProcIdentity>, launcher: Option<ProcIdentity>, unit: &str) {
    if !unit.is_empty()
        && let Err(e) = thaw_unit(unit).await
    {
        tracing::debug!("{unit} not thawed by systemd: {e}");
    }
    let Some(claude) = claude else { return };
    let unit = unit.to_owned();
    procwatch::blocking(move || {
        let mut all = processes(claude.pid, live(launcher), &unit);
        all.reverse();
        for pid in all {
            if let Some(h) = procwatch::identity(pid).and_then(ProcHandle::open) {
                let _ = h.signal(Sig::Cont);
            }
        }
    })
    .await;
}

/// The launcher's pid while it is the process recorded (a reused pid is someone else's).
fn live(launcher: Option<ProcIdentity>) -> Option<u32> {
    launcher.filter(|l| procwatch::is_alive(*l)).map(|l| l.pid)
}

/// SIGSTOP to claude and everything of its session until every one of them is stopped.
fn signal_all(
    claude: ProcIdentity,
    launcher: Option<ProcIdentity>,
    unit: &str,
) -> std::io::Result<()> {
    let first = ProcHandle::open(claude).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the claude process has exited",
        )
    })?;
    first.signal(Sig::Stop)?;
    let launcher = live(launcher);
    for _ in 0..ROUNDS {
        let mut running = 0;
        for pid in processes(claude.pid, launcher, unit) {
            if procwatch::state(pid).is_some_and(|s| s != 'T' && s != 't' && s != 'Z')
                && let Some(h) = procwatch::identity(pid).and_then(ProcHandle::open)
            {
                running += 1;
                let _ = h.signal(Sig::Stop);
            }
        }
        if running == 0 {
            break;
        }
    }
    Ok(())
}
