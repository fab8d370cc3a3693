//! Who may call: only processes of the daemon's own user. The caller's uid is asked of the bus
//! once per unique name (unique names are never reused on a bus) and cached.

use std::collections::HashMap;
use std::sync::Mutex;

use zbus::message::Header;
use zbus::{Connection, fdo::DBusProxy, names::BusName};

use crate::error::{Error, Result};

/// Remembered callers before the cache starts over.
const CACHE_LIMIT: usize = 4096;

/// The caller check shared by every object.
pub struct Access {
    own_uid: u32,
    known: Mutex<HashMap<String, u32>>,
}

impl Access {
    pub fn new() -> Self {
        Access {
            own_uid: rustix::process::getuid().as_raw(),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// `AccessDenied` unless the message came from the daemon's own uid.
    pub async fn check(&self, conn: &Connection, hdr: &Header<'_>) -> Result<()> {
        let uid = match hdr.sender() {
            Some(sender) => {
                let cached = self.lock().get(sender.as_str()).copied();
                match cached {
                    Some(uid) => uid,
                    None => {
                        let uid = DBusProxy::new(conn)
                            .await
                            .map_err(|e| Error::internal("asking the bus for the caller", e))?
                            .get_connection_unix_user(BusName::Unique(sender.to_owned()))
                            .await
                            .map_err(|e| Error::internal("asking the bus for the caller", e))?;
                        let mut known = self.lock();
                        if known.len() >= CACHE_LIMIT {
                            known.clear();
                        }
                        known.insert(sender.to_string(), uid);
                        uid
                    }
                }
            }
            // A peer-to-peer connection: the socket itself tells.
            None => {
                return Err(Error::AccessDenied(
                    "Calls must come through the bus, which vouches for the caller.".into(),
                ));
            }
        };
        if uid == self.own_uid {
            Ok(())
        } else {
            Err(Error::AccessDenied(format!(
                "Only user {} may use this service; the caller is user {uid}.",
                self.own_uid
            )))
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for Access {
    fn default() -> Self {
        Self::new()
    }
}
