//! `trusty-mpm notify`: desktop notifications for what needs a person. A request shows until
//! it ends, whatever ended it (PermissionResolved, or the daemon going away): Allow, Always
//! allow (the first rule Claude Code offers to remember) and Deny, or a question's options,
//! answer it when the daemon waits for answers, and clicking the body opens the session in a
//! terminal (it never denies). A session that worked long enough and became ready gets a
//! "finished" note. It follows the daemon's signals across daemon restarts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use zbus::Connection;

use super::bus::{
    manager, manager_signals, offer_answers, owner_appeared, owner_changes, signal_json,
};
use super::desktop::{Capabilities, Desktop, Note, open_session};
use super::output::{message, visible};
use super::requests::{Choice, RequestInfo};
use crate::config::Config;
use crate::contract::BUS_NAME;
use crate::hooks::policy::Policy;
use crate::text;

/// A request on screen, with what its actions answer.
struct Asked {
    session: String,
    name: String,
    request_id: String,
    /// Each answering action's key and what it answers.
    choices: Vec<(String, Choice)>,
    /// What the request is about, for the note that replaces it when its wait runs out.
    detail: String,
}

/// The action keys of a request's choices: allow, remember, deny, option:N.
fn keyed(choices: Vec<Choice>) -> Vec<(String, Choice)> {
    let mut options = 0..;
    choices
        .into_iter()
        .map(|c| {
            let key = match &c {
                Choice::Allow => "allow".to_owned(),
                Choice::Remember { .. } => "remember".to_owned(),
                Choice::Deny => "deny".to_owned(),
                Choice::Choose { .. } => format!("option:{}", options.next().unwrap_or_default()),
            };
            (key, c)
        })
        .collect()
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
fn settings() -> Policy {
    let file = Config::from_env().config_file;
    Policy::load(&file).unwrap_or_else(|e| {
        eprintln!("trusty-mpm notify: the config file is broken ({e}); using the defaults.");
        Policy::default()
    })
}

/// The body of a request: what it is about, and how to answer where the notification itself
/// cannot (`answered_here`: its actions answer it).
fn request_body(r: &RequestInfo, caps: Capabilities, answered_here: bool) -> String {
    let (name, id) = (&r.name, &r.request_id);
    let how = match (caps.actions, r.answerable, r.kind.as_str()) {
        (true, true, _) if answered_here => return summary(r),
        (_, true, "question") => format!("Answer with: trusty-mpm answer {name} {id} …"),
        (false, true, _) => format!("trusty-mpm approve {name} {id} (or deny)"),
        (true, ..) => "Answer in its terminal: click to open it.".to_owned(),
        (false, ..) => format!("Answer in its terminal: trusty-mpm attach {name}"),
    };
    format!("{}\n{how}", summary(r))
}

/// What a request is about, on one line: `Bash: make deploy`.
fn summary(r: &RequestInfo) -> String {
    text::one_line(&format!("{}: {}", r.tool, r.detail), text::MAX_DETAIL)
}

/// Shows a request's notification; its id and what its actions answer.
async fn show(desktop: &mut Desktop, r: RequestInfo) -> Option<(u32, Asked)> {
    let caps = desktop.capabilities().await?;
    let title = match r.questions.as_slice() {
        [q] => format!("{} asks: {}", r.name, q.question),
        _ => format!("{} asks to use {}", r.name, r.tool),
    };
    let choices = keyed(r.choices());
    let answers = choices.iter().map(|(k, c)| (k.as_str(), c.label()));
    let actions: Vec<(&str, &str)> = [("default", "Open")].into_iter().chain(answers).collect();
    let note = Note {
        icon: "dialog-question",
        summary: &title,
        body: &request_body(&r, caps, actions.len() > 1),
        actions: &actions,
        category: "x-trusty-mpm.permission.request",
        critical: true,
    };
    let id = desktop.show(&note, caps).await?;
    let asked = Asked {
        choices,
        detail: summary(&r),
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

pub async fn run(conn: &Connection, min_work: Duration) -> zbus::Result<ExitCode> {
    let policy = settings();
    offer_answers(conn, policy.permission_wait).await?;
    let mut desktop = Desktop::new(conn).await?;
    let mut actions = desktop.proxy().receive_action_invoked().await?;
    let mut closed = desktop.proxy().receive_notification_closed().await?;
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
                            let Some(caps) = desktop.capabilities().await else { continue };
                            let summary = format!("{}: the question is now in its terminal", gone.name);
                            let body = format!("{}\nNobody answered in time: answer in its terminal, click to open it.", gone.detail);
                            let note = Note {
                                icon: "dialog-question",
                                summary: &summary,
                                body: &body,
                                actions: &[("default", "Open")],
                                category: "x-trusty-mpm.permission.request",
                                critical: false,
                            };
                            if let Some(id) = desktop.show(&note, caps).await {
                                // Only Open works on it: it answers nothing.
                                let terminal = Asked { request_id: String::new(), choices: Vec::new(), ..gone };
                                asked.insert(id, terminal);
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
                                if let Some(t) = working_since.remove(&id).filter(|t| t.elapsed() >= min_work) {
                                    let secs = t.elapsed().as_secs();
                                    let body = format!("Worked for {}m {:02}s and is ready for you.", secs / 60, secs % 60);
                                    let summary = format!("{} finished", s("name"));
                                    let note = Note {
                                        icon: "dialog-information",
                                        summary: &summary,
                                        body: &body,
                                        actions: &[],
                                        category: "x-trusty-mpm.session.finished",
                                        critical: false,
                                    };
                                    if let Some(caps) = desktop.capabilities().await {
                                        desktop.show(&note, caps).await;
                                    }
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
            Some(a) = actions.next() => {
                let Ok(args) = a.args() else { continue };
                let Some(p) = asked.get(args.id()) else { continue };
                let key = *args.action_key();
                if key == "default" {
                    if let Err(e) = open_session(&policy.terminal_command, &p.session) {
                        eprintln!("trusty-mpm notify: {e}");
                    }
                    continue;
                }
                let Some((_, choice)) = p.choices.iter().find(|(k, _)| k == key) else { continue };
                let reply = choice.answer("Denied from the desktop notification.");
                let answered = match (manager(conn).await, reply) {
                    (Ok(m), Ok(reply)) => m.answer_request(&p.session, &p.request_id, reply).await,
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                // On success PermissionResolved closes the notification.
                if let Err(e) = answered {
                    eprintln!("trusty-mpm notify: could not answer {}'s request: {}", visible(&p.name), message(&e));
                }
            }
            Some(c) = closed.next() => {
                if let Ok(args) = c.args() {
                    asked.remove(args.id());
                }
            }
            // The daemon went away or came back: the requests it held are gone with it, and a
            // daemon that is back may hold new ones.
            Some(change) = owners.next() => {
                for (id, _) in asked.drain() {
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
