//! The client subcommands: each is one or two calls of the public contract, printed for a
//! person or, with --json, in the stable shapes the README documents. What the daemon sent is
//! printed through `output::visible` (or `output::json`), so it cannot act on the terminal.
//! Each goes to the daemon of one place (`--host`, `KEY@HOST`, else this login's); list,
//! status, watch, notify and hosts span every host (`across`, `watch`, `notify`).

use std::collections::HashMap;
use std::process::ExitCode;

use serde_json::json;
use zbus::{Connection, Variant};

use super::across::{self, report_at};
use super::args::{ClientCommand as Command, Compress, Key};
use super::bus::{clock, manager, sessions};
use super::guards;
use super::hosts::{Hosts, LOCAL, Place, split_key};
use super::output::{self, visible, visible_lines};
use super::remote::connect;
use super::requests::{RequestInfo, answer};
use super::status::session;

fn usage(e: &str) -> ExitCode {
    eprintln!("trusty-mpm: {e}.");
    ExitCode::from(2)
}

/// Runs a client subcommand against the daemon of the place it names (`host`: `--host`).
pub async fn run(mut cmd: Command, host: Option<String>) -> ExitCode {
    let hosts = match Hosts::load() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("trusty-mpm: the config file is broken: {e}");
            return ExitCode::FAILURE;
        }
    };
    let labelled = hosts.configured();
    let mut of_key = None;
    if let Some(key) = cmd.key_mut()
        && let (k, Some(h)) = split_key(key)
    {
        (of_key, *key) = (Some(h.to_owned()), k.to_owned());
    }
    let place = match hosts.target(host.as_deref(), of_key.as_deref()) {
        Ok(p) => p,
        Err(e) => return usage(&e),
    };
    // Without a place named, these span every host.
    let places = match host.is_none() && of_key.is_none() {
        true => hosts.all(),
        false => vec![place.clone()],
    };
    match &cmd {
        Command::List(j) => return across::list(&places, labelled, j.json).await,
        Command::Status { key, json } => {
            return across::status(&places, labelled, &key.key, json.json).await;
        }
        Command::Watch { json, waybar } => {
            return super::watch::run(places, labelled, json.json, *waybar).await;
        }
        Command::Hosts(j) => return across::hosts(&places, j.json).await,
        Command::Notify { min_work_secs } => {
            let min_work = std::time::Duration::from_secs(*min_work_secs);
            return super::notify::run(places, labelled, min_work).await;
        }
        Command::Start { dir, .. } | Command::Register { dir, .. }
            if place != Place::Local && !dir.is_absolute() =>
        {
            return usage(&format!(
                "DIR must be an absolute path on host {}",
                place.name()
            ));
        }
        _ => {}
    }
    // The tray shows on this login's desktop, whatever it follows.
    let tray = matches!(cmd, Command::Tray);
    let link = match connect(if tray { &Place::Local } else { &place }).await {
        Ok(l) => l,
        Err(u) => {
            eprintln!("trusty-mpm: {u}");
            return ExitCode::from(3);
        }
    };
    if tray && labelled {
        return match super::tray::run(&link.conn, Some(places)).await {
            Ok(code) => code,
            Err(e) => report_at(LOCAL, false, &e),
        };
    }
    match exec(&link.conn, cmd, &place).await {
        Ok(code) => code,
        Err(e) => report_at(place.name(), place != Place::Local, &e),
    }
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

async fn exec(conn: &Connection, cmd: Command, place: &Place) -> zbus::Result<ExitCode> {
    let m = manager(conn).await?;
    match cmd {
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
        Command::Attach { key: Key { key } } => {
            return super::attach::run(conn, &key, place).await;
        }
        Command::Tray => return super::tray::run(conn, None).await,
        // Spanning places, they never come here.
        Command::List(_)
        | Command::Status { .. }
        | Command::Watch { .. }
        | Command::Hosts(_)
        | Command::Notify { .. } => unreachable!("run() handles them"),
    }
    Ok(ExitCode::SUCCESS)
}
