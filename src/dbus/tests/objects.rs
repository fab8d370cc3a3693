//! What the objects show of sessions the daemon only keeps books on: the manager's rows, the
//! session object's properties and names derived from the folder.

use super::Rig;

#[tokio::test]
async fn register_session_is_bookkeeping_only() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let dir = r.project("beta");

    let (id, name, path) = m.register_session(&dir, "").await.unwrap();
    assert_eq!(name, "beta", "name derived from the folder");
    assert_eq!(m.get_session(&id).await.unwrap(), path);
    assert_eq!(m.get_session("beta").await.unwrap(), path);
    let s = r.session_uncached(&path).await;
    assert_eq!(s.id().await.unwrap(), id);
    assert_eq!(s.name().await.unwrap(), "beta");
    assert_eq!(s.status().await.unwrap(), "starting");
    assert_eq!(s.activity().await.unwrap(), "unknown");
    assert_eq!(s.pid().await.unwrap(), 0);
    assert_eq!(s.project_dir().await.unwrap(), dir);
    assert_ne!(s.created_at().await.unwrap(), 0);
    assert_eq!(s.paused_at().await.unwrap(), 0);
    assert!(!s.frozen().await.unwrap());
    assert_eq!(
        r.tmux.world().servers_started,
        0,
        "no tmux server was started"
    );

    // A second derivation from the same folder gets a suffix.
    let (id2, name2, _) = m.register_session(&dir, "").await.unwrap();
    assert_eq!(name2, "beta-2");
    assert_ne!(id2, id);
    // Names of unmanaged tmux sessions are skipped too.
    r.tmux.idle_session("beta-3", &dir).await;
    let (_, name3, _) = m.register_session(&dir, "").await.unwrap();
    assert_eq!(name3, "beta-4");
    let (_, custom, _) = m.register_session(&dir, "custom").await.unwrap();
    assert_eq!(custom, "custom");

    let rows = m.list_sessions().await.unwrap();
    let listed: Vec<(&str, &str, &str, u32)> = rows
        .iter()
        .map(|r| (r.1.as_str(), r.3.as_str(), r.2.as_str(), r.5))
        .collect();
    assert_eq!(
        listed,
        [
            ("beta", "starting", dir.as_str(), 0),
            ("beta-2", "starting", dir.as_str(), 0),
            ("beta-4", "starting", dir.as_str(), 0),
            ("custom", "starting", dir.as_str(), 0),
        ],
        "oldest first"
    );
    assert_eq!(m.session_count().await.unwrap(), 4);
    assert_eq!(r.tmux_sessions(), ["beta-3"], "no tmux session created");
    let events: Vec<String> = (m.get_events("beta", 0).await.unwrap())
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert_eq!(events, ["registered"]);
}
