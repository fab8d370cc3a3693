//! `trusty-mpm notify`: desktop notifications for what needs a person. A request shows until
//! it ends, whatever ended it (PermissionResolved, or the daemon going away): Allow, Always
//! allow (the first rule Claude Code offers to remember) and Deny, or a question's options
//! (several questions, or one that takes several options, one notification per question),
//! answer it when the daemon waits for answers, and clicking the body opens the session in a
//! terminal (it never denies). A session that worked long enough and became ready gets a
//! "finished" note, whose Open does the same. It follows the daemon's signals across daemon
//! restarts and, with hosts configured, every host's (`places`): a host's requests show on
//! this desktop as NAME@HOST's and are answered on that host; a host that cannot be reached
//! is said on stderr and tried again, never holding up the others. `notes` is what the
//! notifications say, `shown` what is on screen, `places` what the places followed say.

mod notes;
mod places;
mod shown;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use zbus::message::Type;
use zbus::{Connection, MatchRule, MessageStream};

use super::across::report_at;
use super::bus::{manager, manager_rule, offer_answers};
use super::desktop::{Desktop, open_session};
use super::follow::{Follower, Heard};
use super::hosts::{LOCAL, Place};
use super::output::{message, visible};
use super::remote::connect;
use super::requests::answer;
use super::signals::ManagerSignal;
use crate::config::Config;
use crate::config::file::ConfigFile;
use places::{Places, drop_requests, heard_signal, show_waiting};
use shown::{Asked, REQUEST, put};

/// What notify takes from config.toml: whether requests wait for answers at all (else notify
/// does not offer to answer them) and the terminal to open sessions in.
fn settings() -> ConfigFile {
    let file = Config::from_env().config_file;
    ConfigFile::load(&file).unwrap_or_else(|e| {
        eprintln!("trusty-mpm notify: the config file is broken ({e}); using the defaults.");
        ConfigFile::default()
    })
}

/// Where notify keeps the ids of the notifications it shows, so that the next notify can close
/// them when this one dies with them on screen (their buttons would do nothing).
fn ids_file() -> Option<PathBuf> {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")?;
    Some(PathBuf::from(dir).join("trusty-mpm-notify.ids"))
}

/// The ids an earlier notify left, forgotten once read.
fn left_behind() -> Vec<u32> {
    let Some(path) = ids_file() else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.split_whitespace()
        .filter_map(|id| id.parse().ok())
        .collect()
}

/// Records the ids on screen now (best effort: at worst a dead notification stays up).
fn keep_ids(ids: &[u32]) {
    let Some(path) = ids_file() else { return };
    let text: Vec<String> = ids.iter().map(u32::to_string).collect();
    if let Err(e) = std::fs::write(&path, text.join(" ")) {
        eprintln!(
            "trusty-mpm notify: cannot keep notification ids in {}: {e}",
            path.display()
        );
    }
}

/// The notification server's ActionInvoked and NotificationClosed in one stream, in the order
/// it sent them (a server that closes a notification when one of its actions is clicked sends
/// both at once, and the click must be seen first).
async fn server_signals(conn: &Connection) -> zbus::Result<MessageStream> {
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .interface("org.freedesktop.Notifications")
        .path("/org/freedesktop/Notifications")
        .build()?;
    MessageStream::for_match_rule(rule, conn, None).await
}

