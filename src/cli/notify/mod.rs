//! `trusty-mpm notify`: desktop notifications for what needs a person. A request shows until
//! it ends, whatever ended it (PermissionResolved, or the daemon going away): Allow, Always
//! allow (the first rule Claude Code offers to remember) and Deny, or a question's options
//! (several questions, or one that takes several options, one notification per question),
//! answer it when the daemon waits for answers, and clicking the body opens the session in a
//! terminal (it never denies). A session that worked long enough and became ready gets a
//! "finished" note, whose Open does the same. It follows the daemon's signals across daemon
//! restarts. `notes` is what the notifications say.

mod notes;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use zbus::message::Type;
use zbus::{Connection, MatchRule, MessageStream};

use super::bus::{
    manager, manager_signals, offer_answers, owner_appeared, owner_changes, signal_json,
};
use super::desktop::{Desktop, Note, open_session};
use super::draft::Draft;
use super::output::{message, visible};
use super::requests::{Choice, RequestInfo, answer};
use crate::config::Config;
use crate::config::file::ConfigFile;
use crate::contract::BUS_NAME;
use notes::Text;

/// A notification on screen, with what its actions do.
struct Asked {
    session: String,
    name: String,
    /// The request its actions answer; empty for a note that only opens the session.
    request_id: String,
    /// Each one-click answer's action key and what it answers.
    choices: Vec<(String, Choice)>,
    /// A question answered one notification per question.
    steps: Option<Steps>,
    /// What the request is about, for the note that replaces it when its wait runs out.
    detail: String,
}

/// A question request answered step by step: the options picked so far, the question shown.
struct Steps {
    request: RequestInfo,
    draft: Draft,
    at: usize,
}

impl Asked {
    /// A note that answers nothing: Open is all it does.
    fn opener(session: String, name: String) -> Asked {
        Asked {
            session,
            name,
            request_id: String::new(),
            choices: Vec::new(),
            steps: None,
            detail: String::new(),
        }
    }
}

/// The request `request_id` as the daemon lists it now, if it still waits.
async fn listed(conn: &Connection, request_id: &str) -> Option<RequestInfo> {
    let rows = manager(conn).await.ok()?.list_requests().await.ok()?;
    rows.into_iter()
        .map(RequestInfo::from_row)
        .find(|r| r.request_id == request_id)
}

/// What notify takes from config.toml: whether requests wait for answers at all (else notify
/// does not offer to answer them) and the terminal to open sessions in.
fn settings() -> ConfigFile {
    let file = Config::from_env().config_file;
    ConfigFile::load(&file).unwrap_or_else(|e| {
        eprintln!("trusty-mpm notify: the config file is broken ({e}); using the defaults.");
        ConfigFile::default()
    })
}

/// Shows `text`; its id, `None` when no server showed it.
async fn put(
    desktop: &mut Desktop,
    text: &Text,
    critical: bool,
    icon: &str,
    category: &str,
) -> Option<u32> {
    let caps = desktop.capabilities().await?;
    let actions: Vec<(&str, &str)> = text
        .actions
        .iter()
        .map(|(k, l)| (k.as_str(), l.as_str()))
        .collect();
    let note = Note {
        icon,
        summary: &text.summary,
        body: &text.body,
        actions: &actions,
        category,
        critical,
    };
    desktop.show(&note, caps).await
}

const REQUEST: &str = "x-trusty-mpm.permission.request";

/// Shows a request's notification (its first question, when it is answered step by step);
/// its id and what its actions do.
async fn show(desktop: &mut Desktop, r: RequestInfo) -> Option<(u32, Asked)> {
    let caps = desktop.capabilities().await?;
    let (text, choices, steps) = match caps.actions && r.stepwise() {
        true => {
            let draft = Draft::new(&r);
            let text = notes::step(&r, &draft, 0);
            (
                text,
                Vec::new(),
                Some(Steps {
                    request: r.clone(),
                    draft,
                    at: 0,
                }),
            )
        }
        false => {
            let (text, choices) = notes::request(&r, caps);
            (text, choices, None)
        }
    };
    let id = put(desktop, &text, true, "dialog-question", REQUEST).await?;
    let asked = Asked {
        choices,
        steps,
        detail: notes::about(&r),
        session: r.session_id,
        name: r.name,
        request_id: r.request_id,
    };
    Some((id, asked))
}

