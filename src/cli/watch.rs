//! `trusty-mpm watch`: the daemons' signals as they happen, one line each (human, `--json`
//! lines, or `--waybar` status-bar JSON), with no control character a daemon sent left raw.
//! It follows every place it is given through `follow::Follower`: across daemon restarts (it
//! matches the interface rather than one daemon's connection) and, with hosts configured,
//! across hosts that are lost and come back, each line saying its host.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use serde_json::{Map, Value, json};
use tokio::task::JoinSet;
use zbus::message::Type;
use zbus::{Connection, MatchRule, Message};

use super::bus::{clock, manager, manager_rule, sessions, signal_json};
use super::follow::{Follower, Heard, QUICK};
use super::hosts::{Place, join_key};
use super::output::{self, ActivityCounts, activity_colour, paint, status_colour, tokens, visible};
use super::requests::RequestInfo;
use crate::contract::{MANAGER_PATH, SESSION_IFACE};
use crate::hooks::requests::ASK_USER_QUESTION;
use crate::model::now_usec;

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

    /// One signal as a line; `key`: how to name its session in a command (NAME, or NAME@HOST
    /// on a host); `answerable`: a request the daemon waits to have answered (else the hint
    /// says where it is answered: in the session's terminal).
    fn line(&mut self, v: &Value, key: &str, answerable: bool) -> String {
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
                    "asks permission: {} (trusty-mpm approve {key} {})",
                    s("detail"),
                    s("request_id")
                ),
                false => format!(
                    "asks: {} (answer in its terminal: trusty-mpm attach {key})",
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
    let rows = tokio::time::timeout(QUICK, async { manager(conn).await?.list_requests().await });
    let Ok(Ok(rows)) = rows.await else {
        return false;
    };
    rows.into_iter()
        .map(RequestInfo::from_row)
        .any(|r| v["request_id"] == r.request_id.as_str() && r.answerable)
}

/// The sessions of every reached place, asked at once; a place that does not answer in time
/// is `None`.
async fn everyone(reached: &[Option<Connection>]) -> Vec<Option<Vec<output::SessionInfo>>> {
    let mut asked = JoinSet::new();
    for (i, conn) in reached.iter().enumerate() {
        if let Some(conn) = conn.clone() {
            asked.spawn(async move { (i, tokio::time::timeout(QUICK, sessions(&conn)).await) });
        }
    }
    let mut out = vec![None; reached.len()];
    while let Some(Ok((i, answer))) = asked.join_next().await {
        out[i] = answer.ok().and_then(Result::ok);
    }
    out
}

/// The waybar/i3status line: counts by activity over every place, one tooltip line per
/// session (with its context when known) and per place that does not answer.
async fn waybar_line(w: &Watch) -> Value {
    let answers = everyone(&w.reached).await;
    if answers.iter().all(Option::is_none) {
        return json!({"text": "", "tooltip": "trusty-mpm is not running", "class": "off"});
    }
    let mut all = Vec::new();
    let mut silent = Vec::new();
    for (i, answer) in answers.into_iter().enumerate() {
        match answer {
            Some(list) => all.extend(list.into_iter().map(|s| (w.key(i, &s.name), s))),
            None => silent.push(format!("{}: not reached", w.names[i])),
        }
    }
    let counts = ActivityCounts::of(
        all.iter()
            .map(|(_, s)| (s.status.as_str(), s.activity.as_str())),
    );
    let class = if counts.needs_input > 0 {
        "needs-input"
    } else if counts.working > 0 {
        "working"
    } else {
        "idle"
    };
    let tooltip: Vec<String> = all
        .iter()
        .map(|(key, s)| match s.context_tokens {
            0 => format!("{key}: {} / {}", s.status, s.activity),
            n => format!(
                "{key}: {} / {} · {} context",
                s.status,
                s.activity,
                tokens(n)
            ),
        })
        .chain(silent)
        .collect();
    json!({"text": counts.text(), "tooltip": tooltip.join("\n"), "class": class})
}

/// The match rule of session objects' property changes (the tooltip shows each session's
/// context).
fn context_rule() -> MatchRule<'static> {
    MatchRule::builder()
        .msg_type(Type::Signal)
        .interface("org.freedesktop.DBus.Properties")
        .member("PropertiesChanged")
        .path_namespace(format!("{MANAGER_PATH}/session"))
        .arg(0, SESSION_IFACE)
        .build()
        .expect("a valid rule")
}

fn carries_context(msg: &Message) -> bool {
    type Changed = (String, HashMap<String, zbus::OwnedVariant>, Vec<String>);
    msg.header().interface().map(|i| i.as_str()) == Some("org.freedesktop.DBus.Properties")
        && msg
            .body()
            .deserialize::<Changed>()
            .is_ok_and(|(_, props, _)| props.contains_key("ContextTokens"))
}

fn emit(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
}

/// What a watch knows of its places.
struct Watch {
    names: Vec<String>,
    /// The longest name, so the lines' hosts line up.
    widest: usize,
    /// Hosts are configured: lines and messages say their host.
    labelled: bool,
    reached: Vec<Option<Connection>>,
    /// Places lost since they were last reached.
    lost: Vec<bool>,
}

impl Watch {
    /// How a command names session `name` of place `i`.
    fn key(&self, i: usize, name: &str) -> String {
        join_key(name, &self.names[i])
    }

    /// A message about place `i` on stderr (for a person; scripts read stdout).
    fn say(&self, i: usize, text: &str) {
        match self.labelled {
            true => eprintln!("trusty-mpm: {}: {text}", self.names[i]),
            false => eprintln!("trusty-mpm: {text}"),
        }
    }