/// Sends AnswerRequest in the background (a slow host holds up no other notification); a
/// failure is said on stderr.
fn reply(conn: &Connection, a: &Asked, reply: zbus::Result<HashMap<String, zbus::OwnedVariant>>) {
    let (conn, session, request, name) = (
        conn.clone(),
        a.session.clone(),
        a.request_id.clone(),
        a.name.clone(),
    );
    tokio::spawn(async move {
        let answered = match (manager(&conn).await, reply) {
            (Ok(m), Ok(reply)) => m.answer_request(&session, &request, reply).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        // On success PermissionResolved closes the notification.
        if let Err(e) = answered {
            eprintln!(
                "trusty-mpm notify: could not answer {}'s request: {}",
                visible(&name),
                message(&e)
            );
        }
    });
}

/// A click on action `key` of a question shown step by step: picks the option, then shows
/// the next question (in a new notification), or sends every answer after the last.
async fn stepped(
    conn: &Connection,
    desktop: &mut Desktop,
    id: u32,
    mut a: Asked,
    key: &str,
    asked: &mut HashMap<u32, Asked>,
) {
    let Some(s) = a.steps.as_mut() else { return };
    let Some(q) = s.request.questions.get(s.at) else {
        return;
    };
    let advance = match key
        .strip_prefix("option:")
        .and_then(|i| i.parse::<usize>().ok())
    {
        Some(i) => {
            let Some(label) = q.options.get(i).cloned() else {
                return;
            };
            s.draft.pick(&s.request, s.at, &label);
            !q.multi_select
        }
        None => key == "next" && s.draft.answered(s.at),
    };
    if advance && s.at + 1 == s.request.questions.len() {
        let answers = s.draft.answers(&s.request);
        reply(conn, &a, answer([("answers", answers.into())]));
        asked.insert(id, a);
        return;
    }
    if advance {
        s.at += 1;
    }
    let text = notes::step(&s.request, &s.draft, s.at);
    // A new notification rather than a replaced one: a server may close the clicked one.
    desktop.close(id).await;
    if let Some(new) = put(desktop, &text, true, "dialog-question", REQUEST).await {
        asked.insert(new, a);
    }
}

/// Follows `places` (`labelled`: hosts are configured, and notes name their host) and shows
/// their requests on this login's desktop until its bus connection closes.
pub async fn run(places: Vec<Place>, labelled: bool, min_work: Duration) -> ExitCode {
    let policy = settings();
    let here = match connect(&Place::Local).await {
        Ok(link) => link.conn,
        Err(e) => {
            eprintln!("trusty-mpm: {e}");
            return ExitCode::from(3);
        }
    };
    let started =
        async { Ok::<_, zbus::Error>((Desktop::new(&here).await?, server_signals(&here).await?)) };
    let (mut desktop, mut server) = match started.await {
        Ok(s) => s,
        Err(e) => return report_at(LOCAL, false, &e),
    };
    let mut at = Places {
        names: places.iter().map(|p| p.name().to_owned()).collect(),
        reached: vec![None; places.len()],
    };
    let say = |at: &Places, i: usize, text: &str| match labelled {
        true => eprintln!("trusty-mpm notify: {}: {text}", at.names[i]),
        false => eprintln!("trusty-mpm notify: {text}"),
    };
    let mut lost = vec![false; places.len()];
    let mut follower = Follower::start(places, vec![manager_rule()]);
    let mut asked: HashMap<u32, Asked> = HashMap::new();
    let mut working_since: HashMap<(usize, String), Instant> = HashMap::new();
    for id in left_behind() {
        desktop.close_left(id).await;
    }
    let mut kept: Vec<u32> = Vec::new();
    keep_ids(&kept);
    loop {
        tokio::select! {
            heard = follower.next() => {
                let Some(heard) = heard else { break };
                match heard {
                    Heard::Reached { place, conn, running } => {
                        if let Err(e) = offer_answers(&conn, policy.permission_wait).await {
                            say(&at, place, &format!("cannot offer to answer requests: {}", message(&e)));
                        }
                        at.reached[place] = Some(conn);
                        if std::mem::take(&mut lost[place]) {
                            say(&at, place, "reached again.");
                        }
                        // After subscribing, so a request announced meanwhile is not missed
                        // (nor shown twice).
                        if running {
                            show_waiting(&at, place, &mut desktop, &mut asked).await;
                        }
                    }
                    Heard::Lost { place, why } => {
                        if !labelled {
                            // This login's own bus: nothing to wait for.
                            break;
                        }
                        at.reached[place] = None;
                        lost[place] = true;
                        drop_requests(place, &mut desktop, &mut asked).await;
                        say(&at, place, &format!("unreachable: {why}; trying again."));
                    }
                    // The daemon went away or came back: the requests it held are gone with
                    // it, and a daemon that is back may hold new ones.
                    Heard::Daemon { place, running } => {
                        drop_requests(place, &mut desktop, &mut asked).await;
                        if running {
                            show_waiting(&at, place, &mut desktop, &mut asked).await;
                        }
                    }
                    Heard::Message { place, msg } => {
                        let Some(signal) = ManagerSignal::decode(&msg) else { continue };
                        let Some(conn) = at.reached[place].clone() else { continue };
                        heard_signal(&at, place, &conn, &signal, &mut desktop, &mut asked, &mut working_since, min_work).await;
                    }
                }
            }
            msg = server.next() => {
                let msg = match msg {
                    None => break,
                    Some(Err(_)) => continue,
                    Some(Ok(msg)) => msg,
                };
                let member = msg.header().member().map(|m| m.to_string()).unwrap_or_default();
                match member.as_str() {
                    "ActionInvoked" => {
                        let Ok((id, key)) = msg.body().deserialize::<(u32, String)>() else { continue };
                        let Some(a) = asked.get(&id) else { continue };
                        if key == "default" {
                            if let Err(e) = open_session(&policy.terminal_command, &at.key(a.place, &a.session)) {
                                eprintln!("trusty-mpm notify: {e}");
                            }
                            continue;
                        }
                        // A lost place's requests are closed: this one is being closed.
                        let Some(conn) = at.reached[a.place].clone() else { continue };
                        if a.steps.is_some() {
                            if let Some(a) = asked.remove(&id) {
                                stepped(&conn, &mut desktop, id, a, &key, &mut asked).await;
                            }
                        } else if let Some((_, choice)) = a.choices.iter().find(|(k, _)| *k == key) {
                            reply(&conn, a, choice.answer("Denied from the desktop notification."));
                        }
                    }
                    "NotificationClosed" => {
                        if let Ok((id, _)) = msg.body().deserialize::<(u32, u32)>() {
                            asked.remove(&id);
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut on_screen: Vec<u32> = asked.keys().copied().collect();
        on_screen.sort_unstable();
        if on_screen != kept {
            keep_ids(&on_screen);
            kept = on_screen;
        }
    }
    eprintln!("trusty-mpm notify: the bus connection closed.");
    ExitCode::FAILURE
}
