//! The session rules without a tmux server: an in-memory tmux behind the `Tmux` seam, whose
//! panes run real processes (the daemon's launcher and a stand-in claude), so detection, stops
//! and exits are the real thing while tmux's side is scripted.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{SessionService, StartOptions};

mod persist;
mod reconcile;
mod telemetry;
use crate::config::Config;
use crate::error::Error;
use crate::model::{Session, SessionName, Status};
use crate::tmux::{self, Pane, PaneOwner, Program, Tmux, TmuxError};

/// What the fake tmux holds: one server (or none), its sessions and what was typed.
#[derive(Default)]
struct World {
    server: Option<u32>,
    servers_started: u32,
    sessions: BTreeMap<String, Vec<Pane>>,
    next_pane: u32,
    processes: Vec<Child>,
    typed: Vec<(String, String)>,
    unreachable: bool,
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
    fn server_exits(&mut self) {
        for c in &mut self.processes {
            end_group(c);
        }
        self.server = None;
        self.sessions.clear();
        self.next_pane = 0;
    }

    fn unreachable<T>(&self) -> Option<tmux::Result<T>> {
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
struct FakeTmux(Arc<Mutex<World>>);

impl FakeTmux {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.0.lock().unwrap()
    }
}

impl Tmux for FakeTmux {
    async fn list_sessions(&self) -> tmux::Result<Vec<String>> {
        let w = self.world();
        if let Some(e) = w.unreachable() {
            return e;
        }
        match w.server {
            None => Err(w.no_server()),
            Some(_) => Ok(w.sessions.keys().cloned().collect()),
        }
    }

    async fn pane_owner(&self, pane: &str) -> tmux::Result<Option<PaneOwner>> {
        let w = self.world();
        Ok(w.sessions.iter().find_map(|(name, panes)| {
            panes.iter().find(|p| p.id == pane).map(|p| PaneOwner {
                server_pid: p.server_pid,
                session: name.clone(),
            })
        }))
    }

    async fn is_our_server(&self, _: &str) -> bool {
        true
    }

