//! `watch --waybar`: one status-bar line (waybar/i3status JSON) over every place, printed
//! again whenever a signal or a session's context may have changed it.

use std::collections::HashMap;

use serde_json::{Value, json};
use tokio::task::JoinSet;
use zbus::message::Type;
use zbus::{Connection, MatchRule, Message};

use crate::cli::bus::sessions;
use crate::cli::follow::QUICK;
use crate::cli::hosts::join_key;
use crate::cli::output::{self, ActivityCounts, tokens};
use crate::contract::{MANAGER_PATH, SESSION_IFACE};

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

/// The waybar/i3status line of the places `names` (`reached`: each one's connection, when
/// reached): counts by activity over every place, one tooltip line per session (with its
/// context when known) and per place that does not answer.
pub(super) async fn waybar_line(names: &[String], reached: &[Option<Connection>]) -> Value {
    let answers = everyone(reached).await;
    if answers.iter().all(Option::is_none) {
        return json!({"text": "", "tooltip": "trusty-mpm is not running", "class": "off"});
    }
    let mut all = Vec::new();
    let mut silent = Vec::new();
    for (i, answer) in answers.into_iter().enumerate() {
        match answer {
            Some(list) => all.extend(list.into_iter().map(|s| (join_key(&s.name, &names[i]), s))),
            None => silent.push(format!("{}: not reached", names[i])),
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
pub(super) fn context_rule() -> MatchRule<'static> {
    MatchRule::builder()
        .msg_type(Type::Signal)
        .interface("org.freedesktop.DBus.Properties")
        .member("PropertiesChanged")
        .path_namespace(format!("{MANAGER_PATH}/session"))
        .arg(0, SESSION_IFACE)
        .build()
        .expect("a valid rule")
}

pub(super) fn carries_context(msg: &Message) -> bool {
    type Changed = (String, HashMap<String, zbus::OwnedVariant>, Vec<String>);
    msg.header().interface().map(|i| i.as_str()) == Some("org.freedesktop.DBus.Properties")
        && msg
            .body()
            .deserialize::<Changed>()
            .is_ok_and(|(_, props, _)| props.contains_key("ContextTokens"))
}
