//! Figures 4, 5 and 6, on real tmux sessions running the fake claude: exit detection here,
//! the idle cost (`idle`) and the hook relay (`hook_relay`); then the daemon's part of figure 10
//! (`telemetry`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open};
use serde_json::{Value, json};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use trusty_mpm::cli::proxy::{ManagerProxy, SessionProxy};

use crate::calls::{Call, interleaved};
use crate::hook_relay::hook_relay;
use crate::idle::idle_cost;
use crate::report::{Row, percentile, sorted, summary};
use crate::telemetry::first_read_through_the_daemon;
use crate::world::{World, signal};
use crate::{Cfg, log};

const LIVE: usize = 50;

/// Figures 4, 6 and 5 against a daemon with a fresh state dir and 50 live sessions.
pub async fn live_sessions(
    w: &mut World,
    cfg: &Cfg,
    rows: &mut Vec<Row>,
    raw: &mut serde_json::Map<String, Value>,
) {
    let state = w.state_dir("state-live");
    w.start_daemon(&state).await;
    let m = ManagerProxy::new(&w.conn).await.expect("manager proxy");
    let names: Vec<String> = (0..LIVE).map(|i| format!("s{i:02}")).collect();
    log(format!("starting {LIVE} tmux sessions of the fake claude"));
    for n in &names {
        m.start_session(&w.project(n), n, HashMap::new())
            .await
            .unwrap_or_else(|e| panic!("StartSession {n}: {e}"));
    }
    all_active(&m).await;

    // Figure 9: the resource properties of a live session, computed when read.
    resource_reads(w, &m, &names[1], cfg, rows, raw).await;

    // Figure 4.
    log("exit detection: 20 kills");
    let (bus, kernel) = exit_detection(w, &m, &names[0]).await;
    let (bus, kernel) = (sorted(bus), sorted(kernel));
    let worst = |v: &[f64]| v[v.len() - 1];
    rows.push(
        Row::new(
            4,
            "kill → ClaudeExited, median of 20",
            "ms",
            percentile(&bus, 50.0),
        )
        .against(percentile(&kernel, 50.0), "pidfd wake-up in the harness")
        .value_target("≤ 20 ms", 20.0),
    );
    rows.push(
        Row::new(4, "kill → ClaudeExited, worst of 20", "ms", worst(&bus))
            .against(worst(&kernel), "pidfd wake-up in the harness")
            .value_target("≤ 100 ms", 100.0),
    );
    raw.insert(
        "exit_detection_ms".into(),
        json!({ "claude_exited": bus, "pidfd": kernel }),
    );
    all_active(&m).await;

    // Figure 6, after a quiet second, so that the restarts of figure 4 are not counted.
    tokio::time::sleep(Duration::from_secs(1)).await;
    log(format!(
        "idle cost: {:.0} s with {LIVE} active sessions, beside a pane-polling monitor",
        cfg.idle_secs
    ));
    let idle = idle_cost(w, &names, cfg.idle_secs).await;
    rows.push(
        Row::new(
            6,
            format!("daemon CPU, idle {:.0} s, {LIVE} sessions", cfg.idle_secs),
            "ms",
            idle.daemon_ms,
        )
        .against(idle.monitor_ms, "pane-polling monitor")
        .ratio_target("≤ 0.05× monitor", 0.05, false)
        .note(format!(
            "schedstat; utime+stime gave {:.0} ms",
            idle.daemon_ticks_ms
        )),
    );
    rows.push(
        Row::new(
            6,
            "tmux server CPU serving the monitor (same window)",
            "ms",
            idle.tmux_server_ms,
        )
        .note("not counted above; extra cost of polling"),
    );
    raw.insert("idle".into(), idle.json);

    // Figure 5, last: its events change the session it runs from.
    hook_relay(w, &names[1], rows, raw).await;
    first_read_through_the_daemon(w, &names[2], rows, raw).await;
    w.stop_daemon();
}

