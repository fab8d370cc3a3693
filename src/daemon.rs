//! `trusty-mpm daemon`: the start-up and shutdown sequence. Load and reconcile the registry,
//! serve the objects, own the bus name, then READY=1; on SIGTERM/SIGINT persist and exit 0; when
//! the bus connection closes exit non-zero. Sessions are never touched on the way out.

use std::process::ExitCode;
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};

use crate::config::Config;
use crate::lifecycle::SessionService;
use crate::model::Status;
use crate::{dbus, store, systemd};

/// A one-line state for STATUS=.
pub fn status_line(svc: &SessionService) -> String {
    let all = svc.list();
    let active = all.iter().filter(|s| s.status == Status::Active).count();
    format!("{} sessions, {active} active", all.len())
}

/// Runs the daemon until it is told to stop or loses the bus.
pub async fn run() -> ExitCode {
    let cfg = Config::from_env();
    // Bus first: a second daemon must leave before it touches the registry.
    let conn = match zbus::connection::Builder::session().build().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("trusty-mpm: cannot connect to the session bus: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = dbus::check_name_free(&conn).await {
        eprintln!("trusty-mpm: {e}");
        return ExitCode::FAILURE;
    }
    let _lock = match store::lock_state_dir(&cfg.state_dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "trusty-mpm: another daemon is using the state directory {} ({e}).",
                cfg.state_dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let sessions = match SessionService::load_registry(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("trusty-mpm: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (svc, events) = SessionService::new(cfg, sessions);
    systemd::status(&format!("reconciling {} sessions", svc.count()));
    if let Err(e) = svc.reconcile().await {
        tracing::error!("reconciling the registry failed: {e}");
    }

    if let Err(e) = dbus::serve(&conn, svc.clone(), events).await {
        eprintln!("trusty-mpm: {e}");
        return ExitCode::FAILURE;
    }
    svc.spawn_maintenance();
    systemd::ready(&status_line(&svc));
    systemd::spawn_watchdog(svc.clone());
    tracing::info!(
        sessions = svc.count(),
        "trusty-mpm ready on {}",
        dbus::BUS_NAME
    );

    wait_for_end(&conn, &svc).await
}

async fn wait_for_end(conn: &zbus::Connection, svc: &Arc<SessionService>) -> ExitCode {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("trusty-mpm: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let code = tokio::select! {
        _ = term.recv() => ExitCode::SUCCESS,
        _ = int.recv() => ExitCode::SUCCESS,
        _ = conn.closed() => {
            tracing::error!("the bus connection closed; exiting so that the service manager restarts us");
            ExitCode::FAILURE
        }
    };
    systemd::stopping();
    if let Err(e) = svc.persist().await {
        tracing::error!("final save of the registry failed: {e}");
    }
    code
}
