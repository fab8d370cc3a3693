//! Keeping records true to the processes: claude detection after a launch, pidfd exit watchers,
//! why a claude exited, reconciliation at daemon start (and restoring sessions after a reboot),
//! the reaper, and the slow periodic safety net.

use std::sync::Arc;
use std::time::Duration;

use super::ops::mark_stopped;
use super::{DomainEvent, SessionService, printable};
use crate::config::CLAUDE_DETECT_WINDOW;
use crate::error::{Error, Result};
use crate::model::{ProcIdentity, Session, SessionId, Status, now_usec};
use crate::procwatch::{self, Launch, ProcHandle};
use crate::tmux::{self, Tmux};

/// How often the safety net re-checks processes, and how often it reaps.
const RESCAN_EVERY: Duration = Duration::from_secs(30);
const REAP_EVERY_RESCANS: u32 = 2;
const DETECT_STEP: Duration = Duration::from_millis(20);
/// How long tmux may take to mark a pane dead after its program exited.
const PANE_DEATH_WAIT: Duration = Duration::from_millis(500);
/// How much of a dead pane's last lines a StatusDetail quotes.
const DETAIL_CHARS: usize = 200;

const SERVER_GONE: &str = "the tmux server is gone";
const SESSION_GONE: &str = "the tmux session is gone";

/// What tmux says about the sessions of a registry.
enum TmuxView {
    /// The server answered with these session names (none when no server runs).
    Names(Vec<String>),
    /// The server could not be asked (timeout, broken socket): decide nothing.
    Unknown,
}

impl TmuxView {
    /// Why a session's tmux session is gone, if it is.
    fn why_gone(&self, s: &Session) -> Option<&'static str> {
        match self {
            TmuxView::Names(names) if s.in_tmux && names.is_empty() => Some(SERVER_GONE),
            TmuxView::Names(names) if s.in_tmux && !names.iter().any(|n| n == s.name.as_str()) => {
                Some(SESSION_GONE)
            }
            _ => None,
        }
    }
}

impl<T: Tmux> SessionService<T> {
    /// Asks tmux which sessions exist; no server running means none.
    async fn tmux_view(&self) -> TmuxView {
        match self.tmux.list_sessions().await {
            Ok(n) => TmuxView::Names(n),
            Err(Error::TmuxUnavailable(m)) if tmux::is_no_server(&m) => TmuxView::Names(Vec::new()),
            Err(e) => {
                tracing::warn!("tmux not reachable ({e}); keeping every session as it is");
                TmuxView::Unknown
            }
        }
    }

