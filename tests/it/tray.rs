//! The real `trusty-mpm tray` against a stand-in StatusNotifierWatcher on the private bus: the
//! item registers (and again when the watcher comes back), its Status, tooltip and menu follow
//! the sessions and the daemon, and the menu's entries answer requests, pause and attach.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use zbus::proxy::CacheProperties;
use zbus::{Connection, OwnedVariant};

use crate::harness::*;

/// A stand-in tray host's watcher that records the items registering.
#[derive(Clone, Default)]
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: String) {
        self.items.lock().unwrap().push(service);
    }
}

async fn serve_watcher(env: &Env) -> (Connection, Arc<Mutex<Vec<String>>>) {
    let w = Watcher::default();
    let items = w.items.clone();
    let conn = zbus::connection::Builder::address(env.bus.address.as_str())
        .serve_at("/StatusNotifierWatcher", w)
        .name("org.kde.StatusNotifierWatcher")
        .build()
        .await
        .unwrap();
    (conn, items)
}

#[zbus::proxy(
    interface = "org.kde.StatusNotifierItem",
    default_path = "/StatusNotifierItem"
)]
trait Item {
    #[zbus(property)]
    fn status(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn tool_tip(&self) -> zbus::Result<(String, Vec<(i32, i32, Vec<u8>)>, String, String)>;
    #[zbus(property)]
    fn menu(&self) -> zbus::Result<zbus::OwnedObjectPath>;
    #[zbus(property)]
    fn icon_pixmap(&self) -> zbus::Result<Vec<(i32, i32, Vec<u8>)>>;
    #[zbus(signal)]
    fn new_status(&self, status: &str) -> zbus::Result<()>;
}

type Node = (i32, HashMap<String, OwnedVariant>, Vec<OwnedVariant>);

#[zbus::proxy(interface = "com.canonical.dbusmenu")]
trait DbusMenu {
    fn get_layout(&self, parent: i32, depth: i32, props: &[&str]) -> zbus::Result<(u32, Node)>;
    fn event(&self, id: i32, event: &str, data: &zbus::Variant<'_>, at: u32) -> zbus::Result<()>;
    #[zbus(signal)]
    fn layout_updated(&self, revision: u32, parent: i32) -> zbus::Result<()>;
}

/// A running tray and proxies of its objects.
struct Tray {
    _child: tokio::process::Child,
    item: ItemProxy<'static>,
    menu: DbusMenuProxy<'static>,
}

impl Tray {
    async fn start(env: &Env, items: &Arc<Mutex<Vec<String>>>, config: &str) -> Tray {
        let child = tokio::process::Command::new(DAEMON)
            .arg("tray")
            .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
            .env("TRUSTY_MPM_CONFIG", config)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        wait_for("the tray registers", || async {
            !items.lock().unwrap().is_empty()
        })
        .await;
        let name = items.lock().unwrap()[0].clone();
        assert!(name.starts_with("org.kde.StatusNotifierItem-"), "{name}");
        let item = ItemProxy::builder(&env.conn)
            .destination(name.clone())
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .unwrap();
        let menu_path = item.menu().await.unwrap();
        let menu = DbusMenuProxy::builder(&env.conn)
            .destination(name)
            .path(menu_path)
            .build()
            .await
            .unwrap();
        Tray {
            _child: child,
            item,
            menu,
        }
    }

    async fn wait_status(&self, want: &str) {
        wait_for(&format!("Status {want}"), || async {
            self.item.status().await.unwrap() == want
        })
        .await;
    }

    async fn tooltip(&self) -> String {
        self.item.tool_tip().await.unwrap().3
    }

    /// Every menu entry as (id, label path "parent/child", enabled).
    async fn entries(&self) -> Vec<(i32, String, bool)> {
        fn walk(node: &Node, prefix: &str, out: &mut Vec<(i32, String, bool)>) {
            for child in &node.2 {
                let child: Node = child.try_clone().unwrap().try_into().unwrap();
                let label = child
                    .1
                    .get("label")
                    .and_then(|v| String::try_from(v.try_clone().unwrap()).ok())
                    .unwrap_or_else(|| "--".into());
                let enabled = child
                    .1
                    .get("enabled")
                    .is_none_or(|v| bool::try_from(v.try_clone().unwrap()).unwrap());
                let path = format!("{prefix}{label}");
                out.push((child.0, path.clone(), enabled));
                walk(&child, &format!("{path}/"), out);
            }
        }
        let (_, root) = self.menu.get_layout(0, -1, &[]).await.unwrap();
        let mut out = Vec::new();
        walk(&root, "", &mut out);
        out
    }