async fn all_active(m: &ManagerProxy<'static>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = m.list_sessions().await.expect("ListSessions");
        let active = rows.iter().filter(|r| r.3 == "active").count();
        if active == LIVE {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {active} of {LIVE} sessions became active in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 20 rounds of SIGKILL to the claude process of `name`: ms until `ClaudeExited` arrives, and
/// ms until a pidfd on the same process wakes the harness (the kernel's floor).
async fn exit_detection(w: &World, m: &ManagerProxy<'static>, name: &str) -> (Vec<f64>, Vec<f64>) {
    let path = m.get_session(name).await.expect("GetSession");
    let s = SessionProxy::builder(&w.conn)
        .path(path)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .expect("session proxy");
    let mut exited = m.receive_claude_exited().await.expect("subscribe");
    let mut bus = Vec::new();
    let mut kernel = Vec::new();
    let mut last_pid = 0;
    for round in 0..=20 {
        if round > 0 {
            m.restart_session(name).await.expect("RestartSession");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            let pid = s.pid().await.expect("Pid");
            if pid != 0 && pid != last_pid && s.status().await.expect("Status") == "active" {
                break pid;
            }
            assert!(Instant::now() < deadline, "{name} not active again in 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        last_pid = pid;
        if round == 20 {
            break; // restarted, so that every session is active for the idle figure
        }
        let raw_pid = Pid::from_raw(pid as i32).expect("pid");
        let fd = pidfd_open(raw_pid, PidfdFlags::NONBLOCK).expect("pidfd_open");
        // SAFETY: the OwnedFd moves into the AsyncFd, which owns it until dropped, so the
        // descriptor stays open and refers to this pidfd for the AsyncFd's whole life.
        let fd =
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.expect("AsyncFd");
        let t0 = Instant::now();
        signal(pid, Signal::KILL);
        let kernel_wake = async {
            let _ready = fd.readable().await.expect("pidfd readable");
            t0.elapsed()
        };
        let signalled = async {
            while let Some(sig) = exited.next().await {
                if *sig.args().expect("ClaudeExited args").pid() == pid {
                    return t0.elapsed();
                }
            }
            panic!("the ClaudeExited stream ended");
        };
        let (k, b) = tokio::time::timeout(Duration::from_secs(5), async {
            tokio::join!(kernel_wake, signalled)
        })
        .await
        .expect("ClaudeExited within 5 s of the kill");
        bus.push(b.as_secs_f64() * 1000.0);
        kernel.push(k.as_secs_f64() * 1000.0);
    }
    (bus, kernel)
}

/// Figure 9: `GetAll` on a live session object, whose MemoryCurrent, CpuUsageNSec and
/// TasksCurrent are read from its process tree when a client asks (one reading answers for
/// 100 ms), against Ping; and a read with fresh figures every time.
async fn resource_reads(
    w: &World,
    m: &ManagerProxy<'_>,
    name: &str,
    cfg: &Cfg,
    rows: &mut Vec<Row>,
    raw: &mut serde_json::Map<String, Value>,
) {
    let path = m.get_session(name).await.expect("GetSession");
    log(format!(
        "resource figures: {} GetAll calls on a live session",
        cfg.calls
    ));
    let calls = [Call::ping(), Call::get_all(&path)];
    let lat = interleaved(&w.conn, &calls, cfg.calls).await;
    let (ping, all) = (&lat[0], &lat[1]);
    rows.push(
        Row::new(
            9,
            "GetAll, live session with resource figures, p50",
            "µs",
            percentile(all, 50.0),
        )
        .against(percentile(ping, 50.0), "Ping p50")
        .ratio_target("≤ 2× Ping", 2.0, false),
    );
    // Each call past the 100 ms a reading answers for: the cost of reading the figures.
    let mut fresh = Vec::new();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(110)).await;
        fresh.push(calls[1].timed(&w.conn).await);
    }
    let fresh = sorted(fresh);
    rows.push(
        Row::new(
            9,
            "GetAll, figures read afresh, median of 30",
            "µs",
            percentile(&fresh, 50.0),
        )
        .against(percentile(ping, 50.0), "Ping p50"),
    );
    raw.insert("latency_us_get_all_live".into(), summary(all));
    raw.insert("latency_us_get_all_live_fresh".into(), summary(&fresh));
}
