//! The conditions of a run, for report.json: the machine's load average and how busy its CPUs
//! were (from /proc through the procfs crate), and the versions of what it ran.

use std::process::{Command, Stdio};

use procfs::{CpuTime, Current, CurrentSI, KernelStats, LoadAverage};
use serde_json::{Value, json};

/// The machine's aggregate CPU counters (the `cpu` line of /proc/stat).
pub fn cpu_stat() -> Option<CpuTime> {
    KernelStats::current().ok().map(|s| s.total)
}

/// How busy the whole machine was between two `cpu_stat` readings (every process, the
/// harness's own world included), and how much time the hypervisor took (steal).
pub fn machine_cpu(before: &Option<CpuTime>, after: &Option<CpuTime>) -> Value {
    let (Some(before), Some(after)) = (
        before.as_ref().and_then(ticks),
        after.as_ref().and_then(ticks),
    ) else {
        return json!({});
    };
    let d: Vec<f64> = after
        .iter()
        .zip(before)
        .map(|(a, b)| a.saturating_sub(b) as f64)
        .collect();
    let total: f64 = d.iter().sum();
    if total == 0.0 {
        return json!({});
    }
    let idle = d[3] + d[4];
    json!({
        "busy_pct": 100.0 * (total - idle) / total,
        "steal_pct": 100.0 * d[7] / total,
    })
}

/// user, nice, system, idle, iowait, irq, softirq and steal ticks (none from a kernel that
/// lacks one of them).
fn ticks(c: &CpuTime) -> Option<[u64; 8]> {
    Some([
        c.user, c.nice, c.system, c.idle, c.iowait?, c.irq?, c.softirq?, c.steal?,
    ])
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg shows them.
pub fn loadavg() -> String {
    LoadAverage::current()
        .map(|l| format!("{:.2} {:.2} {:.2}", l.one, l.five, l.fifteen))
        .unwrap_or_default()
}

/// What `cmd args` prints, trimmed (empty when it cannot run).
pub fn command_line(cmd: &str, args: &[&str]) -> String {
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