    /// `v` with the host of place `i` first, when hosts are configured.
    fn located(&self, i: usize, v: Value) -> Value {
        let Value::Object(rest) = v else { return v };
        if !self.labelled {
            return Value::Object(rest);
        }
        let mut out = Map::new();
        out.insert("host".into(), json!(self.names[i]));
        out.extend(rest);
        Value::Object(out)
    }

    /// A host event of `--json` (only with hosts configured).
    fn host_event(&self, json: bool, i: usize, event: &str, error: Option<&str>) -> Option<String> {
        if !(json && self.labelled) {
            return None;
        }
        let mut v = json!({"event": event, "at_usec": now_usec()});
        if let Some(e) = error {
            v["error"] = json!(e);
        }
        Some(output::json(&self.located(i, v), false))
    }
}

/// Follows `places` until stdout closes; `labelled`: hosts are configured.
pub async fn run(places: Vec<Place>, labelled: bool, json: bool, waybar: bool) -> ExitCode {
    let mut rules = vec![manager_rule()];
    if waybar {
        rules.push(context_rule());
    }
    let n = places.len();
    let names: Vec<String> = places.iter().map(|p| p.name().to_owned()).collect();
    let mut w = Watch {
        widest: names
            .iter()
            .map(|n| visible(n).chars().count())
            .max()
            .unwrap_or(0),
        names,
        labelled,
        reached: vec![None; n],
        lost: vec![false; n],
    };
    let mut human = Human::new(output::colour(), std::iter::empty());
    let mut follower = Follower::start(places, rules);
    // The status bar line last printed: waybar gets a line only when it changed.
    let mut shown = String::new();
    while let Some(heard) = follower.next().await {
        let line = match heard {
            Heard::Reached {
                place,
                conn,
                running,
            } => {
                if !json && !waybar {
                    // Names are padded to the widest there is, from the start.
                    let known = tokio::time::timeout(QUICK, sessions(&conn)).await;
                    for s in known.ok().and_then(Result::ok).unwrap_or_default() {
                        human.widen(&visible(&s.name));
                    }
                }
                w.reached[place] = Some(conn);
                if std::mem::take(&mut w.lost[place]) {
                    w.say(place, "reached again.");
                }
                if !running {
                    w.say(place, "the daemon is not running; waiting for it to start.");
                }
                w.host_event(json, place, "HostReachable", None)
            }
            Heard::Lost { place, why } => {
                if !labelled {
                    // This login's own bus: nothing to wait for.
                    match w.reached[place].is_some() {
                        true => eprintln!("trusty-mpm: the bus connection closed."),
                        false => eprintln!("trusty-mpm: {why}"),
                    }
                    return ExitCode::from(if w.reached[place].is_some() { 1 } else { 3 });
                }
                w.reached[place] = None;
                w.lost[place] = true;
                w.say(place, &format!("unreachable: {why}; trying again."));
                w.host_event(json, place, "HostUnreachable", Some(&why))
            }
            Heard::Daemon { place, running } => {
                match running {
                    true => w.say(place, "the daemon is running."),
                    false => w.say(place, "the daemon stopped; waiting for it to start again."),
                }
                None
            }
            Heard::Message { place, msg } => {
                if carries_context(&msg) {
                    None
                } else if let Some(v) = signal_json(&msg) {
                    match (json, waybar) {
                        (_, true) => None,
                        (true, false) => Some(output::json(&w.located(place, v), false)),
                        (false, false) => {
                            let conn = w.reached[place].clone();
                            let asks = match conn {
                                Some(c) => answerable(&c, &v).await,
                                None => false,
                            };
                            let key = w.key(place, v["name"].as_str().unwrap_or(""));
                            let line = human.line(&v, &key, asks);
                            Some(match labelled {
                                true => {
                                    format!("{:<1$}  {line}", visible(&w.names[place]), w.widest)
                                }
                                false => line,
                            })
                        }
                    }
                } else {
                    continue;
                }
            }
        };
        // The status bar follows everything that may change its counts.
        let line = match waybar {
            true => {
                let bar = output::json(&waybar_line(&w).await, false);
                if bar == shown {
                    continue;
                }
                shown = bar.clone();
                Some(bar)
            }
            false => line,
        };
        // A closed pipe (the reader went away) ends the watch quietly.
        if let Some(line) = line
            && !emit(&line)
        {
            return ExitCode::SUCCESS;
        }
    }
    ExitCode::FAILURE
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
        let line = h.line(&status, "a", false);
        let painted = paint("paused", status_colour("paused"), true);
        assert!(
            line.ends_with(&format!("  a    status {painted}")),
            "{line:?}"
        );
        let busy = at(
            json!({"event": "ActivityChanged", "name": "api", "activity": "working", "detail": "Bash"}),
        );
        let line = h.line(&busy, "api", false);
        let painted = paint("working", activity_colour("working"), true);
        assert!(
            line.ends_with(&format!("  api  activity {painted} (Bash)")),
            "{line:?}"
        );
        // A longer name widens the column for the lines after it.
        let new = at(json!({"event": "SessionNew", "name": "backend"}));
        assert!(
            h.line(&new, "backend", false)
                .ends_with("  backend  new session")
        );
        assert!(h.line(&status, "a", false).contains("  a        status "));
        let plain = Human::new(false, std::iter::empty()).line(&status, "a", false);
        assert!(!plain.contains('\x1b'), "{plain:?}");
    }
}
