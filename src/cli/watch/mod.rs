//! `trusty-mpm watch`: the daemons' signals as they happen, one line each (human, `--json`
//! lines, or `--waybar` status-bar JSON), with no control character a daemon sent left raw.
//! It follows every place it is given through `follow::Follower`: across daemon restarts (it
//! matches the interface rather than one daemon's connection) and, with hosts configured,
//! across hosts that are lost and come back, each line saying its host. Here: following and
//! `--json`; `human`: the lines for a person; `waybar`: the status-bar line.

mod human;
mod waybar;

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Map, Value, json};
use zbus::Connection;

use super::bus::{manager_rule, sessions};
use super::follow::{Follower, Heard, QUICK};
use super::hosts::{Place, join_key};
use super::output::{self, visible};
use super::signals::ManagerSignal;
use crate::model::now_usec;
use human::{Human, answerable};
use waybar::{carries_context, context_rule, waybar_line};

/// A line of `watch --json`: the host first (with hosts configured), the signal tagged by its
/// "event", and when it was heard.
#[derive(Serialize)]
struct JsonLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(flatten)]
    signal: &'a ManagerSignal,
    at_usec: u64,
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

    /// A signal of place `i` heard at `at_usec` as a line of `--json`.
    fn json_line(&self, i: usize, signal: &ManagerSignal, at_usec: u64) -> String {
        let host = self.labelled.then(|| self.names[i].as_str());
        let line = JsonLine {
            host,
            signal,
            at_usec,
        };
        output::json(&line, false)
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
                } else if let Some(signal) = ManagerSignal::decode(&msg) {
                    let at_usec = now_usec();
                    match (json, waybar) {
                        (_, true) => None,
                        (true, false) => Some(w.json_line(place, &signal, at_usec)),
                        (false, false) => {
                            let conn = w.reached[place].clone();
                            let asks = match conn {
                                Some(c) => answerable(&c, &signal).await,
                                None => false,
                            };
                            let key = w.key(place, signal.name());
                            let line = human.line(&signal, at_usec, &key, asks);
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
                let bar = output::json(&waybar_line(&w.names, &w.reached).await, false);
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
    fn json_lines_say_the_host_first_with_hosts_and_when_last() {
        let exited = ManagerSignal::ClaudeExited {
            id: "1f".into(),
            name: "api".into(),
            pid: 7,
        };
        let mut w = Watch {
            names: vec!["local".into(), "lab".into()],
            widest: 5,
            labelled: false,
            reached: vec![None, None],
            lost: vec![false, false],
        };
        let line = r#""event":"ClaudeExited","id":"1f","name":"api","pid":7,"at_usec":5}"#;
        assert_eq!(w.json_line(1, &exited, 5), format!("{{{line}"));
        w.labelled = true;
        assert_eq!(
            w.json_line(1, &exited, 5),
            format!(r#"{{"host":"lab",{line}"#)
        );
    }
}
