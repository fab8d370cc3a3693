//! The session rules without a tmux server: the in-memory tmux (`tmux::memory`), whose panes
//! run real processes (the daemon's launcher and a stand-in claude), so detection, stops and
//! exits are the real thing while tmux's side is scripted.

use std::sync::Arc;
use std::time::Duration;

use super::{SessionService, StartOptions};

mod permissions;
mod persist;
mod reconcile;
mod telemetry;
use crate::config::Config;
use crate::error::Error;
use crate::model::{Session, Status};
use crate::tmux::memory::MemoryTmux;

/// A service over the in-memory tmux, with a stand-in claude that waits, and its state dir.
struct Rig {
    svc: Arc<SessionService<MemoryTmux>>,
    tmux: MemoryTmux,
    dir: tempfile::TempDir,
}

impl Drop for Rig {
    /// Before the project directories go: the panes' processes run in them.
    fn drop(&mut self) {
        self.tmux.world().server_exits();
    }
}

/// A daemon's settings with everything in `dir` (state, no config file) and a stand-in claude
/// there that waits: what a service over the in-memory tmux runs with.
pub(crate) fn config_in(dir: &std::path::Path) -> Config {
    let claude = dir.join("claude");
    std::fs::write(&claude, "#!/bin/sh\nexec sleep 1000\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    Config {
        state_dir: dir.join("state"),
        config_file: dir.join("none.toml"),
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
    }
}

fn rig_with(sessions: Vec<Session>, tmux: MemoryTmux) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path());
    let svc = SessionService::with_tmux(cfg, tmux.clone(), sessions, Arc::new(()));
    Rig { svc, tmux, dir }
}

fn rig() -> Rig {
    rig_with(Vec::new(), MemoryTmux::default())
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
    r.tmux.idle_session("proj", &dir).await;

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
    let pane = r.tmux.idle_session("foreign", "/").await;
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
    // Looked at throughout the window: the launcher must go, and the background detection
    // must never attach a claude to the stopped session meanwhile.
    let window = tokio::time::Instant::now() + Duration::from_millis(300);
    let mut gone = false;
    while tokio::time::Instant::now() < window || !gone {
        assert_eq!(
            r.svc.get(s.id).unwrap().status,
            Status::Stopped,
            "detection attached later"
        );
        gone = crate::procwatch::launched(launcher) == crate::procwatch::LauncherState::Gone;
        assert!(
            gone || tokio::time::Instant::now() < window + Duration::from_secs(5),
            "the launcher (and so claude) still runs"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn restart_refuses_a_starting_session_and_stops_a_running_one() {
    let r = rig();
    r.tmux.idle_session("idle", "/").await;
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
