//! Who may call: only processes of the daemon's own user. The caller's uid and pid are asked
//! of the bus once per unique name (unique names are never reused on a bus) and cached. The
//! in-process tests serve the objects over a peer-to-peer connection, where no bus vouches:
//! there the socket's peer credentials do (`Access::peer`, tests only).

use std::collections::HashMap;
use std::sync::Mutex;

use zbus::fdo::{ConnectionCredentials, DBusProxy};
use zbus::message::Header;
use zbus::{Connection, names::BusName};

use crate::error::{Error, Result};

/// Remembered callers before the cache starts over.
const CACHE_LIMIT: usize = 4096;

/// What the bus vouches for about a caller.
#[derive(Debug, Clone, Copy)]
struct Caller {
    uid: u32,
    /// 0 when the bus does not know.
    pid: u32,
}

/// The caller check shared by every object.
pub struct Access {
    /// The bus the daemon's calls come through, or the peer-to-peer connection they come over.
    conn: Connection,
    /// Whether the other end of `conn`'s socket is the caller, as the kernel says (tests only),
    /// instead of whoever the bus says sent the message.
    #[cfg(test)]
    peer: bool,
    own_uid: u32,
    known: Mutex<HashMap<String, Caller>>,
}

impl Access {
    /// Callers as the bus `conn` is connected to vouches for them: the daemon's check.
    pub fn bus(conn: Connection) -> Self {
        Access {
            conn,
            #[cfg(test)]
            peer: false,
            own_uid: rustix::process::getuid().as_raw(),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The one caller at the other end of the peer-to-peer connection `conn`, as its socket
    /// says: the in-process tests' check.
    #[cfg(test)]
    pub fn peer(conn: Connection) -> Self {
        Access {
            peer: true,
            ..Self::bus(conn)
        }
    }

    /// `AccessDenied` unless the message came from the daemon's own uid.
    pub async fn check(&self, hdr: &Header<'_>) -> Result<()> {
        let uid = self.caller(hdr).await?.uid;
        if uid == self.own_uid {
            Ok(())
        } else {
            Err(Error::AccessDenied(format!(
                "Only user {} may use this service; the caller is user {uid}.",
                self.own_uid
            )))
        }
    }

    /// The pid of an admitted caller's process, as the bus knows it (0 when it does not).
    pub async fn caller_pid(&self, hdr: &Header<'_>) -> Result<u32> {
        Ok(self.caller(hdr).await?.pid)
    }

    async fn caller(&self, hdr: &Header<'_>) -> Result<Caller> {
        #[cfg(test)]
        if self.peer {
            let creds = (self.conn.peer_creds().await)
                .map_err(|e| Error::internal("asking the socket for the caller", e))?;
            return vouched(creds);
        }
        let Some(sender) = hdr.sender() else {
            // No sender: a peer-to-peer message, and the daemon serves only the bus.
            return Err(Error::AccessDenied(
                "Calls must come through the bus, which vouches for the caller.".into(),
            ));
        };
        if let Some(known) = self.lock().get(sender.as_str()).copied() {
            return Ok(known);
        }
        const ASKING: &str = "asking the bus for the caller";
        let creds = DBusProxy::new(&self.conn)
            .await
            .map_err(|e| Error::internal(ASKING, e))?
            .get_connection_credentials(BusName::Unique(sender.to_owned()))
            .await
            .map_err(|e| Error::internal(ASKING, e))?;
        let caller = vouched(&creds)?;
        let mut known = self.lock();
        if known.len() >= CACHE_LIMIT {
            known.clear();
        }
        known.insert(sender.to_string(), caller);
        Ok(caller)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Caller>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The caller as credentials describe it; a caller of no known user is refused.
fn vouched(creds: &ConnectionCredentials) -> Result<Caller> {
    let Some(uid) = creds.unix_user_id() else {
        return Err(Error::AccessDenied(
            "The bus does not say which user the caller is.".into(),
        ));
    };
    Ok(Caller {
        uid,
        pid: creds.process_id().unwrap_or(0),
    })
}
