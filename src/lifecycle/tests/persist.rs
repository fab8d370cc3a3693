//! Saving: a change costs a journal record of its own size, whatever the registry holds, and
//! what was saved loads back as the service had it.

use super::rig;
use crate::store;

#[tokio::test]
async fn a_save_appends_the_change_alone_and_a_clean_stop_compacts() {
    let r = rig();
    let state = r.dir.path().join("state");
    let (registry, journal) = (state.join("registry.json"), state.join("registry.journal"));
    let dir = r.project("proj");
    r.svc.register(&dir, "first").await.unwrap();
    let snapshot = std::fs::read(&registry).unwrap();
    for i in 0..300 {
        r.svc.register(&dir, &format!("s{i:03}")).await.unwrap();
    }
    let len = || std::fs::metadata(&journal).unwrap().len();
    let before = len();
    r.svc.register(&dir, "last").await.unwrap();
    let grew = len() - before;
    assert!(
        grew < 2048,
        "one registration appended {grew} bytes at 300 sessions"
    );
    assert_eq!(
        std::fs::read(&registry).unwrap(),
        snapshot,
        "the snapshot is written once, at the first save"
    );
    let store::Loaded::Sessions(saved) = store::load(&registry).unwrap() else {
        panic!("the registry does not load whole")
    };
    assert_eq!(saved.len(), 302);
    assert_eq!(saved.last().unwrap().name.as_str(), "last");
    let history = store::load_history(&registry);
    assert_eq!(history[&saved[5].id][0].event, "registered");

    r.svc.compact().await.unwrap();
    assert!(len() < 100, "the journal starts over after a compaction");
    let store::Loaded::Sessions(compacted) = store::load(&registry).unwrap() else {
        panic!("the compacted registry does not load whole")
    };
    assert_eq!(compacted, r.svc.list());
}
