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

use super::session::{COMPUTED, properties, read_figures};
use super::{Backend, SESSION_IFACE, WireError, session_path};
use crate::error::Error;

/// The ObjectManager of the session objects.
pub struct ObjectManager {
    ctx: Arc<Backend>,
}

impl ObjectManager {
    pub(super) fn new(ctx: Arc<Backend>) -> Self {
        ObjectManager { ctx }
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
    ) -> Result<ManagedObjects, WireError> {
        self.ctx
            .call(conn, &hdr, || async {
                const WHAT: &str = "listing the session objects";
                let objects: Vec<_> = self
                    .ctx
                    .objects
                    .lock()
                    .await
                    .iter()
                    .map(|(id, shown)| (*id, shown.clone()))
                    .collect();
                let iface = OwnedInterfaceName::from(InterfaceName::from_static_str_unchecked(
                    SESSION_IFACE,
                ));
                let mut out = ManagedObjects::with_capacity(objects.len());
                for (id, shown) in objects {
                    let session = shown.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    // What zbus puts in InterfacesAdded: the same get_all, as the daemon's read.
                    let figures = read_figures(&session).await;
                    let mut props = properties(session, &self.ctx, conn)
                        .await
                        .map_err(|e| Error::internal(WHAT, e))?;
                    // Computed for this call: the daemon's own read leaves them 0.
                    let values = [figures.memory, figures.cpu_nsec, figures.tasks];
                    for (name, v) in COMPUTED.into_iter().zip(values) {
                        props.insert(name.to_owned(), OwnedVariant::from(v));
                    }
                    out.insert(session_path(id), HashMap::from([(iface.clone(), props)]));
                }
                Ok(out)
            })
            .await
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