    async fn panes(&self, name: &SessionName) -> tmux::Result<Vec<Pane>> {
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

    async fn new_session(&self, name: &SessionName, program: &Program<'_>) -> tmux::Result<Pane> {
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

    async fn respawn_pane(&self, pane: &str, program: &Program<'_>) -> tmux::Result<()> {
        let mut w = self.world();
        let pid = w.spawn(program);
        for p in w.sessions.values_mut().flatten().filter(|p| p.id == pane) {
            p.pid = pid;
            p.dead = false;
        }
        Ok(())
    }

    async fn new_window(&self, name: &SessionName, program: &Program<'_>) -> tmux::Result<Pane> {
        let mut w = self.world();
        let pane = w.pane(program);
        w.sessions
            .get_mut(name.as_str())
            .ok_or_else(|| TmuxError::MissingTarget("tmux failed: can't find session.".into()))?
            .push(pane.clone());
        Ok(pane)
    }

    async fn send_text(&self, target: &str, text: &str) -> tmux::Result<()> {
        self.world().typed.push((target.into(), text.into()));
        Ok(())
    }

    async fn send_key(&self, target: &str, key: &str, _: bool) -> tmux::Result<()> {
        self.world().typed.push((target.into(), key.into()));
        Ok(())
    }

    async fn capture(&self, _: &str, _: u32) -> tmux::Result<String> {
        Ok("> ready\n".into())
    }

    async fn kill_session(&self, name: &SessionName) -> tmux::Result<()> {
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

/// A service over the fake tmux, with a stand-in claude that waits, and its state dir.
struct Rig {
    svc: Arc<SessionService<FakeTmux>>,
    tmux: FakeTmux,
    dir: tempfile::TempDir,
}

impl Drop for Rig {
    /// Before the project directories go: the panes' processes run in them.
    fn drop(&mut self) {
        self.tmux.world().server_exits();
    }
}

fn rig_with(sessions: Vec<Session>, tmux: FakeTmux) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let claude = dir.path().join("claude");
    std::fs::write(&claude, "#!/bin/sh\nexec sleep 1000\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = Config {
        state_dir: dir.path().join("state"),
        config_file: dir.path().join("none.toml"),
        tmux_socket: None,
        tmux_bin: "tmux".into(),
        tmux_timeout: Duration::from_secs(5),
        claude_command: Some(claude.to_string_lossy().into_owned()),
        restore_on_start: false,
        slice: crate::config::DEFAULT_SLICE.into(),
        default_limits: Default::default(),
        slice_memory_max: None,
        pass_env: Vec::new(),
        claude_env: Default::default(),
        under_systemd: false,
    };
    let svc = SessionService::with_tmux(cfg, tmux.clone(), sessions, Arc::new(()));
    Rig { svc, tmux, dir }
}

/// A tmux session the daemon did not start, running no claude.
async fn idle_session(tmux: &FakeTmux, name: &str, dir: &str) -> Pane {
    let argv = ["sleep".to_owned(), "1000".to_owned()];
    let program = Program {
        dir,
        env: &[],
        argv: &argv,
    };
    tmux.new_session(&SessionName::new(name).unwrap(), &program)
        .await
        .unwrap()
}

fn rig() -> Rig {
    rig_with(Vec::new(), FakeTmux::default())
}

impl Rig {
    fn project(&self, name: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p.to_string_lossy().into_owned()
    }

    async fn start(&self, name: &str) -> Session {
        let s = self
            .svc
            .start(&self.project(name), name, StartOptions::default())
            .await
            .expect("start");
        self.wait_status(&s, Status::Active).await;
        self.svc.get(s.id).unwrap()
    }

    async fn wait_status(&self, s: &Session, want: Status) {
        for _ in 0..250 {
            if self.svc.get(s.id).is_some_and(|s| s.status == want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{} never became {want:?}", s.name);
    }
}

#[tokio::test]
async fn names_used_in_tmux_are_refused_or_skipped() {
    let r = rig();
    let dir = r.project("proj");
    idle_session(&r.tmux, "proj", &dir).await;

    let e = r.svc.start(&dir, "proj", StartOptions::default()).await;
    assert!(matches!(e, Err(Error::AlreadyExists(_))), "{e:?}");
    let s = r
        .svc
        .start(&dir, "", StartOptions::default())
        .await
        .unwrap();
    assert_eq!(
        s.name.as_str(),
        "proj-2",
        "a derived name skips the tmux session's"
    );
}

#[tokio::test]
async fn a_pane_id_of_a_later_server_is_never_used() {
    let r = rig();
    let old = r.start("old").await;
    r.tmux.world().server_exits();
    let pane = idle_session(&r.tmux, "foreign", "/").await;
    assert_eq!(
        pane.id, old.pane,
        "the new server hands out the same pane id"
    );

    let e = r.svc.send_command(old.id, "rm -rf important").await;
    assert!(matches!(e, Err(Error::InvalidState(_))), "{e:?}");
    let e = r.svc.capture(old.id, 5, "off").await;
    assert!(matches!(e, Err(Error::InvalidState(_))), "{e:?}");
    assert!(
        r.tmux.world().typed.is_empty(),
        "typed into another session"
    );
}

#[tokio::test]
async fn text_goes_to_the_sessions_own_pane() {
    let r = rig();
    let s = r.start("mine").await;
    r.svc.send_command(s.id, "run the tests").await.unwrap();
    assert_eq!(
        r.tmux.world().typed,
        [(s.pane.clone(), "run the tests".into())]
    );
    let e = r.svc.send_command(s.id, "bad\x03").await;
    assert!(matches!(e, Err(Error::InvalidArgument(_))), "{e:?}");
}

#[tokio::test]
async fn a_stop_while_starting_ends_the_launched_claude() {
    let r = rig();
    let dir = r.project("quick");
    let s = r
        .svc
        .start(&dir, "quick", StartOptions::default())
        .await
        .unwrap();
    r.svc.stop(s.id, true).await.unwrap();
    let after = r.svc.get(s.id).unwrap();
    assert_eq!(after.status, Status::Stopped);
    let launcher = s.launcher.expect("the launcher runs");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        crate::procwatch::launched(launcher),
        crate::procwatch::LauncherState::Gone,
        "the launcher (and so claude) still runs"
    );
    assert_eq!(
        r.svc.get(s.id).unwrap().status,
        Status::Stopped,
        "detection attached later"
    );
}

#[tokio::test]
async fn restart_refuses_a_starting_session_and_stops_a_running_one() {
    let r = rig();
    idle_session(&r.tmux, "idle", "/").await;
    let adopted = r.svc.adopt("idle").await.unwrap();
    assert_eq!(adopted.status, Status::Starting, "no claude in its pane");
    let e = r.svc.restart(adopted.id).await;
    assert!(matches!(e, Err(Error::InvalidState(_))), "{e:?}");

    let s = r.start("run").await;
    let before = s.process.unwrap();
    r.svc.restart(s.id).await.unwrap();
    assert!(
        !crate::procwatch::is_alive(before),
        "the old claude still runs"
    );
    r.wait_status(&s, Status::Active).await;
    let now = r.svc.get(s.id).unwrap();
    assert_ne!(now.process, Some(before));
    assert_eq!(r.svc.count(), 2);
}

#[tokio::test]
async fn a_start_that_cannot_be_saved_leaves_nothing() {
    let r = rig();
    let keep = r.start("keep").await;
    // Neither a journal record nor a new snapshot can be written: directories take the place of
    // the journal and of the snapshot's temp file.
    let state = r.dir.path().join("state");
    std::fs::remove_file(state.join("registry.journal")).unwrap();
    std::fs::create_dir_all(state.join("registry.journal")).unwrap();
    std::fs::create_dir_all(state.join("registry.json.tmp")).unwrap();
    let e = r
        .svc
        .start(&r.project("new"), "new", StartOptions::default())
        .await;
    assert!(matches!(e, Err(Error::Internal(_))), "{e:?}");
    assert_eq!(r.svc.count(), 1);
    assert_eq!(r.tmux.world().sessions.keys().collect::<Vec<_>>(), ["keep"]);
    let e = r.svc.remove(keep.id, false).await;
    assert!(matches!(e, Err(Error::Internal(_))), "{e:?}");
    assert!(r.svc.get(keep.id).is_some(), "the removal was undone");
}
