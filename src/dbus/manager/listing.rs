//! What the manager lists, from one look at the state: `ListSessions` (the rows kept between
//! calls in `rows::RowCache`, and the reply the manager sends itself with the body kept
//! serialized, before zbus's handler would serialize the rows again) and `ListRequests`.

use zbus::Connection;
use zbus::Type;
use zbus::message::{Flags, Header, Message};
use zbus::names::MemberName;
use zbus::object_server::DispatchResult;

use super::Manager;
use crate::dbus::requests::{self, RequestRow};
use crate::dbus::rows::Rows;
use crate::error::Error;

impl Manager {
    /// `ListSessions` rows, rebuilt only after a change.
    pub(super) fn rows(&self) -> Rows {
        self.rows
            .get(self.backend.queue.reported(), &self.backend.svc)
    }

    /// `ListRequests`: every request waiting now, oldest first.
    pub(super) async fn requests(&self, hdr: &Header<'_>) -> Result<Vec<RequestRow>, Error> {
        self.backend
            .query(hdr, || {
                let waiting = self.backend.svc.requests();
                Ok(waiting.into_iter().map(requests::row).collect())
            })
            .await
    }
}

/// The manager computes nothing when read, and answers `ListSessions` with the body it keeps
/// serialized: at 1,000 sessions, serializing the rows was most of the daemon's part of a call.
impl crate::dbus::guarded::Hooks for Manager {
    fn answer<'c>(
        &'c self,
        conn: &'c Connection,
        msg: &'c Message,
        name: &MemberName<'_>,
    ) -> Option<DispatchResult<'c>> {
        // A call with arguments goes to the handler, which refuses them as zbus does.
        if name.as_str() != "ListSessions" || !msg.body().is_empty() {
            return None;
        }
        Some(DispatchResult::Async(Box::pin(async move {
            let hdr = msg.header();
            let look = || {
                self.rows
                    .body(self.backend.queue.reported(), &self.backend.svc)
                    .map_err(|e| Error::internal("listing the sessions", e))
            };
            let body = self.backend.query(&hdr, look).await;
            if hdr.primary().flags().contains(Flags::NO_REPLY_EXPECTED) {
                return Ok(());
            }
            let sent = match body {
                // SAFETY: the body is `Rows` serialized by zbus for this signature, in the byte
                // order the builder writes, and carries no file descriptors.
                Ok(body) => match unsafe {
                    Message::method_return(&hdr).build_raw_body(&body, Rows::SIGNATURE, Vec::new())
                } {
                    Ok(reply) => conn.send(&reply).await,
                    Err(e) => Err(e),
                },
                Err(e) => conn.reply_dbus_error(&hdr, e).await,
            };
            sent.map_err(|e| {
                Box::new(zbus::fdo::Error::Failed(e.to_string())) as zbus::BoxDBusError
            })
        })))
    }
}