/// Shows every waiting request not on screen yet (at start, and when the daemon is back).
async fn show_waiting(conn: &Connection, desktop: &mut Desktop, asked: &mut HashMap<u32, Asked>) {
    let Ok(m) = manager(conn).await else { return };
    let Ok(rows) = m.list_requests().await else {
        return;
    };
    for r in rows.into_iter().map(RequestInfo::from_row) {
        if asked.values().any(|a| a.request_id == r.request_id) {
            continue;
        }
        if let Some((id, a)) = show(desktop, r).await {
            asked.insert(id, a);
        }
    }
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

/// Sends AnswerRequest; a failure is said on stderr.
async fn reply(
    conn: &Connection,
    a: &Asked,
    reply: zbus::Result<HashMap<String, zbus::OwnedVariant>>,
) {
    let answered = match (manager(conn).await, reply) {
        (Ok(m), Ok(reply)) => m.answer_request(&a.session, &a.request_id, reply).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    // On success PermissionResolved closes the notification.
    if let Err(e) = answered {
        eprintln!(
            "trusty-mpm notify: could not answer {}'s request: {}",
            visible(&a.name),
            message(&e)
        );
    }
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
        reply(conn, &a, answer([("answers", answers.into())])).await;
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

pub async fn run(conn: &Connection, min_work: Duration) -> zbus::Result<ExitCode> {
    let policy = settings();
    offer_answers(conn, policy.permission_wait).await?;
    let mut desktop = Desktop::new(conn).await?;
    let mut server = server_signals(conn).await?;
    let mut signals = manager_signals(conn).await?;
    let mut owners = owner_changes(conn, BUS_NAME).await?;
    let mut asked: HashMap<u32, Asked> = HashMap::new();
    let mut working_since: HashMap<String, Instant> = HashMap::new();
    for id in left_behind() {
        desktop.close_left(id).await;
    }
    // After subscribing, so a request announced meanwhile is not missed (nor shown twice).
    show_waiting(conn, &mut desktop, &mut asked).await;
    let mut kept: Vec<u32> = asked.keys().copied().collect();
    kept.sort_unstable();
    keep_ids(&kept);
    loop {
        tokio::select! {
            msg = signals.next() => {
                let Some(msg) = msg else { break };
                let Some(v) = msg.ok().as_ref().and_then(signal_json) else { continue };
                let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
                match v["event"].as_str().unwrap_or("") {
                    "PermissionRequested" => {
                        // Ended already when it is not listed: its PermissionResolved follows.
                        let Some(r) = listed(conn, &s("request_id")).await else { continue };
                        if let Some((id, a)) = show(&mut desktop, r).await {
                            asked.insert(id, a);
                        }
                    }
                    "PermissionResolved" => {
                        let request = s("request_id");
                        let shown: Vec<u32> = asked.iter().filter(|(_, a)| a.request_id == request).map(|(id, _)| *id).collect();
                        for id in shown {
                            let Some(gone) = asked.remove(&id) else { continue };
                            desktop.close(id).await;
                            // Nobody answered in time: Claude Code asks in its terminal now.
                            if s("outcome") != "expired" {
                                continue;
                            }
                            let text = notes::moved(&gone.name, &gone.detail);
                            if let Some(id) = put(&mut desktop, &text, false, "dialog-question", REQUEST).await {
                                asked.insert(id, Asked::opener(gone.session, gone.name));
                            }
                        }
                    }
                    "ActivityChanged" => {
                        let id = s("id");
                        match s("activity").as_str() {
                            "working" => {
                                working_since.entry(id).or_insert_with(Instant::now);
                            }
                            "ready" => {
                                let Some(t) = working_since.remove(&id).filter(|t| t.elapsed() >= min_work) else { continue };
                                let text = notes::finished(&s("name"), t.elapsed().as_secs());
                                let category = "x-trusty-mpm.session.finished";
                                if let Some(note) = put(&mut desktop, &text, false, "dialog-information", category).await {
                                    asked.insert(note, Asked::opener(id, s("name")));
                                }
                            }
                            _ => {
                                working_since.remove(&id);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Some(msg) = server.next() => {
                let Ok(msg) = msg else { continue };
                let member = msg.header().member().map(|m| m.to_string()).unwrap_or_default();
                match member.as_str() {
                    "ActionInvoked" => {
                        let Ok((id, key)) = msg.body().deserialize::<(u32, String)>() else { continue };
                        let Some(a) = asked.get(&id) else { continue };
                        if key == "default" {
                            if let Err(e) = open_session(&policy.terminal_command, &a.session) {
                                eprintln!("trusty-mpm notify: {e}");
                            }
                        } else if a.steps.is_some() {
                            if let Some(a) = asked.remove(&id) {
                                stepped(conn, &mut desktop, id, a, &key, &mut asked).await;
                            }
                        } else if let Some((_, choice)) = a.choices.iter().find(|(k, _)| *k == key) {
                            reply(conn, a, choice.answer("Denied from the desktop notification.")).await;
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
            // The daemon went away or came back: the requests it held are gone with it, and a
            // daemon that is back may hold new ones. Notes that only open a session stay.
            Some(change) = owners.next() => {
                let requests: Vec<u32> = asked.iter().filter(|(_, a)| !a.request_id.is_empty()).map(|(id, _)| *id).collect();
                for id in requests {
                    asked.remove(&id);
                    desktop.close(id).await;
                }
                if change.ok().as_ref().is_some_and(owner_appeared) {
                    show_waiting(conn, &mut desktop, &mut asked).await;
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
    Ok(ExitCode::FAILURE)
}
