//! The contract's error names for keys that match nothing, names already taken, operations out
//! of turn and a registry that cannot be saved: each failing call answers with its
//! `org.trusty.Mpm1.Error.<Name>` and one sentence, and changes nothing.

use super::{Rig, alive, assert_error, proc_state};
use crate::cli::proxy::SessionRow;

#[tokio::test]
async fn not_found_for_unknown_keys() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let dir = r.project("known");
    m.register_session(&dir, "known").await.unwrap();
    let before: Vec<SessionRow> = m.list_sessions().await.unwrap();

    let uuid = uuid::Uuid::new_v4();
    let keys = [
        "nosuch".to_owned(),
        uuid.hyphenated().to_string(),
        uuid.simple().to_string(),
    ];
    for key in &keys {
        let k = key.as_str();
        let msg = assert_error(m.get_session(k).await, "NotFound");
        assert!(msg.contains(k), "message names the key: {msg:?}");
        assert_error(m.pause_session(k, "", false).await, "NotFound");
        assert_error(m.resume_session(k).await, "NotFound");
        assert_error(m.stop_session(k, true).await, "NotFound");
        assert_error(m.restart_session(k).await, "NotFound");
        assert_error(m.remove_session(k, true).await, "NotFound");
        assert_error(m.send_command(k, "hi").await, "NotFound");
        assert_error(m.send_keys(k, &["Enter"]).await, "NotFound");
        assert_error(m.capture_output(k, 5, "off").await, "NotFound");
        assert_error(m.set_session_pid(k, std::process::id()).await, "NotFound");
        assert_error(m.get_events(k, 0).await, "NotFound");
    }

    // Adopting a tmux session that does not exist (on a running server).
    r.tmux.idle_session("keeper", &r.project("keeper")).await;
    assert_error(m.adopt_session("nosuch").await, "NotFound");

    assert_eq!(m.list_sessions().await.unwrap(), before, "nothing changed");
    assert_eq!(r.tmux_sessions(), ["keeper"]);
}

#[tokio::test]
async fn already_exists_for_taken_names() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let (id, path, pid) = r.start_active("dup").await;
    let dir = r.project("other");

    // A managed name.
    let msg = assert_error(
        m.start_session(&dir, "dup", Default::default()).await,
        "AlreadyExists",
    );
    assert!(msg.contains("dup"), "{msg:?}");
    assert_error(m.register_session(&dir, "dup").await, "AlreadyExists");
    assert_error(m.adopt_session("dup").await, "AlreadyExists");

    // A tmux session nobody manages.
    let taken_pane = r.tmux.idle_session("taken", &dir).await.pid;
    assert_error(
        m.start_session(&dir, "taken", Default::default()).await,
        "AlreadyExists",
    );
    assert_error(m.register_session(&dir, "taken").await, "AlreadyExists");

    // Nothing changed: one session, still running, and the unmanaged one untouched.
    let rows = m.list_sessions().await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), &rows[0].6), (id.as_str(), &path));
    assert_eq!(rows[0].3, "active");
    assert_eq!(rows[0].5, pid);
    assert!(alive(pid));
    assert_eq!(r.tmux_sessions(), ["dup", "taken"]);
    assert_eq!(r.tmux.world().sessions["taken"][0].pid, taken_pane);
    assert!(alive(taken_pane));
}

#[tokio::test]
async fn invalid_state_for_operations_out_of_turn() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let (_, path, pid) = r.start_active("st").await;
    let s = r.session_uncached(&path).await;

    let msg = assert_error(m.resume_session("st").await, "InvalidState");
    assert!(msg.contains("active"), "message names the status: {msg:?}");
    assert_error(s.resume().await, "InvalidState");
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(s.pid().await.unwrap(), pid);

    assert_eq!(
        m.pause_session("st", "first", false).await.unwrap(),
        "first"
    );
    let msg = assert_error(m.pause_session("st", "second", false).await, "InvalidState");
    assert!(msg.contains("paused"), "message names the status: {msg:?}");
    assert_error(s.pause("third", true).await, "InvalidState");
    assert_eq!(s.status().await.unwrap(), "paused");
    assert_eq!(s.pause_summary().await.unwrap(), "first");
    assert!(!s.frozen().await.unwrap());
    assert_ne!(proc_state(pid), 'T');

    // A bookkeeping-only session has no pane.
    let dir = r.project("reg");
    let (_, _, reg_path) = m.register_session(&dir, "reg").await.unwrap();
    let events = m.get_events("reg", 0).await.unwrap();
    assert_error(m.send_command("reg", "hi").await, "InvalidState");
    assert_error(m.send_keys("reg", &["Enter"]).await, "InvalidState");
    assert_error(m.capture_output("reg", 5, "off").await, "InvalidState");
    let reg = r.session_uncached(&reg_path).await;
    assert_error(reg.send_command("hi").await, "InvalidState");
    assert_eq!(reg.status().await.unwrap(), "starting");
    assert_eq!(m.get_events("reg", 0).await.unwrap(), events);
    assert_eq!(r.tmux_sessions(), ["st"]);
}

#[tokio::test]
async fn internal_when_the_registry_cannot_be_saved() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let state = r.state_dir();
    if state.exists() {
        std::fs::remove_dir_all(&state).unwrap();
    }
    std::fs::write(&state, "x").unwrap();
    let dir = r.project("doomed");
    let msg = assert_error(m.register_session(&dir, "doomed").await, "Internal");
    assert!(
        !msg.contains(state.to_string_lossy().as_ref()),
        "detail stays in the log: {msg:?}"
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        b"x",
        "the file was not replaced"
    );
}
