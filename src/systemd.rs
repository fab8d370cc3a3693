//! sd_notify: READY, STATUS, STOPPING and the watchdog. Every call is a no-op outside systemd
//! (no NOTIFY_SOCKET). The watchdog pings only after a round trip through the state owner, so a
//! wedged daemon stops pinging and systemd restarts it.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;

use crate::lifecycle::SessionService;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("sd_notify failed: {e}");
    }
}

/// Tells systemd what the daemon is doing.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// Start-up is complete: the bus name is owned and the registry reconciled.
pub fn ready(text: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(text)]);
}

/// The daemon is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Pings the watchdog at half its interval while the state owner answers.
pub fn spawn_watchdog(svc: Arc<SessionService>) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = interval / 2;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            if healthy(&svc, period).await {
                send(&[NotifyState::Watchdog]);
            } else {
                tracing::error!(
                    "state owner did not answer within {period:?}; withholding the watchdog ping"
                );
            }
        }
    });
}

/// A round trip through the registry and the event publisher.
async fn healthy(svc: &SessionService, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        let _ = svc.count();
        svc.round_trip().await;
    })
    .await
    .is_ok()
}
