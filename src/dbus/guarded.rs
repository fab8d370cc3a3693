//! Property reads under the caller check. zbus answers Properties.Get and GetAll itself, with no
//! hook before them, and a getter that checked the caller would not do: GetAll leaves a failing
//! getter's property out instead of failing. `Guarded` wraps an interface, checks a client once
//! per Get or GetAll, lets the interface answer a method itself (`Hooks::answer`), and hands
//! everything else to the interface it wraps.

use std::collections::HashMap;
use std::sync::Arc;

use zbus::message::{Header, Message};
use zbus::names::{InterfaceName, MemberName};
use zbus::object_server::{DispatchResult, Interface, SignalEmitter};
use zbus::{BoxDBusError, Connection, ObjectServer, OwnedVariant, Variant, fdo};

use super::Backend;
use crate::error::{Error, Result};

/// What `Guarded` runs around zbus's dispatch of an interface.
#[async_trait::async_trait]
pub trait Hooks {
    /// What the interface computes when a client reads it, done before Get or GetAll take
    /// their values: the getters then never await, so one reply's values are all of one
    /// instant.
    async fn before_read(&self) {}

    /// A method call the interface answers with a reply it builds itself (instead of its
    /// `#[interface]` handler, which zbus would run); `None` for the others.
    fn answer<'c>(
        &'c self,
        _conn: &'c Connection,
        _msg: &'c Message,
        _name: &MemberName<'_>,
    ) -> Option<DispatchResult<'c>> {
        None
    }
}

/// An interface whose properties only the daemon's own user may read.
pub struct Guarded<I> {
    inner: I,
    backend: Arc<Backend>,
}

impl<I> Guarded<I> {
    pub(super) fn new(inner: I, backend: Arc<Backend>) -> Self {
        Guarded { inner, backend }
    }

    /// Checks a client's read. The daemon's own reads (for PropertiesChanged and
    /// InterfacesAdded) come without a message header and pass.
    async fn admit(&self, hdr: Option<&Header<'_>>) -> Result<()> {
        match hdr {
            Some(hdr) => self.backend.access.check(hdr).await,
            None => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl<I: Interface + Hooks> Interface for Guarded<I> {
    fn name() -> InterfaceName<'static> {
        I::name()
    }

    fn spawn_tasks_for_methods(&self) -> bool {
        self.inner.spawn_tasks_for_methods()
    }

    async fn get(
        &self,
        property_name: &str,
        server: &ObjectServer,
        conn: &Connection,
        hdr: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> Option<std::result::Result<OwnedVariant, BoxDBusError>> {
        if let Err(e) = self.admit(hdr).await {
            return Some(Err(Box::new(e)));
        }
        if hdr.is_some() {
            self.inner.before_read().await;
        }
        self.inner
            .get(property_name, server, conn, hdr, emitter)
            .await
    }

    async fn get_all(
        &self,
        server: &ObjectServer,
        conn: &Connection,
        hdr: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> fdo::Result<HashMap<String, OwnedVariant>> {
        // zbus's GetAll can only fail with an org.freedesktop.DBus.Error, so a refusal is
        // org.freedesktop.DBus.Error.AccessDenied here, not the contract's AccessDenied.
        self.admit(hdr).await.map_err(|e| match e {
            Error::AccessDenied(m) => fdo::Error::AccessDenied(m),
            e => fdo::Error::Failed(e.to_string()),
        })?;
        if hdr.is_some() {
            self.inner.before_read().await;
        }
        self.inner.get_all(server, conn, hdr, emitter).await
    }

    fn set<'call>(
        &'call self,
        property_name: &'call str,
        value: &'call Variant<'_>,
        server: &'call ObjectServer,
        conn: &'call Connection,
        hdr: Option<&'call Header<'_>>,
        emitter: &'call SignalEmitter<'_>,
    ) -> DispatchResult<'call> {
        self.inner
            .set(property_name, value, server, conn, hdr, emitter)
    }

    async fn set_mut(
        &mut self,
        property_name: &str,
        value: &Variant<'_>,
        server: &ObjectServer,
        conn: &Connection,
        hdr: Option<&Header<'_>>,
        emitter: &SignalEmitter<'_>,
    ) -> Option<std::result::Result<(), BoxDBusError>> {
        self.inner
            .set_mut(property_name, value, server, conn, hdr, emitter)
            .await
    }

    fn call<'call>(
        &'call self,
        server: &'call ObjectServer,
        conn: &'call Connection,
        msg: &'call Message,
        name: MemberName<'call>,
    ) -> DispatchResult<'call> {
        match self.inner.answer(conn, msg, &name) {
            Some(answered) => answered,
            None => self.inner.call(server, conn, msg, name),
        }
    }

    fn call_mut<'call>(
        &'call mut self,
        server: &'call ObjectServer,
        conn: &'call Connection,
        msg: &'call Message,
        name: MemberName<'call>,
    ) -> DispatchResult<'call> {
        self.inner.call_mut(server, conn, msg, name)
    }

    fn introspect_to_writer(&self, writer: &mut dyn std::fmt::Write, level: usize) {
        self.inner.introspect_to_writer(writer, level)
    }
}
