//! The `ListSessions` answer, kept between calls: rebuilt only after a change, reusing the row
//! of every session whose listed fields are the same, and serialized once per change (the
//! reply's body, which the manager sends as it is; see `Manager::answer`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zbus::OwnedObjectPath;
use zbus::wire::serialized::{Context, Data};
use zbus::wire::{NATIVE_ENDIAN, to_bytes};

use super::session_path;
use crate::lifecycle::SessionService;
use crate::model::{Session, SessionId};

/// One row of `ListSessions`.
type SessionRow = (
    String,
    String,
    String,
    &'static str,
    &'static str,
    u32,
    OwnedObjectPath,
);

/// Shared `ListSessions` rows, serialized as `a(sssssuo)` without copying them.
#[derive(Clone, Default)]
pub struct Rows(Arc<Vec<Arc<SessionRow>>>);

impl serde::Serialize for Rows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for r in self.0.iter() {
            seq.serialize_element(&**r)?;
        }
        seq.end()
    }
}

impl zbus::Type for Rows {
    const SIGNATURE: &'static zbus::Signature = <Vec<SessionRow> as zbus::Type>::SIGNATURE;
}

/// The last answer, the change count it was built at, and its rows by session.
#[derive(Default)]
pub struct RowCache(Mutex<Cached>);

#[derive(Default)]
struct Cached {
    at: Option<u64>,
    rows: Rows,
    by_id: HashMap<SessionId, Arc<SessionRow>>,
    /// `rows` serialized as a message body, once asked for.
    body: Option<Arc<Data<'static, 'static>>>,
}

impl RowCache {
    /// The rows for the state after `reported` changes: the last answer while nothing changed;
    /// after a change, a new list that reuses the row of every session that still matches it.
    /// Read `reported` before calling: rows built afterwards are at least that new.
    pub fn get(&self, reported: u64, svc: &SessionService) -> Rows {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if cache.at != Some(reported) {
            let fresh: Vec<(SessionId, Arc<SessionRow>)> = svc.map_sessions(|s| {
                let r = match cache.by_id.get(&s.id) {
                    Some(r) if row_matches(r, s) => Arc::clone(r),
                    _ => Arc::new(row(s)),
                };
                (s.id, r)
            });
            cache.rows = Rows(Arc::new(fresh.iter().map(|(_, r)| Arc::clone(r)).collect()));
            cache.by_id = fresh.into_iter().collect();
            cache.at = Some(reported);
            cache.body = None;
        }
        cache.rows.clone()
    }

    /// `get` serialized as the body of a reply (in the byte order zbus writes messages in).
    pub fn body(
        &self,
        reported: u64,
        svc: &SessionService,
    ) -> zbus::Result<Arc<Data<'static, 'static>>> {
        let rows = self.get(reported, svc);
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(body) = &cache.body
            && cache.at == Some(reported)
        {
            return Ok(Arc::clone(body));
        }
        // Bodies start 8-aligned in a message, so one serialized at position 0 fits any reply.
        let body = Arc::new(to_bytes(Context::new(NATIVE_ENDIAN, 0), &rows)?);
        if cache.at == Some(reported) {
            cache.body = Some(Arc::clone(&body));
        }
        Ok(body)
    }
}

fn row(s: &Session) -> SessionRow {
    (
        s.id.to_string(),
        s.name.to_string(),
        s.project_dir.clone(),
        s.status.as_str(),
        s.activity.as_str(),
        s.pid(),
        session_path(s.id),
    )
}

/// Whether a listed row still says what the session says.
fn row_matches(r: &SessionRow, s: &Session) -> bool {
    r.1 == s.name.as_str()
        && r.2 == s.project_dir
        && r.3 == s.status.as_str()
        && r.4 == s.activity.as_str()
        && r.5 == s.pid()
}
