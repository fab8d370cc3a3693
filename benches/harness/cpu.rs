//! CPU time and memory of the processes a run watches, from /proc through the procfs crate:
//! clock ticks and RSS (`tests/support/procs.rs`, shared with the tests) and the threads'
//! schedstat run time in nanoseconds.

use std::collections::HashMap;

use procfs::process::Process;

// Shared with the integration tests (tests/support/): one target cannot import another's
// modules, so the file is included by path.
#[path = "../../tests/support/procs.rs"]
mod procs;
pub use procs::cpu_ticks;

/// VmRSS of `pid` in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    procs::rss_kib(pid) as f64 / 1024.0
}

/// On-CPU time of one process from its threads' schedstat (ns, unlike the 10 ms ticks of
/// /proc/<pid>/stat). A thread that exits takes its time with it, so threads are followed by
/// id: call `sample` often enough to see short-lived ones (tokio's blocking threads live 10 s).
pub struct ThreadCpu {
    pid: u32,
    base: HashMap<u32, u64>,
    seen: HashMap<u32, u64>,
}

impl ThreadCpu {
    pub fn start(pid: u32) -> ThreadCpu {
        let base = thread_ns(pid);
        ThreadCpu {
            pid,
            seen: base.clone(),
            base,
        }
    }

    pub fn sample(&mut self) {
        for (tid, ns) in thread_ns(self.pid) {
            let e = self.seen.entry(tid).or_insert(0);
            *e = (*e).max(ns);
        }
    }

    /// Nanoseconds on CPU since `start`.
    pub fn ns(&mut self) -> u64 {
        self.sample();
        self.seen
            .iter()
            .map(|(tid, ns)| ns.saturating_sub(self.base.get(tid).copied().unwrap_or(0)))
            .sum()
    }
}

/// Run time so far of each live thread of `pid`, by thread id (none once the process is gone).
fn thread_ns(pid: u32) -> HashMap<u32, u64> {
    let Ok(tasks) = Process::new(pid as i32).and_then(|p| p.tasks()) else {
        return HashMap::new();
    };
    tasks
        .flatten()
        .filter_map(|t| Some((t.tid as u32, t.schedstat().ok()?.sum_exec_runtime)))
        .collect()
}
