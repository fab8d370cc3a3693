//! The daemon's hook socket: `HandleHook` served peer-to-peer to the hook relay, beside the
//! bus (at `crate::bus_address::hook_socket`), as systemd serves systemctl on its private
//! socket. A hook event then costs the bus nothing (no connection, Hello, routing or question
//! about the caller: with a relay run for every Claude Code event, those were half of its
//! cost), and the kernel says who connected. Only the daemon's own user is served; the caller's
//! pid is the one the socket names, as the bus would have said. Every other call, and the
//! relay's requests, go through the bus.

use std::collections::HashMap;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use zbus::OwnedVariant;
use zbus::connection::socket::{ReadHalf, Socket, Split, WriteHalf};
use zbus::fdo::ConnectionCredentials;
use zbus::interface;

use super::Backend;
use crate::bus_address::{hook_socket, session_socket};
use crate::contract::MANAGER_PATH;
use crate::error::Error;

/// Relays served at once; a connection past these is closed (its relay fails open).
const MAX_RELAYS: usize = 64;

/// The listening socket's file, removed when the daemon stops.
pub struct HookSocket {
    path: PathBuf,
}

impl Drop for HookSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens on the hook socket of the session bus and serves each relay that connects. None
/// (hook events then come through the bus) when the bus has no socket file to put it beside,
/// or it cannot be made.
pub fn listen(backend: Arc<Backend>) -> Option<HookSocket> {
    let path = hook_socket(&session_socket().ok()?)?;
    // A daemon that was killed left its socket; the bus name, owned now, says it is ours.
    let _ = std::fs::remove_file(&path);
    let bound = UnixListener::bind(&path).and_then(|listener| {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(listener)
    });
    match bound {
        Ok(listener) => {
            tracing::debug!("hook socket at {}", path.display());
            tokio::spawn(accept(listener, backend));
            Some(HookSocket { path })
        }
        Err(e) => {
            tracing::info!(
                "no hook socket at {} ({e}); hook events come through the bus",
                path.display()
            );
            None
        }
    }
}

async fn accept(listener: UnixListener, backend: Arc<Backend>) {
    let slots = Arc::new(Semaphore::new(MAX_RELAYS));
    let own_uid = rustix::process::getuid().as_raw();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: a moment lets some close.
                tracing::warn!("accepting a hook relay failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let caller = match stream.peer_cred() {
            Ok(c) if c.uid() == own_uid => c.pid().and_then(|p| u32::try_from(p).ok()),
            _ => continue,
        };
        let backend = backend.clone();
        tokio::spawn(async move {
            serve(stream, caller.unwrap_or(0), backend).await;
            drop(slot);
        });
    }
}

/// Serves `HandleHook` to one relay until it hangs up.
async fn serve(stream: UnixStream, pid: u32, backend: Arc<Backend>) {
    let face = HookFace { backend, pid };
    let conn = zbus::connection::Builder::socket(Relay::new(stream, pid))
        .server(zbus::Guid::generate())
        .p2p()
        .serve_at(MANAGER_PATH, face)
        .build()
        .await;
    match conn {
        // The connection serves while it is held: until the relay hangs up.
        Ok(conn) => {
            zbus::MessageStream::from(&conn)
                .for_each(|_| async {})
                .await
        }
        Err(e) => tracing::debug!("a hook relay's connection failed: {e}"),
    }
}

/// A relay's end of the hook socket, for zbus to run a connection over. It is a unix stream
/// as `Builder::unix_stream` would take it, except for the peer's credentials: the ones
/// accepting it read (this user, the relay's pid), without the supplementary groups zbus
/// would look up through NSS on the blocking pool for every connection (D-Bus policies match
/// on them; the hook socket has none).
#[derive(Debug)]
struct Relay {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    creds: (u32, u32),
}

impl Relay {
    fn new(stream: UnixStream, pid: u32) -> Relay {
        let (read, write) = stream.into_split();
        let uid = rustix::process::getuid().as_raw();
        Relay {
            read,
            write,
            creds: (uid, pid),
        }
    }
}

impl Socket for Relay {
    type ReadHalf = RelayRead;
    type WriteHalf = RelayWrite;

    fn split(self) -> Split<RelayRead, RelayWrite> {
        Split::new(RelayRead(self.read, self.creds), RelayWrite(self.write))
    }
}

#[derive(Debug)]
struct RelayRead(OwnedReadHalf, (u32, u32));

#[async_trait::async_trait]
impl ReadHalf for RelayRead {
    async fn recvmsg(&mut self, buf: &mut [u8]) -> std::io::Result<(usize, Vec<OwnedFd>)> {
        // No file descriptors: neither half says it can pass them.
        Ok((self.0.read(buf).await?, Vec::new()))
    }

    async fn peer_credentials(&mut self) -> std::io::Result<ConnectionCredentials> {
        let (uid, pid) = self.1;
        let creds = ConnectionCredentials::default().set_unix_user_id(uid);
        Ok(match pid {
            0 => creds,
            pid => creds.set_process_id(pid),
        })
    }
}

#[derive(Debug)]
struct RelayWrite(OwnedWriteHalf);

#[async_trait::async_trait]
impl WriteHalf for RelayWrite {
    async fn sendmsg(&mut self, buf: &[u8], _fds: &[BorrowedFd<'_>]) -> std::io::Result<usize> {
        self.0.write(buf).await
    }

    async fn close(&mut self) -> std::io::Result<()> {
        self.0.shutdown().await
    }
}

/// What the hook socket serves: the manager's `HandleHook`, for the process at its other end.
struct HookFace {
    backend: Arc<Backend>,
    /// The relay's pid, as the kernel gave it (0 if it did not).
    pid: u32,
}

#[interface(name = "org.trusty.Mpm1")]
impl HookFace {
    /// `org.trusty.Mpm1.HandleHook` (see the manager's).
    #[zbus(out_args("stdout", "exit_code", "stderr"))]
    async fn handle_hook(
        &self,
        payload_json: &str,
        context: HashMap<String, OwnedVariant>,
    ) -> Result<(String, i32, String), Error> {
        let b = &self.backend;
        b.run(|| b.hook(self.pid, payload_json, context)).await
    }
}
