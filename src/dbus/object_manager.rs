//! `org.freedesktop.DBus.ObjectManager` at `/org/trusty/Mpm1`, in place of zbus's own, so that
//! GetManagedObjects checks the caller like every method does and lists the session objects
//! only (zbus's also lists the bare `/org/trusty/Mpm1/session` node). zbus still sends
//! InterfacesAdded and InterfacesRemoved by itself: it goes by the interface name.

use std::collections::HashMap;
use std::sync::Arc;

use zbus::fdo::ManagedObjects;
use zbus::message::Header;
use zbus::names::{InterfaceName, OwnedInterfaceName};
use zbus::object_server::SignalEmitter;
use zbus::{Connection, ObjectPath, OwnedVariant, Variant, interface};

use super::figures::{COMPUTED, read_figures};
use super::session::{Published, properties};
use super::{Backend, SESSION_IFACE, session_path};
use crate::error::Error;
use crate::model::SessionId;
use crate::units::Figures;

/// The ObjectManager of the session objects.
pub struct ObjectManager {
    backend: Arc<Backend>,
}

impl ObjectManager {
    pub(super) fn new(backend: Arc<Backend>) -> Self {
        ObjectManager { backend }
    }

    /// The session objects as they are now.
    async fn shown(&self) -> Vec<(SessionId, Published)> {
        let objects = self.backend.objects.lock().await;
        objects.iter().map(|(id, s)| (*id, s.clone())).collect()
    }
}

#[interface(
    name = "org.freedesktop.DBus.ObjectManager",
    introspection_docs = false
)]
impl ObjectManager {
    async fn get_managed_objects(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<ManagedObjects, Error> {
        const WHAT: &str = "listing the session objects";
        self.backend.access.check(&hdr).await?;
        // The figures are read first, each off the executor; every other value is then taken
        // at one instant, after the last await (see `Backend::query`).
        let mut figures = HashMap::new();
        for (id, shown) in self.shown().await {
            let (pid, unit) = {
                let s = shown.lock().unwrap_or_else(|p| p.into_inner());
                (s.pid(), s.unit.clone())
            };
            figures.insert(id, (pid, read_figures(pid, unit).await));
        }
        let objects = self.backend.objects.lock().await;
        let iface =
            OwnedInterfaceName::from(InterfaceName::from_static_str_unchecked(SESSION_IFACE));
        let mut out = ManagedObjects::with_capacity(objects.len());
        for (id, shown) in objects.iter() {
            let session = shown.lock().unwrap_or_else(|p| p.into_inner()).clone();
            // Figures of another claude than the one now published are not this session's.
            let f = match figures.get(id) {
                Some(&(pid, f)) if pid == session.pid() => f,
                _ => Figures::default(),
            };
            // What zbus puts in InterfacesAdded: the same get_all, as the daemon's read. Its
            // getters never await, so it is ready at once and nothing runs in between.
            let mut props = properties(session, &self.backend, conn)
                .await
                .map_err(|e| Error::internal(WHAT, e))?;
            // Computed for this call: the daemon's own read leaves them 0.
            for (name, v) in COMPUTED.into_iter().zip([f.memory, f.cpu_nsec, f.tasks]) {
                props.insert(name.to_owned(), OwnedVariant::from(v));
            }
            out.insert(session_path(*id), HashMap::from([(iface.clone(), props)]));
        }
        Ok(out)
    }

    // Declared for the introspection only: zbus sends both signals itself.
    #[zbus(signal)]
    pub async fn interfaces_added(
        emitter: &SignalEmitter<'_>,
        object_path: ObjectPath<'_>,
        interfaces_and_properties: HashMap<InterfaceName<'_>, HashMap<&str, Variant<'_>>>,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn interfaces_removed(
        emitter: &SignalEmitter<'_>,
        object_path: ObjectPath<'_>,
        interfaces: Vec<InterfaceName<'_>>,
    ) -> zbus::Result<()>;
}
