//! The commands that span places: `list` and `status` (every host when hosts are configured,
//! or the one `--host` names) and `hosts`. Every place is asked at once and each answer has a
//! time limit, so a host that cannot be reached delays the answer by at most that limit and
//! leaves the others' rows whole; it is named on stderr and the exit code is 3.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use zbus::Connection;

use super::bus::{manager, sessions};
use super::hosts::Place;
use super::output::{self, ActivityCounts, SessionInfo, visible};
use super::remote::{CALL_TIMEOUT, CONNECT_TIMEOUT, Link, Unreachable, connect};
use super::status::Located;

/// How long the answer of one place may take once it is reached.
const ANSWER_LIMIT: Duration = CONNECT_TIMEOUT;

/// Connects to every place at once; the answers in the order of `places`.
pub async fn reach_all(places: &[Place]) -> Vec<Result<Link, Unreachable>> {
    let mut tries = JoinSet::new();
    for (i, p) in places.iter().enumerate() {
        let p = p.clone();
        tries.spawn(async move { (i, connect(&p).await) });
    }
    let mut out: Vec<Option<Result<Link, Unreachable>>> = places.iter().map(|_| None).collect();
    while let Some(Ok((i, r))) = tries.join_next().await {
        out[i] = Some(r);
    }
    out.into_iter()
        .zip(places)
        .map(|(r, p)| {
            r.unwrap_or_else(|| {
                Err(Unreachable {
                    host: p.name().to_owned(),
                    dest: None,
                    why: "the connection attempt failed".into(),
                })
            })
        })
        .collect()
}

/// Asks `ask` of every reached place at once, within `ANSWER_LIMIT`; the answers in order,
/// `None` for a place not reached.
async fn ask_all<T, F, Fut>(links: &[Option<Connection>], ask: F) -> Vec<Option<zbus::Result<T>>>
where
    T: Send + 'static,
    F: Fn(Connection) -> Fut,
    Fut: Future<Output = zbus::Result<T>> + Send + 'static,
{
    let mut asked = JoinSet::new();
    for (i, conn) in links.iter().enumerate() {
        if let Some(conn) = conn {
            let answer = ask(conn.clone());
            asked.spawn(async move {
                let r = tokio::time::timeout(ANSWER_LIMIT, answer).await;
                (i, r.unwrap_or_else(|_| Err(timed_out())))
            });
        }
    }
    let mut out: Vec<Option<zbus::Result<T>>> = links.iter().map(|_| None).collect();
    while let Some(Ok((i, r))) = asked.join_next().await {
        out[i] = Some(r);
    }
    out
}

fn timed_out() -> zbus::Error {
    zbus::Error::InputOutput(std::sync::Arc::new(std::io::Error::from(
        std::io::ErrorKind::TimedOut,
    )))
}

/// A failed call of place `name` as a person reads it; the exit code it gives.
pub fn report_at(name: &str, labelled: bool, e: &zbus::Error) -> ExitCode {
    let io = matches!(e, zbus::Error::InputOutput(_));
    let text = match e {
        zbus::Error::InputOutput(io) if io.kind() == std::io::ErrorKind::TimedOut => format!(
            "the daemon did not answer in time (within {} s)",
            CALL_TIMEOUT.as_secs()
        ),
        zbus::Error::InputOutput(io) => format!("the connection failed: {io}"),
        _ => output::message(e),
    };
    match labelled {
        true => eprintln!("trusty-mpm: {}: {text}", visible(name)),
        false if io => eprintln!("trusty-mpm: {text}"),
        false => return output::report(e),
    }
    match io {
        true => ExitCode::from(3),
        false => output::exit_code(e),
    }
}

/// The reached places' connections, reporting every other one; the exit code so far.
fn reached(links: Vec<Result<Link, Unreachable>>) -> (Vec<Option<Connection>>, ExitCode) {
    let mut code = ExitCode::SUCCESS;
    let conns = links
        .into_iter()
        .map(|l| match l {
            Ok(link) => Some(link.conn),
            Err(u) => {
                eprintln!("trusty-mpm: {u}");
                code = ExitCode::from(3);
                None
            }
        })
        .collect();
    (conns, code)
}

/// `list`: the sessions of every place, each place's oldest first.
pub async fn list(places: &[Place], labelled: bool, json: bool) -> ExitCode {
    let (conns, mut code) = reached(reach_all(places).await);
    let answers = ask_all(&conns, |c| async move { sessions(&c).await }).await;
    let mut rows: Vec<(&str, SessionInfo)> = Vec::new();
    let mut answered = false;
    for (place, answer) in places.iter().zip(answers) {
        match answer {
            Some(Ok(list)) => {
                answered = true;
                rows.extend(list.into_iter().map(|s| (place.name(), s)));
            }
            Some(Err(e)) => code = report_at(place.name(), labelled, &e),
            None => {}
        }
    }
    if !answered {
        return code;
    }
    if json && labelled {
        let v: Vec<Located> = rows
            .iter()
            .map(|(host, session)| Located { host, session })
            .collect();
        println!("{}", output::json(&v, true));
    } else if json {
        let v: Vec<&SessionInfo> = rows.iter().map(|(_, s)| s).collect();
        println!("{}", output::json(&v, true));
    } else if rows.is_empty() {
        println!("No sessions. Start one with `trusty-mpm start DIR`.");
    } else {
        print!("{}", table(&rows, labelled));
    }
    code
}

