//! sd_notify as systemd would see it, through a fake NOTIFY_SOCKET: READY=1 only once the name
//! is owned, STATUS= on change, the watchdog cadence (and its silence when the state owner is
//! wedged), STOPPING=1 on SIGTERM; and that nothing of it reaches the agents.

use std::time::{Duration, Instant};

use crate::harness::*;

#[tokio::test]
async fn ready_status_and_stopping() {
    let sd = FakeSystemd::new();
    let mut env = Env::with_env(&[("NOTIFY_SOCKET", &sd.path)]).await;
    let (ready, before) = sd.wait_for("READY=1");
    assert!(ready.contains("STATUS=No sessions"), "{ready:?}");
    assert!(
        before
            .iter()
            .any(|m| m.contains("STATUS=reconciling 0 sessions")),
        "{before:?}"
    );
    // READY=1 came after the name was owned (the harness saw the name before returning, and the
    // daemon only sends READY after RequestName succeeded): calls work right away.
    env.manager().await.list_sessions().await.unwrap();

    let (_, path, pid) = env.start_active("notify").await;
    sd.wait_for("STATUS=1 session, 1 active");

    // The agent sees none of the daemon's systemd plumbing.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    for var in ["NOTIFY_SOCKET=", "WATCHDOG_USEC=", "JOURNAL_STREAM="] {
        assert!(
            !environ.split('\0').any(|kv| kv.starts_with(var)),
            "claude inherited {var}"
        );
    }

    env.session(&path).await.stop(true).await.unwrap();
    sd.wait_for("STATUS=1 session, 0 active");

    let mut daemon = env.daemon.take().unwrap();
    let t = Instant::now();
    signal(daemon.id(), "TERM");
    // Within the unit's TimeoutStopSec=5s, after which systemd would SIGKILL it.
    let status =
        wait_child(&mut daemon, Duration::from_secs(4)).expect("exit within 4 s of SIGTERM");
    assert!(status.success(), "{status}");
    let (stopping, _) = sd.wait_for("STOPPING=1");
    assert!(t.elapsed() < Duration::from_secs(4), "{stopping:?}");
}

/// The wedge is a test fault (SIGUSR1 holds the state lock forever), built only with the
/// `test-faults` feature.
#[cfg(feature = "test-faults")]
#[tokio::test]
async fn watchdog_pings_at_half_interval_and_stops_when_wedged() {
    let sd = FakeSystemd::new();
    let env = Env::with_env(&[
        ("NOTIFY_SOCKET", &sd.path),
        ("WATCHDOG_USEC", "400000"),
        ("TRUSTY_MPM_TEST_FAULTS", "1"),
    ])
    .await;
    sd.wait_for("READY=1");
    // 400 ms interval: a ping every 200 ms, so about 10 in 2 s.
    let healthy = pings(&sd.collect(Duration::from_secs(2)));
    assert!((7..=13).contains(&healthy), "{healthy} pings in 2 s");

    let pid = env.daemon.as_ref().unwrap().id();
    signal(pid, "USR1");
    // Allow one ping already on its way, then silence.
    sd.collect(Duration::from_millis(300));
    let wedged = pings(&sd.collect(Duration::from_secs(2)));
    assert_eq!(wedged, 0, "a wedged daemon kept pinging");
    // Silent because wedged, not because gone: systemd is the one to end it.
    assert!(alive(pid), "the wedged daemon exited by itself");
}
