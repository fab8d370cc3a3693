//! Claude Code hook interception: the payload model, the activity state machine, the deny
//! policy, waiting for the answer to a permission request, and settings.json install. The relay that
//! Claude Code runs is a client, in `crate::cli::relay`.
//!
//! `HookService::handle` is what `HandleHook` runs: find the session the event belongs to (the
//! one whose claude the calling relay descends from, see `SessionService::speaker`), apply the
//! event through the lifecycle service, enforce deny rules, and for a permission request wait
//! for an answer.

pub mod activity;
pub mod payload;
pub mod policy;
pub mod requests;
pub mod settings;

use std::sync::Arc;

use serde_json::json;

use crate::config::file::ConfigFile;
use crate::error::Result;
use crate::lifecycle::{Ask, HookCaller, HookEvent, SessionService, Speaker};
use crate::model::SessionId;
use payload::Payload;

/// Who sent a hook event: the relay's process as the bus knows it, and what only the relay can
/// see (its environment, which may narrow the answer but never decides it).
#[derive(Debug, Clone, Default)]
pub struct HookContext {
    /// The pid of the calling process, from the bus (0 when the bus cannot tell).
    pub caller_pid: u32,
    /// `TMUX_PANE` of the hook process.
    pub tmux_pane: String,
    /// `TMUX` of the hook process (`socket,pid,index`).
    pub tmux: String,
    /// An answering client runs (the relay saw its name on the bus): a request waits for its
    /// answer, else nobody could give one and Claude Code asks in its terminal at once.
    pub answerer: bool,
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
    config: ConfigFile,
}

impl HookService {
    pub fn new(svc: Arc<SessionService>, config: ConfigFile) -> Self {
        HookService { svc, config }
    }

    /// `HandleHook`: one event from the relay. Parsed and decided here (its effect, the deny
    /// rule it breaks), taken by the lifecycle in one call (one save), then answered: a denial,
    /// or for a request the answer it waits for.
    pub async fn handle(&self, json: &str, ctx: &HookContext) -> Result<HookReply> {
        let p = payload::parse(json)?;
        let rule = policy::denies(&self.config.deny, &p);
        let summary = activity::summary(&p);
        let event = HookEvent {
            name: &p.hook_event_name,
            tool: &p.tool_name,
            claude_id: &p.session_id,
            summary: summary.clone(),
            adopt: p.hook_event_name == "SessionStart" && self.config.auto_adopt,
            effect: activity::effect(&p),
            denied: rule.map(|r| format!("{}: {}", p.tool_name, r.reason)),
        };
        let caller = HookCaller {
            pid: ctx.caller_pid,
            pane: &ctx.tmux_pane,
            tmux: &ctx.tmux,
        };
        let speaker = self.svc.on_hook(caller, event).await?;
        let id = match speaker {
            None => return Ok(HookReply::default()),
            Some(Speaker::Own(id) | Speaker::SubAgent(id)) => id,
        };
        if let Some(rule) = rule {
            return Ok(deny(&rule.reason));
        }
        match (speaker, requests::ask(&p, summary)) {
            (Some(Speaker::Own(_)), Some(ask)) => Ok(self.request(id, &p, ask, ctx.answerer).await),
            _ => Ok(HookReply::default()),
        }
    }

    /// Announces a request and, when configured and an answering client runs, waits for its
    /// answer. No answer in time, or
    /// a withdrawn request, is no decision: Claude Code asks in its terminal.
    async fn request(&self, id: SessionId, p: &Payload, ask: Ask, answerer: bool) -> HookReply {
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let wait = match answerer {
            true => self.config.permission_wait,
            false => std::time::Duration::ZERO,
        };
        let asked = self.svc.permission_requested(id, &request_id, ask, wait);
        let Some(mut rx) = asked else {
            return HookReply::default();
        };
        let answer = match tokio::time::timeout(wait, &mut rx).await {
            Ok(answer) => answer.ok(),
            Err(_) if self.svc.permission_expired(id, &request_id).await => None,
            // Answered (or withdrawn) just as the wait ran out.
            Err(_) => rx.try_recv().ok(),
        };
        match answer {
            Some(a) => reply(requests::decision(p, a)),
            None => HookReply::default(),
        }
    }
}

/// The deny decision for a tool call a rule forbids.
fn deny(reason: &str) -> HookReply {
    reply(json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    }))
}

fn reply(v: serde_json::Value) -> HookReply {
    HookReply {
        stdout: v.to_string(),
        exit_code: 0,
        stderr: String::new(),
    }
}
