//! `make bench` (`cargo bench --bench harness`): the performance figures of issue 6, each beside
//! a baseline measured in the same run against the same private world (a dbus-daemon, a tmux
//! server on its own socket and the release daemon). Prints a table and writes
//! `target/bench/report.json` (and `report.md`). See docs/performance.md.
//!
//! Knobs: BENCH_IDLE_SECS (idle window, default 60), BENCH_CALLS (latency calls per method,
//! default 10000), BENCH_THROUGHPUT_SECS (per throughput round, default 2), BENCH_RUST_LOG
//! (the daemon's RUST_LOG, default info).
//!
//! The binary re-executes itself as the pane-polling monitor of figure 6
//! (`--poll-monitor SOCKET SECS NAME…`), so that monitor's CPU is a process of its own.

#[path = "harness/report.rs"]
mod report;
#[path = "harness/world.rs"]
mod world;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open};
use serde_json::{Value, json};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use trusty_mpm::cli::proxy::{ManagerProxy, SessionProxy};
use zbus::{Connection, OwnedObjectPath};

use report::{Row, mean, percentile, sorted};
use world::{MANAGER_PATH, Owned, World};

const DAEMON_BIN: &str = env!("CARGO_BIN_EXE_trusty-mpm");
const FAKE_CLAUDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude");

/// Run parameters (environment knobs).
struct Cfg {
    calls: usize,
    idle_secs: f64,
    throughput_secs: f64,
}

impl Cfg {
    fn from_env() -> Cfg {
        fn num(var: &str, default: f64) -> f64 {
            std::env::var(var)
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| *v > 0.0)
                .unwrap_or(default)
        }
        Cfg {
            calls: num("BENCH_CALLS", 10_000.0) as usize,
            idle_secs: num("BENCH_IDLE_SECS", 60.0),
            throughput_secs: num("BENCH_THROUGHPUT_SECS", 2.0),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--poll-monitor") {
        return poll_monitor(&args[1..]);
    }
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("the benchmark harness runs under `make bench` (cargo bench --bench harness)");
        return ExitCode::SUCCESS;
    }
    arm_interrupt_cleanup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(run())));
    world::cleanup_all();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => {
            eprintln!(
                "bench: the harness failed (see the panic above); everything it started is stopped"
            );
            ExitCode::FAILURE
        }
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Ctrl-C or SIGTERM: stop what the run started, then leave (quietly: calls failing on the
/// way out because the bus is gone are no news).
fn arm_interrupt_cleanup() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if INTERRUPTED.load(Ordering::SeqCst) {
            loop {
                std::thread::park();
            }
        }
        default_hook(info);
    }));
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("signal runtime");
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        });
        INTERRUPTED.store(true, Ordering::SeqCst);
        eprintln!("bench: interrupted; stopping everything it started");
        world::cleanup_all();
        std::process::exit(130);
    });
}

fn log(msg: impl AsRef<str>) {
    eprintln!("bench: {}", msg.as_ref());
}

async fn run() {
    let cfg = Cfg::from_env();
    let began = Instant::now();
    let load_before = loadavg();
    let stat_before = cpu_stat();
    let mut w = World::new(Path::new(DAEMON_BIN), Path::new(FAKE_CLAUDE)).await;
    log(format!(
        "private world in {} (bus {})",
        w.dir.path().display(),
        w.bus_addr
    ));
    let mut rows = Vec::new();
    let mut raw = serde_json::Map::new();

    registered_sessions(&mut w, &cfg, &mut rows, &mut raw).await;
    live_sessions(&mut w, &cfg, &mut rows, &mut raw).await;

    let table = report::table(&rows);
    println!("\n{table}");
    let conditions = json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "tmux": command_line("tmux", &["-V"]),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
        "machine_cpu_during_run": machine_cpu(&stat_before, &cpu_stat()),
        "duration_s": began.elapsed().as_secs_f64(),
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "git": command_line("git", &["-C", env!("CARGO_MANIFEST_DIR"), "describe", "--always", "--dirty"]),
        "calls": cfg.calls,
        "idle_secs": cfg.idle_secs,
        "throughput_secs": cfg.throughput_secs,
    });
    let doc = json!({ "figures": rows, "conditions": conditions, "raw": Value::Object(raw) });
    let dir = report::out_dir();
    std::fs::create_dir_all(&dir).expect("create the report dir");
    let pretty = serde_json::to_string_pretty(&doc).expect("report serializes");
    std::fs::write(dir.join("report.json"), pretty + "\n").expect("write report.json");
    std::fs::write(dir.join("report.md"), &table).expect("write report.md");
    let busy = &conditions["machine_cpu_during_run"];
    println!(
        "conditions: {} CPUs, load average {} before and {} after, CPUs {:.0} % busy (all \
         processes) and {:.1} % stolen during the run, {:.0} s in all",
        conditions["cpus"],
        load_before,
        conditions["loadavg_after"].as_str().unwrap_or("?"),
        busy["busy_pct"].as_f64().unwrap_or(f64::NAN),
        busy["steal_pct"].as_f64().unwrap_or(f64::NAN),
        began.elapsed().as_secs_f64()
    );
    println!("report: {}", dir.join("report.json").display());
}

