//! The operations on a running session: pause, resume, stop, remove and set-pid. Each runs
//! alone on its session (`exclusive`), validates all input before it changes anything, decides
//! status changes inside the state owner on the state as it is then, and persists before it
//! returns.

use std::sync::Arc;
use std::time::Duration;

use super::summary::{paragraph, summarise};
use super::{SessionService, printable, removed_meanwhile};
use crate::config::{
    CLAUDE_DETECT_WINDOW, DEFAULT_CAPTURE_LINES, MAX_NOTE_BYTES, STOP_GRACE, TERM_GRACE,
    TRANSCRIPT_GRACE,
};
use crate::error::{Error, Result};
use crate::model::{Activity, ProcIdentity, Session, SessionId, Status, now_usec};
use crate::procwatch::{self, LauncherState, ProcHandle, Sig};
use crate::tmux::{Tmux, TmuxError};
use crate::units;

/// How often a stop looks for the claude of a session that is still starting.
const FIND_STEP: Duration = Duration::from_millis(20);

impl<T: Tmux> SessionService<T> {
    /// `PauseSession`: records a summary (the note, or one derived from the pane) and
    /// optionally freezes claude with SIGSTOP.
    pub async fn pause(&self, id: SessionId, note: &str, freeze: bool) -> Result<String> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(Error::invalid(format!(
                "The note is {} bytes; at most {MAX_NOTE_BYTES} are allowed.",
                note.len()
            )));
        }
        if !crate::text::is_clean(note) {
            return Err(Error::invalid(
                "The note may not hold control characters other than newline and tab.",
            ));
        }
        let _op = self.exclusive(id).await;
        let s = self.session(id)?;
        check_pausable(&s)?;
        let frozen = if freeze {
            let ident = s.process.ok_or_else(|| {
                Error::InvalidState(format!(
                    "Session '{}' has no known claude process to freeze.",
                    s.name
                ))
            })?;
            if open(ident).await.is_none() {
                return Err(Error::InvalidState(format!(
                    "The claude process of session '{}' has exited.",
                    s.name
                )));
            }
            Some(ident)
        } else {
            None
        };
        let summary = if !note.trim().is_empty() {
            note.trim().to_owned()
        } else if !s.last_reply.is_empty() {
            paragraph(&s.last_reply)
        } else if s.in_tmux {
            let target = self.live_target(&s).await?;
            summarise(&self.tmux.capture(&target, DEFAULT_CAPTURE_LINES).await?)
        } else {
            String::new()
        };
        // The whole session: claude and every tool it started.
        if let Some(ident) = frozen {
            units::freeze(ident, s.launcher, &s.unit)
                .await
                .map_err(|e| {
                    Error::InvalidState(format!("The claude process could not be frozen: {e}."))
                })?;
        }
        let now = now_usec();
        let kept = summary.clone();
        let paused = self.update(id, Some(("paused", first_line(&summary))), |s| {
            check_pausable(s)?;
            s.status = Status::Paused;
            s.paused_at = now;
            s.pause_summary = kept;
            s.frozen = frozen.is_some();
            Ok(())
        });
        if let Err(e) = paused {
            // claude exited meanwhile: nothing is left frozen behind a failed call.
            units::thaw(frozen, s.launcher, &s.unit).await;
            return Err(e);
        }
        self.persist().await?;
        Ok(summary)
    }

    /// `ResumeSession`: only from `paused`; thaws a frozen session.
    pub async fn resume(&self, id: SessionId) -> Result<()> {
        let _op = self.exclusive(id).await;
        let s = self.session(id)?;
        if s.status != Status::Paused {
            return Err(not_paused(&s));
        }
        if s.frozen {
            // A process that vanished meanwhile is picked up by its watcher.
            units::thaw(s.process, s.launcher, &s.unit).await;
        }
        self.update(id, Some(("resumed", String::new())), |s| {
            if s.status != Status::Paused {
                return Err(not_paused(s));
            }
            s.status = if s.process.is_some() {
                Status::Active
            } else {
                Status::Starting
            };
            s.paused_at = 0;
            s.pause_summary.clear();
            s.frozen = false;
            Ok(())
        })?;
        self.persist().await
    }

    /// `StopSession`: graceful asks claude to `/exit`, waits, then terminates; force terminates
    /// at once. Stopping a stopped session is a no-op.
    pub async fn stop(self: &Arc<Self>, id: SessionId, force: bool) -> Result<()> {
        let _op = self.exclusive(id).await;
        self.stop_now(id, force).await
    }

    /// `stop` for a caller that already holds the session (`exclusive`). A session that is
    /// still starting has its claude found first, so that a stop never leaves one running.
    pub(super) async fn stop_now(self: &Arc<Self>, id: SessionId, force: bool) -> Result<()> {
        let s = self.session(id)?;
        if s.status == Status::Stopped {
            return Ok(());
        }
        let ident = match s.process {
            Some(p) => Some(p),
            None => self.claim_starting_claude(&s).await?,
        };
        let handle = match ident {
            Some(ident) => open(ident).await,
            None => None,
        };
        if s.frozen {
            // A stopped process can neither read /exit nor act on SIGTERM.
            units::thaw(s.process, s.launcher, &s.unit).await;
        }
        let mut exited = handle.is_none();
        if !force && s.in_tmux && handle.is_some() {
            if !self.transcript_caught_up(id, TRANSCRIPT_GRACE).await {
                tracing::info!(session_id = %s.id, session_name = %s.name,
                    "{}: the transcript does not hold the latest turn after {} s; stopping anyway",
                    s.name, TRANSCRIPT_GRACE.as_secs());
            }
            let sent = match self.live_target(&s).await {
                Ok(target) => self
                    .tmux
                    .send_text(&target, "/exit")
                    .await
                    .map_err(Error::from),
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => {
                    if let Some(h) = &handle {
                        exited = wait_exit(h, STOP_GRACE).await;
                    }
                }
                Err(e) => tracing::info!(
                    session_id = %s.id, session_name = %s.name, "{}: could not send /exit ({e}); terminating instead", s.name
                ),
            }
        }
        if let Some(h) = &handle
            && !exited
        {
            exited = terminate(h).await?;
        }
        if let Some(h) = &handle {
            if !exited {
                return Err(Error::Timeout(format!(
                    "claude (pid {}) of session '{}' did not exit after SIGKILL.",
                    h.identity().pid,
                    s.name
                )));
            }
            self.on_exit(id, h.identity());
        }
        self.update(
            id,
            Some(("stopped", if force { "forced" } else { "graceful" }.into())),
            |s| {
                mark_stopped(s);
                Ok(())
            },
        )?;
        self.persist().await
    }

    /// The claude of a session that is still `starting`, found now and recorded as its process
    /// (so background detection cannot attach it later): the child of the daemon's launcher,
    /// waited for while the launcher has not forked yet; for other sessions, a claude in its
    /// panes.
    async fn claim_starting_claude(&self, s: &Session) -> Result<Option<ProcIdentity>> {
        let found = match s.launcher {
            Some(launcher) => {
                let deadline = tokio::time::Instant::now() + CLAUDE_DETECT_WINDOW;
                loop {
                    match procwatch::blocking(move || procwatch::launched(launcher)).await {
                        Some(LauncherState::Running(ident)) => break Some(ident),
                        Some(LauncherState::Gone) | None => break None,
                        Some(LauncherState::Pending) if tokio::time::Instant::now() >= deadline => {
                            break None;
                        }
                        Some(LauncherState::Pending) => tokio::time::sleep(FIND_STEP).await,
                    }
                }
            }
            None if s.in_tmux => match self.tmux.panes(&s.name).await {
                Ok(panes) => {
                    let mut found = None;
                    for p in panes.iter().filter(|p| !p.dead) {
                        found = procwatch::find_claude_async(p.pid).await;
                        if found.is_some() {
                            break;
                        }
                    }
                    found
                }
                Err(_) => None,
            },
            None => None,
        };
        if let Some(ident) = found {
            self.update(s.id, None, |s| {
                if s.process.is_none() {
                    s.process = Some(ident);
                }
                Ok(())
            })?;
        }
        Ok(self.session(s.id)?.process)
    }

    /// `RemoveSession`: forgets the session, killing its tmux session only when asked. A frozen
    /// claude is thawed first, so it is never left stopped with nobody to resume it. When the
    /// removal cannot be saved the record comes back.
    pub async fn remove(self: &Arc<Self>, id: SessionId, kill_tmux: bool) -> Result<()> {
        let _op = self.exclusive(id).await;
        let s = self.session(id)?;
        if s.frozen {
            units::thaw(s.process, s.launcher, &s.unit).await;
        }
        if kill_tmux && s.in_tmux {
            self.tmux.kill_session(&s.name).await?;
        }
        let Some(removed) = self.delete(id) else {
            return Err(removed_meanwhile());
        };
        if let Err(e) = self.persist().await {
            self.restore(removed);
            return Err(e);
        }
        Ok(())
    }

    /// `SetSessionPid`: names the claude process of a session by hand. Only a process inside
    /// the session's own panes is accepted (for a session without tmux: a process of the
    /// daemon's user working in the project directory), never the daemon, one of its
    /// ancestors, or pid 1.
    pub async fn set_pid(self: &Arc<Self>, id: SessionId, pid: u32) -> Result<()> {
        let _op = self.exclusive(id).await;
        let s = self.session(id)?;
        let roots = if s.in_tmux {
            let panes = self.tmux.panes(&s.name).await.map_err(|e| match e {
                TmuxError::MissingTarget(_) => {
                    Error::InvalidState(format!("The tmux session of '{}' is gone.", s.name))
                }
                e => e.into(),
            })?;
            Some(panes.into_iter().map(|p| p.pid).collect::<Vec<_>>())
        } else {
            None
        };
        let dir = s.project_dir.clone();
        let checked = procwatch::blocking(move || check_pid(pid, roots.as_deref(), &dir))
            .await
            .ok_or_else(|| Error::internal("checking a pid", "the check task failed"))?;
        let (ident, stopped) = checked.map_err(|why| {
            Error::invalid(format!(
                "Pid {pid} cannot be the claude of session '{}': {why}.",
                s.name
            ))
        })?;
        self.update(id, Some(("pid", format!("pid {pid}"))), |s| {
            s.process = Some(ident);
            s.frozen = stopped && s.status == Status::Paused;
            if matches!(s.status, Status::Starting | Status::Stopped) {
                s.status = Status::Active;
            }
            s.status_detail.clear();
            s.last_seen = now_usec();
            Ok(())
        })?;
        self.persist().await?;
        self.watch(id, ident);
        Ok(())
    }

    /// A copy of a session, or `NotFound`.
    pub(super) fn session(&self, id: SessionId) -> Result<Session> {
        self.get(id).ok_or_else(removed_meanwhile)
    }
}

