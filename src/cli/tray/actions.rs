//! What the tray's menu entries do: calls of the public contract by session id, and Attach,
//! which opens the session in the user's terminal. A failure is logged and returned to the
//! host as one sentence.

use zbus::Connection;

use super::state::Action;
use crate::cli::bus::manager;
use crate::cli::desktop::open_session;
use crate::cli::output::message;

/// Runs one menu action.
pub async fn run(conn: &Connection, action: &Action) -> zbus::fdo::Result<()> {
    call(conn, action).await.map_err(|e| {
        let e = format!("{}: {}", what(action), message(&e));
        eprintln!("trusty-mpm tray: {e}");
        zbus::fdo::Error::Failed(e)
    })
}

/// What the action was, for a failure's message.
fn what(action: &Action) -> String {
    match action {
        Action::Attach { name, .. } => format!("cannot open {name} in a terminal"),
        Action::Pause { name, .. } => format!("cannot pause {name}"),
        Action::Resume { name, .. } => format!("cannot resume {name}"),
        Action::Stop { name, .. } => format!("cannot stop {name}"),
        Action::Answer { name, choice, .. } => {
            format!("cannot answer {name}'s request ({})", choice.label())
        }
    }
}

async fn call(conn: &Connection, action: &Action) -> zbus::Result<()> {
    match action {
        Action::Attach { id, .. } => attach(id),
        Action::Pause { id, .. } => manager(conn)
            .await?
            .pause_session(id, "", false)
            .await
            .map(drop),
        Action::Resume { id, .. } => manager(conn).await?.resume_session(id).await,
        Action::Stop { id, .. } => manager(conn).await?.stop_session(id, false).await,
        Action::Answer {
            id,
            request_id,
            choice,
            ..
        } => {
            let answer = choice.answer("Denied from the tray menu.")?;
            manager(conn)
                .await?
                .answer_request(id, request_id, answer)
                .await
        }
    }
}

/// Opens the session in the user's terminal (`terminal_command` in config.toml).
fn attach(id: &str) -> zbus::Result<()> {
    let config = crate::config::Config::from_env();
    let policy = crate::config::file::ConfigFile::load(&config.config_file).unwrap_or_default();
    open_session(&policy.terminal_command, id).map_err(zbus::Error::Failure)
}
