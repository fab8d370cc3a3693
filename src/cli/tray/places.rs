//! What the tray knows of each place it follows when hosts are configured: a `State` per
//! place, whether the place is reached and the connection its actions go through. The menu
//! then holds a submenu per place (its sessions, or why there are none: unreachable, daemon
//! not running), and each action of a place's submenu is tagged with the place
//! (`Action::At`) so that it is sent to that place's own connection.

use zbus::Connection;

use super::entries::{self, Entry};
use super::state::{Action, State};
use crate::cli::bus::{manager, sessions};
use crate::cli::follow::QUICK;
use crate::cli::hosts::join_key;
use crate::cli::requests::RequestInfo;

/// One place the tray follows.
pub struct Followed {
    pub name: String,
    /// Its bus connection while it is reached.
    pub conn: Option<Connection>,
    /// Whether it was reached, and whether it was found unreachable (before either: connecting).
    pub reached: bool,
    pub lost: bool,
    pub st: State,
}

/// Every place the tray follows, by the follower's index.
pub struct Places(pub Vec<Followed>);

impl Places {
    pub fn new(names: Vec<String>) -> Places {
        Places(
            names
                .into_iter()
                .map(|name| Followed {
                    name,
                    conn: None,
                    reached: false,
                    lost: false,
                    st: State::default(),
                })
                .collect(),
        )
    }

    /// Takes a new snapshot of place `i`; a daemon that does not answer in time counts as gone
    /// (a slow place holds up the others no longer than `QUICK`).
    pub async fn reload(&mut self, i: usize) {
        let p = &mut self.0[i];
        let Some(conn) = p.conn.clone() else {
            p.st.daemon_gone();
            return;
        };
        let snapshot = async {
            let all = sessions(&conn).await?;
            let requests = manager(&conn).await?.list_requests().await?;
            zbus::Result::Ok((
                all,
                requests.into_iter().map(RequestInfo::from_row).collect(),
            ))
        };
        match tokio::time::timeout(QUICK, snapshot).await {
            Ok(Ok((all, requests))) => p.st.load(all, requests),
            _ => p.st.daemon_gone(),
        }
    }

    /// Every place's sessions and requests in one state, named NAME@HOST, for the icon, the
    /// tooltip and the title.
    pub fn merged(&self, can_choose: bool) -> State {
        let mut all = State {
            can_choose,
            ..State::default()
        };
        for p in &self.0 {
            all.daemon |= p.st.daemon;
            all.sessions.extend(p.st.sessions.iter().map(|x| {
                let mut x = x.clone();
                x.name = join_key(&x.name, &p.name);
                x
            }));
            all.requests.extend(p.st.requests.iter().map(|r| {
                let mut r = r.clone();
                r.name = join_key(&r.name, &p.name);
                r
            }));
        }
        all
    }

    /// The whole menu: the title, a submenu per place, then the footer.
    pub fn menu(&self, can_choose: bool) -> Vec<Entry> {
        let mut out = entries::title(&self.merged(can_choose));
        for (i, p) in self.0.iter().enumerate() {
            let why = match (p.reached, p.lost) {
                (false, false) => Some("connecting…"),
                (false, true) => Some("unreachable — retrying"),
                _ => None,
            };
            let children = match why {
                Some(why) => vec![Entry::item(why, None)],
                None if !p.st.daemon || p.st.sessions.is_empty() => {
                    vec![Entry::item(p.st.summary(), None)]
                }
                None => entries::sessions(&p.st)
                    .into_iter()
                    .map(|e| tag(e, i))
                    .collect(),
            };
            let label = match why {
                Some(_) if p.lost => format!("{} — unreachable", p.name),
                Some(_) => p.name.clone(),
                None => format!("{} — {}", p.name, p.st.summary()),
            };
            out.push(Entry::submenu(label, children));
        }
        out.push(Entry::Separator);
        out.extend(entries::footer(can_choose));
        out
    }
}

/// `e` with each of its actions (and its children's) tagged with place `place`.
fn tag(e: Entry, place: usize) -> Entry {
    match e {
        Entry::Item {
            label,
            action,
            toggle,
            children,
        } => Entry::Item {
            label,
            action: action.map(|a| Action::At {
                place,
                action: Box::new(a),
            }),
            toggle,
            children: children.into_iter().map(|c| tag(c, place)).collect(),
        },
        Entry::Separator => Entry::Separator,
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::tests::{request, session};
    use super::*;

    #[test]
    fn a_submenu_per_place_with_its_actions_tagged_and_an_unreachable_one_greyed() {
        let mut at = Places::new(vec!["local".into(), "lab".into()]);
        at.0[0].reached = true;
        let lab = &mut at.0[1];
        lab.lost = true;
        lab.st.load(
            vec![session("7", "active", "working")],
            vec![request("7", "r", true)],
        );
        // Lost: its sessions are not shown even if the state still held them.
        let menu = at.menu(false);
        let Entry::Item {
            label, children, ..
        } = &menu[3]
        else {
            panic!("{menu:?}")
        };
        assert_eq!(label, "lab — unreachable");
        assert_eq!(children, &vec![Entry::item("unreachable — retrying", None)]);
        let Entry::Item { label, .. } = &menu[2] else {
            panic!("{menu:?}")
        };
        assert_eq!(label, "local — trusty-mpm is not running");
        let merged = at.merged(false);
        assert_eq!(merged.sessions[0].name, "n7@lab");
        assert_eq!(merged.requests[0].name, "n7@lab");
        let tagged = tag(entries::sessions(&at.0[1].st).remove(0), 1);
        let Entry::Item { children, .. } = tagged else {
            panic!()
        };
        let Entry::Item { action, .. } = &children[2] else {
            panic!()
        };
        assert!(
            matches!(action, Some(Action::At { place: 1, action }) if matches!(**action, Action::Session { .. })),
            "{action:?}"
        );
    }
}
