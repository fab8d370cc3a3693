//! A real claude started by hand in a pane of the daemon's tmux server is adopted at its
//! SessionStart: a session appears for that tmux session with claude's pid and conversation,
//! and SendCommand then reaches the model.

use std::process::{Command, Stdio};

use super::api::{Reply, Usage};
use super::{Version, World, session_in_tmux};
use crate::procs::find_descendant_where;

pub async fn claude_started_by_hand_is_adopted(version: Version) {
    let w = World::new(version, &["byhand"]).await;
    let m = w.env.manager().await;
    // As a person would run it: in a pane, plain `claude` (no --session-id), with their own
    // environment (this server may be started right here, without the daemon's).
    let mut tmux = Command::new("tmux");
    tmux.arg("-S")
        .arg(w.env.tmux_socket())
        .args(["-f", "/dev/null", "new-session", "-d", "-s", "byhand", "-c"])
        .arg(w.project("byhand"));
    for (k, v) in w.claude_env() {
        tmux.args(["-e", &format!("{k}={v}")]);
    }
    tmux.args(["--", "sh", "-c", "\"$@\"; exit $?", "by-hand"])
        .arg(&w.claude)
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .stdin(Stdio::null());
    let out = tmux.output().unwrap();
    assert!(out.status.success(), "tmux new-session: {out:?}");

    let path = session_in_tmux(&w, "byhand").await;
    let s = w.env.session_uncached(&path).await;
    let pane = w.env.pane_pid("byhand");
    let claude =
        find_descendant_where(pane, |c| c.starts_with("claude")).expect("claude runs in the pane");
    w.wait("byhand", "the adopted session active", || async {
        s.status().await.unwrap() == "active"
    })
    .await;
    assert_eq!(s.pid().await.unwrap(), claude);
    // The session appears as the SessionStart adopts it; its conversation follows from the
    // same event.
    w.wait("byhand", "the SessionStart's conversation", || async {
        !s.claude_session_id().await.unwrap().is_empty()
    })
    .await;
    let claude_id = s.claude_session_id().await.unwrap();

    let name = s.name().await.unwrap();
    w.api.push(Reply::text(
        "Adopted and answering.",
        Usage::new(640, 8, 0, 0),
    ));
    m.send_command(&name, "hello from the daemon")
        .await
        .unwrap();
    let turns = w.turns("byhand", 1).await;
    assert!(turns[0].prompt_contains("hello from the daemon"));
    assert_eq!(turns[0].session_id(), Some(claude_id.as_str()));
    w.expect_figures(&s, "after the adopted session's reply")
        .await;
}
