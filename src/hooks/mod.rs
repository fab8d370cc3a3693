//! Claude Code hook interception: the payload model, the activity state machine, the deny
//! policy, waiting for the answer to a permission request, and settings.json install. The relay that
//! Claude Code runs is a client, in `crate::cli::relay`.
//!
//! `HookService::handle` is what `HandleHook` runs: find the session the event belongs to
//! (tmux pane, then Claude's session id, then the process tree), apply the event through the
//! lifecycle service, enforce deny rules, and for a permission request wait for an answer.

pub mod activity;
pub mod payload;
pub mod policy;
pub mod settings;

use std::sync::Arc;

use serde_json::json;

use crate::error::{Error, Result};
use crate::lifecycle::SessionService;
use crate::model::SessionId;
use payload::Payload;
use policy::Policy;

/// What only the relay can see about the hook process.
#[derive(Debug, Clone, Default)]
pub struct HookContext {
    /// `TMUX_PANE` of the hook process.
    pub tmux_pane: String,
    /// `TMUX` of the hook process (`socket,pid,index`).
    pub tmux: String,
    /// The relay's parent pid (a child of claude).
    pub ppid: u32,
}

impl HookContext {
    /// The tmux server's pid from `TMUX` (`socket,pid,index`); 0 when not given.
    pub fn tmux_server_pid(&self) -> u32 {
        self.tmux
            .split(',')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }
}

/// What the relay prints and exits with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookReply {
    pub stdout: String,
    pub exit_code: i32,
    pub stderr: String,
}

/// Hook handling for the daemon.
pub struct HookService {
    svc: Arc<SessionService>,
    policy: Policy,
}

impl HookService {
    pub fn new(svc: Arc<SessionService>, policy: Policy) -> Self {
        HookService { svc, policy }
    }

    /// `HandleHook`: one event from the relay.
    pub async fn handle(&self, json: &str, ctx: &HookContext) -> Result<HookReply> {
        let p = payload::parse(json)?;
        let Some(id) = self.session_for(&p, ctx).await? else {
            return Ok(HookReply::default());
        };
        self.svc.claude_from_hook(id, ctx.ppid).await;
        let effect = activity::effect(&p);
        let summary = activity::summary(&p);
        self.svc.apply_hook(
            id,
            &p.hook_event_name,
            &p.tool_name,
            summary.clone(),
            &effect,
        )?;
        self.svc.persist().await?;
        if effect.transcript_grew {
            self.svc.read_transcript(id);
        }
        if let Some(rule) = self.policy.denies(&p) {
            tracing::info!(session_id = %id, "denied {summary}: {}", rule.reason);
            self.svc.record_event(
                id,
                "Denied",
                &p.tool_name,
                format!("{}: {}", p.tool_name, rule.reason),
            );
            return Ok(reply(json!({
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "deny",
                    "permissionDecisionReason": rule.reason,
                }
            })));
        }
        if p.hook_event_name == "PermissionRequest" {
            return Ok(self.permission(id, &p, summary).await);
        }
        Ok(HookReply::default())
    }

    /// Announces a permission request and, when configured, waits for `AnswerPermission`. No
    /// answer in time, or a withdrawn request, is no decision: Claude Code asks in its terminal.
    async fn permission(&self, id: SessionId, p: &Payload, detail: String) -> HookReply {
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let wait = self.policy.permission_wait;
        let asked =
            self.svc
                .permission_requested(id, &request_id, &p.tool_name, &detail, !wait.is_zero());
        let Some(mut rx) = asked else {
            return HookReply::default();
        };
        let answer = match tokio::time::timeout(wait, &mut rx).await {
            Ok(answer) => answer.ok(),
            Err(_) if self.svc.permission_expired(id, &request_id) => None,
            // Answered (or withdrawn) just as the wait ran out.
            Err(_) => rx.try_recv().ok(),
        };
        let Some(a) = answer else {
            return HookReply::default();
        };
        let decision = if a.allow {
            json!({ "behavior": "allow" })
        } else {
            let message = if a.reason.is_empty() {
                "Denied by the operator.".to_owned()
            } else {
                a.reason
            };
            json!({ "behavior": "deny", "message": message })
        };
        reply(json!({
            "hookSpecificOutput": { "hookEventName": "PermissionRequest", "decision": decision }
        }))
    }

    /// The managed session an event belongs to; a SessionStart from an unmanaged tmux pane of
    /// our server adopts that tmux session when auto-adopt is on.
    async fn session_for(&self, p: &Payload, ctx: &HookContext) -> Result<Option<SessionId>> {
        if !ctx.tmux_pane.is_empty() && self.svc.is_our_tmux(&ctx.tmux).await {
            if let Some(id) = self.svc.find_by_pane(&ctx.tmux_pane, ctx.tmux_server_pid()) {
                return Ok(Some(id));
            }
            match self.svc.tmux_pane_owner(&ctx.tmux_pane).await {
                Ok(Some(owner)) => {
                    let name = owner.session;
                    if let Some(id) = self.svc.find_by_name(&name) {
                        return Ok(Some(id));
                    }
                    if p.hook_event_name == "SessionStart" && self.policy.auto_adopt {
                        match self.svc.adopt(&name).await {
                            Ok(s) => return Ok(Some(s.id)),
                            Err(Error::AlreadyExists(_)) => {
                                return Ok(self.svc.find_by_name(&name));
                            }
                            Err(e) => tracing::info!("not adopting tmux session {name:?}: {e}"),
                        }
                    }
                }
                Ok(None) => {}
                // tmux trouble must not fail the hook: fall back to the other clues.
                Err(e) => tracing::debug!("cannot ask tmux about pane {}: {e}", ctx.tmux_pane),
            }
        }
        if let Some(id) = self.svc.find_by_claude_id(&p.session_id) {
            return Ok(Some(id));
        }
        if ctx.ppid == 0 {
            return Ok(None);
        }
        Ok(self.svc.find_by_ancestry(ctx.ppid).await)
    }
}

fn reply(v: serde_json::Value) -> HookReply {
    HookReply {
        stdout: v.to_string(),
        exit_code: 0,
        stderr: String::new(),
    }
}
