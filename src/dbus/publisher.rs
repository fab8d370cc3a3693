//! Turns domain events into what bus clients see, in order: session objects appearing and
//! disappearing (ObjectManager signals follow), the manager's signals, and PropertiesChanged
//! for every property whose value changed.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedReceiver;
use zbus::fdo::Properties;
use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::{Connection, Variant};

use super::guarded::Guarded;
use super::session::{Published, properties};
use super::{
    Backend, MANAGER_IFACE, MANAGER_PATH, Manager, Queued, SESSION_IFACE, SessionObject,
    session_path,
};
use crate::lifecycle::DomainEvent;
use crate::model::Session;

pub(super) struct Publisher {
    conn: Connection,
    backend: Arc<Backend>,
}

impl Publisher {
    pub(super) fn new(conn: Connection, backend: Arc<Backend>) -> Self {
        Publisher { conn, backend }
    }

    fn manager(&self) -> SignalEmitter<'static> {
        SignalEmitter::new(&self.conn, MANAGER_PATH)
            .expect("valid path")
            .into_owned()
    }

    /// Serves an object for every session the service holds at start.
    pub(super) async fn publish_existing(&mut self) -> zbus::Result<()> {
        for s in self.backend.svc.list() {
            self.add_object(s).await?;
        }
        Ok(())
    }

    async fn add_object(&mut self, s: Session) -> zbus::Result<()> {
        let (id, path) = (s.id, session_path(s.id));
        let shown: Published = Arc::new(Mutex::new(s));
        let mut objects = self.backend.objects.lock().await;
        self.conn
            .object_server()
            .at(
                &path,
                Guarded::new(
                    SessionObject::new(id, shown.clone(), self.backend.clone()),
                    self.backend.clone(),
                ),
            )
            .await?;
        objects.insert(id, shown);
        self.backend
            .published
            .store(objects.len() as u32, Ordering::SeqCst);
        Ok(())
    }

    pub(super) async fn run(mut self, mut events: UnboundedReceiver<Queued>) {
        while let Some(queued) = events.recv().await {
            match queued {
                Queued::Barrier(tx) => {
                    let _ = tx.send(());
                }
                Queued::Change(ev) => {
                    if let Err(e) = self.handle(ev).await {
                        tracing::warn!("could not publish a change on the bus: {e}");
                    }
                    self.backend.queue.published_one();
                }
            }
        }
    }

    async fn handle(&mut self, ev: DomainEvent) -> zbus::Result<()> {
        let mgr = self.manager();
        match ev {
            DomainEvent::Added(s) => {
                let path = session_path(s.id);
                let (id, name) = (s.id.to_string(), s.name.to_string());
                self.add_object(s).await?;
                Manager::session_new(&mgr, &id, &name, path.as_ref()).await?;
                self.count_changed(&mgr).await?;
            }
            DomainEvent::Removed(s) => {
                let path = session_path(s.id);
                let mut objects = self.backend.objects.lock().await;
                self.conn
                    .object_server()
                    .remove::<Guarded<SessionObject>, _>(&path)
                    .await?;
                objects.remove(&s.id);
                self.backend
                    .published
                    .store(objects.len() as u32, Ordering::SeqCst);
                drop(objects);
                let (id, name) = (s.id.to_string(), s.name.to_string());
                Manager::session_removed(&mgr, &id, &name, path.as_ref()).await?;
                self.count_changed(&mgr).await?;
            }
            DomainEvent::Changed(s) => {
                let Some(shown) = self.backend.objects.lock().await.get(&s.id).cloned() else {
                    return Ok(()); // removed meanwhile
                };
                // The object shows the new values before the signals announce them.
                let before = {
                    let mut shown = shown.lock().unwrap_or_else(|p| p.into_inner());
                    std::mem::replace(&mut *shown, s.clone())
                };
                let old = properties(before.clone(), &self.backend, &self.conn).await?;
                let new = properties(s.clone(), &self.backend, &self.conn).await?;
                let changed: HashMap<&str, Variant<'_>> = new
                    .iter()
                    .filter(|(k, v)| old.get(*k) != Some(*v))
                    .map(|(k, v)| Ok((k.as_str(), Variant::try_from(v)?)))
                    .collect::<zbus::Result<_>>()?;
                if !changed.is_empty() {
                    let obj = SignalEmitter::new(&self.conn, session_path(s.id))?;
                    Properties::properties_changed(
                        &obj,
                        InterfaceName::from_static_str_unchecked(SESSION_IFACE),
                        changed,
                        Cow::Borrowed(&[]),
                    )
                    .await?;
                }
                let (id, name) = (s.id.to_string(), s.name.to_string());
                if before.status != s.status {
                    Manager::status_changed(&mgr, &id, &name, s.status.as_str()).await?;
                }
                // A new detail alone (the next tool) is a PropertiesChanged, not an activity change.
                if before.activity != s.activity {
                    Manager::activity_changed(
                        &mgr,
                        &id,
                        &name,
                        s.activity.as_str(),
                        &s.activity_detail,
                    )
                    .await?;
                }
            }
            DomainEvent::PermissionRequested {
                session,
                request_id,
                tool,
                detail,
            } => {
                let id = session.id.to_string();
                Manager::permission_requested(
                    &mgr,
                    &id,
                    session.name.as_str(),
                    &request_id,
                    &tool,
                    &detail,
                )
                .await?;
            }
            DomainEvent::PermissionResolved {
                session,
                request_id,
                outcome,
            } => {
                let id = session.id.to_string();
                Manager::permission_resolved(
                    &mgr,
                    &id,
                    session.name.as_str(),
                    &request_id,
                    outcome.as_str(),
                )
                .await?;
            }
            DomainEvent::ClaudeExited { session, pid } => {
                Manager::claude_exited(&mgr, &session.id.to_string(), session.name.as_str(), pid)
                    .await?;
            }
        }
        Ok(())
    }

    async fn count_changed(&self, mgr: &SignalEmitter<'_>) -> zbus::Result<()> {
        let mut m = HashMap::new();
        let count = self.backend.published_count();
        m.insert("SessionCount", Variant::from(count));
        Properties::properties_changed(
            mgr,
            InterfaceName::from_static_str_unchecked(MANAGER_IFACE),
            m,
            Cow::Borrowed(&[]),
        )
        .await
    }
}
