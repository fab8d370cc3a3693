//! `trusty-mpm daemon`: the start-up and shutdown sequence. Load and reconcile the registry,
//! serve the objects, own the bus name, then READY=1; on SIGTERM/SIGINT persist and exit 0; when
//! the bus connection closes exit non-zero. Sessions are never touched on the way out.

use std::process::ExitCode;
use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::Config;
use crate::config::file::ConfigFile;
use crate::hooks::HookService;
use crate::lifecycle::SessionService;
use crate::{dbus, store, systemd};

/// Runs the daemon until it is told to stop or loses the bus.
pub async fn run() -> ExitCode {
    // Before the bus name is claimed: from then on anyone may stop the daemon, and a SIGTERM
    // that came before the handlers would end it at once, failed and without the final save.
    let (Ok(term), Ok(int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("trusty-mpm: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let mut cfg = Config::from_env();
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
    crate::units::release_gates(&cfg.state_dir);
    let sessions = match SessionService::load_registry(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("trusty-mpm: {e}");
            return ExitCode::FAILURE;
        }
    };
    let policy = match ConfigFile::load(&cfg.config_file) {
        Ok(p) => p,
        Err(e) => {
            // Reported loudly, and `trusty-mpm hooks check` says the same; the daemon still
            // serves sessions, without the broken file's rules.
            tracing::error!("config file is broken, its deny rules are NOT applied: {e}");
            eprintln!("trusty-mpm: config file is broken, its deny rules are NOT applied: {e}");
            ConfigFile::default()
        }
    };
    tracing::info!(
        deny_rules = policy.deny.len(),
        permission_wait_secs = policy.permission_wait.as_secs(),
        "config file loaded"
    );
    cfg.apply(&policy.settings);
    if cfg.under_systemd
        && let Some(max) = cfg.slice_memory_max
    {
        // All agents together; the slice unit itself ships with `make install`.
        match crate::units::limit_slice(&cfg.slice, max).await {
            Ok(()) => tracing::info!("{} limited to MemoryMax={max}", cfg.slice),
            Err(e) => tracing::error!("could not limit {}: {e}", cfg.slice),
        }
    } else if !cfg.under_systemd
        && (!cfg.default_limits.is_empty() || cfg.slice_memory_max.is_some())
    {
        tracing::warn!(
            "config.toml sets resource limits, but the daemon does not run under systemd: they are not applied"
        );
    }
    let (queue, events) = dbus::EventQueue::new();
    let history = store::load_history(&cfg.registry_path());
    let svc = SessionService::new(cfg, sessions, queue.clone());
    svc.restore_history(history);
    let hooks = Arc::new(HookService::new(svc.clone(), policy));
    systemd::status(&format!(
        "reconciling {}",
        crate::text::count(svc.count(), "session")
    ));
    let lost = svc.reconcile().await.unwrap_or_else(|e| {
        tracing::error!("reconciling the registry failed: {e}");
        Vec::new()
    });

    let _hook_socket = match dbus::serve(&conn, svc.clone(), hooks, queue.clone(), events).await {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("trusty-mpm: {e}");
            return ExitCode::FAILURE;
        }
    };
    svc.spawn_maintenance();
    svc.spawn_transcript_follower();
    let mut counts = svc.counts();
    systemd::ready(&counts.borrow_and_update().to_string());
    tokio::spawn(async move {
        while counts.changed().await.is_ok() {
            let line = counts.borrow_and_update().to_string();
            systemd::status(&line);
        }
    });
    // Health is a round trip through the state owner and the publisher.
    let (owner, publisher) = (svc.clone(), queue.clone());
    systemd::spawn_watchdog(move || {
        let (owner, publisher) = (owner.clone(), publisher.clone());
        async move {
            let _ = owner.count();
            publisher.round_trip().await;
        }
    });
    // After READY: restoring sessions starts claude processes, which must not delay start-up.
    if svc.config().restore_on_start {
        svc.spawn_restore(lost);
    }
    #[cfg(feature = "test-faults")]
    if std::env::var_os("TRUSTY_MPM_TEST_FAULTS").is_some() {
        arm_test_faults(&svc);
    }
    tracing::info!(
        sessions = svc.count(),
        "trusty-mpm ready on {}",
        dbus::BUS_NAME
    );

    wait_for_end(&conn, &svc, term, int).await
}

#[cfg(feature = "test-faults")]
/// Test-only fault switch (TRUSTY_MPM_TEST_FAULTS set): SIGUSR1 deadlocks the state owner,
/// as a real bug would, so tests can watch the watchdog pings stop.
fn arm_test_faults(svc: &Arc<SessionService>) {
    let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
        return;
    };
    let svc = svc.clone();
    tokio::spawn(async move {
        usr1.recv().await;
        tracing::warn!("test fault: wedging the state owner");
        svc.wedge_for_tests();
    });
}

async fn wait_for_end(
    conn: &zbus::Connection,
    svc: &Arc<SessionService>,
    mut term: Signal,
    mut int: Signal,
) -> ExitCode {
    let code = tokio::select! {
        _ = term.recv() => ExitCode::SUCCESS,
        _ = int.recv() => ExitCode::SUCCESS,
        _ = conn.closed() => {
            tracing::error!("the bus connection closed; exiting so that the service manager restarts us");
            ExitCode::FAILURE
        }
    };
    systemd::stopping();
    tracing::info!(
        sessions = svc.count(),
        "trusty-mpm stopping; the sessions keep running"
    );
    // A clean stop leaves the whole registry in one snapshot and an empty journal.
    if let Err(e) = svc.compact().await {
        tracing::error!("final save of the registry failed: {e}");
    }
    code
}
