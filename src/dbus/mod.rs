//! The D-Bus face of the daemon: the `org.trusty.Mpm1` manager, one `org.trusty.Mpm1.Session`
//! object per session, the ObjectManager, wire errors, the caller check, and the publisher that
//! turns domain events into signals. Handlers only deserialize, call the lifecycle service and
//! serialize; no rule about sessions lives here.

mod access;
mod events;
mod figures;
mod guarded;
mod hook_socket;
mod manager;
mod object_manager;
mod options;
mod publisher;
mod requests;
mod rows;
mod session;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use zbus::{Connection, OwnedObjectPath, fdo::RequestNameFlags, fdo::RequestNameReply};

pub use events::{EventQueue, Queued};
pub use hook_socket::HookSocket;
pub use manager::Manager;
pub use session::SessionObject;

use crate::error::{Error, Result};
use crate::hooks::HookService;
use crate::lifecycle::SessionService;
use crate::model::SessionId;
use access::Access;
use guarded::Guarded;
use session::Published;
use tokio::sync::mpsc::UnboundedReceiver;

pub use crate::contract::{BUS_NAME, MANAGER_IFACE, MANAGER_PATH, SESSION_IFACE};

/// The object path of a session.
pub fn session_path(id: SessionId) -> OwnedObjectPath {
    // 32 hex digits always make a valid path element; skip re-validating on every call.
    zbus::ObjectPath::from_string_unchecked(format!("{MANAGER_PATH}/session/{}", id.simple()))
        .into()
}

/// What every handler calls into: the services, the queue of their changes, the caller check
/// and the session objects.
pub struct Backend {
    pub svc: Arc<SessionService>,
    pub hooks: Arc<HookService>,
    queue: Arc<EventQueue>,
    access: Access,
    /// The session objects on the bus and what each shows. The publisher holds the lock while
    /// it adds or removes an object (InterfacesAdded/Removed go out meanwhile), so
    /// GetManagedObjects never contradicts a signal already sent.
    objects: tokio::sync::Mutex<HashMap<SessionId, Published>>,
    /// `objects.len()`, updated with it.
    published: std::sync::atomic::AtomicU32,
}

impl Backend {
    /// How many session objects are on the bus: what `SessionCount` says and signals. Kept
    /// apart from `objects`, whose lock the publisher holds while zbus takes its object tree's
    /// write lock: a property read holds that tree's read lock, so it must not wait for
    /// `objects`.
    fn published_count(&self) -> u32 {
        self.published.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs one call for an admitted caller, then waits until the signals of what it changed
    /// are out, so a client never sees a reply before the change it caused.
    async fn call<T, F, Fut>(&self, hdr: &zbus::message::Header<'_>, f: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.access.check(hdr).await?;
        self.run(f).await
    }

    /// `call` for a caller admitted already (by the hook socket).
    async fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let out = f().await;
        self.queue.caught_up().await;
        out
    }

    /// Answers a query for an admitted caller from one look at the state, taken after the last
    /// await: nothing can change between the look and the reply being queued (one thread runs
    /// the daemon), so a reply never carries a value older than a signal already sent.
    /// Caching proxies (zbus, GDBusProxy) keep such a value forever.
    async fn query<T>(
        &self,
        hdr: &zbus::message::Header<'_>,
        look: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        self.access.check(hdr).await?;
        look()
    }

    /// `call` for a method that takes a session key: the key is resolved first.
    async fn call_key<T, F, Fut>(
        &self,
        hdr: &zbus::message::Header<'_>,
        key: &str,
        f: F,
    ) -> Result<T>
    where
        F: FnOnce(SessionId) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.call(hdr, || async { f(self.svc.resolve(key)?).await })
            .await
    }
}

/// Serves the objects on `conn`, then claims the bus name, then listens on the hook socket
/// (held until the daemon stops). Fails with a clear message when another daemon already owns
/// the name.
pub async fn serve(
    conn: &Connection,
    svc: Arc<SessionService>,
    hooks: Arc<HookService>,
    queue: Arc<EventQueue>,
    events: UnboundedReceiver<Queued>,
) -> Result<Option<HookSocket>> {
    let access = Access::bus(conn.clone());
    let backend = publish(conn, svc, hooks, queue, events, access).await?;
    match conn
        .request_name_with_flags(BUS_NAME, RequestNameFlags::DO_NOT_QUEUE)
        .await
    {
        Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => {
            Ok(hook_socket::listen(backend))
        }
        Ok(_) | Err(zbus::Error::NameTaken) => Err(name_taken()),
        Err(e) => Err(Error::internal("publishing the D-Bus objects", e)),
    }
}

/// Puts the objects on `conn`, every call checked by `access`, and starts publishing changes.
/// What their calls go to.
async fn publish(
    conn: &Connection,
    svc: Arc<SessionService>,
    hooks: Arc<HookService>,
    queue: Arc<EventQueue>,
    mut events: UnboundedReceiver<Queued>,
    access: Access,
) -> Result<Arc<Backend>> {
    // Changes from reconciliation describe the state the objects are built from; drop them.
    while let Ok(queued) = events.try_recv() {
        match queued {
            Queued::Barrier(tx) => {
                let _ = tx.send(());
            }
            Queued::Change(_) => queue.published_one(),
        }
    }
    let backend = Arc::new(Backend {
        svc,
        hooks,
        queue,
        access,
        objects: Default::default(),
        published: Default::default(),
    });
    let server = conn.object_server();
    let internal = |e: zbus::Error| Error::internal("publishing the D-Bus objects", e);
    server
        .at(
            MANAGER_PATH,
            Guarded::new(Manager::new(backend.clone()), backend.clone()),
        )
        .await
        .map_err(internal)?;
    server
        .at(
            MANAGER_PATH,
            object_manager::ObjectManager::new(backend.clone()),
        )
        .await
        .map_err(internal)?;
    let mut publisher = publisher::Publisher::new(conn.clone(), backend.clone());
    publisher.publish_existing().await.map_err(internal)?;
    tokio::spawn(publisher.run(events));
    Ok(backend)
}

fn name_taken() -> Error {
    Error::AlreadyExists(format!(
        "Another trusty-mpm daemon already owns {BUS_NAME} on this bus."
    ))
}

/// Fails early, before any state is touched, when another daemon serves the bus already.
pub async fn check_name_free(conn: &Connection) -> Result<()> {
    let dbus = zbus::fdo::DBusProxy::new(conn)
        .await
        .map_err(|e| Error::internal("asking the bus about its names", e))?;
    let name = zbus::names::BusName::from_static_str(BUS_NAME).expect("valid bus name");
    match dbus.name_has_owner(name).await {
        Ok(true) => Err(name_taken()),
        Ok(false) => Ok(()),
        Err(e) => Err(Error::internal("asking the bus about its names", e)),
    }
}
