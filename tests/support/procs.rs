//! Memory and CPU time of a process from /proc, read with the `procfs` crate; shared by the
//! integration tests and the benchmark harness.

use procfs::process::Process;

fn process(pid: u32) -> Process {
    Process::new(pid as i32).unwrap_or_else(|e| panic!("no /proc/{pid}: {e}"))
}

/// Resident set size of a process in KiB (`VmRSS` of /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> u64 {
    process(pid)
        .status()
        .ok()
        .and_then(|s| s.vmrss)
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// CPU time of a process in clock ticks (`procfs::ticks_per_second()` a second): its own
/// (utime + stime, of all its threads, exited ones too) and that of its reaped children
/// (cutime + cstime).
pub fn cpu_ticks(pid: u32) -> (u64, u64) {
    let stat = process(pid)
        .stat()
        .unwrap_or_else(|e| panic!("no /proc/{pid}/stat: {e}"));
    let children = u64::try_from(stat.cutime + stat.cstime).unwrap_or(0);
    (stat.utime + stat.stime, children)
}
