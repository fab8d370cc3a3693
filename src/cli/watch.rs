//! `trusty-mpm watch`: the daemon's signals as they happen, one line each (human, `--json`
//! lines, or `--waybar` status-bar JSON), with no control character the daemon sent left raw.
//! It keeps following across daemon restarts, since it matches the interface rather than one
//! daemon's connection.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use futures_util::StreamExt;
use serde_json::{Value, json};
use zbus::message::Type;
use zbus::{Connection, MatchRule, MessageStream};

use super::bus::{
    clock, has_owner, manager, manager_signals, owner_appeared, owner_changes, sessions,
    signal_json,
};
use super::output::{self, Counts, activity_colour, paint, status_colour, tokens, visible};
use super::requests::RequestInfo;
use crate::contract::{BUS_NAME, MANAGER_PATH, SESSION_IFACE};
use crate::hooks::requests::ASK_USER_QUESTION;

/// How `watch` prints lines for a person: names padded to the widest name seen so far (the
/// sessions there were at the start, then each new one), statuses and activities in `list`'s
/// colours.
struct Human {
    colour: bool,
    name_width: usize,
}

impl Human {
    fn new(colour: bool, names: impl Iterator<Item = String>) -> Human {
        let mut h = Human {
            colour,
            name_width: 0,
        };
        for n in names {
            h.widen(&visible(&n));
        }
        h
    }

    fn widen(&mut self, name: &str) {
        self.name_width = self.name_width.max(name.chars().count());
    }

    /// One signal as a line; `answerable`: a request the daemon waits to have answered (else
    /// the hint says where it is answered: in the session's terminal).
    fn line(&mut self, v: &Value, answerable: bool) -> String {
        let s = |k: &str| visible(v[k].as_str().unwrap_or(""));
        let name = s("name");
        self.widen(&name);
        let what = match v["event"].as_str().unwrap_or("") {
            "SessionNew" => "new session".to_owned(),
            "SessionRemoved" => "removed".to_owned(),
            "StatusChanged" => {
                let status = s("status");
                format!(
                    "status {}",
                    paint(&status, status_colour(&status), self.colour)
                )
            }
            "ActivityChanged" => {
                let activity = s("activity");
                let shown = paint(&activity, activity_colour(&activity), self.colour);
                match s("detail").as_str() {
                    "" => format!("activity {shown}"),
                    d => format!("activity {shown} ({d})"),
                }
            }
            "PermissionRequested" => match answerable {
                true => format!(
                    "asks permission: {} (trusty-mpm approve {name} {})",
                    s("detail"),
                    s("request_id")
                ),
                false => format!(
                    "asks: {} (answer in its terminal: trusty-mpm attach {name})",
                    s("detail"),
                ),
            },
            "PermissionResolved" => format!("permission {} ({})", s("outcome"), s("request_id")),
            "ClaudeExited" => format!("claude exited (pid {})", v["pid"]),
            other => visible(other),
        };
        let pad = " ".repeat(self.name_width - name.chars().count());
        format!(
            "{}  {name}{pad}  {what}",
            clock(v["at_usec"].as_u64().unwrap_or(0))
        )
    }
}

/// Whether the signal announces a permission request that `approve` and `deny` can answer:
/// the daemon waits for its answer (questions take more than a yes or no).
async fn answerable(conn: &Connection, v: &Value) -> bool {
    if v["event"] != "PermissionRequested" || v["tool"] == ASK_USER_QUESTION {
        return false;
    }
    let Ok(m) = manager(conn).await else {
        return false;
    };
    let Ok(rows) = m.list_requests().await else {
        return false;
    };
    rows.into_iter()
        .map(RequestInfo::from_row)
        .any(|r| v["request_id"] == r.request_id.as_str() && r.answerable)
}

/// The waybar/i3status line: counts by activity, one tooltip line per session with its
/// context when known.
async fn waybar_line(conn: &Connection) -> Value {
    let Ok(all) = sessions(conn).await else {
        return json!({"text": "", "tooltip": "trusty-mpm is not running", "class": "off"});
    };
    let counts = Counts::of(all.iter().map(|s| (s.status.as_str(), s.activity.as_str())));
    let class = if counts.needs_input > 0 {
        "needs-input"
    } else if counts.working > 0 {
        "working"
    } else {
        "idle"
    };
    let tooltip: Vec<String> = all
        .iter()
        .map(|s| match s.context_tokens {
            0 => format!("{}: {} / {}", s.name, s.status, s.activity),
            n => format!(
                "{}: {} / {} · {} context",
                s.name,
                s.status,
                s.activity,
                tokens(n)
            ),
        })
        .collect();
    json!({"text": counts.text(), "tooltip": tooltip.join("\n"), "class": class})
}