/// Whether `pid` may be named as a session's claude: its identity and whether it is stopped,
/// or why not. `roots` are the session's pane processes (None: a session without tmux).
fn check_pid(
    pid: u32,
    roots: Option<&[u32]>,
    dir: &str,
) -> std::result::Result<(ProcIdentity, bool), String> {
    let me = std::process::id();
    if pid <= 1 {
        return Err("that is not a process a session can own".into());
    }
    let ident = procwatch::identity(pid).ok_or("no running process has that pid")?;
    if procwatch::in_tree(me, &[pid]) {
        return Err("that is the daemon or one of its ancestors".into());
    }
    match roots {
        Some(roots) if !procwatch::in_tree(pid, roots) => {
            return Err("it does not run in the session's tmux panes".into());
        }
        Some(_) => {}
        None => {
            let own = procwatch::owner(pid) == Some(rustix::process::getuid().as_raw());
            let cwd = procwatch::cwd(pid);
            let inside = cwd
                .as_deref()
                .is_some_and(|c| c.starts_with(std::path::Path::new(dir)));
            if !own || !inside {
                return Err(
                    "it is not a process of this user working in the project directory".into(),
                );
            }
        }
    }
    Ok((ident, procwatch::state(pid) == Some('T')))
}

/// Opens a pidfd for a process off the executor; `None` when it no longer runs.
async fn open(ident: ProcIdentity) -> Option<ProcHandle> {
    procwatch::blocking(move || ProcHandle::open(ident))
        .await
        .flatten()
}

