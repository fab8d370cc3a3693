//! Tool calls of the real claude under the daemon's rules: a deny rule of config.toml blocks
//! the call at PreToolUse (claude tells the model the reason and nothing runs), a call that
//! needs permission is announced over D-Bus, allowed with AnswerPermission, and then runs; an
//! "always allow" remembers a rule, and the same call then runs without asking; and a question
//! (AskUserQuestion) answered over D-Bus reaches the model.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;

use super::api::{Reply, Usage};
use super::{Activities, DENIED_WORD, DENY_REASON, Version, World, count_events};

pub async fn deny_rule_and_permission_answered(version: Version) {
    let w = World::new(version, &["tools"]).await;
    let m = w.env.manager().await;
    let mut activity = Activities::new(&m).await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let mut resolved = m.receive_permission_resolved().await.unwrap();
    let (id, s) = w.start("tools").await;
    activity.of(&id);
    let dir = w.project("tools");
    // A desktop client that answers requests runs (as notify or the tray): requests wait.
    let _answerer = w.env.answerer().await;

    // The deny rule: the call never runs, and the model hears why.
    let denied = format!("touch {DENIED_WORD}.txt");
    w.api.push(Reply::bash(&denied, Usage::new(900, 30, 0, 0)));
    w.api
        .push(Reply::text("It was refused.", Usage::new(950, 5, 0, 900)));
    m.send_command("tools", "create the forbidden file")
        .await
        .unwrap();
    let turns = w.turns("tools", 2).await;
    let (result, is_error) = turns[1]
        .tool_result(&turns[0].tool_use_id)
        .expect("the denied call's result goes back to the model");
    assert!(is_error && result.contains(DENY_REASON), "{result:?}");
    assert!(!Path::new(&dir).join(format!("{DENIED_WORD}.txt")).exists());
    assert_eq!(count_events(&s, "Denied").await, 1);
    activity.expect("ready").await;

    // A call that needs permission: asked over D-Bus, allowed there, then run.
    w.api.push(Reply::bash(
        "touch approved.txt",
        Usage::new(1000, 40, 100, 900),
    ));
    w.api
        .push(Reply::text("Created it.", Usage::new(1100, 6, 0, 1000)));
    m.send_command("tools", "create approved.txt")
        .await
        .unwrap();
    let request = loop {
        let signal = tokio::time::timeout(Duration::from_secs(30), asked.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no PermissionRequested within 30 s; the pane shows:\n{}",
                    w.screen("tools")
                )
            })
            .unwrap();
        let a = signal.args().unwrap();
        if a.id == id {
            assert_eq!(a.tool, "Bash");
            assert!(a.detail.contains("touch approved.txt"), "{:?}", a.detail);
            break a.request_id.to_owned();
        }
    };
    assert_eq!(s.activity().await.unwrap(), "needs-input");
    m.answer_permission("tools", &request, true, "")
        .await
        .unwrap();
    let turns = w.turns("tools", 4).await;
    assert_eq!(
        turns[3].tool_result(&turns[2].tool_use_id).map(|r| r.1),
        Some(false),
        "the allowed call's result, not an error"
    );
    assert!(Path::new(&dir).join("approved.txt").exists());
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let signal = resolved.next().await.unwrap();
            let a = signal.args().unwrap();
            if a.request_id == request {
                return a.outcome.to_owned();
            }
        }
    })
    .await
    .expect("PermissionResolved");
    assert_eq!(outcome, "allowed");
    activity.expect("ready").await;
    w.expect_figures(&s, "after the permitted call").await;
}
