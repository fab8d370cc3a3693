//! Figures 1, 2, 3, 7 and 8, on registered (bookkeeping-only) sessions: method latency beside
//! Ping, ListSessions by size, throughput of 8 clients, memory with 1,000 sessions, and start-up
//! to READY=1 with 1,000 sessions beside an empty registry.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trusty_mpm::cli::proxy::ManagerProxy;

use crate::calls::{Call, cpu_split, interleaved, throughput, time_calls};
use crate::cpu::{ThreadCpu, rss_mib};
use crate::report::{Row, mean, percentile, sorted, summary};
use crate::world::World;
use crate::{Cfg, log};

/// Figures 1, 2, 3, 7 and 8 against a daemon with a fresh state dir.
pub async fn registered_sessions(
    w: &mut World,
    cfg: &Cfg,
    rows: &mut Vec<Row>,
    raw: &mut serde_json::Map<String, Value>,
) {
    let state = w.state_dir("state-registered");
    w.start_daemon(&state).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss0 = rss_mib(w.daemon_pid());
    let m = ManagerProxy::new(&w.conn).await.expect("manager proxy");
    let project = w.project("registered");

    // Figure 2 at 10 sessions.
    register(&m, &project, 0, 10).await;
    let list = Call::list();
    let ls10 = time_calls(&w.conn, &list, cfg.calls / 5).await;

    // Figure 1 at 100 sessions: the four calls in interleaved blocks, so that a change in the
    // machine's load touches each alike.
    register(&m, &project, 10, 100).await;
    let key = reg_name(50);
    let path = m.get_session(&key).await.expect("GetSession");
    let calls = [
        Call::ping(),
        Call::get_session(&key),
        Call::get_all(&path),
        Call::list(),
    ];
    log(format!(
        "latency: {} calls each of Ping, GetSession, GetAll, ListSessions(100)",
        cfg.calls
    ));
    let lat = interleaved(&w.conn, &calls, cfg.calls).await;
    let (ping, get, all, ls100) = (&lat[0], &lat[1], &lat[2], &lat[3]);
    let p50 = |v: &[f64]| percentile(v, 50.0);
    let p99 = |v: &[f64]| percentile(v, 99.0);
    rows.push(
        Row::new(1, "GetSession latency p50", "µs", p50(get))
            .against(p50(ping), "Ping p50")
            .ratio_target("≤ 1.5× Ping", 1.5, false),
    );
    rows.push(Row::new(1, "GetSession latency p99", "µs", p99(get)).against(p99(ping), "Ping p99"));
    rows.push(
        Row::new(1, "Properties.GetAll latency p50", "µs", p50(all))
            .against(p50(ping), "Ping p50")
            .ratio_target("≤ 1.5× Ping", 1.5, false),
    );
    rows.push(
        Row::new(1, "Properties.GetAll latency p99", "µs", p99(all)).against(p99(ping), "Ping p99"),
    );
    rows.push(
        Row::new(1, "ListSessions(100) latency p50", "µs", p50(ls100))
            .against(p50(ping), "Ping p50")
            .ratio_target("≤ 3× Ping", 3.0, false),
    );
    rows.push(
        Row::new(1, "ListSessions(100) latency p99", "µs", p99(ls100))
            .against(p99(ping), "Ping p99"),
    );
    for (label, v) in [
        ("ping", ping),
        ("get_session", get),
        ("get_all", all),
        ("list_sessions_100", ls100),
    ] {
        raw.insert(format!("latency_us_{label}"), summary(v));
    }

    // Where a call's time goes: CPU per call of the daemon, the dbus-daemon and this client.
    let mut split = serde_json::Map::new();
    for (label, c) in ["ping", "get_session", "get_all", "list_sessions_100"]
        .iter()
        .zip(&calls)
    {
        split.insert(label.to_string(), cpu_split(w, c, cfg.calls / 5).await);
    }

    // Figure 3: 8 clients on 8 connections, Ping and GetSession in alternating rounds.
    log("throughput: 8 clients");
    let mut ping_cps = Vec::new();
    let mut get_cps = Vec::new();
    for _ in 0..2 {
        ping_cps.push(throughput(&w.bus_addr, &calls[0], 8, cfg.throughput_secs));
        get_cps.push(throughput(&w.bus_addr, &calls[1], 8, cfg.throughput_secs));
    }
    rows.push(
        Row::new(
            3,
            "GetSession throughput, 8 clients",
            "calls/s",
            mean(&get_cps),
        )
        .against(mean(&ping_cps), "Ping")
        .ratio_target("≥ 0.7× Ping", 0.7, true),
    );
    raw.insert(
        "throughput_calls_per_s".into(),
        json!({ "ping": ping_cps, "get_session": get_cps }),
    );

    // Figure 2 at 1,000 sessions; figure 7.
    log("registering 1,000 sessions");
    let t = Instant::now();
    register(&m, &project, 100, 1000).await;
    raw.insert(
        "register_900_sessions_s".into(),
        json!(t.elapsed().as_secs_f64()),
    );
    let rss1000_registered = rss_mib(w.daemon_pid());
    let ls1000 = time_calls(&w.conn, &list, (cfg.calls / 30).max(50)).await;
    split.insert(
        "list_sessions_1000".into(),
        cpu_split(w, &list, (cfg.calls / 30).max(50)).await,
    );
    // The same, each call right after a change (a session registered, then removed again), for
    // a daemon that reuses its answer while nothing changes.
    let (after_change, cpu_after_change) = list_after_change(w, &m, &project, 30).await;
    let (gio_ping, gio_list) = gio_calls(w, 200);
    split.insert("list_sessions_1000_after_change".into(), cpu_after_change);
    raw.insert("cpu_us_per_call".into(), Value::Object(split));
    rows.push(Row::new(
        2,
        "ListSessions per call, 10 sessions (p50)",
        "ms",
        p50(&ls10) / 1000.0,
    ));
    rows.push(Row::new(
        2,
        "ListSessions per call, 100 sessions (p50)",
        "ms",
        p50(ls100) / 1000.0,
    ));
    rows.push(
        Row::new(
            2,
            "ListSessions per call, 1,000 sessions (p50)",
            "ms",
            p50(&ls1000) / 1000.0,
        )
        .against(p50(&ls10) / 1000.0, "10 sessions")
        .value_target("≤ 3 ms", 3.0),
    );
    rows.push(
        Row::new(
            2,
            "ListSessions, 1,000 sessions, first call after a change (p50 of 30)",
            "ms",
            p50(&after_change) / 1000.0,
        )
        .against(p50(&ls1000) / 1000.0, "unchanged state"),
    );
    rows.push(
        Row::new(
            2,
            "ListSessions, 1,000 sessions, through a Gio client (p50)",
            "ms",
            p50(&gio_list) / 1000.0,
        )
        .against(p50(&gio_ping) / 1000.0, "Ping, same Gio client")
        .ratio_target("≤ 10× Ping", 10.0, false),
    );
    raw.insert(
        "gio_client_us".into(),
        json!({ "ping": summary(&gio_ping), "list_sessions_1000": summary(&gio_list) }),
    );
    raw.insert(
        "list_sessions_us_1000_after_change".into(),
        summary(&after_change),
    );
    raw.insert("list_sessions_us_10".into(), summary(&ls10));
    raw.insert("list_sessions_us_1000".into(), summary(&ls1000));

    let rss1000 = rss_mib(w.daemon_pid());
    rows.push(
        Row::new(7, "daemon RSS, 1,000 sessions", "MiB", rss1000)
            .against(rss0, "0 sessions")
            .value_target("≤ 15 MiB", 15.0)
            .note("after the ListSessions(1,000) calls"),
    );
    raw.insert(
        "rss_mib".into(),
        json!({ "sessions_0": rss0, "sessions_1000": rss1000, "sessions_1000_before_list_calls": rss1000_registered }),
    );

    // Figure 8: restart against the registry of 1,000, beside an empty one.
    w.stop_daemon();
    let empty = w.state_dir("state-empty");
    log("start-up: 5 restarts each with 0 and 1,000 sessions");
    let mut t_empty = Vec::new();
    let mut t_full = Vec::new();
    let mut seen = Vec::new();
    for i in 0..5 {
        let (ms, _) = startup(w, &empty, &format!("notify-e{i}")).await;
        t_empty.push(ms);
        let (ms, status) = startup(w, &state, &format!("notify-f{i}")).await;
        t_full.push(ms);
        seen.push(status);
    }
    let full_ok = seen.iter().all(|s| s.contains("STATUS=1000 sessions"));
    let t_empty = sorted(t_empty);
    let t_full = sorted(t_full);
    let row = Row::new(
        8,
        "start-up to READY=1, 1,000 sessions (median of 5)",
        "ms",
        p50(&t_full),
    )
    .against(p50(&t_empty), "empty registry")
    .value_target("≤ 300 ms", 300.0);
    rows.push(if full_ok {
        row
    } else {
        row.note(format!("READY status was not 1000 sessions: {seen:?}"))
    });
    raw.insert(
        "startup_ms".into(),
        json!({ "empty": t_empty, "sessions_1000": t_full, "ready_status": seen }),
    );
}