/// The `list` table, with a HOST column first when hosts are configured.
fn table(rows: &[(&str, SessionInfo)], labelled: bool) -> String {
    let home = std::env::var("HOME").ok();
    let width = output::terminal_width();
    let sessions: Vec<SessionInfo> = rows.iter().map(|(_, s)| s.clone()).collect();
    if !labelled {
        return output::table(&sessions, output::colour(), width, home.as_deref());
    }
    let hosts: Vec<String> = rows.iter().map(|(h, _)| visible(h)).collect();
    let w = hosts
        .iter()
        .map(|h| h.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let inner = width.map(|total| total.saturating_sub(w + 2));
    let body = output::table(&sessions, output::colour(), inner, home.as_deref());
    std::iter::once("HOST")
        .chain(hosts.iter().map(String::as_str))
        .zip(body.lines())
        .map(|(h, line)| format!("{h:<w$}  {line}\n"))
        .collect()
}

/// `status KEY`: the one place whose daemon knows KEY shows it.
pub async fn status(places: &[Place], labelled: bool, key: &str, json: bool) -> ExitCode {
    let (conns, mut code) = reached(reach_all(places).await);
    let key_owned = key.to_owned();
    let found = ask_all(&conns, move |c| {
        let key = key_owned.clone();
        async move { manager(&c).await?.get_session(&key).await }
    })
    .await;
    let mut holders = Vec::new();
    let mut not_found = None;
    for (i, answer) in found.into_iter().enumerate() {
        match answer {
            Some(Ok(_)) => holders.push(i),
            Some(Err(e))
                if output::error_name(&e).is_some_and(|(n, _)| n.ends_with(".NotFound")) =>
            {
                not_found.get_or_insert((i, e));
            }
            Some(Err(e)) => code = report_at(places[i].name(), labelled, &e),
            None => {}
        }
    }
    match holders.as_slice() {
        [i] => {
            let conn = conns[*i].as_ref().expect("reached");
            let host = labelled.then(|| places[*i].name());
            match super::status::show_status(conn, key, json, host).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => report_at(places[*i].name(), labelled, &e),
            }
        }
        [] => match not_found {
            Some((i, e)) => report_at(places[i].name(), false, &e),
            None => code,
        },
        several => {
            let names: Vec<&str> = several.iter().map(|i| places[*i].name()).collect();
            eprintln!(
                "trusty-mpm: '{}' is a session on several hosts ({}); name one as {}@HOST.",
                visible(key),
                names.join(", "),
                visible(key)
            );
            ExitCode::from(output::exit_code_for("InvalidArgument"))
        }
    }
}

/// One place as `hosts` shows it.
#[derive(Serialize, Default)]
struct HostRow {
    host: String,
    ssh: String,
    reachable: bool,
    error: String,
    running: bool,
    hostname: String,
    version: String,
    sessions: usize,
    working: usize,
    needs_input: usize,
    /// The counts for a person.
    #[serde(skip)]
    summary: String,
}

/// `hosts`: every place, whether it is reached, its daemon's version and sessions.
pub async fn hosts(places: &[Place], json: bool) -> ExitCode {
    let links = reach_all(places).await;
    let mut rows: Vec<HostRow> = places
        .iter()
        .map(|p| HostRow {
            host: p.name().to_owned(),
            ssh: match p {
                Place::Local => String::new(),
                Place::Remote(h) => h.ssh.clone(),
            },
            ..HostRow::default()
        })
        .collect();
    let conns: Vec<Option<Connection>> = links
        .into_iter()
        .zip(rows.iter_mut())
        .map(|(l, row)| match l {
            Ok(link) => Some(link.conn),
            Err(u) => {
                row.error = u.why;
                None
            }
        })
        .collect();
    let answers = ask_all(&conns, |c| async move {
        let m = manager(&c).await?;
        let (hostname, version) = (m.hostname().await?, m.version().await?);
        Ok((hostname, version, sessions(&c).await?))
    })
    .await;
    let mut code = ExitCode::SUCCESS;
    for (row, answer) in rows.iter_mut().zip(answers) {
        let Some(answer) = answer else {
            code = ExitCode::from(3);
            continue;
        };
        row.reachable = true;
        match answer {
            Ok((hostname, version, list)) => {
                let c = ActivityCounts::of(
                    list.iter()
                        .map(|s| (s.status.as_str(), s.activity.as_str())),
                );
                row.running = true;
                (row.hostname, row.version) = (hostname, version);
                (row.sessions, row.working, row.needs_input) =
                    (c.sessions, c.working, c.needs_input);
                row.summary = c.text();
            }
            Err(e) => {
                row.error = output::message(&e);
                code = ExitCode::from(3);
            }
        }
    }
    if json {
        println!("{}", output::json(&rows, true));
        return code;
    }
    let w = |f: fn(&HostRow) -> &str, title: &str| {
        rows.iter()
            .map(|r| visible(f(r)).chars().count())
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let (hw, sw) = (w(|r| &r.host, "HOST"), w(|r| &r.ssh, "SSH"));
    let (mw, vw) = (w(|r| &r.hostname, "MACHINE"), w(|r| &r.version, "VERSION"));
    println!(
        "{:<hw$}  {:<sw$}  {:<mw$}  {:<vw$}  SESSIONS",
        "HOST", "SSH", "MACHINE", "VERSION"
    );
    for r in &rows {
        let ssh = match r.ssh.as_str() {
            "" => "-".to_owned(),
            s => visible(s),
        };
        let rest = match (r.reachable, r.running) {
            (true, true) => format!(
                "{:<mw$}  {:<vw$}  {}",
                visible(&r.hostname),
                visible(&r.version),
                r.summary
            ),
            (true, false) => visible(&r.error),
            (false, _) => format!("unreachable: {}", visible(&r.error)),
        };
        println!("{:<hw$}  {ssh:<sw$}  {rest}", visible(&r.host));
    }
    code
}
