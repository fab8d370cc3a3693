//! What hook events do to sessions: finding the session an event belongs to, recording its
//! activity, ids and history, and withdrawing the permission requests the agent went past.
//! The meaning of each event is decided in `crate::hooks`; this file only applies it.

use std::sync::Arc;

use super::SessionService;
use crate::error::Result;
use crate::model::{Activity, SessionId, SessionName, Status, now_usec};
use crate::procwatch::{self, Ancestor};
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
    /// Claude Code's permission mode, when the event names it.
    pub permission_mode: Option<String>,
    /// The reply that ended a turn (Stop's `last_assistant_message`).
    pub last_reply: Option<String>,
    /// The prompt whose turn ended (Stop's `prompt_id`): until the transcript shows its
    /// reply, a graceful stop waits (see `ops::stop_now`).
    pub turn_ended: Option<String>,
}

/// Who ran a hook: the calling process as the bus vouches for it (0 when it cannot tell), and
/// what the relay saw of tmux (`TMUX_PANE`, `TMUX`), which may narrow the answer but never
/// decides it.
#[derive(Debug, Clone, Copy)]
pub struct HookCaller<'a> {
    pub pid: u32,
    pub pane: &'a str,
    pub tmux: &'a str,
}

/// One hook event as `crate::hooks` decided it.
#[derive(Debug, Clone)]
pub struct HookEvent<'a> {
    pub name: &'a str,
    pub tool: &'a str,
    /// Claude Code's session id in the payload (finds a session without tmux).
    pub claude_id: &'a str,
    /// The one-line summary for the history.
    pub summary: String,
    /// A SessionStart in an unmanaged tmux session adopts it.
    pub adopt: bool,
    pub effect: HookEffect,
    /// `Tool: reason` when a deny rule refuses the call.
    pub denied: Option<String>,
}

/// Who sent a hook event, as far as the session it belongs to is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// The session's own claude: the event may change its status, activity and ids.
    Own(SessionId),
    /// A claude that descends from the session's claude (a nested `claude -p` that a tool
    /// runs): its events go into the session's history, and change nothing else.
    SubAgent(SessionId),
}

/// How far up from the hook process a session's claude may be: the relay, Claude Code's hook
/// shell, and for a sub-agent its claude, the tool's shell and whatever runs in between.
const MAX_LINEAGE: usize = 16;

impl<T: Tmux> SessionService<T> {
    /// Takes one hook event: finds whose it is (`speaker`), records it and any denial in that
    /// session's history, applies its effect when the session's own claude sent it, saves once,
    /// and reads the transcript when it grew. Whose event it was; `None`: no session's.
    pub async fn on_hook(
        self: &Arc<Self>,
        from: HookCaller<'_>,
        ev: HookEvent<'_>,
    ) -> Result<Option<Speaker>> {
        let Some(speaker) = self
            .speaker(from.pid, from.pane, from.tmux, ev.claude_id, ev.adopt)
            .await
        else {
            return Ok(None);
        };
        let id = match speaker {
            Speaker::Own(id) => {
                self.apply_hook(id, ev.name, ev.tool, ev.summary, &ev.effect)?;
                id
            }
            // Deny rules hold for every agent in the session; nothing else changes.
            Speaker::SubAgent(id) => {
                self.record_event(id, "SubAgent", ev.tool, ev.summary);
                id
            }
        };
        if let Some(what) = ev.denied {
            tracing::info!(session_id = %id, "denied {what}");
            self.record_event(id, "Denied", ev.tool, what);
        }
        self.persist().await?;
        if matches!(speaker, Speaker::Own(_)) && ev.effect.transcript_grew {
            self.read_transcript(id);
        }
        Ok(Some(speaker))
    }

    /// The session with this exact name.
    pub fn find_by_name(&self, name: &str) -> Option<SessionId> {
        self.lock().by_name(name)
    }

    /// The name of the session that holds this Claude Code session id.
    pub fn holder_of(&self, claude_id: &str) -> Option<String> {
        let st = self.lock();
        st.sessions
            .values()
            .find(|e| e.session.claude_session_id == claude_id)
            .map(|e| e.session.name.to_string())
    }

    /// Whose event it is: the session whose claude the calling process (`caller`, as the bus
    /// vouches for it) descends from. The environment the relay reports (`pane`, `tmux_env`)
    /// only narrows that, for a claude the daemon does not track yet: the pane names the tmux
    /// session, and the caller must descend from the pane's own process. A SessionStart there
    /// adopts an unmanaged tmux session when `adopt` is set. A session without tmux and without
    /// a known claude is found by the claude session id it recorded.
    async fn speaker(
        self: &Arc<Self>,
        caller: u32,
        pane: &str,
        tmux_env: &str,
        claude_id: &str,
        adopt: bool,
    ) -> Option<Speaker> {
        let chain = match caller {
            0 => Vec::new(),
            // On this thread: at most MAX_LINEAGE reads of /proc/PID/stat, which wait on no
            // other process and cost less than handing them to the blocking pool (see the
            // runtime rules in docs/architecture.md).
            pid => procwatch::lineage(pid, MAX_LINEAGE),
        };
        tracing::debug!("hook from pid {caller}, lineage {chain:?}");
        if let Some(found) = self.by_lineage(&chain) {
            return Some(found);
        }
        if !pane.is_empty()
            && !chain.is_empty()
            && self.tmux.is_our_server(tmux_env).await
            && self.claude_in_pane(&chain, pane, adopt).await
        {
            return self.by_lineage(&chain);
        }
        let st = self.lock();
        st.sessions
            .values()
            .map(|e| &e.session)
            .find(|s| {
                !claude_id.is_empty()
                    && s.claude_session_id == claude_id
                    && !s.in_tmux
                    && s.process.is_none()
            })
            .map(|s| Speaker::Own(s.id))
    }

