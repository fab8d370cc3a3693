//! A wedged tmux server: SIGSTOPped, it costs tmux-bound calls a `Timeout` and nothing more;
//! reads and the watchdog carry on, and all works again after SIGCONT.

use std::cell::Cell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::support::*;
use crate::harness::*;

/// Awaits a call (10 s at most) and returns its outcome without the value, and how long it took.
async fn timed<T>(
    fut: impl std::future::Future<Output = zbus::Result<T>>,
) -> (zbus::Result<()>, Duration) {
    let t = Instant::now();
    let r = match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(r) => r.map(drop),
        Err(_) => Err(zbus::Error::Failure("no answer in 10 s".into())),
    };
    (r, t.elapsed())
}

/// The daemon's tmux call timeout in this test. Long enough that a loaded machine's delays fit
/// in the margins below, which stay under one more timeout: a call that waited for another
/// call's timeout, or a read that waited for one, fails them.
const TMUX_TIMEOUT: Duration = Duration::from_secs(2);

/// The tmux server is SIGSTOPped (tmux timeout 2 s) for about 6 s: every tmux-bound call (8 at
/// once, then 2 one after the other) fails with `Timeout` within the timeout + 1.5 s, while
/// ListSessions, GetSession, GetEvents and property reads keep answering well within the
/// timeout and the watchdog keeps pinging. After SIGCONT everything works again. A guard
/// continues the server whatever happens.
#[tokio::test]
async fn wedged_tmux_times_out_tmux_calls_while_reads_and_the_watchdog_go_on() {
    let sd = FakeSystemd::new();
    let timeout_ms = TMUX_TIMEOUT.as_millis().to_string();
    let env = Env::with_env(&[
        ("NOTIFY_SOCKET", sd.path.as_str()),
        ("WATCHDOG_USEC", "400000"),
        ("TRUSTY_MPM_TMUX_TIMEOUT_MS", &timeout_ms),
        ("RUST_LOG", "warn"),
    ])
    .await;
    sd.wait_for("READY=1");
    // Keep reading the notify socket: a full queue would block the daemon's sd_notify send.
    let notify = sd.record();
    let m = env.manager().await;
    let (id, path, pid) = env.start_active("wedge").await;
    m.register_session(&env.project("books"), "books")
        .await
        .unwrap();
    let s = env.session_uncached(&path).await;
    let fresh = env.project("fresh");
    let server = tmux_server_pid(&env).expect("tmux server runs");
    let events_before = m.get_events("wedge", 0).await.unwrap();

    signal(server, "STOP");
    let thaw = Thaw(server);
    wait_for("tmux server stopped", || async {
        proc_state(server) == 'T'
    })
    .await;
    let stopped_at = Instant::now();

    let done = Cell::new(false);
    let tmux_bound = async {
        let r = tokio::join!(
            timed(m.capture_output("wedge", 5, "off")),
            timed(s.capture_output(5, "trim")),
            timed(m.send_command("wedge", "typed while tmux was stopped")),
            timed(s.send_keys(&["Enter"])),
            timed(m.start_session(&fresh, "fresh", HashMap::new())),
            timed(m.pause_session("wedge", "", false)),
            timed(m.adopt_session("unmanaged")),
            timed(m.discover_sessions()),
        );
        // A second wave, one call at a time: no call waits on an earlier one's leftovers.
        let again = timed(m.capture_output("wedge", 5, "summarise")).await;
        let keys = timed(m.send_keys("wedge", &["Escape"])).await;
        done.set(true);
        vec![
            ("CaptureOutput (again)", again),
            ("SendKeys", keys),
            ("CaptureOutput", r.0),
            ("Session.CaptureOutput", r.1),
            ("SendCommand", r.2),
            ("Session.SendKeys", r.3),
            ("StartSession", r.4),
            ("PauseSession (derived summary)", r.5),
            ("AdoptSession", r.6),
            ("DiscoverSessions", r.7),
        ]
    };
    // Reads, over and over while the tmux-bound calls wait; each round is 7 calls.
    let reads = async {
        let mut worst = Duration::ZERO;
        let mut rounds = 0;
        let mut failures = Vec::new();
        while !done.get() {
            let t = Instant::now();
            let round = tokio::time::timeout(Duration::from_secs(5), async {
                let rows = m.list_sessions().await?;
                let found = m.get_session("wedge").await?;
                let status = s.status().await?;
                let spid = s.pid().await?;
                let all = get_all(&env.conn, path.as_str(), SESSION_IFACE).await?;
                let count =
                    get_property(&env.conn, MANAGER_PATH, MANAGER_IFACE, "SessionCount").await?;
                let events = m.get_events("wedge", 0).await?;
                zbus::Result::Ok((rows, found, status, spid, all, count, events))
            })
            .await
            .unwrap_or_else(|_| Err(zbus::Error::Failure("no answer in 5 s".into())));
            worst = worst.max(t.elapsed());
            rounds += 1;
            match round {
                Ok((rows, found, status, spid, all, count, events)) => {
                    let ok = rows.len() == 2
                        && rows[0].0 == id
                        && found == path
                        && status == "active"
                        && spid == pid
                        && all.len() >= 14
                        && u32::try_from(count).is_ok_and(|c| c == 2)
                        && events == events_before;
                    if !ok {
                        failures.push(format!("round {rounds}: unexpected values"));
                    }
                }
                Err(e) => failures.push(format!("round {rounds}: {e}")),
            }
            // Paces the rounds; they go on until the tmux-bound calls are done.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (worst, rounds, failures)
    };
    let (outcomes, (worst, rounds, failures)) = tokio::join!(tmux_bound, reads);
    // Still stopped: the daemon answers once the calls have failed, too.
    let rows_after = m.list_sessions().await;
    let status_after = s.status().await;
    let window = stopped_at.elapsed();
    let wedged_pings = notify.pings_between(stopped_at, stopped_at + window);
    assert_eq!(proc_state(server), 'T', "tmux stayed stopped throughout");
    drop(thaw);
    let thawed_at = Instant::now();

    for (call, (r, took)) in &outcomes {
        let e = r
            .as_ref()
            .expect_err(&format!("{call} succeeded with tmux stopped"));
        assert_eq!(
            error_name(e),
            "org.trusty.Mpm1.Error.Timeout",
            "{call} while tmux is stopped: {e:?}"
        );
        assert!(
            *took >= TMUX_TIMEOUT - Duration::from_millis(100)
                && *took <= TMUX_TIMEOUT + Duration::from_millis(1500),
            "{call} failed after {took:?}, not within the {TMUX_TIMEOUT:?} timeout + 1.5 s"
        );
    }
    eprintln!(
        "wedged: {rounds} read rounds, worst {worst:?}; {wedged_pings} watchdog pings in {window:?}"
    );
    assert!(failures.is_empty(), "reads while wedged: {failures:?}");
    assert!(
        rounds >= 5,
        "only {rounds} read rounds while the calls waited"
    );
    assert!(
        worst < TMUX_TIMEOUT * 3 / 4,
        "a round of 7 reads took {worst:?} while tmux was stopped"
    );
    assert_eq!(rows_after.unwrap().len(), 2);
    assert_eq!(status_after.unwrap(), "active");
    // A ping every 200 ms: allow for half of them.
    let expected = window.as_millis() as usize / 200;
    assert!(
        wedged_pings >= 3 && wedged_pings * 2 >= expected,
        "{wedged_pings} watchdog pings in {window:?} with tmux stopped (about {expected} due)"
    );

    // Thawed: every tmux-bound operation works again.
    wait_for("tmux server running", || async {
        proc_state(server) != 'T'
    })
    .await;
    wait_for("capture works again", || async {
        m.capture_output("wedge", 20, "off").await.is_ok()
    })
    .await;
    // Whatever tmux still had queued from the timed-out calls (text, Escape) ends its line.
    s.send_keys(&["Enter"]).await.unwrap();
    m.send_command("wedge", "after the thaw").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let screen = m.capture_output("wedge", 50, "off").await.unwrap();
        if screen.lines().any(|l| l.ends_with("echo: after the thaw")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the command did not reach claude: {screen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let summary = m.pause_session("wedge", "", false).await.unwrap();
    assert!(summary.contains("after the thaw"), "{summary:?}");
    m.resume_session("wedge").await.unwrap();
    assert_error(m.adopt_session("unmanaged").await, "NotFound");
    assert_eq!(m.discover_sessions().await.unwrap(), Vec::<String>::new());
    let (_, fresh_path, _) = env.start_active("fresh").await;
    assert_eq!(
        env.session_uncached(&fresh_path)
            .await
            .status()
            .await
            .unwrap(),
        "active"
    );
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(s.pid().await.unwrap(), pid);
    wait_for("3 watchdog pings after SIGCONT", || async {
        notify.pings_between(thawed_at, Instant::now()) >= 3
    })
    .await;
}
