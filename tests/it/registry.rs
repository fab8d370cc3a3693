//! The registry on disk: records the daemon cannot keep as they are (over their bounds, a claude
//! session id that is not a UUID) are set aside at start and never keep it from serving.

use trusty_mpm::model::{Session, SessionName};
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
        &store::encode(sessions),
    )
    .unwrap();

    env.start_daemon().await;
    assert_eq!(session_names(&env.manager().await).await, ["good"]);
    assert_eq!(files_named(&env, "registry.json.skipped-").len(), 1);
}
