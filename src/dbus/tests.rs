//! The D-Bus face in-process: the daemon's objects served on one end of a peer-to-peer
//! connection, its service over the in-memory tmux (`tmux::memory`), the contract's proxies on
//! the other end. No dbus-daemon, no daemon process, no tmux server: what is checked here is
//! what the face answers (error names and sentences, limits, options) and that bad input
//! changes nothing. What needs the real parts (tmux itself, processes across a bus, the bus's
//! policy, other users) stays in tests/it.

use std::sync::Arc;
use std::time::Duration;

use zbus::{Connection, OwnedObjectPath};

use super::access::Access;
use super::{EventQueue, publish};
use crate::cli::proxy::{ManagerProxy, SessionProxy};
use crate::config::file::ConfigFile;
use crate::hooks::HookService;
use crate::lifecycle::SessionService;
use crate::tmux::DaemonTmux;
use crate::tmux::memory::MemoryTmux;

mod arguments;
mod errors;
mod objects;

/// What a failed call must look like (shared with tests/it).
#[path = "../../tests/support/wire_errors.rs"]
mod wire_errors;
use wire_errors::assert_error;

/// The daemon's objects on a peer-to-peer connection, and a client's end of it.
pub(crate) struct Rig {
    pub tmux: MemoryTmux,
    /// The client's end.
    pub conn: Connection,
    _served: Connection,
    dir: tempfile::TempDir,
}

impl Drop for Rig {
    /// Before the project directories go: the panes' processes run in them.
    fn drop(&mut self) {
        self.tmux.world().server_exits();
    }
}

impl Rig {
    /// The daemon's objects over a service with no sessions, callers vouched for by the
    /// socket (this process: the daemon's own user).
    pub async fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::lifecycle::tests::config_in(dir.path());
        let tmux = MemoryTmux::default();
        let (queue, events) = EventQueue::new();
        let svc = SessionService::with_tmux(
            cfg,
            DaemonTmux::Memory(tmux.clone()),
            Vec::new(),
            queue.clone(),
        );
        let hooks = Arc::new(HookService::new(svc.clone(), ConfigFile::default()));
        let (served, client) = std::os::unix::net::UnixStream::pair().unwrap();
        let (served, conn) = tokio::try_join!(
            zbus::connection::Builder::unix_stream(served)
                .server(zbus::Guid::generate())
                .p2p()
                .build(),
            zbus::connection::Builder::unix_stream(client).p2p().build(),
        )
        .expect("a peer-to-peer connection");
        let access = Access::peer(served.clone());
        publish(&served, svc.clone(), hooks, queue, events, access)
            .await
            .expect("the objects are served");
        Rig {
            tmux,
            conn,
            _served: served,
            dir,
        }
    }

    pub async fn manager(&self) -> ManagerProxy<'static> {
        ManagerProxy::new(&self.conn).await.unwrap()
    }

    /// A session proxy that asks the daemon for every property read (no cache).
    pub async fn session_uncached(&self, path: &OwnedObjectPath) -> SessionProxy<'static> {
        crate::cli::bus::session_proxy(&self.conn, path.clone())
            .await
            .unwrap()
    }

    /// A directory that exists, for use as a project dir.
    pub fn project(&self, name: &str) -> String {
        let p = self.dir.path().join("projects").join(name);
        std::fs::create_dir_all(&p).unwrap();
        p.to_string_lossy().into_owned()
    }

    pub fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    /// Names of the sessions in the in-memory tmux.
    pub fn tmux_sessions(&self) -> Vec<String> {
        self.tmux.world().sessions.keys().cloned().collect()
    }

    /// Starts a session of the stand-in claude and waits until it is active.
    pub async fn start_active(&self, name: &str) -> (String, OwnedObjectPath, u32) {
        let m = self.manager().await;
        let (id, _, path) = m
            .start_session(&self.project(name), name, Default::default())
            .await
            .expect("StartSession");
        let s = self.session_uncached(&path).await;
        for _ in 0..500 {
            if s.status().await.unwrap() == "active" {
                let pid = s.pid().await.unwrap();
                assert_ne!(pid, 0);
                return (id, path, pid);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{name} never became active");
    }
}

/// The state of a process as /proc says ('T' when stopped).
pub fn proc_state(pid: u32) -> char {
    procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .unwrap_or_else(|e| panic!("no /proc/{pid}/stat: {e}"))
        .state
}

/// Whether `pid` runs (it exists and has not exited: a zombie until reaped is not alive).
pub fn alive(pid: u32) -> bool {
    procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .is_ok_and(|s| s.state != 'Z')
}
