//! `trusty-mpm tray`: a tray icon (StatusNotifierItem) with a menu (dbusmenu) of every
//! session, both written on the zbus the rest of the binary uses. It follows the daemon's
//! signals only, never polls: a snapshot of the sessions when the daemon appears or a session
//! is added, the signals after that. Like `watch`, it matches the interface rather than one
//! daemon, so it carries on across daemon restarts; it registers again whenever the tray
//! host's watcher (re)appears.
//!
//! `state` is what the tray knows and shows, `item` the icon object, `menu` the menu object,
//! `actions` what the menu's entries do.

mod actions;
mod item;
mod menu;
mod state;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use zbus::Connection;
use zbus::object_server::SignalEmitter;

use super::bus::{
    has_owner, manager, manager_signals, offer_answers, owner_appeared, owner_changes, sessions,
    signal_json,
};
use super::output::message;
use super::requests::RequestInfo;
use crate::config::config_file;
use crate::config::file::permission_wait;
use crate::contract::BUS_NAME;
use item::{ITEM_PATH, Item, Look, WATCHER, WatcherProxy};
use menu::{Layout, MENU_PATH, Menu};
use state::{Effect, State};

/// What the two exported objects show, shared with them.
struct Shown {
    look: Arc<Mutex<Look>>,
    layout: Arc<Mutex<Layout>>,
}

pub async fn run(conn: &Connection) -> zbus::Result<ExitCode> {
    let shown = Shown {
        look: Arc::default(),
        layout: Arc::default(),
    };
    conn.object_server()
        .at(
            ITEM_PATH,
            Item {
                look: shown.look.clone(),
            },
        )
        .await?;
    conn.object_server()
        .at(
            MENU_PATH,
            Menu {
                layout: shown.layout.clone(),
            },
        )
        .await?;
    // The name hosts know an item by (the spec's form: one per process and item).
    let name = format!("org.kde.StatusNotifierItem-{}-1", std::process::id());
    conn.request_name(name.as_str()).await?;

    // Subscribed before the first snapshot, so that nothing between the two is lost.
    let mut signals = manager_signals(conn).await?;
    let mut daemons = owner_changes(conn, BUS_NAME).await?;
    let mut watchers = owner_changes(conn, WATCHER).await?;

    offer_answers(conn, permission_wait(&config_file())).await?;
    let mut st = State::default();
    if has_owner(conn, BUS_NAME).await? {
        reload(conn, &mut st).await;
    } else {
        eprintln!("trusty-mpm tray: the daemon is not running; waiting for it to start.");
    }
    publish(conn, &shown, &st).await?;
    register(conn, &name).await;

    loop {
        tokio::select! {
            msg = signals.next() => {
                let Some(msg) = msg else { break };
                let Some(v) = msg.ok().as_ref().and_then(signal_json) else { continue };
                match st.apply(&v) {
                    Effect::None => continue,
                    Effect::Changed => {}
                    Effect::Reload => reload(conn, &mut st).await,
                }
            }
            Some(change) = daemons.next() => {
                if change.ok().as_ref().is_some_and(owner_appeared) {
                    reload(conn, &mut st).await;
                } else {
                    st.daemon_gone();
                }
            }
            Some(change) = watchers.next() => {
                if change.ok().as_ref().is_some_and(owner_appeared) {
                    register(conn, &name).await;
                }
                continue;
            }
        }
        publish(conn, &shown, &st).await?;
    }
    eprintln!("trusty-mpm tray: the bus connection closed.");
    Ok(ExitCode::FAILURE)
}

/// Takes a new snapshot of every session; a daemon that does not answer counts as gone.
async fn reload(conn: &Connection, st: &mut State) {
    let snapshot = async {
        let all = sessions(conn).await?;
        let requests = manager(conn).await?.list_requests().await?;
        zbus::Result::Ok((
            all,
            requests.into_iter().map(RequestInfo::from_row).collect(),
        ))
    };
    match snapshot.await {
        Ok((all, requests)) => st.load(all, requests),
        Err(e) => {
            eprintln!("trusty-mpm tray: cannot read the sessions: {}", message(&e));
            st.daemon_gone();
        }
    }
}

/// Tells the host's watcher about the item; without one, waits for it to appear.
async fn register(conn: &Connection, name: &str) {
    let registered = match WatcherProxy::new(conn).await {
        Ok(w) => w.register_status_notifier_item(name).await,
        Err(e) => Err(e),
    };
    if let Err(e) = registered {
        eprintln!(
            "trusty-mpm tray: no tray host to show the icon ({e}); waiting for {WATCHER} to appear."
        );
    }
}

/// Shows the state: updates what the objects answer and emits the signals of what changed.
async fn publish(conn: &Connection, shown: &Shown, st: &State) -> zbus::Result<()> {
    let (status, tooltip) = (st.status(), st.tooltip());
    let before = {
        let mut look = shown.look.lock().unwrap_or_else(|e| e.into_inner());
        let before = look.clone();
        *look = Look {
            status,
            tooltip: tooltip.clone(),
        };
        before
    };
    let revision = shown
        .layout
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .set(st.menu());
    let item = SignalEmitter::new(conn, ITEM_PATH)?;
    if before.status != status {
        Item::new_status(&item, status.as_str()).await?;
        Item::new_icon(&item).await?;
    }
    if before.tooltip != tooltip {
        Item::new_tool_tip(&item).await?;
    }
    if let Some(revision) = revision {
        Menu::layout_updated(&SignalEmitter::new(conn, MENU_PATH)?, revision, 0).await?;
    }
    Ok(())
}
