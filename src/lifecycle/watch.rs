//! Keeping records true to the processes: claude detection after a start, pidfd exit watchers,
//! reconciliation at daemon start, the reaper, and the slow periodic safety net.

use std::sync::Arc;
use std::time::Duration;

use super::ops::mark_stopped;
use super::{DomainEvent, SessionService};
use crate::config::CLAUDE_DETECT_WINDOW;
use crate::error::{Error, Result};
use crate::model::{ProcIdentity, SessionId, Status, now_usec};
use crate::procwatch::{self, ProcHandle};

/// How often the safety net re-checks processes, and how often it reaps.
const RESCAN_EVERY: Duration = Duration::from_secs(30);
const REAP_EVERY_RESCANS: u32 = 2;
const DETECT_STEP: Duration = Duration::from_millis(50);

impl SessionService {
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
                svc.on_exit(id, ident);
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
        let mut st = self.lock();
        let Some(entry) = st.sessions.get_mut(&id) else {
            return false;
        };
        if entry.session.process != Some(ident) {
            return false;
        }
        mark_stopped(&mut entry.session);
        entry.session.last_seen = now_usec();
        super::push_event(
            &mut entry.history,
            "exited",
            "",
            format!("claude (pid {}) exited", ident.pid),
        );
        entry.watcher = None;
        let session = entry.session.clone();
        self.touch(&st);
        tracing::info!(session_id = %session.id, session_name = %session.name, pid = ident.pid, "claude exited");
        // The cause first: claude exited, hence the session stopped.
        self.emit(DomainEvent::ClaudeExited {
            session: session.clone(),
            pid: ident.pid,
        });
        self.emit(DomainEvent::Changed(session));
        true
    }

    /// Records a found claude process: `starting` becomes `active` and the process is watched.
    fn detected(self: &Arc<Self>, id: SessionId, ident: ProcIdentity) -> Result<()> {
        self.update(id, None, |s| {
            s.process = Some(ident);
            s.last_seen = now_usec();
            if s.status == Status::Starting {
                s.status = Status::Active;
            }
            Ok(())
        })?;
        self.watch(id, ident);
        Ok(())
    }

    /// Looks for claude under `pane_pid` for a few seconds, in the background.
    pub(crate) fn spawn_detection(self: &Arc<Self>, id: SessionId, pane_pid: u32) {
        let svc = Arc::clone(self);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + CLAUDE_DETECT_WINDOW;
            loop {
                let wanted = svc
                    .get(id)
                    .is_some_and(|s| s.status == Status::Starting && s.process.is_none());
                if !wanted {
                    return;
                }
                if let Some(ident) = procwatch::find_claude_async(pane_pid).await {
                    if svc.detected(id, ident).is_ok()
                        && let Err(e) = svc.persist().await
                    {
                        tracing::error!("could not save the registry: {e}");
                    }
                    return;
                }
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(session_id = %id, "no claude process found in the pane within {:?}", CLAUDE_DETECT_WINDOW);
                    return;
                }
                tokio::time::sleep(DETECT_STEP).await;
            }
        });
    }

    /// Brings loaded records in line with /proc and tmux: live processes are re-verified and
    /// watched, exited ones become stopped, vanished tmux sessions are removed (only when tmux
    /// answers), frozen flags follow the real process state. Pause records survive.
    pub async fn reconcile(self: &Arc<Self>) -> Result<()> {
        let uses_tmux = self.list().iter().any(|s| s.in_tmux);
        let tmux_names = match self.tmux.list_sessions().await {
            Ok(n) => Some(n),
            Err(_) if !uses_tmux => None,
            Err(e) => {
                tracing::warn!("tmux not reachable while reconciling ({e}); keeping every session");
                None
            }
        };
        for s in self.list() {
            if s.in_tmux
                && let Some(names) = &tmux_names
                && !names.iter().any(|n| n == s.name.as_str())
            {
                tracing::info!(session_id = %s.id, session_name = %s.name, "tmux session is gone; removing the record");
                self.delete(s.id);
                continue;
            }
            match s.process {
                Some(ident) if procwatch::is_alive(ident) => {
                    let frozen = procwatch::state(ident.pid) == Some('T');
                    let _ = self.update(s.id, None, |s| {
                        s.frozen = frozen && s.status == Status::Paused;
                        s.last_seen = now_usec();
                        Ok(())
                    });
                    self.watch(s.id, ident);
                }
                Some(ident) => {
                    self.on_exit(s.id, ident);
                }
                None if s.status == Status::Starting && s.in_tmux => {
                    self.redetect(s.id).await;
                }
                None => {}
            }
        }
        self.persist().await
    }

    /// Tries once more to find claude in a starting session's pane.
    async fn redetect(self: &Arc<Self>, id: SessionId) {
        let Some(s) = self.get(id) else { return };
        let Ok(panes) = self.tmux.panes(&s.name).await else {
            return;
        };
        for p in panes.iter().filter(|p| !p.dead) {
            if let Some(ident) = procwatch::find_claude_async(p.pid).await {
                let _ = self.update(id, None, |s| {
                    s.pane = p.id.clone();
                    Ok(())
                });
                let _ = self.detected(id, ident);
                return;
            }
        }
    }

    /// `ReapDeadSessions`: removes sessions whose tmux session is gone (never when tmux cannot
    /// be asked) and marks sessions whose claude process is gone as stopped.
    pub async fn reap(self: &Arc<Self>) -> Result<(u32, Vec<String>, u32)> {
        let tmux_names = match self.tmux.list_sessions().await {
            Ok(n) => Some(n),
            Err(Error::TmuxUnavailable(_) | Error::Timeout(_)) => None,
            Err(e) => return Err(e),
        };
        let mut reaped = Vec::new();
        let mut stopped = 0;
        for s in self.list() {
            if s.in_tmux
                && let Some(names) = &tmux_names
                && !names.iter().any(|n| n == s.name.as_str())
            {
                self.delete(s.id);
                reaped.push(s.name.to_string());
                continue;
            }
            if let Some(ident) = s.process
                && !procwatch::is_alive(ident)
                && self.on_exit(s.id, ident)
            {
                stopped += 1;
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
                    if let Err(e) = svc.reap().await {
                        tracing::warn!("periodic reap failed: {e}");
                    }
                    continue;
                }
                for s in svc.list() {
                    match s.process {
                        Some(ident) if !procwatch::is_alive(ident) => {
                            svc.on_exit(s.id, ident);
                        }
                        None if s.status == Status::Starting && s.in_tmux => {
                            svc.redetect(s.id).await;
                        }
                        _ => {}
                    }
                }
                if let Err(e) = svc.persist().await {
                    tracing::error!("could not save the registry: {e}");
                }
            }
        });
    }
}