/// Session objects' property changes (the tooltip shows each session's context).
async fn context_changes(conn: &Connection) -> zbus::Result<MessageStream> {
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .interface("org.freedesktop.DBus.Properties")
        .member("PropertiesChanged")
        .path_namespace(format!("{MANAGER_PATH}/session"))
        .arg(0, SESSION_IFACE)
        .build()?;
    MessageStream::for_match_rule(rule, conn, Some(64.try_into().expect("non-zero"))).await
}

/// The next message of a stream that may not exist (then never).
async fn next_of(s: &mut Option<MessageStream>) -> Option<zbus::Result<zbus::Message>> {
    match s {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

fn carries_context(msg: &zbus::Message) -> bool {
    type Changed = (String, HashMap<String, zbus::OwnedVariant>, Vec<String>);
    msg.body()
        .deserialize::<Changed>()
        .is_ok_and(|(_, props, _)| props.contains_key("ContextTokens"))
}

fn emit(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
}

pub async fn run(conn: &Connection, json: bool, waybar: bool) -> zbus::Result<ExitCode> {
    let mut signals = manager_signals(conn).await?;
    let mut owners = owner_changes(conn, BUS_NAME).await?;
    if !has_owner(conn, BUS_NAME).await? {
        eprintln!("trusty-mpm: the daemon is not running; waiting for it to start.");
    }
    let mut contexts = match waybar {
        true => Some(context_changes(conn).await?),
        false => None,
    };
    let known = match json || waybar {
        true => Vec::new(),
        false => sessions(conn).await.unwrap_or_default(),
    };
    let mut human = Human::new(output::colour(), known.into_iter().map(|s| s.name));
    // The status bar line last printed: waybar gets a line only when it changed.
    let mut shown = String::new();
    if waybar {
        shown = output::json(&waybar_line(conn).await, false);
        if !emit(&shown) {
            return Ok(ExitCode::SUCCESS);
        }
    }
    loop {
        let line = tokio::select! {
            msg = signals.next() => {
                let Some(msg) = msg else { break };
                let Some(v) = msg.ok().as_ref().and_then(signal_json) else { continue };
                if waybar {
                    output::json(&waybar_line(conn).await, false)
                } else if json {
                    output::json(&v, false)
                } else {
                    human.line(&v, answerable(conn, &v).await)
                }
            }
            Some(change) = owners.next() => {
                let back = change.ok().as_ref().is_some_and(owner_appeared);
                if back {
                    eprintln!("trusty-mpm: the daemon is running.");
                } else {
                    eprintln!("trusty-mpm: the daemon stopped; waiting for it to start again.");
                }
                // Only the status bar summary depends on the daemon being there.
                if !waybar {
                    continue;
                }
                output::json(&waybar_line(conn).await, false)
            }
            Some(Ok(msg)) = next_of(&mut contexts) => {
                if !carries_context(&msg) {
                    continue;
                }
                output::json(&waybar_line(conn).await, false)
            }
        };
        if waybar && line == shown {
            continue;
        }
        // A closed pipe (the reader went away) ends the watch quietly.
        if !emit(&line) {
            return Ok(ExitCode::SUCCESS);
        }
        if waybar {
            shown = line;
        }
    }
    eprintln!("trusty-mpm: the bus connection closed.");
    Ok(ExitCode::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_line_up_and_statuses_wear_list_s_colours() {
        let mut h = Human::new(true, ["a".to_owned(), "api".to_owned()].into_iter());
        let at = |v: Value| {
            let mut v = v;
            v["at_usec"] = json!(0);
            v
        };
        let status = at(json!({"event": "StatusChanged", "name": "a", "status": "paused"}));
        let line = h.line(&status, false);
        let painted = paint("paused", status_colour("paused"), true);
        assert!(
            line.ends_with(&format!("  a    status {painted}")),
            "{line:?}"
        );
        let busy = at(
            json!({"event": "ActivityChanged", "name": "api", "activity": "working", "detail": "Bash"}),
        );
        let line = h.line(&busy, false);
        let painted = paint("working", activity_colour("working"), true);
        assert!(
            line.ends_with(&format!("  api  activity {painted} (Bash)")),
            "{line:?}"
        );
        // A longer name widens the column for the lines after it.
        let new = at(json!({"event": "SessionNew", "name": "backend"}));
        assert!(h.line(&new, false).ends_with("  backend  new session"));
        assert!(h.line(&status, false).contains("  a        status "));
        let plain = Human::new(false, std::iter::empty()).line(&status, false);
        assert!(!plain.contains('\x1b'), "{plain:?}");
    }
}
