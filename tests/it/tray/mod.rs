//! The real `trusty-mpm tray` against a stand-in StatusNotifierWatcher on the private bus: the
//! item registers (and again when the watcher comes back), its Status, icon, tooltip and menu
//! follow the sessions and the daemon, and the menu's entries answer requests, act on
//! sessions, start one in a chosen folder, open the list and quit.

mod answers;
mod follow;
mod footer;
mod look;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

pub async fn serve_watcher(env: &Env) -> (Connection, Arc<Mutex<Vec<String>>>) {
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

type Pixmaps = Vec<(i32, i32, Vec<u8>)>;

#[zbus::proxy(
    interface = "org.kde.StatusNotifierItem",
    default_path = "/StatusNotifierItem"
)]
trait Item {
    #[zbus(property)]
    fn status(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn tool_tip(&self) -> zbus::Result<(String, Pixmaps, String, String)>;
    #[zbus(property)]
    fn menu(&self) -> zbus::Result<zbus::OwnedObjectPath>;
    #[zbus(property)]
    fn icon_name(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn icon_theme_path(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn icon_pixmap(&self) -> zbus::Result<Pixmaps>;
    #[zbus(property)]
    fn attention_icon_name(&self) -> zbus::Result<String>;
    #[zbus(signal)]
    fn new_status(&self, status: &str) -> zbus::Result<()>;
    #[zbus(signal)]
    fn new_icon(&self) -> zbus::Result<()>;
}

type Node = (i32, HashMap<String, OwnedVariant>, Vec<OwnedVariant>);

#[zbus::proxy(interface = "com.canonical.dbusmenu")]
trait DbusMenu {
    fn get_layout(&self, parent: i32, depth: i32, props: &[&str]) -> zbus::Result<(u32, Node)>;
    fn event(&self, id: i32, event: &str, data: &zbus::Variant<'_>, at: u32) -> zbus::Result<()>;
    #[zbus(signal)]
    fn layout_updated(&self, revision: u32, parent: i32) -> zbus::Result<()>;
}

/// One menu entry as a host reads it.
#[derive(Debug, Clone)]
pub struct Shown {
    pub id: i32,
    /// "parent/child" for an entry of a submenu (dbusmenu's `_` escapes kept).
    pub path: String,
    pub enabled: bool,
    /// `[x]`/`[ ]` for a checkmark, `(x)`/`( )` for a radio item, else empty.
    toggle: &'static str,
}

/// How a tray is started: its config file and environment.
struct Setup<'a> {
    config: &'a str,
    env: Vec<(&'a str, String)>,
}

impl<'a> Setup<'a> {
    /// No folder chooser (no zenity on PATH, no portal on the private bus) and no icon theme.
    fn plain(config: &'a str, dir: &Path) -> Self {
        let nothing = dir.join("nothing").display().to_string();
        Setup {
            config,
            env: vec![
                ("PATH", nothing.clone()),
                ("XDG_DATA_HOME", nothing.clone()),
                ("XDG_DATA_DIRS", nothing),
            ],
        }
    }

    fn with(mut self, key: &'a str, value: impl Into<String>) -> Self {
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }
}

/// A running tray and proxies of its objects.
pub struct Tray {
    child: tokio::process::Child,
    item: ItemProxy<'static>,
    menu: DbusMenuProxy<'static>,
}

impl Tray {
    async fn start(env: &Env, items: &Arc<Mutex<Vec<String>>>, setup: Setup<'_>) -> Tray {
        let before = items.lock().unwrap().len();
        let child = tokio::process::Command::new(DAEMON)
            .arg("tray")
            .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
            .env("TRUSTY_MPM_CONFIG", setup.config)
            .envs(setup.env)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Tray::spawned(env, items, before, child).await
    }

    /// The tray `child`, once it registered (after the `before` items already there).
    pub async fn spawned(
        env: &Env,
        items: &Arc<Mutex<Vec<String>>>,
        before: usize,
        child: tokio::process::Child,
    ) -> Tray {
        wait_for("the tray registers", || async {
            items.lock().unwrap().len() > before
        })
        .await;
        let name = items.lock().unwrap()[before].clone();
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
        Tray { child, item, menu }
    }

    async fn wait_status(&self, want: &str) {
        wait_for(&format!("Status {want}"), || async {
            self.item.status().await.unwrap() == want
        })
        .await;
    }

    async fn wait_icon(&self, want: &str) {
        wait_for(&format!("IconName {want}"), || async {
            self.item.icon_name().await.unwrap() == want
        })
        .await;
    }

    async fn tooltip(&self) -> String {
        self.item.tool_tip().await.unwrap().3
    }

    /// Every menu entry, depth first.
    pub async fn entries(&self) -> Vec<Shown> {
        fn prop<T: TryFrom<OwnedVariant>>(node: &Node, key: &str) -> Option<T> {
            T::try_from(node.1.get(key)?.try_clone().unwrap()).ok()
        }
        fn walk(node: &Node, prefix: &str, out: &mut Vec<Shown>) {
            for child in &node.2 {
                let child: Node = child.try_clone().unwrap().try_into().unwrap();
                let label: String = prop(&child, "label").unwrap_or_else(|| "--".into());
                let on = prop::<i32>(&child, "toggle-state") == Some(1);
                let toggle = match (prop::<String>(&child, "toggle-type").as_deref(), on) {
                    (Some("checkmark"), true) => "[x]",
                    (Some("checkmark"), false) => "[ ]",
                    (Some("radio"), true) => "(x)",
                    (Some("radio"), false) => "( )",
                    _ => "",
                };
                let path = format!("{prefix}{label}");
                out.push(Shown {
                    id: child.0,
                    path: path.clone(),
                    enabled: prop(&child, "enabled").unwrap_or(true),
                    toggle,
                });
                walk(&child, &format!("{path}/"), out);
            }
        }
        let (_, root) = self.menu.get_layout(0, -1, &[]).await.unwrap();
        let mut out = Vec::new();
        walk(&root, "", &mut out);
        out
    }

    /// The labels of the top-level entries, "(off)" after disabled ones.
    async fn top(&self) -> Vec<String> {
        let entries = self.entries().await;
        let top = entries
            .iter()
            .filter(|e| !e.path.contains('/') || e.path == "--");
        top.map(|e| format!("{}{}", e.path, if e.enabled { "" } else { " (off)" }))
            .collect()
    }

    /// The entry whose path is `label` or ends with `/label`.
    async fn find(&self, label: &str) -> Option<Shown> {
        let entries = self.entries().await;
        entries
            .into_iter()
            .find(|e| e.path == label || e.path.ends_with(&format!("/{label}")))
    }

    async fn wait_entry(&self, label: &str) -> Shown {
        wait_for(&format!("the menu entry {label}"), || async {
            self.find(label).await.is_some()
        })
        .await;
        self.find(label).await.unwrap()
    }

    /// Clicks the entry whose path is `label` or ends with `/label`.
    async fn click(&self, label: &str) -> zbus::Result<()> {
        let entry = self.find(label).await;
        let entry = entry.unwrap_or_else(|| panic!("no menu entry {label}"));
        self.click_id(entry.id).await
    }

    pub async fn click_id(&self, id: i32) -> zbus::Result<()> {
        self.menu
            .event(id, "clicked", &zbus::Variant::from(0i32), 0)
            .await
    }
}

/// A config file in `dir` with `text`; its path.
fn config(dir: &Path, text: &str) -> String {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// An executable script `name` in `dir` with `body` after the shebang.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// A stand-in terminal that writes its arguments, one a line, to `record`.
fn terminal(dir: &Path, record: &Path) -> PathBuf {
    script(
        dir,
        "terminal",
        &format!("printf '%s\\n' \"$@\" > {}", record.display()),
    )
}

/// The relay of session `name` with `payload`, waiting for its answer in the background.
fn ask(env: &Env, name: &str, payload: String) -> tokio::task::JoinHandle<Relay> {
    let (bus, socket, pane) = (
        env.bus.address.clone(),
        env.tmux_socket().display().to_string(),
        pane_of(env, name),
    );
    tokio::spawn(async move { relay_with(&bus, &socket, &payload, &pane).await })
}

/// A PermissionRequest for `command` from session `name`'s pane.
fn ask_permission(env: &Env, name: &str, command: &str) -> tokio::task::JoinHandle<Relay> {
    let command = serde_json::Value::from(command);
    ask(
        env,
        name,
        format!(
            r#"{{"session_id":"c","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{{"command":{command}}}}}"#
        ),
    )
}

/// What a waiting relay printed, once it returned (within 10 s).
async fn answered(pending: tokio::task::JoinHandle<Relay>) -> String {
    tokio::time::timeout(std::time::Duration::from_secs(10), pending)
        .await
        .expect("the relay got its answer")
        .unwrap()
        .stdout
}
