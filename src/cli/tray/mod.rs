//! `trusty-mpm tray`: a tray icon (StatusNotifierItem) with a menu (dbusmenu) of every
//! session, both written on the zbus the rest of the binary uses. It follows the daemon's
//! signals only, never polls: a snapshot of the sessions when the daemon appears or a session
//! is added, the signals after that. Like `watch`, it matches the interface rather than one
//! daemon, so it carries on across daemon restarts; it registers again whenever the tray
//! host's watcher (re)appears. It ends only on Quit (with success, so that its user service
//! stays stopped) or when the bus goes away.
//!
//! `state` is what the tray knows, `icon` its icons, `item` the icon object, `entries` the
//! menu it shows, `menu` the menu object, `actions` what the menu's entries do, `chooser` the
//! folder chooser of Start session….

mod actions;
mod chooser;
mod entries;
mod icon;
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
use item::{ITEM_PATH, Item, Look, Theme, WATCHER, WatcherProxy};
use menu::{Layout, MENU_PATH, Menu};
use state::{Action, Effect, State};

/// What the two exported objects show, shared with them.
struct Shown {
    look: Arc<Mutex<Look>>,
    layout: Arc<Mutex<Layout>>,
}

pub async fn run(conn: &Connection) -> zbus::Result<ExitCode> {
    let theme = Theme::find();
    let shown = Shown {
        look: Arc::default(),
        layout: Arc::default(),
    };
    let (local, mut clicks) = tokio::sync::mpsc::unbounded_channel();
    conn.object_server()
        .at(
            ITEM_PATH,
            Item {
                look: shown.look.clone(),
                theme,
            },
        )
        .await?;
    conn.object_server()
        .at(
            MENU_PATH,
            Menu {
                layout: shown.layout.clone(),
                local,
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
    let mut st = State {
        can_choose: chooser::available(conn).await,
        ..State::default()
    };
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
            Some(click) = clicks.recv() => match click {
                Action::Pick { request_id, question, label } => {
                    if !st.pick(&request_id, question, &label) {
                        continue;
                    }
                }
                Action::Send { ref request_id, .. } => {
                    // On success PermissionResolved takes the request off the menu.
                    if let Some(answers) = st.picked(request_id) {
                        let _ = actions::send(conn, &click, answers).await;
                    }
                    continue;
                }
                Action::Quit => {
                    eprintln!("trusty-mpm tray: quit from its menu.");
                    return Ok(ExitCode::SUCCESS);
                }
                _ => continue,
            },
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
    st.can_choose = chooser::available(conn).await;
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
    let look = Look {
        mood: st.mood(),
        tooltip: st.tooltip(),
    };
    let before = std::mem::replace(
        &mut *shown.look.lock().unwrap_or_else(|e| e.into_inner()),
        look.clone(),
    );
    let revision = shown
        .layout
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .set(entries::menu(st));
    let item = SignalEmitter::new(conn, ITEM_PATH)?;
    if before.status() != look.status() {
        Item::new_status(&item, look.status()).await?;
    }
    if before.mood != look.mood {
        Item::new_icon(&item).await?;
    }
    if before.tooltip != look.tooltip {
        Item::new_tool_tip(&item).await?;
    }
    if let Some(revision) = revision {
        Menu::layout_updated(&SignalEmitter::new(conn, MENU_PATH)?, revision, 0).await?;
    }
    Ok(())
}
