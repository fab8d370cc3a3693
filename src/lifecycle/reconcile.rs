//! Keeping records true to tmux: loading the registry and reconciling it at daemon start (and
//! restoring the sessions a reboot lost), the reaper, and the slow periodic safety net behind
//! the pidfd watchers.

use std::sync::Arc;
use std::time::Duration;

use super::SessionService;
use super::ops::mark_stopped;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{Session, SessionId, Status, now_usec};
use crate::tmux::{Tmux, TmuxError};
use crate::{procwatch, store};

/// How often the safety net re-checks processes, and how often it reaps.
const RESCAN_EVERY: Duration = Duration::from_secs(30);
const REAP_EVERY_RESCANS: u32 = 2;
/// What `StatusDetail` says of a session whose tmux side is gone.
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
            Err(TmuxError::NoServer(_)) => TmuxView::Names(Vec::new()),
            Err(e) => {
                tracing::warn!("tmux not reachable ({e}); keeping every session as it is");
                TmuxView::Unknown
            }
        }
    }

    /// Marks a session whose tmux session is gone as stopped, keeping its record so that it
    /// can be restarted. A claude that still runs somehow keeps it as it is.
    fn tmux_gone(&self, s: &Session, why: &'static str) -> bool {
        if s.status == Status::Stopped && s.status_detail == why {
            return false;
        }
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
                            // systemd's freezer leaves processes in no stopped state: a
                            // frozen record stays frozen; a restart never thaws.
                            s.frozen = s.status == Status::Paused && (stopped || s.frozen);
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
                        tracing::info!(session_id = %id, session_name = %name, "{name}: restored after the daemon started")
                    }
                    Err(e) => {
                        tracing::warn!(session_id = %id, session_name = %name, "{name}: could not restore: {e}")
                    }
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

impl SessionService {
    /// Loads the registry file named by the config, moving an unreadable one aside.
    pub fn load_registry(cfg: &Config) -> Result<Vec<Session>> {
        let path = cfg.registry_path();
        match store::load(&path) {
            Ok(store::Loaded::Empty) => Ok(Vec::new()),
            Ok(store::Loaded::Sessions(s)) => Ok(s),
            Ok(store::Loaded::Partial {
                sessions,
                skipped,
                copy,
            }) => {
                for why in &skipped {
                    tracing::error!("registry {}: skipped {why}", path.display());
                }
                tracing::error!(
                    "loaded {} sessions of registry {}, skipped {}; the file as it was is kept as {}",
                    sessions.len(),
                    path.display(),
                    skipped.len(),
                    copy.display()
                );
                Ok(sessions)
            }
            Ok(store::Loaded::MovedAside { to, reason }) => {
                tracing::error!(
                    "registry {} could not be read ({reason}); moved it to {} and starting empty",
                    path.display(),
                    to.display()
                );
                Ok(Vec::new())
            }
            Err(e) => Err(Error::internal("reading the registry", e)),
        }
    }
}