    /// Clicks the entry whose path is `label` or ends with `/label`.
    async fn click(&self, label: &str) -> zbus::Result<()> {
        let entries = self.entries().await;
        let (id, _, _) = entries
            .iter()
            .find(|e| e.1 == label || e.1.ends_with(&format!("/{label}")))
            .unwrap_or_else(|| panic!("no menu entry {label}: {entries:?}"));
        self.click_id(*id).await
    }

    async fn click_id(&self, id: i32) -> zbus::Result<()> {
        self.menu
            .event(id, "clicked", &zbus::Variant::from(0i32), 0)
            .await
    }
}

/// A PermissionRequest from session `name`'s pane, waiting for its answer in the background.
fn ask_permission(env: &Env, name: &str) -> tokio::task::JoinHandle<Relay> {
    let (bus, socket, pane) = (
        env.bus.address.clone(),
        env.tmux_socket().display().to_string(),
        pane_of(env, name),
    );
    tokio::spawn(async move {
        relay_with(
            &bus,
            &socket,
            r#"{"session_id":"c","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{"command":"make deploy"}}"#,
            &pane,
        )
        .await
    })
}

#[tokio::test]
async fn tray_registers_and_follows_the_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let attached = dir.path().join("attached");
    let terminal = dir.path().join("terminal");
    // A stand-in terminal that records what it was asked to run.
    std::fs::write(
        &terminal,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n",
            attached.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &terminal,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            "permission_wait_secs = 10\nterminal_command = \"{} --title x -e\"\n",
            terminal.display()
        ),
    )
    .unwrap();
    let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", config.to_str().unwrap())]).await;
    let (_watcher, items) = serve_watcher(&env).await;
    let tray = Tray::start(&env, &items, config.to_str().unwrap()).await;

    assert_eq!(tray.item.status().await.unwrap(), "Passive");
    assert_eq!(tray.tooltip().await, "No sessions");
    assert_eq!(tray.entries().await[0].1, "No sessions");
    let icon = tray.item.icon_pixmap().await.unwrap();
    assert!(
        icon.iter()
            .all(|(w, h, px)| px.len() == (w * h * 4) as usize)
    );

    // A session: Active, announced to the host by NewStatus and LayoutUpdated.
    let mut new_status = tray.item.receive_new_status().await.unwrap();
    let mut layout = tray.menu.receive_layout_updated().await.unwrap();
    let (id, _, _) = env.start_active("t_1").await;
    tray.wait_status("Active").await;
    let sig = tokio::time::timeout(Duration::from_secs(5), new_status.next())
        .await
        .expect("NewStatus")
        .unwrap();
    assert_eq!(sig.args().unwrap().status, "Active");
    tokio::time::timeout(Duration::from_secs(5), layout.next())
        .await
        .expect("LayoutUpdated");
    assert_eq!(tray.tooltip().await, "1 session");
    let labels: Vec<(String, bool)> = tray
        .entries()
        .await
        .into_iter()
        .map(|e| (e.1, e.2))
        .collect();
    let on = |l: &str| (l.to_owned(), true);
    assert_eq!(
        labels,
        [
            on("t__1 (active)"),
            on("t__1 (active)/Attach"),
            on("t__1 (active)/Pause"),
            on("t__1 (active)/Stop"),
        ],
        "one submenu per session; the label's underscore is escaped"
    );