/// SIGTERM, then SIGKILL after a grace period; whether the process exited. A signal the
/// kernel refuses (not a vanished process) is an error: the process is not claimed gone.
async fn terminate(h: &ProcHandle) -> Result<bool> {
    if !send(h, Sig::Term)? {
        return Ok(true);
    }
    // A process stopped by someone else would otherwise sit on the SIGTERM.
    send(h, Sig::Cont)?;
    if wait_exit(h, TERM_GRACE).await {
        return Ok(true);
    }
    tracing::warn!(pid = h.identity().pid, "claude ignored SIGTERM; killing it");
    if !send(h, Sig::Kill)? {
        return Ok(true);
    }
    Ok(wait_exit(h, TERM_GRACE).await)
}

/// Sends a signal: `Ok(false)` when the process has already exited.
fn send(h: &ProcHandle, sig: Sig) -> Result<bool> {
    match h.signal(sig) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => Ok(false),
        Err(e) => Err(Error::Internal(format!(
            "claude (pid {}) could not be signalled: {e}.",
            h.identity().pid
        ))),
    }
}

fn not_paused(s: &Session) -> Error {
    Error::InvalidState(format!(
        "Session '{}' is {}; only paused sessions can be resumed.",
        s.name,
        s.status.as_str()
    ))
}

fn check_pausable(s: &Session) -> Result<()> {
    match s.status {
        Status::Starting | Status::Active => Ok(()),
        st => Err(Error::InvalidState(format!(
            "Session '{}' is {}; only starting or active sessions can be paused.",
            s.name,
            st.as_str()
        ))),
    }
}

/// The record of a session whose claude is no longer running.
pub(super) fn mark_stopped(s: &mut Session) {
    s.status = Status::Stopped;
    s.activity = Activity::Unknown;
    s.activity_detail.clear();
    s.process = None;
    s.frozen = false;
    s.paused_at = 0;
    s.pause_summary.clear();
}

/// Waits up to `limit` for the process behind `h` to exit.
async fn wait_exit(h: &ProcHandle, limit: Duration) -> bool {
    let Some(again) = ProcHandle::open(h.identity()) else {
        return true;
    };
    tokio::time::timeout(limit, again.exited()).await.is_ok()
}

/// The first line of a text, shortened for an event summary.
pub(super) fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    printable(line)
}
