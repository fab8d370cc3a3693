//! procfs and pidfd: finding the claude process in a pane's process tree, process identity as
//! (pid, starttime), signals sent through a pidfd, and event-driven exit detection.
//!
//! The /proc scans here are blocking; async callers run them through `find_claude_async`.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::path::Path;

use procfs::FromRead;
use procfs::process::{Process, Stat, all_processes};
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
use tokio::io::unix::AsyncFd;

use crate::model::ProcIdentity;

/// `/proc/<pid>/stat`, opened by its path (`Process::new(..).stat()` opens the process's
/// directory, then the file: a hook event reads one for each ancestor of its relay).
pub fn stat(pid: u32) -> Option<Stat> {
    Stat::from_file(format!("/proc/{pid}/stat")).ok()
}

/// The identity of a live (not zombie) process, read from `/proc/<pid>/stat`.
pub fn identity(pid: u32) -> Option<ProcIdentity> {
    let stat = stat(pid)?;
    (stat.state != 'Z').then_some(ProcIdentity {
        pid,
        starttime: stat.starttime,
    })
}

/// The exit status of a process that exited and is not reaped yet (a zombie), as a shell gives
/// it (128 + N for signal N); `None` for a live process or one already reaped.
pub fn zombie_status(pid: u32) -> Option<i32> {
    let stat = stat(pid)?;
    let status = stat.exit_code.filter(|_| stat.state == 'Z')?;
    Some(match status & 0x7f {
        0 => (status >> 8) & 0xff,
        signal => 128 + signal,
    })
}

/// The parent pid of a process.
pub fn parent(pid: u32) -> Option<u32> {
    let ppid = stat(pid)?.ppid;
    u32::try_from(ppid).ok()
}

/// Whether the process recorded as `id` still runs (same pid, same start time).
pub fn is_alive(id: ProcIdentity) -> bool {
    identity(id.pid) == Some(id)
}

/// The one-letter scheduler state of a process (`R`, `S`, `T` for stopped, ...).
pub fn state(pid: u32) -> Option<char> {
    Some(stat(pid)?.state)
}

/// The real uid a process runs as.
pub fn owner(pid: u32) -> Option<u32> {
    Process::new(pid as i32).ok()?.uid().ok()
}

/// A process's working directory.
pub fn cwd(pid: u32) -> Option<std::path::PathBuf> {
    Process::new(pid as i32).ok()?.cwd().ok()
}

/// Whether a path names a Claude Code program: a `claude` binary or link, the native binary
/// kept as `.../claude/versions/<version>`, or the npm package's entry points
/// (`.../@anthropic-ai/claude-code/cli.js`, `.../@anthropic-ai/claude-code/bin/claude.exe`).
fn is_claude_path(path: &Path) -> bool {
    fn name(p: Option<&Path>) -> Option<&str> {
        p.and_then(Path::file_name).and_then(|n| n.to_str())
    }
    let parent = path.parent();
    let grandparent = parent.and_then(Path::parent);
    match name(Some(path)) {
        Some("claude") => true,
        Some("cli.js") => {
            name(parent) == Some("claude-code") && name(grandparent) == Some("@anthropic-ai")
        }
        Some("claude.exe") => {
            name(parent) == Some("bin")
                && name(grandparent) == Some("claude-code")
                && name(grandparent.and_then(Path::parent)) == Some("@anthropic-ai")
        }
        Some(_) => name(parent) == Some("versions") && name(grandparent) == Some("claude"),
        None => false,
    }
}

/// Whether a process looks like Claude Code, for adopting and discovering sessions the daemon
/// did not start (it knows the claude of a session it started by construction): its comm is
/// `claude`, or its executable, its argv[0], or a script or module an interpreter runs names a
/// Claude Code program (`is_claude_path`).
pub fn looks_like_claude(comm: &str, exe: Option<&Path>, argv: &[String]) -> bool {
    if comm == "claude" || exe.is_some_and(is_claude_path) {
        return true;
    }
    let Some(first) = argv.first() else {
        return false;
    };
    if is_claude_path(Path::new(first)) {
        return true;
    }
    // An interpreter running Claude Code's script: the first argument that is not an option.
    let interpreter = Path::new(first)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| matches!(n, "node" | "bun" | "bash" | "sh" | "dash"));
    interpreter
        && argv
            .iter()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .is_some_and(|a| a.contains('/') && is_claude_path(Path::new(a)))
}

fn process_is_claude(p: &Process, comm: &str) -> bool {
    let exe = p.exe().ok();
    let argv = p.cmdline().unwrap_or_default();
    looks_like_claude(comm, exe.as_deref(), &argv)
}

