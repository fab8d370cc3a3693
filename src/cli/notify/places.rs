//! What notify hears from the places it follows, shown on the desktop: each place's waiting
//! requests once it is reached (closed again when it is lost or its daemon leaves), and its
//! manager signals (a request, a request that ended, a session that finished its work), named
//! NAME@HOST when they come from a host.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use zbus::Connection;

use super::notes;
use super::shown::{Asked, REQUEST, put, show};
use crate::cli::bus::manager;
use crate::cli::desktop::Desktop;
use crate::cli::follow::QUICK;
use crate::cli::hosts::join_key;
use crate::cli::requests::RequestInfo;
use crate::cli::signals::ManagerSignal;

/// The request `request_id` as the daemon lists it now, if it still waits.
async fn listed(conn: &Connection, request_id: &str) -> Option<RequestInfo> {
    let rows = async { manager(conn).await?.list_requests().await };
    let rows = tokio::time::timeout(QUICK, rows).await.ok()?.ok()?;
    rows.into_iter()
        .map(RequestInfo::from_row)
        .find(|r| r.request_id == request_id)
}

/// Shows every waiting request of `place` not on screen yet (once it is reached, and when
/// its daemon is back).
pub async fn show_waiting(
    at: &Places,
    place: usize,
    desktop: &mut Desktop,
    asked: &mut HashMap<u32, Asked>,
) {
    let Some(conn) = &at.reached[place] else {
        return;
    };
    let rows = tokio::time::timeout(QUICK, async { manager(conn).await?.list_requests().await });
    let Ok(Ok(rows)) = rows.await else { return };
    for mut r in rows.into_iter().map(RequestInfo::from_row) {
        if asked
            .values()
            .any(|a| a.place == place && a.request_id == r.request_id)
        {
            continue;
        }
        r.name = at.key(place, &r.name);
        if let Some((id, a)) = show(desktop, place, r).await {
            asked.insert(id, a);
        }
    }
}

/// Closes the requests of `place` on screen: whoever held them is gone (notes that only open
/// a session stay).
pub async fn drop_requests(place: usize, desktop: &mut Desktop, asked: &mut HashMap<u32, Asked>) {
    let requests: Vec<u32> = asked
        .iter()
        .filter(|(_, a)| a.place == place && !a.request_id.is_empty())
        .map(|(id, _)| *id)
        .collect();
    for id in requests {
        asked.remove(&id);
        desktop.close(id).await;
    }
}

/// The places notify follows: their names, and the connection of each one reached.
pub struct Places {
    pub names: Vec<String>,
    pub reached: Vec<Option<Connection>>,
}

impl Places {
    /// How a command names `name` (a session's name or id) of place `i`.
    pub fn key(&self, i: usize, name: &str) -> String {
        join_key(name, &self.names[i])
    }
}

/// A manager signal of `place` (reached through `conn`): a request to show, one that ended,
/// or a session that finished its work.
#[allow(clippy::too_many_arguments)]
pub async fn heard_signal(
    at: &Places,
    place: usize,
    conn: &Connection,
    signal: &ManagerSignal,
    desktop: &mut Desktop,
    asked: &mut HashMap<u32, Asked>,
    working_since: &mut HashMap<(usize, String), Instant>,
    min_work: Duration,
) {
    match signal {
        ManagerSignal::PermissionRequested { request_id, .. } => {
            // Ended already when it is not listed: its PermissionResolved follows.
            let Some(mut r) = listed(conn, request_id).await else {
                return;
            };
            r.name = at.key(place, &r.name);
            if let Some((id, a)) = show(desktop, place, r).await {
                asked.insert(id, a);
            }
        }
        ManagerSignal::PermissionResolved {
            request_id,
            outcome,
            ..
        } => {
            let shown: Vec<u32> = asked
                .iter()
                .filter(|(_, a)| a.place == place && &a.request_id == request_id)
                .map(|(id, _)| *id)
                .collect();
            for id in shown {
                let Some(gone) = asked.remove(&id) else {
                    continue;
                };
                desktop.close(id).await;
                // Nobody answered in time: Claude Code asks in its terminal now.
                if outcome != "expired" {
                    continue;
                }
                let text = notes::moved(&gone.name, &gone.detail);
                if let Some(id) = put(desktop, &text, false, "dialog-question", REQUEST).await {
                    asked.insert(id, Asked::opener(place, gone.session, gone.name));
                }
            }
        }
        ManagerSignal::ActivityChanged {
            id, name, activity, ..
        } => {
            let id = id.clone();
            match activity.as_str() {
                "working" => {
                    working_since
                        .entry((place, id))
                        .or_insert_with(Instant::now);
                }
                "ready" => {
                    let Some(t) = working_since
                        .remove(&(place, id.clone()))
                        .filter(|t| t.elapsed() >= min_work)
                    else {
                        return;
                    };
                    let name = at.key(place, name);
                    let text = notes::finished(&name, t.elapsed().as_secs());
                    let category = "x-trusty-mpm.session.finished";
                    if let Some(note) =
                        put(desktop, &text, false, "dialog-information", category).await
                    {
                        asked.insert(note, Asked::opener(place, id, name));
                    }
                }
                _ => {
                    working_since.remove(&(place, id));
                }
            }
        }
        _ => {}
    }
}
