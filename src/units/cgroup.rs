//! Where a session's resource figures and processes come from: the unit's cgroup when claude
//! runs in it and the controller is there (cgroup v2, or the v1 hierarchies of a hybrid
//! layout), else claude's process tree in /proc. Blocking reads; callers use the blocking pool.

use std::path::{Path, PathBuf};

use procfs::process::Process;

/// What a session uses now (0 = unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Memory in bytes.
    pub memory: u64,
    /// CPU time used, in nanoseconds.
    pub cpu_nsec: u64,
    /// Tasks (processes and threads).
    pub tasks: u64,
}

/// The files of a unit's cgroup that hold each figure, read from `/proc/<pid>/cgroup` of a
/// process in it. A figure whose file is missing falls back to the process tree.
#[derive(Debug, Default, PartialEq, Eq)]
struct Sources {
    memory: Option<PathBuf>,
    /// The file, and whether it is v2's `cpu.stat` (microseconds) rather than v1's
    /// `cpuacct.usage` (nanoseconds).
    cpu: Option<(PathBuf, bool)>,
    tasks: Option<PathBuf>,
    /// The unit's `cgroup.procs` (every process in it).
    procs: Option<PathBuf>,
}

/// Where the cgroup file systems are: `root`, and whether it is the unified (v2) hierarchy
/// itself rather than a v1 or hybrid layout with one directory per controller.
struct Layout<'a> {
    root: &'a Path,
    v2: bool,
}

impl Layout<'static> {
    fn host() -> Self {
        let root = Path::new("/sys/fs/cgroup");
        Layout {
            root,
            v2: root.join("cgroup.controllers").is_file(),
        }
    }
}

/// Decides the sources from a `/proc/<pid>/cgroup` text: only cgroups that are `unit` count
/// (claude may have been started elsewhere, e.g. an adopted session).
fn sources(cgroup: &str, unit: &str, layout: &Layout) -> Sources {
    let root = layout.root;
    let mut out = Sources::default();
    if unit.is_empty() {
        return out;
    }
    for line in cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if !path.trim_end_matches('/').ends_with(unit) {
            continue;
        }
        let rel = path.trim_start_matches('/');
        let v1 = |hierarchy: &str, file: &str| root.join(hierarchy).join(rel).join(file);
        match controllers {
            // The unified hierarchy: every v2 controller in one directory. In a hybrid layout
            // it holds no controllers, and the v1 lines say where they are.
            "" if layout.v2 => {
                let dir = root.join(rel);
                out.memory = Some(dir.join("memory.current"));
                out.cpu = Some((dir.join("cpu.stat"), true));
                out.tasks = Some(dir.join("pids.current"));
                out.procs = Some(dir.join("cgroup.procs"));
            }
            "" => {}
            c => {
                let has = |name: &str| c.split(',').any(|x| x == name);
                if has("memory") {
                    out.memory = Some(v1("memory", "memory.usage_in_bytes"));
                }
                if has("cpuacct") {
                    out.cpu = Some((v1(c, "cpuacct.usage"), false));
                }
                if has("pids") {
                    out.tasks = Some(v1("pids", "pids.current"));
                }
                if c == "name=systemd" {
                    out.procs = Some(v1("systemd", "cgroup.procs"));
                }
            }
        }
    }
    out
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// v2's `usage_usec` in nanoseconds, or v1's `cpuacct.usage`.
fn read_cpu((path, v2): &(PathBuf, bool)) -> Option<u64> {
    if !v2 {
        return read_u64(path);
    }
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|us| us * 1000)
}

fn cgroup_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

/// `root` and its descendants, parents before children.
pub fn tree(root: u32) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let pid = out[i];
        i += 1;
        // Children of every thread: a tool may be forked from any of them.
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let file = task.path().join("children");
            let list = std::fs::read_to_string(file).unwrap_or_default();
            for child in list
                .split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
            {
                if !out.contains(&child) {
                    out.push(child);
                }
            }
        }
    }
    out
}

