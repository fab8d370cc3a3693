//! Figure 6, the idle cost: the daemon's CPU over a quiet window with 50 live sessions, beside
//! a pane-polling monitor over the same window (this binary re-executed with
//! `--poll-monitor`, so that its CPU is a process of its own).

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cpu::{ThreadCpu, cpu_ticks};
use crate::world::{Owned, World, tmux_cmd};

/// What figure 6 measured over the window.
pub struct Idle {
    /// From schedstat (ns resolution).
    pub daemon_ms: f64,
    /// From utime + stime (10 ms ticks).
    pub daemon_ticks_ms: f64,
    pub monitor_ms: f64,
    pub tmux_server_ms: f64,
    pub json: Value,
}

/// Daemon CPU over the window, while the pane-polling monitor (a process of its own) captures
/// every pane every 500 ms over the same window.
pub async fn idle_cost(w: &World, names: &[String], secs: f64) -> Idle {
    let tick_ms = 1000.0 / procfs::ticks_per_second() as f64;
    let daemon = w.daemon_pid();
    let tmux_pid = w.tmux_server_pid();
    let exe = std::env::current_exe().expect("own executable");
    let mut cmd = Command::new(exe);
    cmd.arg("--poll-monitor")
        .arg(w.tmux_socket())
        .arg(secs.to_string())
        .args(names)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let d0 = cpu_ticks(daemon).0;
    let mut fine = ThreadCpu::start(daemon);
    let t0 = cpu_ticks(tmux_pid).0;
    let began = Instant::now();
    let monitor = Owned::spawn(&mut cmd);
    let end = began + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        tokio::time::sleep((end - Instant::now()).min(Duration::from_millis(250))).await;
        fine.sample();
    }
    let d1 = cpu_ticks(daemon).0;
    let fine_ms = fine.ns() as f64 / 1e6;
    let wall = began.elapsed().as_secs_f64();
    let out = monitor.wait_output();
    let t1 = cpu_ticks(tmux_pid).0;
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
pub fn poll_monitor(args: &[String]) -> ExitCode {
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
            let out = tmux_cmd(&sock)
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
        own_cpu_ticks_with_children(),
        start.elapsed().as_millis()
    );
    ExitCode::SUCCESS
}

/// utime + stime + cutime + cstime of this process, in clock ticks.
fn own_cpu_ticks_with_children() -> u64 {
    let (own, children) = cpu_ticks(std::process::id());
    own + children
}
