//! What hook events do to sessions: finding the session an event belongs to, recording its
//! activity, ids and history, and withdrawing the permission requests the agent went past.
//! The meaning of each event is decided in `crate::hooks`; this file only applies it.

use super::{DomainEvent, SessionService, push_event, removed_meanwhile};
use crate::error::Result;
use crate::model::{Activity, SessionId, Status, now_usec};
use crate::telemetry::Telemetry;
use crate::tmux::Tmux;

/// The changes one hook event asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookEffect {
    /// New activity and its detail, when the event implies one.
    pub activity: Option<(Activity, String)>,
    /// The agent's conversation ended: the session becomes stopped.
    pub ended: bool,
    /// Claude Code's session id and transcript path to record (replacing older ones).
    pub claude_ids: Option<(String, String)>,
    /// The ids the event carried, recorded only when the session has none yet (or has this
    /// id and no transcript path).
    pub seen_ids: Option<(String, String)>,
    /// The agent went on past any open permission request (answered in the terminal): the
    /// requests are withdrawn.
    pub moves_on: bool,
    /// The event follows a reply Claude Code wrote to the transcript: time to read it.
    pub transcript_grew: bool,
}

/// How far up the process tree a hook's parent may be from claude.
const MAX_ANCESTRY: usize = 8;

impl<T: Tmux> SessionService<T> {
    /// The session whose recorded claude pane is `pane` on the tmux server `server_pid` (0 when
    /// unknown): pane ids repeat across servers, so a pane of a later server is not a match.
    pub fn find_by_pane(&self, pane: &str, server_pid: u32) -> Option<SessionId> {
        let st = self.lock();
        st.sessions
            .values()
            .find(|e| {
                let s = &e.session;
                s.in_tmux
                    && s.pane == pane
                    && (s.pane_server == 0 || server_pid == 0 || s.pane_server == server_pid)
            })
            .map(|e| e.session.id)
    }

    /// The session with this exact name.
    pub fn find_by_name(&self, name: &str) -> Option<SessionId> {
        self.lock().by_name(name)
    }

    /// The session that recorded this Claude Code session id.
    pub fn find_by_claude_id(&self, claude_id: &str) -> Option<SessionId> {
        if claude_id.is_empty() {
            return None;
        }
        let st = self.lock();
        st.sessions
            .values()
            .find(|e| e.session.claude_session_id == claude_id)
            .map(|e| e.session.id)
    }

    /// The session whose claude process is `pid` or one of its ancestors. The process tree is
    /// read off the executor.
    pub async fn find_by_ancestry(&self, pid: u32) -> Option<SessionId> {
        let chain =
            crate::procwatch::blocking(move || crate::procwatch::ancestry(pid, MAX_ANCESTRY))
                .await?;
        let st = self.lock();
        chain.iter().find_map(|&p| {
            st.sessions
                .values()
                .find(|e| e.session.process.is_some_and(|id| id.pid == p))
                .map(|e| e.session.id)
        })
    }

    /// Which server and tmux session a pane belongs to, asked of our tmux server.
    pub async fn tmux_pane_owner(&self, pane: &str) -> Result<Option<crate::tmux::PaneOwner>> {
        self.tmux.pane_owner(pane).await
    }

    /// Learns a session's claude from a hook process (`ppid`, a descendant of claude) when the
    /// session has none yet: the relay's parent chain leads to it.
    pub async fn claude_from_hook(self: &std::sync::Arc<Self>, id: SessionId, ppid: u32) {
        let Some(s) = self.get(id) else { return };
        if ppid == 0 || s.process.is_some() {
            return;
        }
        let launcher = s.launcher;
        let found =
            crate::procwatch::blocking(move || crate::procwatch::claude_above(ppid, launcher))
                .await
                .flatten();
        if let Some(ident) = found
            && self.detected(id, ident)
            && let Err(e) = self.persist().await
        {
            tracing::error!("could not save the registry: {e}");
        }
    }

    /// Whether `tmux_env` (a `TMUX` variable) names the server this daemon drives.
    pub async fn is_our_tmux(&self, tmux_env: &str) -> bool {
        self.tmux.is_our_server(tmux_env).await
    }

    /// Applies one hook event to a session: history, activity, ids, and the end of a
    /// conversation.
    pub fn apply_hook(
        &self,
        id: SessionId,
        event: &str,
        tool: &str,
        summary: String,
        effect: &HookEffect,
    ) -> Result<()> {
        let mut st = self.lock();
        let entry = st.sessions.get_mut(&id).ok_or_else(removed_meanwhile)?;
        push_event(&mut entry.history, event, tool, summary);
        let before = entry.session.clone();
        let s = &mut entry.session;
        if let Some((activity, detail)) = &effect.activity {
            s.activity = *activity;
            s.activity_detail = detail.clone();
        }
        if effect.ended && s.status != Status::Stopped {
            // The process is still recorded, so its exit is still reported as ClaudeExited.
            s.status = Status::Stopped;
        }
        let ids = match (&effect.claude_ids, &effect.seen_ids) {
            (Some(ids), _) => Some(ids),
            (None, Some(ids)) if s.claude_session_id.is_empty() => Some(ids),
            // The session was launched with this id and its SessionStart was missed.
            (None, Some(ids)) if ids.0 == s.claude_session_id && s.transcript_path.is_empty() => {
                Some(ids)
            }
            _ => None,
        };
        if let Some((cid, path)) = ids {
            if s.transcript_path != *path {
                // Another conversation (/clear, a fork): the old file's figures are not its own.
                s.telemetry = Telemetry::default();
            }
            s.claude_session_id = cid.clone();
            s.transcript_path = path.clone();
        }
        if effect.moves_on {
            self.withdraw_requests(entry);
        } else {
            self.withdraw_if_stopped(entry);
        }
        let s = &mut entry.session;
        let mut seen = before.clone();
        seen.last_seen = s.last_seen;
        let durable_change = *s != seen;
        s.last_seen = now_usec();
        let changed = entry.session.clone();
        if durable_change {
            self.mark_changed(&st);
        }
        // last_seen alone is published but not worth an fsync per event.
        self.emit(DomainEvent::Changed(changed));
        Ok(())
    }
}
