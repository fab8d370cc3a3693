//! Following the daemons of many places at once, for any client that follows (`watch` now;
//! `notify` and the tray can): a task per place keeps its connection (made in the background,
//! tried again with backoff while the place cannot be reached), subscribes to the follower's
//! match rules and to the daemon's comings and goings, and hands everything to one channel,
//! tagged with the place. A place that cannot be reached never holds up another.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use zbus::{Connection, MatchRule, Message, MessageStream};

use super::bus::{has_owner, owner_appeared, owner_changes};
use super::hosts::Place;
use super::remote::{Link, connect};
use crate::contract::BUS_NAME;

/// The first wait before trying a lost place again; it doubles up to `LAST_RETRY`.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
pub const LAST_RETRY: Duration = Duration::from_secs(30);
/// How long a follower waits for a call it makes while following (a summary, a lookup): a
/// place that is slow to answer is left out of that one update rather than holding it up.
pub const QUICK: Duration = Duration::from_secs(2);

/// What a follower hears, each about the place at that index of `Follower::places`.
pub enum Heard {
    /// The place's bus is reached (at first or again) and its subscriptions are in place;
    /// calls go through `conn`. `running`: whether the daemon is there now.
    Reached {
        place: usize,
        conn: Connection,
        running: bool,
    },
    /// The place cannot be reached (any more): said once, when that changes. It is tried again
    /// after `FIRST_RETRY`, then less and less often.
    Lost { place: usize, why: String },
    /// The daemon appeared on a reached place's bus, or left it.
    Daemon { place: usize, running: bool },
    /// A message of one of the follower's match rules.
    Message { place: usize, msg: Message },
}

/// Follows every place of `places`; stops following when dropped.
pub struct Follower {
    pub places: Vec<Place>,
    heard: mpsc::Receiver<Heard>,
    tasks: Vec<JoinHandle<()>>,
}

impl Follower {
    /// Starts a task per place, subscribing to `rules` on each.
    pub fn start(places: Vec<Place>, rules: Vec<MatchRule<'static>>) -> Follower {
        let (tell, heard) = mpsc::channel(256);
        let tasks = places
            .iter()
            .enumerate()
            .map(|(i, p)| tokio::spawn(follow(i, p.clone(), rules.clone(), tell.clone())))
            .collect();
        Follower {
            places,
            heard,
            tasks,
        }
    }

    /// The next thing heard from any place.
    pub async fn next(&mut self) -> Option<Heard> {
        self.heard.recv().await
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Keeps following one place until the follower is gone.
async fn follow(
    place: usize,
    at: Place,
    rules: Vec<MatchRule<'static>>,
    tell: mpsc::Sender<Heard>,
) {
    let mut wait = FIRST_RETRY;
    let mut lost = false;
    loop {
        let why = match connect(&at).await {
            Ok(link) => {
                wait = FIRST_RETRY;
                lost = false;
                match serve(place, link, &rules, &tell).await {
                    Some(why) => why,
                    None => return,
                }
            }
            Err(e) => e.why,
        };
        if !lost && tell.send(Heard::Lost { place, why }).await.is_err() {
            return;
        }
        lost = true;
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(LAST_RETRY);
    }
}

/// Forwards what a reached place says until its connection is lost (then why) or the
/// follower is gone (then `None`).
async fn serve(
    place: usize,
    link: Link,
    rules: &[MatchRule<'static>],
    tell: &mpsc::Sender<Heard>,
) -> Option<String> {
    let Link { conn, mut closed } = link;
    let mut forwards = JoinSet::new();
    let subscribed = async {
        let owners = owner_changes(&conn, BUS_NAME).await?;
        forwards.spawn(forward(owners, tell.clone(), move |msg| Heard::Daemon {
            place,
            running: owner_appeared(&msg),
        }));
        for rule in rules {
            let stream = MessageStream::for_match_rule(
                rule.clone(),
                &conn,
                Some(256.try_into().expect("non-zero")),
            )
            .await?;
            forwards.spawn(forward(stream, tell.clone(), move |msg| Heard::Message {
                place,
                msg,
            }));
        }
        has_owner(&conn, BUS_NAME).await
    };
    let running = match subscribed.await {
        Ok(running) => running,
        Err(e) => return Some(format!("cannot follow its daemon: {e}")),
    };
    let reached = Heard::Reached {
        place,
        conn: conn.clone(),
        running,
    };
    if tell.send(reached).await.is_err() {
        return None;
    }
    let ended = async {
        match closed.as_mut() {
            Some(closed) => closed.await.unwrap_or_default(),
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        said = ended => Some(lost_because(&said)),
        Some(done) = forwards.join_next() => match done {
            // The follower is gone.
            Ok(false) => None,
            // The streams end with the connection; ssh tells why, if it ran one.
            _ => {
                let said = match closed {
                    Some(closed) => tokio::time::timeout(Duration::from_secs(1), closed)
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or_default(),
                    None => String::new(),
                };
                Some(lost_because(&said))
            }
        },
    }
}

/// Why a reached place was lost, from what ssh said when it ended.
fn lost_because(said: &str) -> String {
    let said: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match said.as_slice() {
        [] => "the connection closed".to_owned(),
        s => format!("the connection closed ({})", s.join(" ")),
    }
}

/// Hands every message of `stream` on as `wrap` makes it; true when the stream ended, false
/// when no one listens any more.
async fn forward(
    mut stream: MessageStream,
    tell: mpsc::Sender<Heard>,
    wrap: impl Fn(Message) -> Heard,
) -> bool {
    while let Some(msg) = stream.next().await {
        // An error is the connection failing; the stream ends right after it.
        let Ok(msg) = msg else { continue };
        if tell.send(wrap(msg)).await.is_err() {
            return false;
        }
    }
    true
}
