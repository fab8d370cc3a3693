//! The tray follows the sessions, the requests and the daemon (across its restarts and the
//! host's), and a click on an entry of a menu that has changed since is refused.

use std::time::Duration;

use futures_util::StreamExt;

use super::*;

#[tokio::test]
async fn tray_registers_and_follows_the_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let attached = dir.path().join("attached");
    let terminal = terminal(dir.path(), &attached);
    let config = config(
        dir.path(),
        &format!(
            "permission_wait_secs = 10\nterminal_command = \"{} --title x -e\"\n",
            terminal.display()
        ),
    );
    let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", &config)]).await;
    let (_watcher, items) = serve_watcher(&env).await;
    let tray = Tray::start(&env, &items, Setup::plain(&config, dir.path())).await;

    // Hosts hide a Passive item: with no sessions it is Active all the same.
    assert_eq!(tray.item.status().await.unwrap(), "Active");
    assert_eq!(tray.tooltip().await, "No sessions");
    assert_eq!(tray.top().await[0], "trusty-mpm — No sessions (off)");

    // A session: a new icon and menu, announced to the host by NewIcon and LayoutUpdated.
    let mut new_icon = tray.item.receive_new_icon().await.unwrap();
    let mut layout = tray.menu.receive_layout_updated().await.unwrap();
    let idle = tray.item.icon_pixmap().await.unwrap();
    let (id, _, _) = env.start_active("t_1").await;
    tokio::time::timeout(Duration::from_secs(5), new_icon.next())
        .await
        .expect("NewIcon");
    assert_ne!(
        tray.item.icon_pixmap().await.unwrap(),
        idle,
        "the running icon"
    );
    tokio::time::timeout(Duration::from_secs(5), layout.next())
        .await
        .expect("LayoutUpdated");
    wait_for("the session's submenu", || async {
        tray.find("t__1 (active)/Stop").await.is_some()
    })
    .await;
    assert_eq!(tray.tooltip().await, "1 session");
    let labels: Vec<String> = tray
        .entries()
        .await
        .into_iter()
        .filter(|e| e.path.starts_with("t__1"))
        .map(|e| e.path)
        .collect();
    assert_eq!(
        labels,
        [
            "t__1 (active)",
            "t__1 (active)/Attach",
            "t__1 (active)/Pause",
            "t__1 (active)/Stop",
        ],
        "one submenu per session; the label's underscore is escaped"
    );

    // A permission request: NeedsAttention, and Allow in the menu answers it.
    let pending = ask_permission(&env, "t_1", "make deploy");
    tray.wait_status("NeedsAttention").await;
    // The session needs input as the request is announced, just before it: the tooltip
    // counts the request once its PermissionRequested came too.
    wait_for("the tooltip counts the request", || async {
        tray.tooltip()
            .await
            .ends_with("1 request waiting\nt_1 asks to use Bash: make deploy")
    })
    .await;
    let sub = "t__1 (active, needs-input)";
    let asks = tray.find(&format!("{sub}/Asks: Bash: make deploy")).await;
    assert!(!asks.expect("the request in the menu").enabled);
    tray.click(&format!("{sub}/Allow")).await.unwrap();
    let out = answered(pending).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "allow");
    // PermissionResolved ends the request in the tray.
    tray.wait_status("Active").await;
    assert!(tray.find("Allow").await.is_none());

    // A request answered elsewhere leaves the menu too.
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let pending = ask_permission(&env, "t_1", "make deploy");
    let request = tokio::time::timeout(Duration::from_secs(10), asked.next())
        .await
        .expect("PermissionRequested")
        .unwrap();
    tray.wait_status("NeedsAttention").await;
    m.answer_permission("t_1", request.args().unwrap().request_id, false, "no")
        .await
        .unwrap();
    pending.await.unwrap();
    tray.wait_status("Active").await;
    assert!(tray.find("Deny").await.is_none());

    // Attach opens `trusty-mpm attach ID` in the configured terminal.
    tray.click("Attach").await.unwrap();
    wait_for("the terminal ran", || async { attached.exists() }).await;
    wait_for("the terminal's arguments", || async {
        std::fs::read_to_string(&attached)
            .unwrap()
            .ends_with(&format!("attach\n{id}\n"))
    })
    .await;
    let args = std::fs::read_to_string(&attached).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args[..2], ["--title", "x"], "{args:?}");
    assert_eq!(args[2], "-e");
    assert!(args[3].ends_with("trusty-mpm"), "{args:?}");

    // Pause from the menu, then the daemon goes away and comes back.
    tray.click("Pause").await.unwrap();
    assert_eq!(m.list_sessions().await.unwrap()[0].3, "paused");
    tray.wait_entry("Resume").await;
    let mut env = env;
    env.stop_daemon();
    wait_for("the tray sees the daemon gone", || async {
        tray.tooltip().await == "trusty-mpm is not running"
    })
    .await;
    assert_eq!(tray.item.status().await.unwrap(), "Active", "still shown");
    assert_eq!(tray.top().await[0], "trusty-mpm — not running (off)");
    env.start_daemon().await;
    tray.wait_entry("Resume").await;

    // A removed session leaves no submenu.
    let m = env.manager().await;
    m.remove_session("t_1", true).await.unwrap();
    wait_for("no sessions", || async {
        tray.tooltip().await == "No sessions"
    })
    .await;
    assert_eq!(
        tray.top().await[..2],
        ["trusty-mpm — No sessions (off)", "--"]
    );
}

#[tokio::test]
async fn tray_registers_again_when_the_watcher_comes_back() {
    let env = Env::new().await;
    let config = env.dir.path().join("no-config.toml").display().to_string();
    let (watcher, items) = serve_watcher(&env).await;
    let _tray = Tray::start(&env, &items, Setup::plain(&config, env.dir.path())).await;
    let first = items.lock().unwrap()[0].clone();
    drop(watcher);
    let (_watcher, again) = serve_watcher(&env).await;
    wait_for("the tray registers with the new watcher", || async {
        !again.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(again.lock().unwrap()[0], first);
}

#[tokio::test]
async fn a_click_on_an_old_menu_entry_is_refused() {
    let env = Env::new().await;
    let config = env.dir.path().join("no-config.toml").display().to_string();
    let (_watcher, items) = serve_watcher(&env).await;
    let tray = Tray::start(&env, &items, Setup::plain(&config, env.dir.path())).await;
    env.start_active("old").await;
    let stop = tray.wait_entry("old (active)/Stop").await;
    // The menu changes (the session is paused) before the host sends the click.
    env.manager()
        .await
        .pause_session("old", "", false)
        .await
        .unwrap();
    wait_for("the new layout", || async {
        tray.entries().await.iter().all(|e| e.id != stop.id)
    })
    .await;
    let err = tray.click_id(stop.id).await.unwrap_err();
    assert!(err.to_string().contains("the menu has changed"), "{err}");
    let rows = env.manager().await.list_sessions().await.unwrap();
    assert_eq!(rows[0].3, "paused", "the old Stop did nothing");
}
