//! `trusty-mpm notify`: desktop notifications (org.freedesktop.Notifications) for what needs a
//! person: a permission request with Allow / Deny actions wired to AnswerPermission, and a
//! "finished" note when a session that worked long enough becomes ready. It follows the
//! daemon's signals across daemon restarts.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use zbus::{Connection, Variant, proxy};

use super::bus::{manager, manager_signals, signal_json};

#[proxy(
    interface = "org.freedesktop.Notifications",
    default_service = "org.freedesktop.Notifications",
    default_path = "/org/freedesktop/Notifications"
)]
pub trait Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: &str,
        replaces_id: u32,
        app_icon: &str,
        summary: &str,
        body: &str,
        actions: &[&str],
        hints: HashMap<&str, Variant<'_>>,
        expire_timeout: i32,
    ) -> zbus::Result<u32>;

    #[zbus(signal)]
    fn action_invoked(&self, id: u32, action_key: &str) -> zbus::Result<()>;

    #[zbus(signal)]
    fn notification_closed(&self, id: u32, reason: u32) -> zbus::Result<()>;
}

const APP: &str = "trusty-mpm";

/// A permission request shown as a notification.
struct Pending {
    session: String,
    name: String,
    request_id: String,
}

pub async fn run(conn: &Connection, min_work: Duration) -> zbus::Result<ExitCode> {
    let notes = NotificationsProxy::new(conn).await?;
    let mut actions = notes.receive_action_invoked().await?;
    let mut closed = notes.receive_notification_closed().await?;
    let mut signals = manager_signals(conn).await?;
    let mut pending: HashMap<u32, Pending> = HashMap::new();
    let mut working_since: HashMap<String, Instant> = HashMap::new();
    loop {
        tokio::select! {
            msg = signals.next() => {
                let Some(msg) = msg else { break };
                let Some(v) = msg.ok().as_ref().and_then(signal_json) else { continue };
                let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
                match v["event"].as_str().unwrap_or("") {
                    "PermissionRequested" => {
                        let summary = format!("{} asks to use {}", s("name"), s("tool"));
                        let mut hints = HashMap::new();
                        hints.insert("urgency", Variant::from(2u8));
                        match notes
                            .notify(APP, 0, "dialog-question", &summary, &s("detail"), &["allow", "Allow", "deny", "Deny"], hints, 0)
                            .await
                        {
                            Ok(id) => {
                                pending.insert(id, Pending { session: s("id"), name: s("name"), request_id: s("request_id") });
                            }
                            Err(e) => eprintln!("trusty-mpm notify: cannot show a notification: {e}"),
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
                                    if let Err(e) = notes
                                        .notify(APP, 0, "dialog-information", &format!("{} finished", s("name")), &body, &[], HashMap::new(), -1)
                                        .await
                                    {
                                        eprintln!("trusty-mpm notify: cannot show a notification: {e}");
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
                let Some(p) = pending.remove(args.id()) else { continue };
                let allow = *args.action_key() == "allow";
                let reason = if allow { "" } else { "Denied from the desktop notification." };
                let answered = match manager(conn).await {
                    Ok(m) => m.answer_permission(&p.session, &p.request_id, allow, reason).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = answered {
                    eprintln!("trusty-mpm notify: could not answer {}'s request: {e}", p.name);
                }
            }
            Some(c) = closed.next() => {
                if let Ok(args) = c.args() {
                    pending.remove(args.id());
                }
            }
        }
    }
    eprintln!("trusty-mpm notify: the bus connection closed.");
    Ok(ExitCode::FAILURE)
}
