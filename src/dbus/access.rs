//! Who may call: only processes of the daemon's own user. The caller's uid and pid are asked
//! of the bus once per unique name (unique names are never reused on a bus) and cached.

use std::collections::HashMap;
use std::sync::Mutex;

use zbus::message::Header;
use zbus::{Connection, fdo::DBusProxy, names::BusName};

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

/// The caller check shared by every object, asking the bus the daemon's calls come through.
pub struct Access {
    conn: Connection,
    own_uid: u32,
    known: Mutex<HashMap<String, Caller>>,
}

impl Access {
    pub fn new(conn: Connection) -> Self {
        Access {
            conn,
            own_uid: rustix::process::getuid().as_raw(),
            known: Mutex::new(HashMap::new()),
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
        let Some(sender) = hdr.sender() else {
            // A peer-to-peer connection: the socket itself tells.
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
        let Some(uid) = creds.unix_user_id() else {
            return Err(Error::AccessDenied(
                "The bus does not say which user the caller is.".into(),
            ));
        };
        let caller = Caller {
            uid,
            pid: creds.process_id().unwrap_or(0),
        };
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
