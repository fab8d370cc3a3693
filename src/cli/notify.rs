//! `trusty-mpm notify`: desktop notifications for what needs a person. A permission request
//! shows until it ends, whatever ended it (PermissionResolved, or the daemon going away): Allow
//! and Deny answer it when the daemon waits for answers, and clicking the body opens the session
//! in a terminal (it never denies). A session that worked long enough and became ready gets a
//! "finished" note. It follows the daemon's signals across daemon restarts.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use zbus::Connection;

use super::bus::{manager, manager_signals, offer_answers, owner_changes, signal_json};
use super::desktop::{Capabilities, Desktop, Note, open_session};
use super::output::{message, visible};
use crate::config::Config;
use crate::contract::BUS_NAME;
use crate::hooks::policy::Policy;

/// A permission request on screen.
struct Asked {
    session: String,
    name: String,
    request_id: String,
}

/// What notify takes from config.toml: whether the daemon waits for answers (else Allow and
/// Deny could not work) and the terminal to open sessions in.
fn settings() -> Policy {
    let file = Config::from_env().config_file;
    Policy::load(&file).unwrap_or_else(|e| {
        eprintln!("trusty-mpm notify: the config file is broken ({e}); using the defaults.");
        Policy::default()
    })
}

/// The body of a permission request: what it is about, and how to answer where the
/// notification itself cannot.
fn request_body(v: &Value, caps: Capabilities, waits: bool) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or("");
    let how = match (caps.actions, waits) {
        (true, true) => return s("detail").to_owned(),
        (true, false) => "Answer in its terminal: click to open it.".to_owned(),
        (false, true) => format!(
            "trusty-mpm approve {} {} (or deny)",
            s("name"),
            s("request_id")
        ),
        (false, false) => format!("Answer in its terminal: trusty-mpm attach {}", s("name")),
    };
    format!("{}\n{how}", s("detail"))
}

pub async fn run(conn: &Connection, min_work: Duration) -> zbus::Result<ExitCode> {
    let policy = settings();
    let waits = offer_answers(conn, policy.permission_wait).await?;
    let mut desktop = Desktop::new(conn).await?;
    let mut actions = desktop.proxy().receive_action_invoked().await?;
    let mut closed = desktop.proxy().receive_notification_closed().await?;
    let mut signals = manager_signals(conn).await?;
    let mut owners = owner_changes(conn, BUS_NAME).await?;
    let mut asked: HashMap<u32, Asked> = HashMap::new();
    let mut working_since: HashMap<String, Instant> = HashMap::new();
    loop {
        tokio::select! {
            msg = signals.next() => {
                let Some(msg) = msg else { break };
                let Some(v) = msg.ok().as_ref().and_then(signal_json) else { continue };
                let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
                match v["event"].as_str().unwrap_or("") {
                    "PermissionRequested" => {
                        let Some(caps) = desktop.capabilities().await else { continue };
                        let summary = format!("{} asks to use {}", s("name"), s("tool"));
                        let buttons: &[(&str, &str)] = match waits {
                            true => &[("default", "Open"), ("allow", "Allow"), ("deny", "Deny")],
                            false => &[("default", "Open")],
                        };
                        let note = Note {
                            icon: "dialog-question",
                            summary: &summary,
                            body: &request_body(&v, caps, waits),
                            actions: buttons,
                            category: "x-trusty-mpm.permission.request",
                            critical: true,
                        };
                        if let Some(id) = desktop.show(&note, caps).await {
                            asked.insert(id, Asked { session: s("id"), name: s("name"), request_id: s("request_id") });
                        }
                    }
                    "PermissionResolved" => {
                        let request = s("request_id");
                        let shown: Vec<u32> = asked.iter().filter(|(_, a)| a.request_id == request).map(|(id, _)| *id).collect();
                        for id in shown {
                            asked.remove(&id);
                            desktop.close(id).await;
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
                let allow = match *args.action_key() {
                    "default" => {
                        if let Err(e) = open_session(&policy.terminal_command, &p.session) {
                            eprintln!("trusty-mpm notify: {e}");
                        }
                        continue;
                    }
                    "allow" => true,
                    "deny" => false,
                    _ => continue,
                };
                let reason = if allow { "" } else { "Denied from the desktop notification." };
                let answered = match manager(conn).await {
                    Ok(m) => m.answer_permission(&p.session, &p.request_id, allow, reason).await,
                    Err(e) => Err(e),
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
            // The daemon went away or came back: the requests it held are gone with it.
            Some(_) = owners.next() => {
                for (id, _) in asked.drain() {
                    desktop.close(id).await;
                }
            }
        }
    }
    eprintln!("trusty-mpm notify: the bus connection closed.");
    Ok(ExitCode::FAILURE)
}