/// Finds the claude process at or below `root` (a pane's pid), nearest to the root first.
pub fn find_claude(root: u32) -> Option<ProcIdentity> {
    let mut children: HashMap<u32, Vec<(u32, u64, String)>> = HashMap::new();
    let mut root_entry = None;
    for p in all_processes().ok()?.flatten() {
        let Ok(stat) = p.stat() else { continue };
        if stat.state == 'Z' {
            continue;
        }
        let entry = (stat.pid as u32, stat.starttime, stat.comm);
        if entry.0 == root {
            root_entry = Some(entry.clone());
        }
        children.entry(stat.ppid as u32).or_default().push(entry);
    }
    let mut queue: VecDeque<(u32, u64, String)> = root_entry.into_iter().collect();
    while let Some((pid, starttime, comm)) = queue.pop_front() {
        if let Ok(p) = Process::new(pid as i32)
            && process_is_claude(&p, &comm)
        {
            let id = ProcIdentity { pid, starttime };
            // Re-check: the pid may have been reused while we scanned.
            if is_alive(id) {
                return Some(id);
            }
        }
        if let Some(kids) = children.remove(&pid) {
            queue.extend(kids);
        }
    }
    None
}

/// `find_claude` off the async executor.
pub async fn find_claude_async(root: u32) -> Option<ProcIdentity> {
    tokio::task::spawn_blocking(move || find_claude(root))
        .await
        .ok()
        .flatten()
}

/// Runs a /proc read (or any short blocking call) on the blocking pool, off the executor.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// What a launcher the daemon started has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LauncherState {
    /// Its child runs: that is the session's claude (its identity survives the exec).
    Running(ProcIdentity),
    /// It runs but has not forked yet.
    Pending,
    /// It has exited (so has whatever it ran).
    Gone,
}

/// The state of a launcher: the child it forked, if any.
pub fn launched(launcher: ProcIdentity) -> LauncherState {
    if !is_alive(launcher) {
        return LauncherState::Gone;
    }
    // The kernel's list of the launcher's children (CONFIG_PROC_CHILDREN, as on every distro
    // kernel); the launcher only ever forks claude.
    let list = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", launcher.pid))
        .unwrap_or_default();
    let child = list
        .split_whitespace()
        .filter_map(|p| identity(p.parse().ok()?))
        .min_by_key(|id| id.starttime);
    match child {
        Some(id) if is_alive(launcher) => LauncherState::Running(id),
        Some(_) => LauncherState::Gone,
        None => LauncherState::Pending,
    }
}

/// Whether `pid` is one of `roots` or a descendant of one of them.
pub fn in_tree(pid: u32, roots: &[u32]) -> bool {
    let mut cur = pid;
    // Deep enough for any shell → tool → claude chain, bounded against loops.
    for _ in 0..64 {
        if roots.contains(&cur) {
            return true;
        }
        match parent(cur) {
            Some(p) if p > 1 => cur = p,
            _ => return false,
        }
    }
    false
}

/// One process of a lineage: who it is, and its command name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ancestor {
    pub id: ProcIdentity,
    comm: String,
}

impl Ancestor {
    /// Whether it looks like Claude Code. Asked only of the few ancestors a decision needs:
    /// reading every ancestor's exe and command line was most of what a hook event from no
    /// session cost the daemon.
    pub fn is_claude(&self) -> bool {
        let Ok(p) = Process::new(self.id.pid as i32) else {
            return false;
        };
        // Still the same process (a pid can be reused since the lineage was read).
        let same = p
            .stat()
            .is_ok_and(|s| s.state != 'Z' && s.starttime == self.id.starttime);
        same && process_is_claude(&p, &self.comm)
    }
}

/// `pid` and its live ancestors, nearest first, at most `depth` of them (their stat only).
pub fn lineage(pid: u32, depth: usize) -> Vec<Ancestor> {
    let mut out = Vec::new();
    let mut cur = pid;
    while out.len() < depth && cur > 1 {
        let Some(stat) = stat(cur) else {
            break;
        };
        if stat.state == 'Z' {
            break;
        }
        out.push(Ancestor {
            id: ProcIdentity {
                pid: cur,
                starttime: stat.starttime,
            },
            comm: stat.comm,
        });
        match u32::try_from(stat.ppid) {
            Ok(p) => cur = p,
            Err(_) => break,
        }
    }
    out
}

