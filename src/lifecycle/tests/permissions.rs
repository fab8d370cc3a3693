//! Every announced permission request ends exactly once, with the outcome that says what ended
//! it, and a waiting hook call learns of it at once. Sessions here have no tmux (nothing of
//! these rules touches it).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Config;
use crate::error::Error;
use crate::lifecycle::{ChangeSink, DomainEvent, HookEffect, SessionService};
use crate::model::{Activity, Session, SessionId, SessionName, Status};

/// What the service announced about permission requests, as "REQUEST requested|OUTCOME", and
/// removals as "removed".
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl ChangeSink for Recorder {
    fn report(&self, event: DomainEvent) {
        let line = match event {
            DomainEvent::PermissionRequested { request_id, .. } => {
                format!("{request_id} requested")
            }
            DomainEvent::PermissionResolved {
                request_id,
                outcome,
                ..
            } => format!("{request_id} {}", outcome.as_str()),
            DomainEvent::Removed(_) => "removed".into(),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

struct Rig {
    svc: Arc<SessionService>,
    seen: Arc<Recorder>,
    id: SessionId,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    // Whatever the environment says, nothing here may reach a tmux server or systemd.
    let mut cfg = Config::from_env();
    cfg.state_dir = dir.path().join("state");
    cfg.config_file = dir.path().join("none.toml");
    cfg.tmux_socket = Some(dir.path().join("no-tmux"));
    cfg.tmux_bin = "/nonexistent/tmux".into();
    cfg.under_systemd = false;
    let project = dir.path().to_string_lossy().into_owned();
    let mut s = Session::new(SessionName::new("p").unwrap(), project, false);
    s.status = Status::Active;
    let id = s.id;
    let seen = Arc::new(Recorder::default());
    let svc = SessionService::new(cfg, vec![s], seen.clone());
    Rig {
        svc,
        seen,
        id,
        _dir: dir,
    }
}

/// The activity a PermissionRequest hook leaves, as the hook service applies it first.
fn needs_input() -> HookEffect {
    HookEffect {
        activity: Some((Activity::NeedsInput, "Bash".into())),
        ..HookEffect::default()
    }
}

impl Rig {
    fn ask(
        &self,
        request: &str,
        wait: bool,
    ) -> Option<tokio::sync::oneshot::Receiver<crate::lifecycle::Answer>> {
        self.ask_suggesting(request, wait, Vec::new())
    }

    fn ask_suggesting(
        &self,
        request: &str,
        wait: bool,
        suggestions: Vec<crate::lifecycle::Suggestion>,
    ) -> Option<tokio::sync::oneshot::Receiver<crate::lifecycle::Answer>> {
        self.svc
            .apply_hook(
                self.id,
                "PermissionRequest",
                "Bash",
                "Bash: ls".into(),
                &needs_input(),
            )
            .unwrap();
        let ask = crate::lifecycle::Ask {
            kind: crate::lifecycle::Kind::Permission,
            tool: "Bash".into(),
            summary: "Bash: ls".into(),
            detail: "ls".into(),
            suggestions,
            questions: Vec::new(),
        };
        let wait = Duration::from_secs(if wait { 60 } else { 0 });
        self.svc.permission_requested(self.id, request, ask, wait)
    }

    fn activity(&self) -> Activity {
        self.svc.get(self.id).unwrap().activity
    }
}

#[tokio::test]
async fn answers_reach_the_waiting_call_once_and_the_agent_works_on() {
    let r = rig();
    for (allow, reason, outcome) in [(true, "", "allowed"), (false, "not now", "denied")] {
        let rx = r.ask("r1", true).unwrap();
        assert_eq!(r.activity(), Activity::NeedsInput);
        r.svc
            .answer_permission(r.id, "r1", allow, reason)
            .await
            .unwrap();
        let answer = rx.await.expect("the waiting call gets the answer");
        let want = match allow {
            true => crate::lifecycle::Answer::Allow { remember: None },
            false => crate::lifecycle::Answer::Deny {
                reason: reason.into(),
                remember: None,
            },
        };
        assert_eq!(answer, want);
        assert_eq!(r.seen.take(), ["r1 requested", &format!("r1 {outcome}")]);
        assert_eq!(r.activity(), Activity::Working);
        let again = r.svc.answer_permission(r.id, "r1", true, "").await;
        assert!(matches!(again, Err(Error::NotFound(_))), "{again:?}");
    }
    let events = r.svc.events(r.id, 0).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event == "PermissionResolved" && e.summary == "denied r1: not now")
    );
}

#[tokio::test]
async fn bad_answers_change_nothing() {
    let r = rig();
    let _rx = r.ask("r1", true).unwrap();
    let long = "x".repeat(crate::config::MAX_NOTE_BYTES + 1);
    let e = r.svc.answer_permission(r.id, "r1", false, &long).await;
    assert!(matches!(e, Err(Error::InvalidArgument(_))), "{e:?}");
    let e = r.svc.answer_permission(r.id, "other", true, "").await;
    assert!(matches!(e, Err(Error::NotFound(_))), "{e:?}");
    assert_eq!(r.seen.take(), ["r1 requested"]);
    r.svc.answer_permission(r.id, "r1", true, "").await.unwrap();
}

#[tokio::test]
async fn an_expired_request_still_needs_input_in_the_terminal() {
    let r = rig();
    let _rx = r.ask("r1", true).unwrap();
    assert!(r.svc.permission_expired(r.id, "r1").await);
    assert!(
        !r.svc.permission_expired(r.id, "r1").await,
        "ends only once"
    );
    let e = r.svc.answer_permission(r.id, "r1", true, "").await;
    assert!(matches!(e, Err(Error::NotFound(_))), "{e:?}");
    assert_eq!(r.seen.take(), ["r1 requested", "r1 expired"]);
    assert_eq!(r.activity(), Activity::NeedsInput);
}

#[tokio::test]
async fn moving_on_withdraws_and_wakes_the_waiting_call() {
    let r = rig();
    let rx = r.ask("r1", true).unwrap();
    let _notify_only = r.ask("r2", false);
    // Claude Code's own prompt was answered: the tool ran.
    let effect = HookEffect {
        activity: Some((Activity::Working, "Bash".into())),
        moves_on: true,
        ..HookEffect::default()
    };
    r.svc
        .apply_hook(r.id, "PostToolUse", "Bash", "Bash: ls".into(), &effect)
        .unwrap();
    assert!(
        rx.await.is_err(),
        "the waiting call returns without an answer"
    );
    assert_eq!(
        r.seen.take(),
        [
            "r1 requested",
            "r2 requested",
            "r1 withdrawn",
            "r2 withdrawn"
        ]
    );
    // A notification or another request does not move on.
    let _rx = r.ask("r3", true).unwrap();
    r.svc
        .apply_hook(
            r.id,
            "Notification",
            "",
            "Notification".into(),
            &needs_input(),
        )
        .unwrap();
    assert_eq!(r.seen.take(), ["r3 requested"]);
}

#[tokio::test]
async fn notify_only_requests_cannot_be_answered_and_end_with_the_session() {
    let r = rig();
    assert!(r.ask("r1", false).is_none());
    let e = r.svc.answer_permission(r.id, "r1", true, "").await;
    assert!(matches!(e, Err(Error::InvalidState(_))), "{e:?}");
    assert!(!r.svc.permission_expired(r.id, "nope").await);
    r.svc.stop(r.id, true).await.unwrap();
    assert_eq!(r.seen.take(), ["r1 requested", "r1 withdrawn"]);
    assert_eq!(r.svc.get(r.id).unwrap().status, Status::Stopped);
}

#[tokio::test]
async fn a_removed_session_withdraws_before_it_goes() {
    let r = rig();
    let rx = r.ask("r1", true).unwrap();
    r.svc.remove(r.id, false).await.unwrap();
    assert!(rx.await.is_err());
    assert_eq!(r.seen.take(), ["r1 requested", "r1 withdrawn", "removed"]);
}

/// Claude Code's suggestions as it sends them, numbered as `requests` shows them.
fn suggestions(entries: &[serde_json::Value]) -> Vec<crate::lifecycle::Suggestion> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| crate::lifecycle::Suggestion {
            id: (i + 1).to_string(),
            label: crate::claude_settings::label(e),
            destination: e["destination"].as_str().unwrap_or("").into(),
            entry: e.clone(),
        })
        .collect()
}

