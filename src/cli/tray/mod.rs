//! `trusty-mpm tray`: a tray icon (StatusNotifierItem) with a menu (dbusmenu) of every
//! session, both written on the zbus the rest of the binary uses. It follows the daemon's
//! signals only, never polls: a snapshot of the sessions when the daemon appears or a session
//! is added, the signals after that. Like `watch`, it matches the interface rather than one
//! daemon, so it carries on across daemon restarts; it registers again whenever the tray
//! host's watcher (re)appears. It ends only on Quit (with success, so that its user service
//! stays stopped) or when the bus goes away.
//!
//! With hosts configured it follows every place instead (`follow::Follower`): a submenu per
//! place, whose actions go to that place's own connection; a place that cannot be reached
//! is shown so in its submenu, tried again in the background, and holds up no other.
//!
//! `state` is what the tray knows, `places` what it knows per place, `icon` its icons, `item`
//! the icon object, `entries` the menu it shows, `menu` the menu object, `actions` what the
//! menu's entries do, `chooser` the folder chooser of Start session….

mod actions;
mod chooser;
mod entries;
mod icon;
mod item;
mod menu;
mod places;
mod state;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use zbus::Connection;
use zbus::object_server::SignalEmitter;

use super::bus::{
    has_owner, manager, manager_rule, manager_signals, offer_answers, owner_appeared,
    owner_changes, sessions,
};
use super::follow::{Follower, Heard};
use super::hosts::{Place, join_key};
use super::output::message;
use super::requests::RequestInfo;
use super::signals::ManagerSignal;
use crate::config::config_file;
use crate::config::file::permission_wait;
use crate::contract::BUS_NAME;
use item::{ITEM_PATH, Item, Look, Theme, WATCHER, WatcherProxy};
use menu::{Layout, MENU_PATH, Menu};
use places::Places;
use state::{Action, Effect, State, Verb};

/// What the two exported objects show, shared with them.
struct Shown {
    look: Arc<Mutex<Look>>,
    layout: Arc<Mutex<Layout>>,
}

/// Shows the tray on `conn`'s bus; `places`: every place to follow, when hosts are configured.
pub async fn run(conn: &Connection, places: Option<Vec<Place>>) -> zbus::Result<ExitCode> {
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

    if let Some(places) = places {
        return follow(conn, &shown, &name, places, clicks).await;
    }
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
    publish(conn, &shown, &st, entries::menu(&st)).await?;
    register(conn, &name).await;

    loop {
        tokio::select! {
            msg = signals.next() => {
                let Some(msg) = msg else { break };
                let Some(signal) = msg.ok().as_ref().and_then(ManagerSignal::decode) else { continue };
                match st.apply(&signal) {
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
                        let _ = actions::send(conn, conn, &click, answers).await;
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
        publish(conn, &shown, &st, entries::menu(&st)).await?;
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

/// Shows the state (its icon and tooltip) and `menu`: updates what the objects answer and
/// emits the signals of what changed.
async fn publish(
    conn: &Connection,
    shown: &Shown,
    st: &State,
    menu: Vec<entries::Entry>,
) -> zbus::Result<()> {
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
        .set(menu);
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

/// The tray following every place (hosts configured) until Quit or until this login's bus
/// goes away.
async fn follow(
    here: &Connection,
    shown: &Shown,
    name: &str,
    places: Vec<Place>,
    mut clicks: tokio::sync::mpsc::UnboundedReceiver<Action>,
) -> zbus::Result<ExitCode> {
    let mut watchers = owner_changes(here, WATCHER).await?;
    let wait = permission_wait(&config_file());
    let can_choose = chooser::available(here).await;
    let mut at = Places::new(places.iter().map(|p| p.name().to_owned()).collect());
    let mut follower = Follower::start(places, vec![manager_rule()]);
    let show =
        async |at: &Places| publish(here, shown, &at.merged(can_choose), at.menu(can_choose)).await;
    show(&at).await?;
    register(here, name).await;
    loop {
        tokio::select! {
            heard = follower.next() => {
                let Some(heard) = heard else { break };
                match heard {
                    Heard::Reached { place, conn, running } => {
                        if let Err(e) = offer_answers(&conn, wait).await {
                            eprintln!("trusty-mpm tray: {}: cannot offer to answer requests: {}", at.0[place].name, message(&e));
                        }
                        let p = &mut at.0[place];
                        (p.conn, p.reached, p.lost) = (Some(conn), true, false);
                        match running {
                            true => at.reload(place).await,
                            false => at.0[place].st.daemon_gone(),
                        }
                    }
                    Heard::Lost { place, why } => {
                        let p = &mut at.0[place];
                        eprintln!("trusty-mpm tray: {}: unreachable: {why}; trying again.", p.name);
                        (p.conn, p.reached, p.lost) = (None, false, true);
                        p.st.daemon_gone();
                    }
                    Heard::Daemon { place, running: true } => at.reload(place).await,
                    Heard::Daemon { place, running: false } => at.0[place].st.daemon_gone(),
                    Heard::Message { place, msg } => {
                        let Some(signal) = ManagerSignal::decode(&msg) else { continue };
                        match at.0[place].st.apply(&signal) {
                            Effect::None => continue,
                            Effect::Changed => {}
                            Effect::Reload => at.reload(place).await,
                        }
                    }
                }
            }
            change = watchers.next() => {
                let Some(change) = change else { break };
                if change.ok().as_ref().is_some_and(owner_appeared) {
                    register(here, name).await;
                }
                continue;
            }
            Some(click) = clicks.recv() => match click {
                Action::Quit => {
                    eprintln!("trusty-mpm tray: quit from its menu.");
                    return Ok(ExitCode::SUCCESS);
                }
                Action::At { place, action } => {
                    let p = &mut at.0[place];
                    // A lost place's entries are gone from the menu: a late click does nothing.
                    let Some(conn) = p.conn.clone() else { continue };
                    match *action {
                        Action::Pick { request_id, question, label } => {
                            if !p.st.pick(&request_id, question, &label) {
                                continue;
                            }
                        }
                        Action::Send { ref request_id, .. } => {
                            if let Some(answers) = p.st.picked(request_id) {
                                let here = here.clone();
                                tokio::spawn(async move { actions::send(&here, &conn, &action, answers).await });
                            }
                            continue;
                        }
                        mut action => {
                            // Attach opens `trusty-mpm attach ID@HOST`, which goes by ssh.
                            if let Action::Session { verb: Verb::Attach, id, .. } = &mut action {
                                *id = join_key(id, &p.name);
                            }
                            // In the background: a slow place holds up nothing else.
                            let here = here.clone();
                            tokio::spawn(async move { actions::run(&here, &conn, &action).await });
                            continue;
                        }
                    }
                }
                _ => continue,
            },
        }
        show(&at).await?;
    }
    eprintln!("trusty-mpm tray: the bus connection closed.");
    Ok(ExitCode::FAILURE)
}