    /// The session whose tracked claude is in `chain`, or whose launcher is (a session still
    /// waiting for its claude learns it here: the launcher's child).
    fn by_lineage(self: &Arc<Self>, chain: &[Ancestor]) -> Option<Speaker> {
        let found = {
            let st = self.lock();
            chain.iter().enumerate().find_map(|(k, a)| {
                st.sessions.values().find_map(|e| {
                    let s = &e.session;
                    if s.process == Some(a.id) {
                        return Some((k, s.id, None));
                    }
                    let launched = s.process.is_none()
                        && s.launcher.is_some()
                        && chain.get(k + 1).map(|p| p.id) == s.launcher;
                    launched.then_some((k, s.id, Some(a.id)))
                })
            })
        };
        let (k, id, learnt) = found?;
        if let Some(claude) = learnt
            && !self.detected(id, claude)
        {
            return None;
        }
        // Any claude between the caller and the session's claude is a sub-agent of it.
        Some(match chain[..k].iter().any(Ancestor::is_claude) {
            true => Speaker::SubAgent(id),
            false => Speaker::Own(id),
        })
    }

    /// For a hook process in `pane` of our tmux server: when the caller descends from that
    /// pane's process and its tmux session is managed without a known claude (or adopted now,
    /// for a SessionStart), records the caller's outermost claude below the pane as the
    /// session's. Whether anything was recorded.
    async fn claude_in_pane(self: &Arc<Self>, chain: &[Ancestor], pane: &str, adopt: bool) -> bool {
        let Ok(Some(owner)) = self.tmux.pane_owner(pane).await else {
            return false;
        };
        let Ok(name) = SessionName::new(&owner.session) else {
            return false;
        };
        let Some(k) = chain.iter().position(|a| a.id.pid == owner.pane_pid) else {
            return false;
        };
        let id = match self.find_by_name(name.as_str()) {
            Some(id) => id,
            None if adopt => match self.adopt(name.as_str()).await {
                // Adoption finds the pane's claude itself.
                Ok(s) => return s.process.is_some(),
                Err(e) => {
                    tracing::info!("not adopting tmux session {name}: {e}");
                    return false;
                }
            },
            None => return false,
        };
        let Some(claude) = chain[..=k].iter().rev().find(|a| a.is_claude()) else {
            return false;
        };
        self.get(id).is_some_and(|s| s.process.is_none()) && self.detected(id, claude.id)
    }

    /// Applies one hook event to a session: history, activity, ids, and the end of a
    /// conversation.
    pub(super) fn apply_hook(
        &self,
        id: SessionId,
        event: &str,
        tool: &str,
        summary: String,
        effect: &HookEffect,
    ) -> Result<()> {
        // Two sessions never hold one conversation: another session's id is not taken over.
        let offered = effect.claude_ids.as_ref().or(effect.seen_ids.as_ref());
        let taken = offered.is_some_and(|(cid, _)| {
            let st = self.lock();
            st.sessions
                .values()
                .any(|e| e.session.id != id && e.session.claude_session_id == *cid)
        });
        if taken {
            tracing::info!(session_id = %id, "not taking a claude session id another session holds");
        }
        self.update_entry(id, |entry| {
            self.push_event(&mut entry.history, event, tool, summary);
            let prompts = entry.prompts.get_or_insert(0);
            if event == "UserPromptSubmit" {
                *prompts += 1;
                self.prompted.notify_waiters();
            }
            let s = &mut entry.session;
            if let Some((activity, detail)) = &effect.activity {
                s.activity = *activity;
                s.activity_detail = detail.clone();
            }
            if let Some(mode) = &effect.permission_mode {
                s.permission_mode = mode.clone();
            }
            if let Some(reply) = &effect.last_reply {
                s.last_reply = reply.clone();
            }
            if effect.ended && s.status != Status::Stopped {
                // The process is still recorded, so its exit is still reported as ClaudeExited.
                s.status = Status::Stopped;
            }
            let ids = match (&effect.claude_ids, &effect.seen_ids) {
                _ if taken => None,
                (Some(ids), _) => Some(ids),
                (None, Some(ids)) if s.claude_session_id.is_empty() => Some(ids),
                // The session was launched with this id and its SessionStart was missed.
                (None, Some(ids))
                    if ids.0 == s.claude_session_id && s.transcript_path.is_empty() =>
                {
                    Some(ids)
                }
                _ => None,
            };
            if let Some((cid, path)) = ids {
                if s.transcript_path != *path {
                    // Another conversation (/clear, a fork): the old file's figures are not its
                    // own.
                    s.telemetry = Telemetry::default();
                    entry.turn_ended = None;
                }
                s.claude_session_id = cid.clone();
                s.transcript_path = path.clone();
            }
            if let Some(prompt) = &effect.turn_ended {
                entry.turn_ended = Some(prompt.clone());
            }
            if effect.moves_on {
                self.withdraw_requests(entry);
            }
            entry.session.last_seen = now_usec();
            Ok(())
        })
    }
}
