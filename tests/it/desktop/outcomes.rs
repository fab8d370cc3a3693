//! Every PermissionRequested ends with exactly one PermissionResolved saying what ended it, the
//! waiting relay learns of it at once, and notify takes the notification down each time.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

/// The decision a relay printed (Null when it printed none).
fn decision(out: &str) -> Value {
    match out {
        "" => Value::Null,
        out => {
            serde_json::from_str::<Value>(out).unwrap()["hookSpecificOutput"]["decision"].clone()
        }
    }
}

#[tokio::test]
async fn allow_and_deny_from_the_notification_answer_and_close_it() {
    let desk = Desk::new("permission_wait_secs = 30\n", FULL).await;
    let mut req = Requests::new(&desk.env).await;
    let path = desk.env.manager().await.get_session("n").await.unwrap();
    let s = desk.env.session_uncached(&path).await;
    let deny = json!({"behavior": "deny", "message": "Denied from the desktop notification."});
    for (n, button, outcome, want) in [
        (1, "allow", "allowed", json!({"behavior": "allow"})),
        (2, "deny", "denied", deny),
    ] {
        let pending = desk.ask("make deploy");
        let rid = req.asked().await;
        let note = desk.asking(n).await;
        assert_eq!(s.activity().await.unwrap(), "needs-input");
        desk.click(note.id, button).await;
        assert_eq!(decision(&returned(pending).await), want);
        assert_eq!(req.ended().await, (rid, outcome.to_owned()));
        desk.closed(note.id).await;
        // The agent goes on: waybar's "needs input" does not linger.
        assert_eq!(s.activity().await.unwrap(), "working");
    }
    req.none_ended_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn an_expired_request_closes_its_notification_and_leaves_the_terminal_prompt() {
    let desk = Desk::new("permission_wait_secs = 2\n", FULL).await;
    let mut req = Requests::new(&desk.env).await;
    let t = Instant::now();
    let pending = desk.ask("make deploy");
    let rid = req.asked().await;
    let note = desk.asking(1).await;
    assert_eq!(req.ended().await, (rid, "expired".to_owned()));
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(decision(&returned(pending).await), Value::Null);
    desk.closed(note.id).await;
    // In its place, a note saying where the question is now; clicking it opens the terminal.
    let moved = "n: the question is now in its terminal";
    let find = || {
        let log = desk.log.lock().unwrap();
        log.shown.iter().find(|s| s.summary == moved).cloned()
    };
    wait_for("the note about the terminal", || async { find().is_some() }).await;
    let terminal = find().unwrap();
    assert_eq!(
        (terminal.body.as_str(), terminal.actions.as_slice()),
        (
            "Bash: make deploy\nNobody answered in time: answer in its terminal, click to open it.",
            ["default".to_owned(), "Open".to_owned()].as_slice()
        )
    );
    // Claude Code now asks in its terminal: the session still needs a person.
    let path = desk.env.manager().await.get_session("n").await.unwrap();
    let s = desk.env.session_uncached(&path).await;
    assert_eq!(s.activity().await.unwrap(), "needs-input");
    req.none_ended_for(Duration::from_millis(300)).await;
}

/// A request of session "n" that waits, shown as the `n`th permission notification.
struct Open {
    pending: tokio::task::JoinHandle<String>,
    request_id: String,
    note: Shown,
}

async fn open(desk: &Desk, req: &mut Requests, n: usize) -> Open {
    let pending = desk.ask("make deploy");
    let request_id = req.asked().await;
    let note = desk.asking(n).await;
    Open {
        pending,
        request_id,
        note,
    }
}

/// The request ended `outcome` (none: with its daemon), its relay returned no decision and
/// its notification was closed.
async fn ended(desk: &Desk, req: &mut Requests, open: Open, outcome: Option<&str>) {
    if let Some(outcome) = outcome {
        assert_eq!(req.ended().await, (open.request_id, outcome.to_owned()));
    }
    assert_eq!(decision(&returned(open.pending).await), Value::Null);
    desk.closed(open.note.id).await;
}

#[tokio::test]
async fn moving_on_stopping_removing_and_a_lost_daemon_end_requests_at_once() {
    let mut desk = Desk::new("permission_wait_secs = 30\n", FULL).await;
    let mut req = Requests::new(&desk.env).await;
    let m = desk.env.manager().await;

    // Answered in the terminal: the tool ran.
    let asked = open(&desk, &mut req, 1).await;
    let done = r#","tool_name":"Bash","tool_input":{"command":"make deploy"}"#;
    desk.hook("PostToolUse", done).await;
    ended(&desk, &mut req, asked, Some("withdrawn")).await;

    // The daemon goes away: the requests it held are gone, and so are their notifications.
    let asked = open(&desk, &mut req, 2).await;
    desk.env.restart_daemon().await;
    ended(&desk, &mut req, asked, None).await;
    let mut req = Requests::new(&desk.env).await;

    // Stopped or removed: withdrawn at once, well before the 30 s wait.
    let asked = open(&desk, &mut req, 3).await;
    m.stop_session("n", true).await.unwrap();
    ended(&desk, &mut req, asked, Some("withdrawn")).await;
    m.restart_session("n").await.unwrap();
    let asked = open(&desk, &mut req, 4).await;
    m.remove_session("n", false).await.unwrap();
    ended(&desk, &mut req, asked, Some("withdrawn")).await;
    req.none_ended_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn notify_only_requests_are_shown_and_end_when_the_session_moves_on() {
    let desk = Desk::new("permission_wait_secs = 0\n", FULL).await;
    let mut req = Requests::new(&desk.env).await;
    let t = Instant::now();
    let out = returned(desk.ask("make deploy")).await;
    assert_eq!(decision(&out), Value::Null);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let rid = req.asked().await;
    let note = desk.asking(1).await;
    // Nobody waits, so no Allow/Deny: the body opens the terminal where Claude Code asks.
    assert_eq!(note.actions, ["default", "Open"]);
    assert_eq!(
        note.body,
        "make deploy\nAnswer in its terminal: click to open it."
    );
    let m = desk.env.manager().await;
    assert_error(
        m.answer_permission("n", &rid, true, "").await,
        "InvalidState",
    );
    // Never expires: it stays open until the session moves on.
    req.none_ended_for(Duration::from_millis(500)).await;
    desk.hook("UserPromptSubmit", r#","prompt":"go on""#).await;
    assert_eq!(req.ended().await, (rid, "withdrawn".to_owned()));
    desk.closed(note.id).await;
}