// ---------------------------------------------------------------------------------------------
// Figures 1, 2, 3, 7, 8: registered (bookkeeping-only) sessions.

async fn registered_sessions(
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
        let mut cpu = world::ThreadCpu::start(w.daemon_pid());
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

/// Registers sessions `from..to` (names r0000…), 8 calls in flight.
async fn register(m: &ManagerProxy<'static>, project: &str, from: usize, to: usize) {
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

fn reg_name(i: usize) -> String {
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

// ---------------------------------------------------------------------------------------------
// Figures 4, 5, 6: real tmux sessions running the fake claude.

const LIVE: usize = 50;

async fn live_sessions(
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

    // Figure 6.
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

    // Figure 5, last: the hook subcommand may not exist yet.
    hook_relay(w, &names[1], rows, raw).await;
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
        world::signal(pid, Signal::KILL);
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

struct Idle {
    /// From schedstat (ns resolution).
    daemon_ms: f64,
    /// From utime + stime (10 ms ticks).
    daemon_ticks_ms: f64,
    monitor_ms: f64,
    tmux_server_ms: f64,
    json: Value,
}

/// Daemon CPU over the window, while the pane-polling monitor (a process of its own) captures
/// every pane every 500 ms over the same window.
async fn idle_cost(w: &World, names: &[String], secs: f64) -> Idle {
    let tick_ms = 1000.0 / world::clock_ticks() as f64;
    let daemon = w.daemon_pid();
    let tmux_pid: u32 =
        String::from_utf8_lossy(&w.tmux(&["display-message", "-p", "#{pid}"]).stdout)
            .trim()
            .parse()
            .expect("tmux server pid");
    let exe = std::env::current_exe().expect("own executable");
    let mut cmd = Command::new(exe);
    cmd.arg("--poll-monitor")
        .arg(w.tmux_socket())
        .arg(secs.to_string())
        .args(names)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let d0 = world::cpu_ticks(daemon);
    let mut fine = world::ThreadCpu::start(daemon);
    let t0 = world::cpu_ticks(tmux_pid);
    let began = Instant::now();
    let monitor = Owned::spawn(&mut cmd);
    let end = began + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        tokio::time::sleep((end - Instant::now()).min(Duration::from_millis(250))).await;
        fine.sample();
    }
    let d1 = world::cpu_ticks(daemon);
    let fine_ms = fine.ns() as f64 / 1e6;
    let wall = began.elapsed().as_secs_f64();
    let out = monitor.wait_output();
    let t1 = world::cpu_ticks(tmux_pid);
    assert!(out.status.success(), "the polling monitor failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |k: &str| -> u64 {
        text.split_whitespace()
            .skip_while(|w| *w != k)
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("monitor output without {k}: {text:?}"))
    };
    let daemon_ticks_ms = (d1 - d0) as f64 * tick_ms;
    let monitor_ms = field("cpu_ticks") as f64 * tick_ms;
    let tmux_server_ms = (t1 - t0) as f64 * tick_ms;
    Idle {
        daemon_ms: fine_ms,
        daemon_ticks_ms,
        monitor_ms,
        tmux_server_ms,
        json: json!({
            "window_s": wall,
            "daemon_cpu_ms_utime_stime": daemon_ticks_ms,
            "daemon_cpu_ms_schedstat": fine_ms,
            "monitor_cpu_ms": monitor_ms,
            "monitor_captures": field("captures"),
            "monitor_failures": field("failures"),
            "monitor_wall_s": field("wall_ms") as f64 / 1000.0,
            "tmux_server_cpu_ms": tmux_server_ms,
            "clock_tick_ms": tick_ms,
        }),
    }
}

/// `--poll-monitor SOCKET SECS NAME…`: what a pane-scraping manager does — `tmux capture-pane
/// -p` of every session every 500 ms — for SECS seconds; then prints its own CPU time plus that
/// of its (waited-for) tmux children, in clock ticks.
fn poll_monitor(args: &[String]) -> ExitCode {
    let [sock, secs, names @ ..] = args else {
        eprintln!("usage: --poll-monitor SOCKET SECS NAME…");
        return ExitCode::FAILURE;
    };
    let sock = PathBuf::from(sock);
    let secs: f64 = secs.parse().unwrap_or(60.0);
    let period = Duration::from_millis(500);
    let start = Instant::now();
    let mut next = start;
    let (mut captures, mut failures) = (0u64, 0u64);
    while start.elapsed().as_secs_f64() < secs {
        for n in names {
            let out = world::tmux_cmd(&sock)
                .args(["capture-pane", "-p", "-t", &format!("={n}:")])
                .stderr(Stdio::null())
                .output();
            match out {
                Ok(o) if o.status.success() => captures += 1,
                _ => failures += 1,
            }
        }
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    println!(
        "cpu_ticks {} captures {captures} failures {failures} wall_ms {}",
        world::own_cpu_ticks_with_children(),
        start.elapsed().as_millis()
    );
    ExitCode::SUCCESS
}

/// Figure 5: wall time of one `trusty-mpm hook` run, beside `true` and `busctl … Ping`.
async fn hook_relay(
    w: &World,
    name: &str,
    rows: &mut Vec<Row>,
    raw: &mut serde_json::Map<String, Value>,
) {
    const WHAT: &str = "hook relay run (managed session), median";
    let has_hook = Command::new(&w.bin)
        .args(["hook", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_hook {
        log("hook relay: not available (no hook subcommand)");
        rows.push(Row::unavailable(
            5,
            WHAT,
            "≤ 10 ms",
            "not available (no hook subcommand)",
        ));
        return;
    }
    log("hook relay: 40 runs each of true, busctl Ping and trusty-mpm hook (managed, unmanaged)");
    let pane = String::from_utf8_lossy(
        &w.tmux(&["list-panes", "-t", &format!("={name}:"), "-F", "#{pane_id}"])
            .stdout,
    )
    .trim()
    .to_owned();
    let server = String::from_utf8_lossy(&w.tmux(&["display-message", "-p", "#{pid}"]).stdout)
        .trim()
        .to_owned();
    let tmux_env = format!("{},{server},0", w.tmux_socket().display());
    let payload = json!({
        "session_id": "00000000-0000-4000-8000-000000000000",
        "transcript_path": "",
        "cwd": w.project(name),
        "hook_event_name": "Notification",
        "message": "Claude is waiting for your input",
        "notification_type": "idle_prompt",
    })
    .to_string();
    let stray = json!({
        "session_id": "00000000-0000-4000-8000-00000000ffff",
        "transcript_path": "",
        "cwd": "/",
        "hook_event_name": "Notification",
        "message": "Claude is waiting for your input",
        "notification_type": "idle_prompt",
    })
    .to_string();

    let run_true = || {
        let t = Instant::now();
        let ok = Command::new("true").status().is_ok_and(|s| s.success());
        assert!(ok, "true failed");
        t.elapsed()
    };
    let run_busctl = || {
        let t = Instant::now();
        let ok = Command::new("busctl")
            .arg(format!("--address={}", w.bus_addr))
            .args([
                "call",
                world::BUS_NAME,
                MANAGER_PATH,
                "org.freedesktop.DBus.Peer",
                "Ping",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "busctl Ping failed");
        t.elapsed()
    };
    // managed: from the pane of a managed session, so the event changes that session (and
    // the registry is saved before the reply); unmanaged: from no session, ignored.
    let run_hook = |managed: bool| {
        let t = Instant::now();
        let mut cmd = Command::new(&w.bin);
        cmd.arg("hook")
            .env("DBUS_SESSION_BUS_ADDRESS", &w.bus_addr)
            .env_remove("TMUX")
            .env_remove("TMUX_PANE");
        if managed {
            cmd.env("TMUX", &tmux_env).env("TMUX_PANE", &pane);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn trusty-mpm hook");
        child
            .stdin
            .take()
            .expect("hook stdin")
            .write_all(if managed { &payload } else { &stray }.as_bytes())
            .expect("write the payload");
        let out = child.wait_with_output().expect("wait for the hook");
        let d = t.elapsed();
        (d, out.status.code(), out.stderr)
    };
    for _ in 0..5 {
        run_true();
        run_busctl();
        run_hook(true);
        run_hook(false);
    }
    let (mut t_true, mut t_busctl, mut t_hook) = (Vec::new(), Vec::new(), Vec::new());
    let mut t_stray = Vec::new();
    let mut codes = HashMap::new();
    let mut stderr_sample = String::new();
    for _ in 0..40 {
        t_true.push(run_true().as_secs_f64() * 1000.0);
        t_busctl.push(run_busctl().as_secs_f64() * 1000.0);
        let (d, code, err) = run_hook(true);
        t_hook.push(d.as_secs_f64() * 1000.0);
        t_stray.push(run_hook(false).0.as_secs_f64() * 1000.0);
        *codes.entry(format!("{code:?}")).or_insert(0u32) += 1;
        if stderr_sample.is_empty() && !err.is_empty() {
            stderr_sample = String::from_utf8_lossy(&err).into_owned();
        }
    }
    let (t_true, t_busctl, t_hook) = (sorted(t_true), sorted(t_busctl), sorted(t_hook));
    let t_stray = sorted(t_stray);
    // The runs took the managed path: the session's history holds the Notification events.
    let m = ManagerProxy::new(&w.conn).await.expect("manager proxy");
    let events = m.get_events(name, 100).await.expect("GetEvents");
    let reached = events.iter().filter(|e| e.1 == "Notification").count();
    let med = |v: &[f64]| percentile(v, 50.0);
    let row = Row::new(5, WHAT, "ms", med(&t_hook))
        .against(med(&t_true), "`true` spawn")
        .value_target("≤ 10 ms", 10.0);
    rows.push(if reached == 0 {
        row.note("the events did not reach the session")
    } else {
        row
    });
    rows.push(
        Row::new(
            5,
            "hook relay run vs busctl Ping, median",
            "ms",
            med(&t_hook),
        )
        .against(med(&t_busctl), "`busctl call … Ping`"),
    );
    rows.push(
        Row::new(
            5,
            "hook relay run, unmanaged event, median",
            "ms",
            med(&t_stray),
        )
        .against(med(&t_true), "`true` spawn")
        .note("an event from no managed session: ignored, nothing saved"),
    );
    raw.insert(
        "hook_ms".into(),
        json!({
            "true": t_true, "busctl_ping": t_busctl, "hook": t_hook, "hook_unmanaged": t_stray,
            "hook_exit_codes": codes, "hook_stderr_sample": stderr_sample,
            "notification_events_in_session_history": reached,
        }),
    );
}

// ---------------------------------------------------------------------------------------------
// Method calls, timed from the client.

/// One method call, sent raw so that every call (Ping included) goes the same way and nothing
/// but the reply's arrival is timed (the body is not decoded).
#[derive(Clone)]
struct Call {
    path: String,
    iface: &'static str,
    member: &'static str,
    arg: Option<String>,
}

impl Call {
    fn ping() -> Call {
        Call {
            path: MANAGER_PATH.into(),
            iface: "org.freedesktop.DBus.Peer",
            member: "Ping",
            arg: None,
        }
    }

    fn get_session(key: &str) -> Call {
        Call {
            path: MANAGER_PATH.into(),
            iface: "org.trusty.Mpm1",
            member: "GetSession",
            arg: Some(key.into()),
        }
    }

    fn get_all(path: &OwnedObjectPath) -> Call {
        Call {
            path: path.to_string(),
            iface: "org.freedesktop.DBus.Properties",
            member: "GetAll",
            arg: Some("org.trusty.Mpm1.Session".into()),
        }
    }

    fn list() -> Call {
        Call {
            path: MANAGER_PATH.into(),
            iface: "org.trusty.Mpm1",
            member: "ListSessions",
            arg: None,
        }
    }

    async fn once(&self, conn: &Connection) -> zbus::Result<zbus::Message> {
        let dest = Some(world::BUS_NAME);
        let path = self.path.as_str();
        match &self.arg {
            None => {
                conn.call_method(dest, path, Some(self.iface), self.member, &())
                    .await
            }
            Some(a) => {
                conn.call_method(dest, path, Some(self.iface), self.member, &(a.as_str(),))
                    .await
            }
        }
    }

    /// µs for one call.
    async fn timed(&self, conn: &Connection) -> f64 {
        let t = Instant::now();
        self.once(conn)
            .await
            .unwrap_or_else(|e| panic!("{}.{}: {e}", self.iface, self.member));
        t.elapsed().as_secs_f64() * 1e6
    }
}

/// CPU µs per call spent by the daemon, the dbus-daemon and this process over `n` calls
/// (from the threads' schedstat), beside the wall time per call.
async fn cpu_split(w: &World, call: &Call, n: usize) -> Value {
    let mut cpu = [w.daemon_pid(), w.bus_pid(), std::process::id()].map(world::ThreadCpu::start);
    let t = Instant::now();
    for i in 0..n {
        call.timed(&w.conn).await;
        if i % 100 == 99 {
            cpu.iter_mut().for_each(world::ThreadCpu::sample);
        }
    }
    let wall = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let ns = cpu.map(|mut c| c.ns());
    let per = |i: usize| ns[i] as f64 / 1e3 / n as f64;
    json!({ "calls": n, "wall": wall, "daemon": per(0), "dbus_daemon": per(1), "client": per(2) })
}

/// `n` sequential calls after a warm-up; sorted µs.
async fn time_calls(conn: &Connection, call: &Call, n: usize) -> Vec<f64> {
    for _ in 0..(n / 10).clamp(10, 500) {
        call.timed(conn).await;
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(call.timed(conn).await);
    }
    sorted(v)
}

/// `n` sequential calls of each of `calls`, in 10 rotating blocks; sorted µs per call kind.
async fn interleaved(conn: &Connection, calls: &[Call], n: usize) -> Vec<Vec<f64>> {
    for c in calls {
        for _ in 0..200 {
            c.timed(conn).await;
        }
    }
    let blocks = 10;
    let mut out: Vec<Vec<f64>> = calls.iter().map(|_| Vec::with_capacity(n)).collect();
    for b in 0..blocks {
        let per = n / blocks + usize::from(b < n % blocks);
        for (c, v) in calls.iter().zip(out.iter_mut()) {
            for _ in 0..per {
                v.push(c.timed(conn).await);
            }
        }
    }
    out.into_iter().map(sorted).collect()
}

/// Calls per second of `clients` threads, each with its own runtime and bus connection,
/// calling back to back for `secs`.
fn throughput(addr: &str, call: &Call, clients: usize, secs: f64) -> f64 {
    let barrier = Barrier::new(clients);
    let dur = Duration::from_secs_f64(secs);
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("client runtime");
                    let conn = rt.block_on(async {
                        let conn = zbus::connection::Builder::address(addr)
                            .build()
                            .await
                            .expect("client connection");
                        for _ in 0..50 {
                            call.timed(&conn).await;
                        }
                        conn
                    });
                    barrier.wait();
                    rt.block_on(async {
                        let end = Instant::now() + dur;
                        let mut n = 0u64;
                        while Instant::now() < end {
                            call.timed(&conn).await;
                            n += 1;
                        }
                        n
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .sum()
    });
    total as f64 / secs
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

fn summary(sorted_us: &[f64]) -> Value {
    json!({
        "n": sorted_us.len(),
        "p50": percentile(sorted_us, 50.0),
        "p90": percentile(sorted_us, 90.0),
        "p99": percentile(sorted_us, 99.0),
        "max": sorted_us[sorted_us.len() - 1],
        "mean": mean(sorted_us),
    })
}

fn rss_mib(pid: u32) -> f64 {
    world::rss_kib(pid) as f64 / 1024.0
}

/// The aggregate `cpu` line of /proc/stat (user nice system idle iowait irq softirq steal …).
fn cpu_stat() -> Vec<u64> {
    std::fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// How busy the whole machine was between two `cpu_stat` readings (every process, the
/// harness's own world included), and how much time the hypervisor took (steal).
fn machine_cpu(before: &[u64], after: &[u64]) -> Value {
    let d: Vec<f64> = after
        .iter()
        .zip(before)
        .map(|(a, b)| a.saturating_sub(*b) as f64)
        .collect();
    let total: f64 = d.iter().take(8).sum();
    if d.len() < 8 || total == 0.0 {
        return json!({});
    }
    let idle = d[3] + d[4];
    json!({
        "busy_pct": 100.0 * (total - idle) / total,
        "steal_pct": 100.0 * d[7] / total,
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(o.stdout.as_slice())
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}