#[tokio::test]
async fn a_denial_remembers_its_rule_in_the_settings_file_before_claude_hears() {
    use serde_json::json;
    let r = rig();
    let rule = |destination: &str| {
        json!({"type": "addRules", "rules": [{"toolName": "Bash", "ruleContent": "npm test:*"}],
               "behavior": "allow", "destination": destination})
    };
    let offered = suggestions(&[
        rule("localSettings"),
        rule("session"),
        json!({"type": "setMode", "mode": "acceptEdits", "destination": "session"}),
    ]);
    let rx = r.ask_suggesting("r1", true, offered).unwrap();
    let deny = |remember: &str| crate::lifecycle::Reply {
        allow: Some(false),
        reason: "not this".into(),
        remember: Some(remember.into()),
        answers: None,
    };
    // Only a rule kept in a settings file can be denied from now on.
    for (id, why) in [
        ("2", "lasts only while claude runs"),
        ("3", "names no rule"),
        ("9", "1 to 3"),
    ] {
        let e = r.svc.answer_request(r.id, "r1", deny(id)).await;
        assert!(
            matches!(&e, Err(Error::InvalidArgument(m)) if m.contains(why)),
            "{id}: {e:?}"
        );
    }
    // A settings file that is not JSON stays as it was, and the request waits on.
    let project = std::path::PathBuf::from(r.svc.get(r.id).unwrap().project_dir);
    let file = project.join(".claude/settings.local.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "{ broken").unwrap();
    let e = r.svc.answer_request(r.id, "r1", deny("1")).await;
    assert!(
        matches!(&e, Err(Error::InvalidState(m)) if m.contains("not valid JSON")),
        "{e:?}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{ broken");
    assert_eq!(r.seen.take(), ["r1 requested"]);

    std::fs::write(&file, r#"{"permissions": {"allow": ["Read"]}}"#).unwrap();
    r.svc.answer_request(r.id, "r1", deny("1")).await.unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        written,
        json!({"permissions": {"allow": ["Read"], "deny": ["Bash(npm test:*)"]}})
    );
    let mut denied = rule("localSettings");
    denied["behavior"] = json!("deny");
    assert_eq!(
        rx.await.unwrap(),
        crate::lifecycle::Answer::Deny {
            reason: "not this".into(),
            remember: Some(denied)
        }
    );
    let events = r.svc.events(r.id, 0).unwrap();
    let said = &events.last().unwrap().summary;
    assert_eq!(
        said,
        "denied r1: remembered: Always deny Bash(npm test:*) in this project; not this"
    );
}
