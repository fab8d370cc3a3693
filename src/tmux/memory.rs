//! The in-memory tmux for unit tests, behind the `Tmux` seam: one server (or none), its
//! sessions and what was typed, scripted here, while its panes run real processes (the daemon's
//! launcher and a stand-in claude), so detection, stops and exits are the real thing. The
//! lifecycle's tests drive it directly; the D-Bus face's tests serve the daemon over it
//! (`DaemonTmux`).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Pane, PaneOwner, Program, Result, Tmux, TmuxDriver, TmuxError};
use crate::model::SessionName;

/// What the in-memory tmux holds: one server (or none), its sessions and what was typed.
#[derive(Default)]
pub(crate) struct World {
    pub(crate) server: Option<u32>,
    pub(crate) servers_started: u32,
    pub(crate) sessions: BTreeMap<String, Vec<Pane>>,
    pub(crate) next_pane: u32,
    pub(crate) processes: Vec<Child>,
    pub(crate) typed: Vec<(String, String)>,
    pub(crate) unreachable: bool,
}

impl World {
    fn spawn(&mut self, program: &Program<'_>) -> u32 {
        let argv = program.argv;
        // A group of its own, as a pane's process is the leader of its session's group: ending
        // the pane ends claude too.
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .envs(program.env.iter().map(|(k, v)| (k, v)))
            .current_dir(program.dir)
            .process_group(0)
            .spawn()
            .expect("pane process starts");
        let pid = child.id();
        self.processes.push(child);
        pid
    }

    fn pane(&mut self, program: &Program<'_>) -> Pane {
        let server_pid = *self.server.get_or_insert_with(|| {
            self.servers_started += 1;
            1000 + self.servers_started
        });
        let id = format!("%{}", self.next_pane);
        self.next_pane += 1;
        Pane {
            id,
            pid: self.spawn(program),
            dead: false,
            dead_status: None,
            active: true,
            server_pid,
            current_path: program.dir.to_owned(),
        }
    }

    /// The tmux server exits (its panes' processes die) and a new one will number panes from 0.
    pub(crate) fn server_exits(&mut self) {
        for c in &mut self.processes {
            end_group(c);
        }
        self.server = None;
        self.sessions.clear();
        self.next_pane = 0;
    }

    fn unreachable<T>(&self) -> Option<Result<T>> {
        self.unreachable
            .then(|| Err(TmuxError::Timeout(Duration::from_secs(5))))
    }

    fn no_server(&self) -> TmuxError {
        TmuxError::NoServer("The tmux server is not reachable: no server running on /fake.".into())
    }
}

/// Ends a pane's process and everything in its group, as tmux's SIGHUP does.
fn end_group(c: &mut Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(c.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = c.wait();
}

impl Drop for World {
    fn drop(&mut self) {
        self.server_exits();
    }
}

#[derive(Clone, Default)]
pub struct MemoryTmux(Arc<Mutex<World>>);

impl MemoryTmux {
    pub(crate) fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.0.lock().unwrap()
    }

    /// A tmux session the daemon did not start, running no claude.
    pub(crate) async fn idle_session(&self, name: &str, dir: &str) -> Pane {
        let argv = ["sleep".to_owned(), "1000".to_owned()];
        let program = Program {
            dir,
            env: &[],
            argv: &argv,
        };
        self.new_session(&SessionName::new(name).unwrap(), &program)
            .await
            .unwrap()
    }
}

impl Tmux for MemoryTmux {
    async fn list_sessions(&self) -> Result<Vec<String>> {
        let w = self.world();
        if let Some(e) = w.unreachable() {
            return e;
        }
        match w.server {
            None => Err(w.no_server()),
            Some(_) => Ok(w.sessions.keys().cloned().collect()),
        }
    }

    async fn pane_owner(&self, pane: &str) -> Result<Option<PaneOwner>> {
        let w = self.world();
        Ok(w.sessions.iter().find_map(|(name, panes)| {
            panes.iter().find(|p| p.id == pane).map(|p| PaneOwner {
                server_pid: p.server_pid,
                pane_pid: p.pid,
                session: name.clone(),
            })
        }))
    }

    async fn is_our_server(&self, _: &str) -> bool {
        true
    }

    async fn panes(&self, name: &SessionName) -> Result<Vec<Pane>> {
        let w = self.world();
        if let Some(e) = w.unreachable() {
            return e;
        }
        match (w.server, w.sessions.get(name.as_str())) {
            (None, _) => Err(w.no_server()),
            (_, Some(p)) => Ok(p.clone()),
            (_, None) => Err(TmuxError::MissingTarget(format!(
                "tmux failed: can't find session: {name}."
            ))),
        }
    }

