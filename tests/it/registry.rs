//! The registry on disk: records the daemon cannot keep as they are (over their bounds, a claude
//! session id that is not a UUID) are set aside at start and never keep it from serving, the
//! files it writes are its own, in a directory of its own, a registry of earlier builds is taken
//! over, and a change the daemon acknowledged outlives a crash.

use std::os::unix::fs::PermissionsExt;

use trusty_mpm::model::{EventRecord, Session, SessionName};
use trusty_mpm::store;

use crate::harness::*;

/// The names of the state dir's files that contain `part`.
fn files_named(env: &Env, part: &str) -> Vec<String> {
    std::fs::read_dir(env.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect()
}

#[tokio::test]
async fn records_the_daemon_cannot_keep_are_set_aside_and_it_serves_the_others() {
    let mut env = Env::new().await;
    assert!(env.stop_daemon().success());
    let record =
        |name: &str| Session::new(SessionName::new(name).unwrap(), env.project(name), false);
    let mut huge = record("huge");
    // Far over what one D-Bus message carries.
    huge.pause_summary = "x".repeat(100 << 20);
    let mut flag = record("flag");
    flag.claude_session_id = "--dangerously-skip-permissions".into();
    let good = record("good");
    let sessions = vec![huge, good, flag];
    store::write_atomic(
        &env.state_dir().join("registry.json"),
        &store::encode(sessions, &store::History::new()),
    )
    .unwrap();

    env.start_daemon().await;
    assert_eq!(session_names(&env.manager().await).await, ["good"]);
    assert_eq!(files_named(&env, "registry.json.skipped-").len(), 1);
}

#[tokio::test]
async fn the_registry_is_written_as_a_new_file_in_a_private_dir() {
    let mut env = Env::new().await;
    assert!(env.stop_daemon().success());
    let state = env.state_dir();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let victim = env.dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, state.join("registry.json.tmp")).unwrap();
    std::os::unix::fs::symlink(&victim, state.join("registry.journal.tmp")).unwrap();

    env.start_daemon().await;
    let m = env.manager().await;
    m.register_session(&env.project("saved"), "saved")
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let store::Loaded::Sessions(saved) = store::load(&state.join("registry.json")).unwrap() else {
        panic!("the registry was not written whole")
    };
    let names: Vec<&str> = saved.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["saved"]);
    let mode = std::fs::metadata(&state).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the state dir is the daemon's alone");
}

#[tokio::test]
async fn an_earlier_registry_is_taken_over_and_acknowledged_changes_outlive_a_crash() {
    let mut env = Env::new().await;
    assert!(env.stop_daemon().success());
    let state = env.state_dir();
    for f in ["registry.json", "registry.journal"] {
        let _ = std::fs::remove_file(state.join(f));
    }
    // registry.json as earlier builds wrote it: no journal.
    let old = Session::new(SessionName::new("old").unwrap(), env.project("old"), false);
    let mut history = store::History::new();
    history.insert(
        old.id,
        [EventRecord {
            at_usec: 1,
            event: "registered".into(),
            tool: String::new(),
            summary: "registered long ago".into(),
        }]
        .into(),
    );
    std::fs::write(
        state.join("registry.json"),
        store::encode(vec![old], &history),
    )
    .unwrap();

    env.start_daemon().await;
    let m = env.manager().await;
    assert_eq!(session_names(&m).await, ["old"]);
    let snapshot = std::fs::read(state.join("registry.json")).unwrap();
    for name in ["a", "b", "c"] {
        m.register_session(&env.project(name), name).await.unwrap();
    }
    m.remove_session("b", false).await.unwrap();
    m.pause_session("old", "kept over a crash", false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::read(state.join("registry.json")).unwrap(),
        snapshot,
        "changes go to the journal, not into a new snapshot"
    );

    // A crash: nothing more is saved.
    let mut daemon = env.daemon.take().unwrap();
    signal(daemon.id(), "KILL");
    daemon.wait().unwrap();
    env.start_daemon().await;
    let m = env.manager().await;
    assert_eq!(session_names(&m).await, ["old", "a", "c"]);
    let events: Vec<String> = m
        .get_events("old", 0)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.3)
        .collect();
    assert_eq!(events[0], "registered long ago");
    assert!(events.len() >= 2, "{events:?}");
    let row = env.session(&m.get_session("old").await.unwrap()).await;
    assert_eq!(row.pause_summary().await.unwrap(), "kept over a crash");
}