    // A permission request: NeedsAttention, and Allow in the menu answers it.
    let pending = ask_permission(&env, "t_1");
    tray.wait_status("NeedsAttention").await;
    // The session needs input as the request is announced, just before it: the tooltip
    // counts the request once its PermissionRequested came too.
    wait_for("the tooltip counts the request", || async {
        tray.tooltip()
            .await
            .ends_with("1 permission request waiting")
    })
    .await;
    let sub = "t__1 (active, needs-input)";
    assert!(
        tray.entries()
            .await
            .iter()
            .any(|e| e.1 == format!("{sub}/Asks: Bash: make deploy") && !e.2)
    );
    tray.click(&format!("{sub}/Allow")).await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("the relay got its answer")
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["hookSpecificOutput"]["decision"]["behavior"], "allow");
    // PermissionResolved ends the request in the tray.
    tray.wait_status("Active").await;
    assert!(!tray.entries().await.iter().any(|e| e.1.ends_with("/Allow")));

    // A request answered elsewhere leaves the menu too.
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let pending = ask_permission(&env, "t_1");
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
    assert!(!tray.entries().await.iter().any(|e| e.1.ends_with("/Deny")));

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
    wait_for("Resume offered", || async {
        tray.entries()
            .await
            .iter()
            .any(|e| e.1.ends_with("/Resume"))
    })
    .await;
    let mut env = env;
    env.stop_daemon();
    tray.wait_status("Passive").await;
    assert_eq!(tray.tooltip().await, "trusty-mpm is not running");
    env.start_daemon().await;
    tray.wait_status("Active").await;

    // A removed session leaves the tray passive again.
    let m = env.manager().await;
    m.remove_session("t_1", true).await.unwrap();
    tray.wait_status("Passive").await;
    assert_eq!(tray.entries().await[0].1, "No sessions");
}

#[tokio::test]
async fn tray_registers_again_when_the_watcher_comes_back() {
    let env = Env::new().await;
    let config = env.dir.path().join("no-config.toml");
    let (watcher, items) = serve_watcher(&env).await;
    let _tray = Tray::start(&env, &items, config.to_str().unwrap()).await;
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
    let config = env.dir.path().join("no-config.toml");
    let (_watcher, items) = serve_watcher(&env).await;
    let tray = Tray::start(&env, &items, config.to_str().unwrap()).await;
    env.start_active("old").await;
    wait_for("the session's menu", || async {
        tray.entries()
            .await
            .iter()
            .any(|e| e.1 == "old (active)/Stop")
    })
    .await;
    let stop = tray
        .entries()
        .await
        .into_iter()
        .find(|e| e.1 == "old (active)/Stop")
        .unwrap();
    // The menu changes (the session is paused) before the host sends the click.
    env.manager()
        .await
        .pause_session("old", "", false)
        .await
        .unwrap();
    wait_for("the new layout", || async {
        tray.entries().await.iter().all(|e| e.0 != stop.0)
    })
    .await;
    let err = tray.click_id(stop.0).await.unwrap_err();
    assert!(err.to_string().contains("the menu has changed"), "{err}");
    let rows = env.manager().await.list_sessions().await.unwrap();
    assert_eq!(rows[0].3, "paused", "the old Stop did nothing");
}

#[tokio::test]
async fn a_tray_started_later_shows_what_waits_and_offers_always_allow() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "permission_wait_secs = 30\n").unwrap();
    let config = config.to_str().unwrap();
    let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", config)]).await;
    let (_watcher, items) = serve_watcher(&env).await;
    env.start_active("r").await;
    // Someone answers (a notify, or the tray before a restart): the request waits.
    let _answerer = env.answerer().await;
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let suggestion = r#"{"type":"addRules","rules":[{"toolName":"Bash","ruleContent":"npm test:*"}],"behavior":"allow","destination":"localSettings"}"#;
    let (bus, socket, pane) = (
        env.bus.address.clone(),
        env.tmux_socket().display().to_string(),
        pane_of(&env, "r"),
    );
    let payload = format!(
        r#"{{"session_id":"c","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{{"command":"npm test"}},"permission_suggestions":[{suggestion}]}}"#
    );
    let pending = tokio::spawn(async move { relay_with(&bus, &socket, &payload, &pane).await });
    tokio::time::timeout(Duration::from_secs(10), asked.next())
        .await
        .expect("PermissionRequested")
        .unwrap();

    let tray = Tray::start(&env, &items, config).await;
    tray.wait_status("NeedsAttention").await;
    let sub = "r (active, needs-input)";
    tray.click(&format!(
        "{sub}/Always allow Bash(npm test:*) in this project"
    ))
    .await
    .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("the relay got its answer")
        .unwrap();
    assert_eq!(
        out.stdout,
        format!(
            r#"{{"hookSpecificOutput":{{"hookEventName":"PermissionRequest","decision":{{"behavior":"allow","updatedPermissions":[{suggestion}]}}}}}}"#
        )
    );
}
