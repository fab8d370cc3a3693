//! The client subcommands: each is one or two calls of the public contract, printed for a
//! person or, with --json, in the stable shapes the README documents. What the daemon sent is
//! printed through `output::visible` (or `output::json`), so it cannot act on the terminal.

use std::collections::HashMap;
use std::process::ExitCode;

use serde_json::json;
use zbus::proxy::CacheProperties;
use zbus::{Connection, Variant};

use super::args::{ClientCommand as Command, Compress, Key};
use super::bus::{clock, manager, sessions};
use super::guards;
use super::output::{self, SessionInfo, visible, visible_lines};
use super::requests::{RequestInfo, answer};
use crate::contract::{BUS_NAME, SESSION_IFACE};

/// Runs a client subcommand against the session bus.
pub async fn run(cmd: Command) -> ExitCode {
    let conn = match Connection::session().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "trusty-mpm: cannot reach the session bus ({e}); is DBUS_SESSION_BUS_ADDRESS right?"
            );
            return ExitCode::from(3);
        }
    };
    match exec(&conn, cmd).await {
        Ok(code) => code,
        Err(e) => output::report(&e),
    }
}

async fn session(conn: &Connection, key: &str) -> zbus::Result<SessionInfo> {
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

fn print_json(v: &impl serde::Serialize) {
    println!("{}", output::json(v, true));
}

/// Prints a line that carries text from the daemon.
fn say(line: &str) {
    println!("{}", visible(line));
}

fn absolute(dir: &std::path::Path) -> String {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

async fn exec(conn: &Connection, cmd: Command) -> zbus::Result<ExitCode> {
    let m = manager(conn).await?;
    match cmd {
        Command::List(j) => {
            let all = sessions(conn).await?;
            if j.json {
                print_json(&all);
            } else if all.is_empty() {
                println!("No sessions. Start one with `trusty-mpm start DIR`.");
            } else {
                let home = std::env::var("HOME").ok();
                let width = output::terminal_width();
                print!(
                    "{}",
                    output::table(&all, output::colour(), width, home.as_deref())
                );
            }
        }
        Command::Status {
            key: Key { key },
            json,
        } => {
            let s = session(conn, &key).await?;
            if json.json {
                print_json(&s);
            } else {
                let tmux = match s.tmux_session.as_str() {
                    "" => String::new(),
                    t => format!("={t}: on {}", m.tmux_socket().await?),
                };
                let rows = [
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
        }
        Command::Start {
            dir,
            name,
            resume,
            new,
            env,
            limits,
            args,
        } => {
            let dir = absolute(&dir);
            let all = match new {
                true => Vec::new(),
                false => sessions(conn).await?,
            };
            if let Some(s) = guards::stopped_in(&all, &dir, name.as_deref()) {
                let e = crate::error::Error::InvalidState(guards::start_refused(s, &dir));
                eprintln!("trusty-mpm: {e}");
                return Ok(ExitCode::from(e.exit_code()));
            }
            let mut opts: HashMap<&str, Variant<'_>> = HashMap::new();
            if !args.is_empty() {
                opts.insert("args", Variant::from(args.clone()));
            }
            if let Some(r) = &resume {
                opts.insert("resume", Variant::from(r.as_str()));
            }
            if !env.is_empty() {
                opts.insert("env", Variant::from(HashMap::<_, _>::from_iter(env)));
            }
            let sizes = [
                ("memory_high", limits.memory_high),
                ("memory_max", limits.memory_max),
                ("tasks_max", limits.tasks_max),
            ];
            for (key, value) in sizes {
                if let Some(v) = value {
                    opts.insert(key, Variant::from(v));
                }
            }
            if let Some(w) = limits.cpu_weight {
                opts.insert("cpu_weight", Variant::from(w));
            }
            let (id, name, _) = m
                .start_session(&dir, name.as_deref().unwrap_or(""), opts)
                .await?;
            say(&format!("Started {name} ({id})."));
        }
        Command::Register { dir, name } => {
            let (id, name, _) = m
                .register_session(&absolute(&dir), name.as_deref().unwrap_or(""))
                .await?;
            say(&format!("Registered {name} ({id})."));
        }
        Command::Adopt { name } => {
            let (id, _) = m.adopt_session(&name).await?;
            say(&format!("Adopted {name} ({id})."));
        }
        Command::Discover => {
            let names = m.discover_sessions().await?;
            match names.as_slice() {
                [] => println!("No unmanaged tmux session runs claude."),
                n => say(&format!("Adopted {}.", n.join(", "))),
            }
        }
        Command::Pause {
            key: Key { key },
            note,
            freeze,
        } => {
            let summary = m
                .pause_session(&key, note.as_deref().unwrap_or(""), freeze)
                .await?;
            println!(
                "Paused {key}{}.",
                if freeze { " (claude frozen)" } else { "" }
            );
            if !summary.is_empty() {
                println!("{}", visible_lines(&summary));
            }
        }
        Command::Resume { key: Key { key } } => {
            m.resume_session(&key).await?;
            println!("Resumed {key}.");
        }
        Command::Stop {
            key: Key { key },
            force,
        } => {
            if session(conn, &key).await?.status == "stopped" {
                println!("{key} was already stopped.");
            } else {
                m.stop_session(&key, force).await?;
                println!("Stopped {key}.");
            }
        }
        Command::Restart { key: Key { key } } => {
            m.restart_session(&key).await?;
            println!("Restarted {key}.");
        }
        Command::Rm {
            key: Key { key },
            kill,
        } => {
            m.remove_session(&key, kill).await?;
            println!(
                "Removed {key}{}.",
                if kill {
                    " and killed its tmux session"
                } else {
                    ""
                }
            );
        }
        Command::Send {
            key: Key { key },
            text,
        } => m.send_command(&key, &text.join(" ")).await?,
        Command::Keys {
            key: Key { key },
            keys,
        } => {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            m.send_keys(&key, &keys).await?;
        }
        Command::Capture {
            key: Key { key },
            lines,
            compress,
        } => {
            let c = match compress {
                None => "off",
                Some(Compress::Trim) => "trim",
                Some(Compress::Summarise) => "summarise",
            };
            let text = visible_lines(&m.capture_output(&key, lines, c).await?);
            print!("{text}");
            if !text.is_empty() && !text.ends_with('\n') {
                println!();
            }
        }
        Command::Events {
            key: Key { key },
            limit,
            json,
        } => {
            let events = m.get_events(&key, limit).await?;
            if json.json {
                let v: Vec<_> = events
                    .iter()
                    .map(|(at, event, tool, summary)| json!({"at_usec": at, "event": event, "tool": tool, "summary": summary}))
                    .collect();
                print_json(&v);
            } else {
                for (at, event, _tool, summary) in events {
                    say(&format!("{}  {event:<18} {summary}", clock(at)));
                }
            }
        }
        Command::Reap { json, yes } => return super::guards::reap(conn, json.json, yes).await,
        Command::Requests(j) => {
            let rows = m.list_requests().await?;
            let all: Vec<RequestInfo> = rows.into_iter().map(RequestInfo::from_row).collect();
            if j.json {
                print_json(&all);
            } else if all.is_empty() {
                println!("No request is waiting.");
            }
            for line in all.iter().filter(|_| !j.json).flat_map(RequestInfo::lines) {
                say(&line);
            }
        }
        Command::Approve {
            key: Key { key },
            request,
            remember: None,
        } => {
            m.answer_permission(&key, &request, true, "").await?;
            println!("Allowed {request}.");
        }
        Command::Approve {
            key: Key { key },
            request,
            remember: Some(n),
        } => {
            let remember = answer([("allow", true.into()), ("remember", n.to_string().into())])?;
            m.answer_request(&key, &request, remember).await?;
            println!("Allowed {request}; Claude Code remembers suggestion {n}.");
        }
        Command::Answer {
            key: Key { key },
            request,
            answers,
        } => {
            let rows = m.list_requests().await?;
            let asked = rows.into_iter().map(RequestInfo::from_row);
            // An unknown request gets no answers: the daemon says what is wrong with it.
            let answers = match asked.into_iter().find(|r| r.request_id == request) {
                Some(r) => match r.answers(&answers) {
                    Ok(a) => a,
                    Err(why) => {
                        let e = crate::error::Error::invalid(why);
                        eprintln!("trusty-mpm: {}", visible(e.message()));
                        return Ok(ExitCode::from(e.exit_code()));
                    }
                },
                None => HashMap::new(),
            };
            let answers = answer([("answers", answers.into())])?;
            m.answer_request(&key, &request, answers).await?;
            println!("Answered {request}.");
        }
        Command::Deny {
            key: Key { key },
            request,
            reason,
            remember,
        } => {
            let reason = reason.unwrap_or_default();
            match remember {
                None => m.answer_permission(&key, &request, false, &reason).await?,
                Some(n) => {
                    let deny = answer([
                        ("allow", false.into()),
                        ("reason", reason.into()),
                        ("remember", n.to_string().into()),
                    ])?;
                    m.answer_request(&key, &request, deny).await?
                }
            }
            match remember {
                None => println!("Denied {request}."),
                Some(n) => println!(
                    "Denied {request}; the rule of suggestion {n} denies the same from now on."
                ),
            }
        }
        Command::Attach { key: Key { key } } => return super::attach::run(conn, &key).await,
        Command::Watch { json, waybar } => return super::watch::run(conn, json.json, waybar).await,
        Command::Notify { min_work_secs } => {
            return super::notify::run(conn, std::time::Duration::from_secs(min_work_secs)).await;
        }
        Command::Tray => return super::tray::run(conn).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// Which claude a session runs: its version, and where from.
fn claude_line(s: &output::SessionInfo) -> String {
    match (s.claude_version.as_str(), s.claude_command.as_str()) {
        ("", command) => command.to_owned(),
        (version, "") => version.to_owned(),
        (version, command) => format!("{version} ({command})"),
    }
}
