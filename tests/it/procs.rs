//! Processes as /proc shows them, read with the `procfs` crate: state, liveness, parents and
//! descendants, argv, comm and start time; memory and CPU time come from `tests/support/procs.rs`,
//! which the benchmark harness shares.

use procfs::process::{Process, Stat, all_processes};

#[path = "../support/procs.rs"]
mod shared;
pub use shared::{cpu_ticks, rss_kib};

fn process(pid: u32) -> Process {
    Process::new(pid as i32).unwrap_or_else(|e| panic!("no /proc/{pid}: {e}"))
}

fn stat(pid: u32) -> Option<Stat> {
    Process::new(pid as i32).ok()?.stat().ok()
}

/// The process state letter (`T` is stopped).
pub fn proc_state(pid: u32) -> char {
    stat(pid)
        .unwrap_or_else(|| panic!("no /proc/{pid}/stat"))
        .state
}

/// Whether `pid` runs (it exists and has not exited: a zombie until reaped is not alive).
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z')
}

/// The parent pid of `pid`.
pub fn ppid(pid: u32) -> Option<u32> {
    u32::try_from(stat(pid)?.ppid).ok()
}

/// The start time of a process (clock ticks after boot): with the pid, its identity.
pub fn start_time(pid: u32) -> u64 {
    stat(pid)
        .unwrap_or_else(|| panic!("no /proc/{pid}/stat"))
        .starttime
}

/// The argv of a running process.
pub fn cmdline(pid: u32) -> Vec<String> {
    process(pid)
        .cmdline()
        .unwrap_or_else(|e| panic!("no /proc/{pid}/cmdline: {e}"))
}

/// The comm (program name, at most 15 bytes) of a running process.
pub fn comm(pid: u32) -> String {
    stat(pid)
        .unwrap_or_else(|| panic!("no /proc/{pid}/stat"))
        .comm
}

/// Every process below `root` (not `root` itself), each parent before its children.
fn below(root: u32) -> Vec<Stat> {
    let all: Vec<Stat> = all_processes()
        .map(|procs| procs.flatten().filter_map(|p| p.stat().ok()).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut queue = vec![root as i32];
    while let Some(parent) = queue.pop() {
        for s in all.iter().filter(|s| s.ppid == parent) {
            queue.push(s.pid);
            out.push(s.clone());
        }
    }
    out
}

/// The pids of all processes below `root`.
pub fn descendants(root: u32) -> Vec<u32> {
    below(root).iter().map(|s| s.pid as u32).collect()
}

/// The pid of a live process whose comm is `comm` below `root` (not `root`).
pub fn find_descendant(root: u32, comm: &str) -> Option<u32> {
    find_descendant_where(root, |name| name == comm)
}

/// The pid of a live process below `root` (not `root`) whose comm satisfies `pred`.
pub fn find_descendant_where(root: u32, pred: impl Fn(&str) -> bool) -> Option<u32> {
    below(root)
        .into_iter()
        .map(|s| (s.pid as u32, s.comm))
        .find(|(pid, name)| pred(name) && alive(*pid))
        .map(|(pid, _)| pid)
}

/// Whether `pid` is a live descendant of `root` (so it belongs to the test that started `root`).
pub fn descends_from(pid: u32, root: u32) -> bool {
    let mut p = pid;
    for _ in 0..16 {
        match ppid(p) {
            Some(parent) if parent == root => return alive(pid),
            Some(parent) if parent > 1 => p = parent,
            _ => return false,
        }
    }
    false
}
