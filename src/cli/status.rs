//! `status KEY` of one daemon: every property of one session, for a person (a row each, the
//! text from the daemon made inert) or as the JSON object of `list --json`.

use std::collections::HashMap;

use serde::Serialize;
use zbus::Connection;
use zbus::proxy::CacheProperties;

use super::bus::manager;
use super::output::{self, SessionInfo, visible, visible_lines};
use crate::contract::{BUS_NAME, SESSION_IFACE};

/// A session with the place it runs on, as `list --json` prints it with hosts configured.
#[derive(Serialize)]
pub struct Located<'a> {
    pub host: &'a str,
    #[serde(flatten)]
    pub session: &'a SessionInfo,
}

fn print_json(v: &impl serde::Serialize) {
    println!("{}", output::json(v, true));
}

/// One session with all its properties.
pub async fn session(conn: &Connection, key: &str) -> zbus::Result<SessionInfo> {
    let path = manager(conn).await?.get_session(key).await?;
    let props = zbus::fdo::PropertiesProxy::builder(conn)
        .destination(BUS_NAME)
        .path(path.clone())
        .cache_properties(CacheProperties::No)
        .build()
        .await?
        .get_all(zbus::names::InterfaceName::from_static_str_unchecked(
            SESSION_IFACE,
        ))
        .await?;
    let props: HashMap<String, zbus::OwnedVariant> = props.into_iter().collect();
    Ok(SessionInfo::from_props(path.as_str(), &props))
}

/// `status KEY` of one daemon; `host`: the place to name (hosts are configured).
pub async fn show_status(
    conn: &Connection,
    key: &str,
    json: bool,
    host: Option<&str>,
) -> zbus::Result<()> {
    let s = session(conn, key).await?;
    if json {
        match host {
            Some(host) => print_json(&Located { host, session: &s }),
            None => print_json(&s),
        }
    } else {
        let tmux = match s.tmux_session.as_str() {
            "" => String::new(),
            t => format!("={t}: on {}", manager(conn).await?.tmux_socket().await?),
        };
        let rows = [
            ("Host", host.unwrap_or_default().to_owned()),
            ("Name", s.name.clone()),
            ("Id", s.id.clone()),
            ("Project", s.project_dir.clone()),
            (
                "Status",
                s.status.clone() + if s.frozen { " (frozen)" } else { "" },
            ),
            ("Why", s.status_detail.clone()),
            (
                "Activity",
                match s.activity_detail.as_str() {
                    "" => s.activity.clone(),
                    d => format!("{} ({d})", s.activity),
                },
            ),
            (
                "Pid",
                if s.pid == 0 {
                    "-".into()
                } else {
                    s.pid.to_string()
                },
            ),
            ("Unit", s.unit.clone()),
            (
                "Resources",
                format!(
                    "memory {}, CPU {:.1} s, {}",
                    output::bytes(s.memory_bytes),
                    s.cpu_usec as f64 / 1e6,
                    output::count(s.tasks as usize, "task")
                ),
            ),
            ("Age", output::age(s.created_at)),
            ("Last seen", format!("{} ago", output::age(s.last_seen))),
            ("Tmux", tmux),
            ("Claude", claude_line(&s)),
            ("Args", s.args.join(" ")),
            ("Mode", s.permission_mode.clone()),
            ("Claude id", s.claude_session_id.clone()),
            ("Transcript", s.transcript_path.clone()),
            (
                "Paused",
                if s.paused_at == 0 {
                    "-".into()
                } else {
                    format!("{} ago", output::age(s.paused_at))
                },
            ),
            ("Summary", s.pause_summary.clone()),
            ("Model", s.model.clone()),
        ];
        let [context, totals] = output::token_lines(&s);
        let rows = rows
            .into_iter()
            .chain([context, totals, ("Object", s.path.clone())]);
        for (k, v) in rows.filter(|(_, v)| !v.is_empty()) {
            // Only the pause summary is meant to span lines.
            let v = match k {
                "Summary" => visible_lines(&v),
                _ => visible(&v),
            };
            // A value's further lines start under its first one.
            println!("{k:>10}: {}", v.replace('\n', &format!("\n{:12}", "")));
        }
    }
    Ok(())
}

/// Which claude a session runs: its version, and where from.
fn claude_line(s: &SessionInfo) -> String {
    match (s.claude_version.as_str(), s.claude_command.as_str()) {
        ("", command) => command.to_owned(),
        (version, "") => version.to_owned(),
        (version, command) => format!("{version} ({command})"),
    }
}
