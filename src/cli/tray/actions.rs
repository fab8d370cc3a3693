//! What the tray's menu entries do: calls of the public contract by session id, Attach and
//! Open list (the user's terminal), and Start session… (a folder chooser, then StartSession).
//! A failure is logged, shown as a desktop notification when a server answers (the person
//! clicked a menu: stderr alone would go unseen), and returned to the host as one sentence.

use std::collections::HashMap;

use zbus::Connection;

use super::chooser;
use super::state::{Action, Verb};
use crate::cli::bus::manager;
use crate::cli::desktop::{Desktop, Note, open_list, open_session};
use crate::cli::output::message;
use crate::cli::requests::answer;

/// Runs one menu action (Pick, Send and Quit are the loop's own) through `conn`, the
/// connection of the place it acts on; a failure is shown on `here`, this login's bus.
pub async fn run(here: &Connection, conn: &Connection, action: &Action) -> zbus::fdo::Result<()> {
    if let Action::StartSession = action {
        // The chooser waits for a person: the host's call returns now.
        let conn = conn.clone();
        tokio::spawn(async move { start_session(&conn).await });
        return Ok(());
    }
    match call(conn, action).await {
        Ok(()) => Ok(()),
        Err(e) => Err(zbus::fdo::Error::Failed(
            failed(here, &format!("{}: {}", what(action), message(&e))).await,
        )),
    }
}

/// What the action was, for a failure's message.
fn what(action: &Action) -> String {
    match action {
        Action::Session { verb, name, .. } => {
            let verb = match verb {
                Verb::Attach => "open {} in a terminal",
                Verb::Pause => "pause {}",
                Verb::Resume => "resume {}",
                Verb::Stop => "stop {}",
                Verb::Restart => "restart {}",
                Verb::Remove => "remove {}",
            };
            format!("Cannot {}", verb.replace("{}", name))
        }
        Action::Answer { name, choice, .. } => {
            format!("Cannot answer {name}'s request ({})", choice.label())
        }
        Action::Send { name, .. } => format!("Cannot send the answers to {name}'s questions"),
        Action::OpenList => "Cannot open the list in a terminal".into(),
        Action::At { action, .. } => what(action),
        Action::Pick { .. } | Action::StartSession | Action::Quit => "Cannot do that".into(),
    }
}

async fn call(conn: &Connection, action: &Action) -> zbus::Result<()> {
    let m = || manager(conn);
    match action {
        Action::Session { verb, id, .. } => match verb {
            Verb::Attach => open_session(&terminal(), id).map_err(zbus::Error::Failure),
            Verb::Pause => m().await?.pause_session(id, "", false).await.map(drop),
            Verb::Resume => m().await?.resume_session(id).await,
            Verb::Stop => m().await?.stop_session(id, false).await,
            Verb::Restart => m().await?.restart_session(id).await,
            Verb::Remove => m().await?.remove_session(id, false).await,
        },
        Action::Answer {
            id,
            request_id,
            choice,
            ..
        } => {
            let answer = choice.answer("Denied from the tray menu.")?;
            m().await?.answer_request(id, request_id, answer).await
        }
        Action::OpenList => open_list(&terminal()).map_err(zbus::Error::Failure),
        Action::Pick { .. }
        | Action::Send { .. }
        | Action::StartSession
        | Action::Quit
        | Action::At { .. } => Ok(()),
    }
}

/// Sends the answers picked for a request's questions (through `conn`, failures shown on
/// `here` as for `run`).
pub async fn send(
    here: &Connection,
    conn: &Connection,
    action: &Action,
    answers: HashMap<String, String>,
) -> zbus::fdo::Result<()> {
    let Action::Send { id, request_id, .. } = action else {
        return Ok(());
    };
    let sent = async {
        let answer = answer([("answers", answers.into())])?;
        manager(conn)
            .await?
            .answer_request(id, request_id, answer)
            .await
    };
    match sent.await {
        Ok(()) => Ok(()),
        Err(e) => Err(zbus::fdo::Error::Failed(
            failed(here, &format!("{}: {}", what(action), message(&e))).await,
        )),
    }
}

/// The terminal config.toml names (`terminal_command`), or none (the defaults).
fn terminal() -> Vec<String> {
    let config = crate::config::Config::from_env();
    let file = crate::config::file::ConfigFile::load(&config.config_file).unwrap_or_default();
    file.terminal_command
}

/// Asks for a folder and starts a session there.
async fn start_session(conn: &Connection) {
    let dir = match chooser::choose(conn).await {
        Ok(Some(dir)) => dir,
        Ok(None) => return,
        Err(e) => {
            failed(conn, &e).await;
            return;
        }
    };
    let started = async {
        manager(conn)
            .await?
            .start_session(&dir.to_string_lossy(), "", HashMap::new())
            .await
    };
    match started.await {
        Ok((_, name, _)) => eprintln!("trusty-mpm tray: started {name} in {}", dir.display()),
        Err(e) => {
            let e = format!(
                "Cannot start a session in {}: {}",
                dir.display(),
                message(&e)
            );
            failed(conn, &e).await;
        }
    }
}

/// Says that something the person asked for failed: on stderr, and as a notification when a
/// server answers. Returns the sentence.
pub async fn failed(conn: &Connection, sentence: &str) -> String {
    eprintln!("trusty-mpm tray: {sentence}");
    if let Ok(mut desktop) = Desktop::new(conn).await
        && let Some(caps) = desktop.capabilities().await
    {
        let note = Note {
            icon: "dialog-error",
            summary: "trusty-mpm tray",
            body: sentence,
            actions: &[],
            category: "x-trusty-mpm.tray.error",
            critical: false,
        };
        desktop.show(&note, caps).await;
    }
    sentence.to_owned()
}
