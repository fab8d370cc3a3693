//! Session lifecycle through the manager and session objects, end to end.

use std::collections::HashMap;

use zbus::Variant;

use crate::harness::*;

#[tokio::test]
async fn start_send_capture_pause_resume_stop_restart_remove() {
    let env = Env::new().await;
    let m = env.manager().await;
    let dir = env.project("alpha");
    let mut opts = HashMap::new();
    opts.insert("args", Variant::from(vec!["--model", "x y"]));
    let (id, name, path) = m.start_session(&dir, "", opts).await.unwrap();
    assert_eq!(name, "alpha", "name derived from the folder");
    assert_eq!(m.get_session(&id).await.unwrap(), path);
    assert_eq!(m.get_session(&id.replace('-', "")).await.unwrap(), path);
    assert_eq!(m.get_session("alpha").await.unwrap(), path);

    let s = env.session(&path).await;
    wait_for("active", || async { s.status().await.unwrap() == "active" }).await;
    let pid = s.pid().await.unwrap();
    assert!(alive(pid));
    assert_eq!(s.project_dir().await.unwrap(), dir);

    // Arguments arrive as argv, spaces intact.
    wait_for("banner", || async {
        m.capture_output("alpha", 5, "off")
            .await
            .unwrap()
            .contains("started: --model x y")
    })
    .await;

    m.send_command("alpha", "hello; $(rm -rf /) 'quoted'")
        .await
        .unwrap();
    wait_for("echo", || async {
        s.capture_output(10, "trim")
            .await
            .unwrap()
            .contains("echo: hello; $(rm -rf /) 'quoted'")
    })
    .await;
    let two = m.capture_output("alpha", 2, "off").await.unwrap();
    assert_eq!(two.lines().count(), 2, "{two:?}");

    // Pause with a derived summary and freeze.
    let summary = m.pause_session("alpha", "", true).await.unwrap();
    assert!(summary.contains("echo: hello"), "{summary:?}");
    assert!(summary.chars().count() <= 500);
    assert_eq!(s.status().await.unwrap(), "paused");
    assert!(s.frozen().await.unwrap());
    assert_eq!(s.pause_summary().await.unwrap(), summary);
    assert_ne!(s.paused_at().await.unwrap(), 0);
    wait_for("SIGSTOP applied", || async { proc_state(pid) == 'T' }).await;

    m.resume_session(&id).await.unwrap();
    wait_for("SIGCONT applied", || async { proc_state(pid) != 'T' }).await;
    assert_eq!(s.status().await.unwrap(), "active");
    assert!(!s.frozen().await.unwrap());
    assert_eq!(s.paused_at().await.unwrap(), 0);

    // Pause with a note, through the session object.
    assert_eq!(s.pause("lunch break", false).await.unwrap(), "lunch break");
    s.resume().await.unwrap();

    // Graceful stop: /exit makes the fake claude leave on its own.
    m.stop_session("alpha", false).await.unwrap();
    assert_eq!(s.status().await.unwrap(), "stopped");
    assert_eq!(s.pid().await.unwrap(), 0);
    assert!(!alive(pid));
    let tail = m.capture_output("alpha", 50, "off").await.unwrap();
    assert!(tail.contains("bye"), "{tail:?}");

    // Restart in the same tmux session.
    m.restart_session("alpha").await.unwrap();
    wait_for("active again", || async {
        s.status().await.unwrap() == "active"
    })
    .await;
    let pid2 = s.pid().await.unwrap();
    assert_ne!(pid2, pid);

    // Forced stop terminates at once.
    s.stop(true).await.unwrap();
    assert!(!alive(pid2));
    assert_eq!(s.status().await.unwrap(), "stopped");

    let events: Vec<String> = events_of(&m, "alpha")
        .await
        .into_iter()
        .map(|e| e.event)
        .collect();
    for want in [
        "started",
        "command",
        "paused",
        "resumed",
        "exited",
        "stopped",
        "restarted",
    ] {
        assert!(events.iter().any(|e| e == want), "no {want} in {events:?}");
    }
    assert_eq!(m.get_events("alpha", 2).await.unwrap().len(), 2);

    m.remove_session("alpha", true).await.unwrap();
    assert!(m.list_sessions().await.unwrap().is_empty());
    assert!(!env.tmux(&["has-session", "-t", "=alpha"]).status.success());
}

/// A tmux server that dies (killed, out of memory) is noticed as claude's exit is, through a
/// pidfd, not at the slow rescan a minute later.
#[tokio::test]
async fn a_dead_tmux_server_is_noticed_at_once() {
    let env = Env::new().await;
    let (_, path, _) = env.start_active("server-dies").await;
    let s = env.session_uncached(&path).await;
    let server: u32 =
        String::from_utf8_lossy(&env.tmux(&["display-message", "-p", "#{pid}"]).stdout)
            .trim()
            .parse()
            .expect("the tmux server runs");
    signal(server, "KILL");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (status, detail) = (s.status().await.unwrap(), s.status_detail().await.unwrap());
        if (status.as_str(), detail.as_str()) == ("stopped", "the tmux server is gone") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "5 s after the server died: {status} {detail:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