/// `pid` and its ancestors, nearest first, at most `depth` of them.
pub fn ancestry(pid: u32, depth: usize) -> Vec<u32> {
    let mut out = Vec::new();
    let mut cur = pid;
    while out.len() < depth && cur > 1 {
        out.push(cur);
        match parent(cur) {
            Some(p) => cur = p,
            None => break,
        }
    }
    out
}

/// A pidfd bound to one verified process: signals cannot reach a reused pid through it, and it
/// becomes readable the moment the process exits.
#[derive(Debug)]
pub struct ProcHandle {
    id: ProcIdentity,
    fd: OwnedFd,
}

/// A process signal the daemon sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Stop,
    Cont,
    Term,
    Kill,
}

impl ProcHandle {
    /// Opens a pidfd for `id`; `None` when that process (pid and start time) no longer runs.
    pub fn open(id: ProcIdentity) -> Option<Self> {
        let pid = Pid::from_raw(i32::try_from(id.pid).ok()?)?;
        let fd = pidfd_open(pid, PidfdFlags::empty()).ok()?;
        // The pidfd pins the process we opened; if its start time differs, the pid was reused.
        is_alive(id).then_some(ProcHandle { id, fd })
    }

    pub fn identity(&self) -> ProcIdentity {
        self.id
    }

    /// Sends a signal; fails when the process is gone.
    pub fn signal(&self, sig: Sig) -> std::io::Result<()> {
        let sig = match sig {
            Sig::Stop => Signal::STOP,
            Sig::Cont => Signal::CONT,
            Sig::Term => Signal::TERM,
            Sig::Kill => Signal::KILL,
        };
        pidfd_send_signal(&self.fd, sig).map_err(Into::into)
    }

    /// Resolves when the process exits (at once if it already has).
    pub async fn exited(self) -> std::io::Result<ProcIdentity> {
        let id = self.id;
        // SAFETY: the OwnedFd moves into the AsyncFd, which owns it until dropped, so the
        // descriptor stays open and refers to this pidfd for the AsyncFd's whole life.
        let afd =
            unsafe { AsyncFd::register_with_interest(self.fd, tokio::io::Interest::READABLE) }
                .map_err(std::io::Error::from)?;
        let _ready = afd.readable().await?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// A child that exited, left unreaped until its zombie tells the status.
    fn zombie(script: &str) -> (std::process::Child, Option<i32>) {
        let child = std::process::Command::new("sh")
            .args(["-c", script])
            .spawn()
            .unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while state(pid) != Some('Z') {
            assert!(
                std::time::Instant::now() < deadline,
                "pid {pid} never exited"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        (child, zombie_status(pid))
    }

    #[test]
    fn an_unreaped_exit_tells_its_status_as_a_shell_would() {
        let (mut exited, status) = zombie("exit 3");
        assert_eq!(status, Some(3));
        exited.wait().unwrap();
        assert_eq!(zombie_status(exited.id()), None, "reaped: nothing to tell");
        let (mut killed, status) = zombie("kill -9 $$");
        assert_eq!(status, Some(137));
        killed.wait().unwrap();
        assert_eq!(
            zombie_status(std::process::id()),
            None,
            "alive: nothing to tell"
        );
    }

    #[test]
    fn claude_detection_covers_real_installs() {
        assert!(looks_like_claude("claude", None, &[]));
        let native = PathBuf::from("/home/u/.local/share/claude/versions/2.0.14");
        assert!(looks_like_claude(
            "2.0.14",
            Some(&native),
            &argv(&["claude"])
        ));
        assert!(looks_like_claude("2.0.14", Some(&native), &[]));
        assert!(looks_like_claude(
            "node",
            Some(Path::new("/usr/bin/node")),
            &argv(&[
                "node",
                "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js",
                "--resume",
                "x"
            ])
        ));
        assert!(looks_like_claude(
            "bash",
            None,
            &argv(&["/opt/bin/claude", "-p"])
        ));
        assert!(!looks_like_claude(
            "bash",
            Some(Path::new("/bin/bash")),
            &argv(&["bash", "claude"])
        ));
        assert!(!looks_like_claude(
            "node",
            None,
            &argv(&["node", "server.js"])
        ));
        assert!(!looks_like_claude(
            "claude-helper",
            None,
            &argv(&["claude-helper"])
        ));
    }

    #[test]
    fn identity_tracks_start_time() {
        let me = std::process::id();
        let id = identity(me).expect("own process");
        assert!(is_alive(id));
        assert!(!is_alive(ProcIdentity {
            pid: me,
            starttime: id.starttime + 1
        }));
        assert!(
            ProcHandle::open(ProcIdentity {
                pid: me,
                starttime: id.starttime + 1
            })
            .is_none()
        );
    }
}
