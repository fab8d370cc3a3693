//! `make bench` (`cargo bench --bench harness`): the performance figures of issue 6 and the ones
//! added since (9: resource figures, 10: transcript reads, 11: a change as the registry grows,
//! 12: StartSession beside `tmux new-session`, 13: remote hosts), each beside a baseline
//! measured in the same run against the same private world (a dbus-daemon, a tmux server on its
//! own socket and the release daemon). Prints a table and writes
//! `target/bench/report.json` (and `report.md`). See docs/performance.md.
//!
//! Knobs: BENCH_IDLE_SECS (idle window, default 60), BENCH_CALLS (latency calls per method,
//! default 10000), BENCH_THROUGHPUT_SECS (per throughput round, default 2), BENCH_RUST_LOG
//! (the daemon's RUST_LOG, default info), BENCH_GROWTH_SESSIONS (figure 11, default 10000),
//! BENCH_ONLY (a comma-separated choice of the groups registered, live, telemetry, growth and
//! start; default all).
//!
//! The binary re-executes itself as the pane-polling monitor of figure 6
//! (`--poll-monitor SOCKET SECS NAME…`), so that monitor's CPU is a process of its own.
//!
//! Here: the run (knobs, clean-up on Ctrl-C, the report). Beside it: `registered`
//! (figures 1, 2, 3, 7, 8), `live` (4 and 9, with `idle` for 6, `hook_relay` for 5 and the
//! daemon's part of 10), `telemetry` (10, transcript reads), `growth` (11), `start` (12) and
//! `remote` (13) measure;
//! `calls` times method calls; `cpu` reads processes' CPU and memory and `machine` the run's
//! conditions; `world` is the private bus, tmux server and daemon; `report` the table and JSON.

mod calls;
mod cpu;
mod growth;
mod hook_relay;
mod idle;
mod live;
mod machine;
mod registered;
mod remote;
mod report;
mod start;
mod telemetry;
mod world;

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

use live::live_sessions;
use machine::{command_line, cpu_stat, loadavg, machine_cpu};
use registered::registered_sessions;
use world::World;

const DAEMON_BIN: &str = env!("CARGO_BIN_EXE_trusty-mpm");
const FAKE_CLAUDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude");

/// Run parameters (environment knobs).
struct Cfg {
    pub calls: usize,
    pub idle_secs: f64,
    pub throughput_secs: f64,
    /// Sessions registered for figure 11 (a multiple of 10).
    pub growth_sessions: usize,
    /// The groups of figures to run (empty: all).
    pub only: Vec<String>,
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
            growth_sessions: (num("BENCH_GROWTH_SESSIONS", 10_000.0) as usize).max(10) / 10 * 10,
            only: std::env::var("BENCH_ONLY")
                .unwrap_or_default()
                .split(',')
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Whether the group of figures `group` runs (BENCH_ONLY names it, or is unset).
    fn runs(&self, group: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|g| g == group)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--poll-monitor") {
        return idle::poll_monitor(&args[1..]);
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

    if cfg.runs("registered") {
        registered_sessions(&mut w, &cfg, &mut rows, &mut raw).await;
    }
    if cfg.runs("live") {
        live_sessions(&mut w, &cfg, &mut rows, &mut raw).await;
    }
    if cfg.runs("telemetry") {
        telemetry::transcript_reads(&w, &mut rows, &mut raw);
    }
    if cfg.runs("growth") {
        growth::registry_growth(&mut w, &cfg, &mut rows, &mut raw).await;
    }
    if cfg.runs("start") {
        start::start_latency(&mut w, &mut rows, &mut raw).await;
    }
    if cfg.runs("remote") {
        remote::remote_hosts(&mut w, &cfg, &mut rows, &mut raw).await;
    }

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