/// Every process of a session: claude's tree; whatever else its unit holds (a tool that
/// double-forked away from the tree); and, with or without a unit, every process of this user
/// in a terminal session or process group of claude, of its tree or of `launcher` (what a tool
/// left running when its shell exited, reparented out of the tree). Never claude's ancestors
/// (its launcher: tmux continues a pane's process group when its process stops) nor the daemon,
/// and none of their sessions or groups counts but the launcher's (the tmux server's, the
/// interactive shell's, the daemon's are not the session's). Oldest first, so parents come
/// before their children.
pub fn processes(claude: u32, launcher: Option<u32>, unit: &str) -> Vec<u32> {
    let mut all = tree(claude);
    let daemon = std::process::id();
    let above: Vec<u32> = crate::procwatch::ancestry(claude, 64)
        .into_iter()
        .skip(1)
        .collect();
    let outside: Vec<i32> = above
        .iter()
        .filter(|p| Some(**p) != launcher)
        .chain([&daemon])
        .filter_map(|p| groups_of(*p))
        .flatten()
        .chain([0, 1])
        .collect();
    let groups: Vec<i32> = all
        .iter()
        .chain(launcher.as_ref())
        .filter_map(|p| groups_of(*p))
        .flatten()
        .filter(|g| !outside.contains(g))
        .collect();
    let mut more = in_groups(&groups);
    let src = sources(&cgroup_of(claude), unit, &Layout::host());
    if let Some(procs) = src.procs {
        let listed = std::fs::read_to_string(procs).unwrap_or_default();
        more.extend(
            listed
                .split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    for p in more {
        if !all.contains(&p) && !above.contains(&p) && p != daemon {
            all.push(p);
        }
    }
    let start = |p: &u32| crate::procwatch::identity(*p).map_or(u64::MAX, |i| i.starttime);
    all.sort_by_key(start);
    all
}

/// The terminal session and the process group a process is in.
fn groups_of(pid: u32) -> Option<[i32; 2]> {
    let stat = Process::new(pid as i32).ok()?.stat().ok()?;
    Some([stat.session, stat.pgrp])
}

/// The live processes of this user whose terminal session or process group is one of `groups`.
fn in_groups(groups: &[i32]) -> Vec<u32> {
    if groups.is_empty() {
        return Vec::new();
    }
    let me = rustix::process::geteuid().as_raw();
    let Ok(procs) = procfs::process::all_processes() else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| {
            let stat = p.stat().ok()?;
            let member = groups.contains(&stat.session) || groups.contains(&stat.pgrp);
            (member && stat.state != 'Z' && p.uid().ok()? == me).then_some(stat.pid as u32)
        })
        .collect()
}

/// The figures of a session whose claude is `claude`, running in `unit` (empty: none).
pub fn figures(claude: u32, unit: &str) -> Figures {
    if claude == 0 {
        return Figures::default();
    }
    let src = sources(&cgroup_of(claude), unit, &Layout::host());
    let from_cgroup = Figures {
        memory: src.memory.as_deref().and_then(read_u64).unwrap_or(0),
        cpu_nsec: src.cpu.as_ref().and_then(read_cpu).unwrap_or(0),
        tasks: src.tasks.as_deref().and_then(read_u64).unwrap_or(0),
    };
    if from_cgroup.memory != 0 && from_cgroup.cpu_nsec != 0 && from_cgroup.tasks != 0 {
        return from_cgroup;
    }
    let from_tree = tree_figures(claude);
    Figures {
        memory: nonzero_or(from_cgroup.memory, from_tree.memory),
        cpu_nsec: nonzero_or(from_cgroup.cpu_nsec, from_tree.cpu_nsec),
        tasks: nonzero_or(from_cgroup.tasks, from_tree.tasks),
    }
}

fn nonzero_or(a: u64, b: u64) -> u64 {
    if a != 0 { a } else { b }
}

/// Summed resident memory, user + system time and threads of claude's process tree.
fn tree_figures(claude: u32) -> Figures {
    let page = procfs::page_size();
    let tick_ns = 1_000_000_000 / procfs::ticks_per_second().max(1);
    let mut f = Figures::default();
    for pid in tree(claude) {
        let Ok(stat) = Process::new(pid as i32).and_then(|p| p.stat()) else {
            continue;
        };
        f.memory += stat.rss * page;
        f.cpu_nsec += (stat.utime + stat.stime) * tick_ns;
        f.tasks += stat.num_threads.max(0) as u64;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: &str = "trusty-mpm-session-p.scope";

    #[test]
    fn a_v2_cgroup_gives_every_figure_from_one_directory() {
        let root = Path::new("/sys/fs/cgroup");
        let path = format!("0::/user.slice/user@1000.service/trusty-mpm.slice/{UNIT}\n");
        let s = sources(&path, UNIT, &Layout { root, v2: true });
        let dir = root.join(format!(
            "user.slice/user@1000.service/trusty-mpm.slice/{UNIT}"
        ));
        assert_eq!(s.memory, Some(dir.join("memory.current")));
        assert_eq!(s.cpu, Some((dir.join("cpu.stat"), true)));
        assert_eq!(s.tasks, Some(dir.join("pids.current")));
        assert_eq!(s.procs, Some(dir.join("cgroup.procs")));
    }

    #[test]
    fn a_hybrid_v1_layout_reads_each_controller_from_its_hierarchy() {
        let root = Path::new("/sys/fs/cgroup");
        let p = format!("/user.slice/trusty-mpm.slice/{UNIT}");
        let text = format!(
            "9:name=systemd:{p}\n8:pids:{p}\n4:memory:{p}\n2:cpu,cpuacct:{p}\n1:freezer:/\n0::{p}\n"
        );
        let s = sources(&text, UNIT, &Layout { root, v2: false });
        assert_eq!(
            s.memory,
            Some(root.join(format!("memory{p}/memory.usage_in_bytes")))
        );
        assert_eq!(
            s.cpu,
            Some((root.join(format!("cpu,cpuacct{p}/cpuacct.usage")), false))
        );
        assert_eq!(s.tasks, Some(root.join(format!("pids{p}/pids.current"))));
        assert_eq!(s.procs, Some(root.join(format!("systemd{p}/cgroup.procs"))));
    }

    #[test]
    fn cgroups_of_other_units_do_not_count() {
        let text = "0::/user.slice/tmux-server.service\n4:memory:/init.scope\n";
        let layout = Layout::host();
        assert_eq!(sources(text, UNIT, &layout), Sources::default());
        assert_eq!(sources(text, "", &layout), Sources::default());
    }

    #[test]
    fn the_tree_of_this_process_includes_its_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id();
        let t = tree(me);
        assert_eq!(t[0], me);
        assert!(t.contains(&child.id()));
        let f = figures(me, "");
        assert!(f.memory > 0 && f.tasks >= 2, "{f:?}");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_process_left_in_claudes_group_belongs_to_the_session_and_this_one_does_not() {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        // "claude" in a process group of its own; a subshell leaves a sleep behind in it.
        let mut claude = std::process::Command::new("sh")
            .args(["-c", "(sleep 60 & echo $!); exec sleep 60"])
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = std::io::BufReader::new(claude.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        let left: u32 = line.trim().parse().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tree(claude.id()).contains(&left) {
            assert!(std::time::Instant::now() < deadline, "never reparented");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let all = processes(claude.id(), None, "");
        let _ = std::process::Command::new("kill")
            .arg(left.to_string())
            .status();
        claude.kill().unwrap();
        claude.wait().unwrap();
        assert_eq!(all[0], claude.id());
        assert!(all.contains(&left), "{all:?}");
        // This process shares claude's terminal session, not its group: it is not the session's.
        assert!(!all.contains(&std::process::id()), "{all:?}");
    }
}
