//! Bringing in sessions the daemon did not start: adopt an existing tmux session, discover
//! every tmux session that runs claude. Claude is recognised by name and path here (see
//! `procwatch::looks_like_claude`), since the daemon did not launch it.

use std::sync::Arc;

use super::{SessionService, printable};
use crate::error::{Error, Result};
use crate::model::{Session, SessionName, Status};
use crate::procwatch;
use crate::tmux::{Tmux, TmuxError};
use crate::units;

impl<T: Tmux> SessionService<T> {
    /// Under systemd, moves an adopted claude and its process tree into a scope of its own
    /// and returns the unit; empty (with a log line saying why) when they cannot be moved.
    async fn unit_for_adopted(&self, name: &SessionName, claude: u32) -> String {
        if !self.cfg.under_systemd {
            return String::new();
        }
        let unit = units::unit_name(name);
        let pids = procwatch::blocking(move || units::tree(claude))
            .await
            .unwrap_or_default();
        units::clear(&unit).await;
        let scope = units::Scope {
            unit: &unit,
            slice: &self.cfg.slice,
            description: "Claude Code session adopted by trusty-mpm",
            limits: Default::default(),
            pids: &pids,
        };
        match units::start_scope(scope).await {
            Ok(()) => unit,
            Err(e) => {
                tracing::warn!(session_name = %name, "{name}: adopted without a unit of its own: its processes could not be moved ({e})");
                String::new()
            }
        }
    }

    /// `AdoptSession`: manage an existing tmux session, finding claude in any of its panes.
    pub async fn adopt(self: &Arc<Self>, tmux_name: &str) -> Result<Session> {
        let name = SessionName::new(tmux_name).map_err(|e| {
            Error::invalid(format!("'{}' cannot be adopted: {e}", printable(tmux_name)))
        })?;
        if self.lock().name_taken(&name) {
            return Err(Error::AlreadyExists(format!(
                "A session named '{name}' is already managed."
            )));
        }
        let panes = self.tmux.panes(&name).await.map_err(|e| match e {
            TmuxError::MissingTarget(_) => {
                Error::NotFound(format!("There is no tmux session named '{name}'."))
            }
            e => e.into(),
        })?;
        // Prefer the active pane, then any other, for where claude runs.
        let mut ordered = panes.clone();
        ordered.sort_by_key(|p| !p.active);
        let mut found = None;
        for p in &ordered {
            if let Some(id) = procwatch::find_claude_async(p.pid).await {
                found = Some((p.clone(), id));
                break;
            }
        }
        let pane = found.as_ref().map(|(p, _)| p).or(ordered.first());
        let dir = pane.map(|p| p.current_path.clone()).unwrap_or_default();
        let reservation = self.reserve_name(Some(name), &dir, &[])?;
        let mut session = Session::new(reservation.name.clone(), dir, true);
        if let Some(p) = pane {
            session.pane = p.id.clone();
            session.pane_server = p.server_pid;
        }
        if let Some((_, id)) = found {
            session.process = Some(id);
            session.status = Status::Active;
            session.unit = self.unit_for_adopted(&session.name, id.pid).await;
        }
        self.insert(
            session.clone(),
            "adopted",
            format!("adopted tmux session {}", session.name),
        );
        drop(reservation);
        self.commit_new(&session, false).await?;
        if let Some(id) = session.process {
            self.watch(session.id, id);
        }
        Ok(session)
    }

    /// `DiscoverSessions`: adopts every unmanaged tmux session whose panes run claude. With no
    /// tmux server there is nothing to discover.
    pub async fn discover(self: &Arc<Self>) -> Result<Vec<String>> {
        let mut adopted = Vec::new();
        for tmux_name in self.tmux_names().await? {
            let Ok(name) = SessionName::new(&tmux_name) else {
                tracing::debug!("not discovering tmux session {tmux_name:?}: name not allowed");
                continue;
            };
            if self.lock().name_taken(&name) {
                continue;
            }
            let panes = match self.tmux.panes(&name).await {
                Ok(p) => p,
                Err(TmuxError::MissingTarget(_)) => continue, // vanished meanwhile
                Err(e) => return Err(e.into()),
            };
            let mut runs_claude = false;
            for p in &panes {
                if procwatch::find_claude_async(p.pid).await.is_some() {
                    runs_claude = true;
                    break;
                }
            }
            if !runs_claude {
                continue;
            }
            match self.adopt(&tmux_name).await {
                Ok(s) => adopted.push(s.name.to_string()),
                Err(Error::AlreadyExists(_) | Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(adopted)
    }
}