/// `n` ListSessions calls, each right after RegisterSession of a new session (removed again
/// after the call): sorted µs, and the daemon's CPU µs per call (schedstat around each call).
async fn list_after_change(
    w: &World,
    m: &ManagerProxy<'static>,
    project: &str,
    n: usize,
) -> (Vec<f64>, Value) {
    let list = Call::list();
    let mut wall = Vec::with_capacity(n);
    let mut cpu_ns = 0;
    for i in 0..n {
        let name = format!("x{i:03}");
        m.register_session(project, &name)
            .await
            .unwrap_or_else(|e| panic!("RegisterSession {name}: {e}"));
        let mut cpu = ThreadCpu::start(w.daemon_pid());
        wall.push(list.timed(&w.conn).await);
        cpu_ns += cpu.ns();
        m.remove_session(&name, false)
            .await
            .unwrap_or_else(|e| panic!("RemoveSession {name}: {e}"));
    }
    let wall = sorted(wall);
    let split =
        json!({ "calls": n, "wall": mean(&wall), "daemon": cpu_ns as f64 / 1e3 / n as f64 });
    (wall, split)
}

/// `rounds` of Ping and ListSessions, taking turns, from a GDBus client (python3-gi, as desktop
/// clients are): sorted µs of each, timed until the client holds the reply as a GVariant.
fn gio_calls(w: &World, rounds: usize) -> (Vec<f64>, Vec<f64>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/harness/gio_calls.py");
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(script)
        .arg(&w.bus_addr)
        .arg(rounds.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("/usr/bin/python3 with python3-gi runs (apt-get install python3-gi)");
    assert!(
        out.status.success(),
        "the Gio client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let times: Value = serde_json::from_slice(&out.stdout).expect("the Gio client's JSON");
    let column = |k: &str| -> Vec<f64> {
        let v = times[k].as_array().expect("a list of µs");
        sorted(v.iter().filter_map(Value::as_f64).collect())
    };
    (column("ping"), column("list"))
}

/// Registers sessions `from..to` (names r0000…), 8 calls in flight.
pub async fn register(m: &ManagerProxy<'static>, project: &str, from: usize, to: usize) {
    let mut set = tokio::task::JoinSet::new();
    for i in from..to {
        if set.len() >= 8 {
            set.join_next().await.expect("a task").expect("task ran");
        }
        let m = m.clone();
        let project = project.to_owned();
        set.spawn(async move {
            m.register_session(&project, &reg_name(i))
                .await
                .unwrap_or_else(|e| panic!("RegisterSession {}: {e}", reg_name(i)))
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("task ran");
    }
}

pub fn reg_name(i: usize) -> String {
    format!("r{i:04}")
}

/// Starts the daemon with a fake NOTIFY_SOCKET; returns ms from spawn to READY=1 and the
/// READY message, then stops the daemon again.
async fn startup(w: &mut World, state: &Path, sock_name: &str) -> (f64, String) {
    let path = w.dir.path().join(sock_name);
    let sock = tokio::net::UnixDatagram::bind(&path).expect("bind the notify socket");
    let mut cmd = w.daemon_command(state);
    cmd.env("NOTIFY_SOCKET", &path);
    let t0 = Instant::now();
    w.spawn_daemon(&mut cmd);
    let mut buf = vec![0u8; 4096];
    let (ms, msg) = loop {
        let n = tokio::time::timeout(Duration::from_secs(20), sock.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no READY=1 within 20 s; log:\n{}", w.log_tail()))
            .expect("recv on the notify socket");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.lines().any(|l| l == "READY=1") {
            break (t0.elapsed().as_secs_f64() * 1000.0, msg);
        }
    };
    w.wait_for_name().await;
    w.stop_daemon();
    let status = msg
        .lines()
        .find(|l| l.starts_with("STATUS="))
        .unwrap_or("")
        .to_owned();
    (ms, status)
}
