//! Keeping records true to the processes: claude detection after a launch, pidfd exit watchers
//! of claude and of the tmux server, and why a claude exited.

use std::sync::Arc;
use std::time::Duration;

use super::ops::mark_stopped;
use super::{DomainEvent, SessionService, printable};
use crate::config::CLAUDE_DETECT_WINDOW;
use crate::error::Error;
use crate::model::{ProcIdentity, Session, SessionId, Status, now_usec};
use crate::procwatch::{self, LauncherState, ProcHandle};
use crate::tmux::Tmux;

const DETECT_STEP: Duration = Duration::from_millis(20);
const DETECT_SLOW_STEP: Duration = Duration::from_millis(500);
/// How long tmux may take to mark a pane dead after its program exited: on a loaded machine
/// (a build beside a busy tmux server) this took more than 3 s. Only the StatusDetail of a
/// failed claude waits for it, in the background; the exit status comes from tmux, or from the
/// pane's unreaped program while tmux has not reaped it.
const PANE_DEATH_WAIT: Duration = Duration::from_secs(10);
/// How much of a dead pane's last lines a StatusDetail quotes.
const DETAIL_CHARS: usize = 200;

impl<T: Tmux> SessionService<T> {
    /// Watches `ident` as the claude process of `id` through a pidfd, replacing any earlier
    /// watcher; its exit marks the session stopped at once.
    pub(crate) fn watch(self: &Arc<Self>, id: SessionId, ident: ProcIdentity) {
        let handle = ProcHandle::open(ident);
        let svc = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            // A claude gone before its watch began exited like any other: the same path tells
            // why (a claude that fails at once exits before it is watched on a loaded machine).
            let res = match handle {
                Some(handle) => handle.exited().await.map(drop),
                None => Ok(()),
            };
            if let Some(svc) = svc.upgrade() {
                if let Err(e) = res {
                    tracing::warn!("exit watch of pid {} failed: {e}", ident.pid);
                    return;
                }
                if svc.on_exit(id, ident) {
                    svc.explain_exit(id).await;
                }
                if let Err(e) = svc.persist().await {
                    tracing::error!("could not save the registry after an exit: {e}");
                }
            }
        });
        let server = {
            let mut st = self.lock();
            let Some(e) = st.sessions.get_mut(&id) else {
                task.abort();
                return;
            };
            if let Some(old) = e.watcher.replace(task.abort_handle()) {
                old.abort();
            }
            e.session.pane_server
        };
        self.watch_server(server);
    }

    /// Watches the tmux server `pid` (0: unknown) through a pidfd, once per server: when it
    /// dies its sessions are stopped at once with "the tmux server is gone", not at the
    /// reaper's next round.
    fn watch_server(self: &Arc<Self>, pid: u32) {
        let watched = |st: &super::State| {
            st.server_watcher
                .as_ref()
                .is_some_and(|(p, task)| *p == pid && !task.is_finished())
        };
        if pid == 0 || watched(&self.lock()) {
            return;
        }
        let Some(handle) = procwatch::identity(pid).and_then(ProcHandle::open) else {
            return;
        };
        let svc = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let res = handle.exited().await;
            let Some(svc) = svc.upgrade() else { return };
            match res {
                Ok(_) => {
                    tracing::info!("the tmux server (pid {pid}) exited");
                    if let Err(e) = svc.reap_with(false).await {
                        tracing::warn!(
                            "could not mark the sessions of the tmux server stopped: {e}"
                        );
                    }
                }
                Err(e) => tracing::warn!("exit watch of the tmux server (pid {pid}) failed: {e}"),
            }
        });
        let mut st = self.lock();
        if let Some((_, old)) = st.server_watcher.replace((pid, task.abort_handle())) {
            old.abort();
        }
    }

    /// Records that `ident` exited, if it is still the session's claude process: the session
    /// becomes stopped and `ClaudeExited` is published, exactly once per process.
    pub(crate) fn on_exit(&self, id: SessionId, ident: ProcIdentity) -> bool {
        self.mark_exited(id, ident.pid, String::new(), |s| s.process == Some(ident))
    }

    /// Marks a session stopped because its claude (`pid`, 0 when never known) is gone, when
    /// `applies` holds for the record as it is now; publishes `ClaudeExited`, then the change.
    fn mark_exited(
        &self,
        id: SessionId,
        pid: u32,
        detail: String,
        applies: impl FnOnce(&Session) -> bool,
    ) -> bool {
        self.update_entry(id, |entry| {
            if !applies(&entry.session) {
                return Ok(false);
            }
            mark_stopped(&mut entry.session);
            entry.session.status_detail = detail;
            entry.session.last_seen = now_usec();
            let what = match pid {
                0 => "claude exited".to_owned(),
                p => format!("claude (pid {p}) exited"),
            };
            self.push_event(&mut entry.history, "exited", "", what.clone());
            entry.watcher = None;
            self.withdraw_requests(entry);
            let session = entry.session.clone();
            tracing::info!(session_id = %session.id, session_name = %session.name, pid, "{}: {what}", session.name);
            // The cause first: claude exited, hence the session stopped (published after).
            self.emit(DomainEvent::ClaudeExited { session, pid });
            Ok(true)
        })
        .unwrap_or(false)
    }

    /// After a launched claude exited: when it failed (non-zero status), say so in
    /// `StatusDetail` with the pane's last lines, which hold its error message.
    async fn explain_exit(&self, id: SessionId) {
        if let Some(detail) = self.exit_detail(id, "").await {
            let _ = self.update(id, None, |s| {
                if s.status == Status::Stopped && s.process.is_none() {
                    s.status_detail = detail;
                }
                Ok(())
            });
        }
    }

    /// "claude exited with status N{when}: last lines" from the session's dead pane; `None`
    /// when the pane is unknown or not dead, or the exit status is 0.
    async fn exit_detail(&self, id: SessionId, when: &str) -> Option<String> {
        let s = self.get(id)?;
        if s.pane.is_empty() {
            return None;
        }
        let deadline = tokio::time::Instant::now() + PANE_DEATH_WAIT;
        let (pane, status) = loop {
            let pane = self
                .tmux
                .panes(&s.name)
                .await
                .ok()?
                .into_iter()
                .find(|p| p.id == s.pane && p.server_pid == s.pane_server)?;
            // tmux calls a pane dead once its terminal closes, but learns the exit status only
            // when it reaps the program: a moment later, or (seen under load) not until another
            // child of tmux exits. A program exited and not reaped yet tells it through /proc.
            let status = match pane.dead_status {
                Some(st) if pane.dead => Some(st),
                _ => procwatch::zombie_status(pane.pid),
            };
            if status.is_some() || tokio::time::Instant::now() >= deadline {
                break (pane, status);
            }
            tokio::time::sleep(DETECT_STEP).await;
        };
        let status = status.filter(|st| *st != 0)?;
        let memory_limit = s.limits.over(&self.cfg.default_limits).memory_max;
        let hint = match (status, memory_limit) {
            (127, _) => " (command not found)".to_owned(),
            (126, _) => " (not executable)".to_owned(),
            (137, Some(max)) if !s.unit.is_empty() => {
                format!(
                    " (killed by SIGKILL: the kernel kills inside a unit at its memory limit, MemoryMax={max})"
                )
            }
            (137, _) => " (killed by SIGKILL)".to_owned(),
            _ => String::new(),
        };
        let text = self.tmux.capture(&pane.id, 50).await.unwrap_or_default();
        let last: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Pane is dead"))
            .collect();
        let tail = last[last.len().saturating_sub(2)..].join(" | ");
        let mut detail = format!("claude exited with status {status}{hint}{when}");
        if !tail.is_empty() {
            detail.push_str(": ");
            detail.extend(printable(&tail).chars().take(DETAIL_CHARS));
        }
        Some(detail)
    }

    /// Records a found claude process, if the session is still waiting for one (a stop or a
    /// restart may have come first): `starting` becomes `active` and the process is watched.
    pub(super) fn detected(self: &Arc<Self>, id: SessionId, ident: ProcIdentity) -> bool {
        let attached = self.update(id, None, |s| {
            let waiting =
                s.process.is_none() && matches!(s.status, Status::Starting | Status::Paused);
            if !waiting {
                return Err(Error::InvalidState("no longer waiting for claude".into()));
            }
            s.process = Some(ident);
            s.last_seen = now_usec();
            if s.status == Status::Starting {
                s.status = Status::Active;
            }
            Ok(())
        });
        if attached.is_ok() {
            self.watch(id, ident);
        }
        attached.is_ok()
    }

    /// Finds the claude of a launched session in the background: the child of its launcher
    /// (by construction, whatever the program is called). A launcher that exits first means
    /// claude could not start: the session is stopped at once, saying why.
    pub(crate) fn spawn_detection(self: &Arc<Self>, id: SessionId) {
        let svc = Arc::clone(self);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + CLAUDE_DETECT_WINDOW;
            let mut warned = false;
            loop {
                let Some(s) = svc.get(id) else { return };
                if s.process.is_some() || !matches!(s.status, Status::Starting | Status::Paused) {
                    return;
                }
                let launch = match s.launcher {
                    Some(l) => procwatch::blocking(move || procwatch::launched(l)).await,
                    None => Some(LauncherState::Gone),
                };
                match launch {
                    Some(LauncherState::Running(ident)) => {
                        if svc.detected(id, ident) {
                            svc.spawn_dialog_look(id);
                            if let Err(e) = svc.persist().await {
                                tracing::error!("could not save the registry: {e}");
                            }
                        }
                        return;
                    }
                    Some(LauncherState::Gone) => {
                        svc.launch_failed(id).await;
                        return;
                    }
                    _ => {}
                }
                // A loaded machine may take long to fork: keep looking while the launcher
                // lives, slower after the first seconds.
                let step = if tokio::time::Instant::now() < deadline {
                    DETECT_STEP
                } else {
                    if !warned {
                        warned = true;
                        tracing::warn!(session_id = %id, "the launcher has not started claude within {:?}", CLAUDE_DETECT_WINDOW);
                    }
                    DETECT_SLOW_STEP
                };
                tokio::time::sleep(step).await;
            }
        });
    }

    /// The launcher exited before claude was found: the session stops with the exit status
    /// and the pane's last lines.
    async fn launch_failed(&self, id: SessionId) {
        let detail = self
            .exit_detail(id, " before it started")
            .await
            .unwrap_or_else(|| "claude exited before it started".to_owned());
        let stopped = self.mark_exited(id, 0, detail, |s| {
            s.process.is_none() && matches!(s.status, Status::Starting | Status::Paused)
        });
        if stopped && let Err(e) = self.persist().await {
            tracing::error!("could not save the registry: {e}");
        }
    }

    /// Tries once more to find claude in a starting session: its launcher's child, or for a
    /// session the daemon did not launch, a claude in its panes.
    pub(super) async fn redetect(self: &Arc<Self>, id: SessionId) {
        let Some(s) = self.get(id) else { return };
        if let Some(l) = s.launcher {
            match procwatch::blocking(move || procwatch::launched(l)).await {
                Some(LauncherState::Running(ident)) => {
                    self.detected(id, ident);
                }
                Some(LauncherState::Gone) => self.launch_failed(id).await,
                _ => {}
            }
            return;
        }
        let Ok(panes) = self.tmux.panes(&s.name).await else {
            return;
        };
        for p in panes.iter().filter(|p| !p.dead) {
            if let Some(ident) = procwatch::find_claude_async(p.pid).await {
                let _ = self.update(id, None, |s| {
                    s.pane = p.id.clone();
                    s.pane_server = p.server_pid;
                    Ok(())
                });
                self.detected(id, ident);
                return;
            }
        }
    }
}