    /// Watches `ident` as the claude process of `id` through a pidfd, replacing any earlier
    /// watcher; its exit marks the session stopped at once.
    pub(crate) fn watch(self: &Arc<Self>, id: SessionId, ident: ProcIdentity) {
        let Some(handle) = ProcHandle::open(ident) else {
            self.on_exit(id, ident);
            return;
        };
        let svc = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let res = handle.exited().await;
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
        let mut st = self.lock();
        match st.sessions.get_mut(&id) {
            Some(e) => {
                if let Some(old) = e.watcher.replace(task.abort_handle()) {
                    old.abort();
                }
            }
            None => task.abort(),
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
        let mut st = self.lock();
        let Some(entry) = st.sessions.get_mut(&id) else {
            return false;
        };
        if !applies(&entry.session) {
            return false;
        }
        mark_stopped(&mut entry.session);
        entry.session.status_detail = detail;
        entry.session.last_seen = now_usec();
        let what = match pid {
            0 => "claude exited".to_owned(),
            p => format!("claude (pid {p}) exited"),
        };
        super::push_event(&mut entry.history, "exited", "", what);
        entry.watcher = None;
        let session = entry.session.clone();
        self.mark_changed(&st);
        tracing::info!(session_id = %session.id, session_name = %session.name, pid, "claude exited");
        // The cause first: claude exited, hence the session stopped.
        self.emit(DomainEvent::ClaudeExited {
            session: session.clone(),
            pid,
        });
        self.emit(DomainEvent::Changed(session));
        true
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
        let pane = loop {
            let pane = self
                .tmux
                .panes(&s.name)
                .await
                .ok()?
                .into_iter()
                .find(|p| p.id == s.pane && p.server_pid == s.pane_server)?;
            if pane.dead || tokio::time::Instant::now() >= deadline {
                break pane;
            }
            tokio::time::sleep(DETECT_STEP).await;
        };
        let status = pane.dead_status.filter(|st| pane.dead && *st != 0)?;
        let hint = match status {
            127 => " (command not found)",
            126 => " (not executable)",
            _ => "",
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
            loop {
                let Some(s) = svc.get(id) else { return };
                if s.process.is_some() || !matches!(s.status, Status::Starting | Status::Paused) {
                    return;
                }
                let launch = match s.launcher {
                    Some(l) => procwatch::blocking(move || procwatch::launched(l)).await,
                    None => Some(Launch::Gone),
                };
                match launch {
                    Some(Launch::Running(ident)) => {
                        if svc.detected(id, ident)
                            && let Err(e) = svc.persist().await
                        {
                            tracing::error!("could not save the registry: {e}");
                        }
                        return;
                    }
                    Some(Launch::Gone) => {
                        svc.launch_failed(id).await;
                        return;
                    }
                    _ => {}
                }
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(session_id = %id, "the launcher did not start claude within {:?}", CLAUDE_DETECT_WINDOW);
                    return;
                }
                tokio::time::sleep(DETECT_STEP).await;
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

    /// Marks a session whose tmux session is gone as stopped, keeping its record so that it
    /// can be restarted. A claude that still runs somehow keeps it as it is.
    fn tmux_gone(&self, s: &Session, why: &'static str) -> bool {
        if s.status == Status::Stopped && s.status_detail == why {
            return false;
        }
        tracing::info!(session_id = %s.id, session_name = %s.name, "{why}; the session is stopped");
        self.update(s.id, Some(("stopped", why.to_owned())), |s| {
            mark_stopped(s);
            s.status_detail = why.to_owned();
            Ok(())
        })
        .is_ok()
    }

    /// Brings loaded records in line with /proc and tmux: live processes are re-verified and
    /// watched, exited ones become stopped, sessions whose tmux session (or server) is gone
    /// become stopped and stay restartable, frozen flags follow the real process state, pause
    /// records survive. Returns the sessions that were running and lost their tmux session
    /// (what `restore_on_start` brings back).
    pub async fn reconcile(self: &Arc<Self>) -> Result<Vec<SessionId>> {
        let view = self.tmux_view().await;
        let mut lost = Vec::new();
        for s in self.list() {
            if let Some(why) = view.why_gone(&s) {
                let was_running = matches!(s.status, Status::Starting | Status::Active);
                let alive = match s.process {
                    Some(ident) => procwatch::blocking(move || procwatch::is_alive(ident))
                        .await
                        .unwrap_or(false),
                    None => false,
                };
                if !alive && self.tmux_gone(&s, why) && was_running {
                    lost.push(s.id);
                }
                if !alive {
                    continue;
                }
            }
            self.recheck(&s).await;
        }
        self.persist().await?;
        Ok(lost)
    }

    /// Re-verifies one record's process against /proc (off the executor).
    async fn recheck(self: &Arc<Self>, s: &Session) {
        match s.process {
            Some(ident) => {
                let probe = procwatch::blocking(move || {
                    procwatch::is_alive(ident).then(|| procwatch::state(ident.pid) == Some('T'))
                })
                .await
                .flatten();
                match probe {
                    Some(stopped) => {
                        let _ = self.update(s.id, None, |s| {
                            s.frozen = stopped && s.status == Status::Paused;
                            s.last_seen = now_usec();
                            Ok(())
                        });
                        self.watch(s.id, ident);
                    }
                    None => {
                        self.on_exit(s.id, ident);
                    }
                }
            }
            None if matches!(s.status, Status::Starting | Status::Paused) && s.in_tmux => {
                self.redetect(s.id).await;
            }
            None => {}
        }
    }

    /// Tries once more to find claude in a starting session: its launcher's child, or for a
    /// session the daemon did not launch, a claude in its panes.
    async fn redetect(self: &Arc<Self>, id: SessionId) {
        let Some(s) = self.get(id) else { return };
        if let Some(l) = s.launcher {
            match procwatch::blocking(move || procwatch::launched(l)).await {
                Some(Launch::Running(ident)) => {
                    self.detected(id, ident);
                }
                Some(Launch::Gone) => self.launch_failed(id).await,
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

    /// Restarts, one at a time, the sessions `reconcile` found lost (`restore_on_start`).
    pub fn spawn_restore(self: &Arc<Self>, ids: Vec<SessionId>) {
        if ids.is_empty() {
            return;
        }
        let svc = Arc::clone(self);
        tokio::spawn(async move {
            for id in ids {
                let name = svc.get(id).map(|s| s.name.to_string()).unwrap_or_default();
                match svc.restart(id).await {
                    Ok(()) => {
                        tracing::info!(session_name = %name, "restored after the daemon started")
                    }
                    Err(e) => tracing::warn!(session_name = %name, "could not restore: {e}"),
                }
            }
        });
    }

    /// `ReapDeadSessions`: forgets sessions whose tmux session is gone (never when tmux cannot
    /// be asked) and marks sessions whose claude process is gone as stopped.
    pub async fn reap(self: &Arc<Self>) -> Result<(u32, Vec<String>, u32)> {
        self.reap_with(true).await
    }

    /// The reaper; `forget` drops the records of sessions whose tmux session is gone (an
    /// explicit reap), otherwise they only become stopped (the periodic safety net).
    pub(super) async fn reap_with(
        self: &Arc<Self>,
        forget: bool,
    ) -> Result<(u32, Vec<String>, u32)> {
        let view = self.tmux_view().await;
        let mut reaped = Vec::new();
        let mut stopped = 0;
        for s in self.list() {
            if let Some(why) = view.why_gone(&s) {
                if forget {
                    self.delete(s.id);
                    reaped.push(s.name.to_string());
                } else if self.tmux_gone(&s, why) {
                    stopped += 1;
                }
                continue;
            }
            if let Some(ident) = s.process {
                let alive = procwatch::blocking(move || procwatch::is_alive(ident))
                    .await
                    .unwrap_or(true);
                if !alive && self.on_exit(s.id, ident) {
                    stopped += 1;
                }
            }
        }
        self.persist().await?;
        Ok((reaped.len() as u32, reaped, stopped))
    }

    /// The safety net behind the pidfd watchers: a slow rescan of processes and starting
    /// sessions, and the reaper every other round.
    pub fn spawn_maintenance(self: &Arc<Self>) {
        let svc = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RESCAN_EVERY);
            tick.tick().await;
            let mut round = 0u32;
            loop {
                tick.tick().await;
                let Some(svc) = svc.upgrade() else { return };
                round += 1;
                if round.is_multiple_of(REAP_EVERY_RESCANS) {
                    if let Err(e) = svc.reap_with(false).await {
                        tracing::warn!("periodic reap failed: {e}");
                    }
                    continue;
                }
                for s in svc.list() {
                    match s.process {
                        Some(ident) => {
                            let alive = procwatch::blocking(move || procwatch::is_alive(ident))
                                .await
                                .unwrap_or(true);
                            if !alive {
                                svc.on_exit(s.id, ident);
                            }
                        }
                        None if matches!(s.status, Status::Starting | Status::Paused)
                            && s.in_tmux =>
                        {
                            svc.redetect(s.id).await;
                        }
                        None => {}
                    }
                }
                if let Err(e) = svc.persist().await {
                    tracing::error!("could not save the registry: {e}");
                }
            }
        });
    }
}