    async fn new_session(&self, name: &SessionName, program: &Program<'_>) -> Result<Pane> {
        let mut w = self.world();
        if w.sessions.contains_key(name.as_str()) {
            return Err(TmuxError::DuplicateSession(format!(
                "tmux failed: duplicate session: {name}."
            )));
        }
        let pane = w.pane(program);
        w.sessions.insert(name.to_string(), vec![pane.clone()]);
        Ok(pane)
    }

    async fn respawn_pane(&self, pane: &str, program: &Program<'_>) -> Result<()> {
        let mut w = self.world();
        let pid = w.spawn(program);
        for p in w.sessions.values_mut().flatten().filter(|p| p.id == pane) {
            p.pid = pid;
            p.dead = false;
        }
        Ok(())
    }

    async fn new_window(&self, name: &SessionName, program: &Program<'_>) -> Result<Pane> {
        let mut w = self.world();
        let pane = w.pane(program);
        w.sessions
            .get_mut(name.as_str())
            .ok_or_else(|| TmuxError::MissingTarget("tmux failed: can't find session.".into()))?
            .push(pane.clone());
        Ok(pane)
    }

    async fn send_text(&self, target: &str, text: &str) -> Result<()> {
        self.world().typed.push((target.into(), text.into()));
        Ok(())
    }

    async fn send_key(&self, target: &str, key: &str, _: bool) -> Result<()> {
        self.world().typed.push((target.into(), key.into()));
        Ok(())
    }

    async fn capture(&self, _: &str, _: u32) -> Result<String> {
        Ok("> ready\n".into())
    }

    async fn kill_session(&self, name: &SessionName) -> Result<()> {
        let mut w = self.world();
        let pids: Vec<u32> = w
            .sessions
            .remove(name.as_str())
            .unwrap_or_default()
            .iter()
            .map(|p| p.pid)
            .collect();
        for c in w.processes.iter_mut().filter(|c| pids.contains(&c.id())) {
            end_group(c);
        }
        Ok(())
    }
}

/// The daemon's tmux in unit tests: the real driver (what `SessionService::new` builds) or the
/// in-memory one, so the D-Bus face can be served in-process over either.
pub enum DaemonTmux {
    Driver(TmuxDriver),
    Memory(MemoryTmux),
}

impl From<TmuxDriver> for DaemonTmux {
    fn from(t: TmuxDriver) -> Self {
        DaemonTmux::Driver(t)
    }
}

/// Each call goes to the one tmux inside.
macro_rules! either {
    ($self:ident, $t:ident => $call:expr) => {
        match $self {
            DaemonTmux::Driver($t) => $call.await,
            DaemonTmux::Memory($t) => $call.await,
        }
    };
}

impl Tmux for DaemonTmux {
    async fn list_sessions(&self) -> Result<Vec<String>> {
        either!(self, t => t.list_sessions())
    }
    async fn pane_owner(&self, pane: &str) -> Result<Option<PaneOwner>> {
        either!(self, t => t.pane_owner(pane))
    }
    async fn is_our_server(&self, tmux_env: &str) -> bool {
        either!(self, t => t.is_our_server(tmux_env))
    }
    async fn panes(&self, name: &SessionName) -> Result<Vec<Pane>> {
        either!(self, t => t.panes(name))
    }
    async fn new_session(&self, name: &SessionName, program: &Program<'_>) -> Result<Pane> {
        either!(self, t => t.new_session(name, program))
    }
    async fn respawn_pane(&self, pane: &str, program: &Program<'_>) -> Result<()> {
        either!(self, t => t.respawn_pane(pane, program))
    }
    async fn new_window(&self, name: &SessionName, program: &Program<'_>) -> Result<Pane> {
        either!(self, t => t.new_window(name, program))
    }
    async fn send_text(&self, target: &str, text: &str) -> Result<()> {
        either!(self, t => t.send_text(target, text))
    }
    async fn send_key(&self, target: &str, key: &str, literal: bool) -> Result<()> {
        either!(self, t => t.send_key(target, key, literal))
    }
    async fn capture(&self, target: &str, lines: u32) -> Result<String> {
        either!(self, t => t.capture(target, lines))
    }
    async fn kill_session(&self, name: &SessionName) -> Result<()> {
        either!(self, t => t.kill_session(name))
    }
}
