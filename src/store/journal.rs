//! The journal: the changes made since the snapshot, one record per save, appended and made
//! durable (fdatasync) before the save returns. A record is a line: a checksum of its JSON
//! (FNV-1a, 16 hex digits), a space, the JSON, a newline. The first line names the snapshot
//! the records apply to (`{"journal": ID}`, the ID the snapshot gives); records of a journal
//! that names another snapshot (a crash between writing a new snapshot and its journal) are
//! already in it and do not apply.
//!
//! A record that is cut short or damaged and followed by no good record is a torn write (the
//! daemon stopped while appending, before the change was acknowledged) and is ignored; a
//! damaged record before good ones is reported and ends the replay there.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{RawRegistry, journal_path, write_atomic, write_new};
use crate::model::{EventRecord, Session, SessionId};

/// Below this size the journal is never compacted, whatever the snapshot's size.
const MIN_COMPACT_BYTES: u64 = 1 << 20;

/// One save: the sessions that changed (each whole, with the events it recorded since the last
/// save) and the ids of those that left.
#[derive(Serialize, Default)]
pub struct Change<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub put: Vec<Put<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gone: Vec<SessionId>,
}

/// A session's record as it is now, and the events to append to its history.
#[derive(Serialize)]
pub struct Put<'a> {
    pub session: &'a Session,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<&'a EventRecord>,
}

impl Change<'_> {
    pub fn is_empty(&self) -> bool {
        self.put.is_empty() && self.gone.is_empty()
    }

    /// The journal line of this change.
    pub fn encode(&self) -> Vec<u8> {
        frame(&serde_json::to_vec(self).expect("a change serializes"))
    }
}

/// A record as read: the sessions stay raw, as the snapshot's do.
#[derive(Deserialize)]
struct RawChange {
    #[serde(default)]
    put: Vec<RawPut>,
    #[serde(default)]
    gone: Vec<String>,
}

#[derive(Deserialize)]
struct RawPut {
    session: Value,
    #[serde(default)]
    events: Vec<Value>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    journal: String,
}

/// A fresh id for a snapshot and its journal.
pub fn new_journal_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// FNV-1a (64 bit): enough to tell a whole record from a torn or overwritten one.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn frame(json: &[u8]) -> Vec<u8> {
    let mut line = format!("{:016x} ", checksum(json)).into_bytes();
    line.extend_from_slice(json);
    line.push(b'\n');
    line
}

/// The JSON of a whole, undamaged line (without its newline).
fn unframe(line: &[u8]) -> Option<&[u8]> {
    let (sum, json) = (line.get(..16)?, line.get(17..)?);
    let sum = u64::from_str_radix(std::str::from_utf8(sum).ok()?, 16).ok()?;
    (line[16] == b' ' && checksum(json) == sum).then_some(json)
}

/// The JSON of a line that ends in its newline and is undamaged.
fn whole(line: &[u8]) -> Option<&[u8]> {
    line.strip_suffix(b"\n").and_then(unframe)
}

/// Applies the records of the journal at `path` that belong to the snapshot `id` to `raw`.
pub(super) fn replay(path: &Path, id: &str, raw: &mut RawRegistry) -> std::io::Result<()> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    // A line is whole only with its newline; the piece after the last one is a torn write.
    let mut lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let header = lines.first().and_then(|l| whole(l));
    match header.and_then(|h| serde_json::from_slice::<Header>(h).ok()) {
        Some(h) if h.journal == id => {}
        _ => {
            tracing::info!(
                "journal {} does not belong to the snapshot; its records are in it already",
                path.display()
            );
            return Ok(());
        }
    }
    lines.remove(0);
    let parsed: Vec<Option<RawChange>> = lines
        .iter()
        .map(|l| whole(l).and_then(|j| serde_json::from_slice(j).ok()))
        .collect();
    let good = parsed.iter().take_while(|c| c.is_some()).count();
    if good < parsed.len() {
        if parsed[good..].iter().all(Option::is_none) {
            tracing::warn!(
                "journal {}: ignored a torn last record (a save cut short, never acknowledged)",
                path.display()
            );
        } else {
            raw.problems.push(format!(
                "journal record {} is damaged; it and the {} after it were not applied",
                good + 1,
                parsed.len() - good - 1
            ));
        }
    }
    raw.journal_used = !parsed.is_empty();
    let mut at: HashMap<String, usize> = raw
        .sessions
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((s.get("id")?.as_str()?.to_owned(), i)))
        .collect();
    let mut slots: Vec<Option<Value>> = std::mem::take(&mut raw.sessions)
        .into_iter()
        .map(Some)
        .collect();
    for change in parsed.into_iter().take(good).flatten() {
        for id in change.gone {
            if let Some(i) = at.remove(&id) {
                slots[i] = None;
            }
            raw.history.remove(&id);
        }
        for put in change.put {
            let Some(id) = put
                .session
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                // Kept, so that it is reported like a bad record of the snapshot.
                slots.push(Some(put.session));
                continue;
            };
            raw.history
                .entry(id.clone())
                .or_default()
                .extend(put.events);
            match at.get(&id) {
                Some(&i) => slots[i] = Some(put.session),
                None => {
                    at.insert(id, slots.len());
                    slots.push(Some(put.session));
                }
            }
        }
    }
    raw.sessions = slots.into_iter().flatten().collect();
    Ok(())
}

/// Where saves go, and whether the journal in place can take the next one.
#[derive(Debug, Clone)]
pub struct Saver {
    registry: PathBuf,
    /// The id of the journal in place and of its snapshot; `None` until this daemon wrote
    /// both (its first save is a compaction), and after a failed append.
    journal: Option<String>,
    journal_bytes: u64,
    snapshot_bytes: u64,
}

impl Saver {
    /// Saves of the registry at `registry` (the snapshot; its journal is beside it).
    pub fn new(registry: PathBuf) -> Self {
        Saver {
            registry,
            journal: None,
            journal_bytes: 0,
            snapshot_bytes: 0,
        }
    }

    /// Whether the next save must write a new snapshot: there is no journal of ours yet, or it
    /// has outgrown the snapshot (so compacting costs no more than the appends did, per byte).
    pub fn wants_snapshot(&self) -> bool {
        self.journal.is_none() || self.journal_bytes >= self.snapshot_bytes.max(MIN_COMPACT_BYTES)
    }

    /// Appends one record (`Change::encode`) and makes it durable. After a failure the next
    /// save compacts: a record that may be partly written must stay the journal's last.
    pub fn append(&mut self, record: &[u8]) -> std::io::Result<()> {
        let done = (|| {
            // Opened for each record, never created: a journal that was removed or replaced
            // meanwhile fails here instead of taking records that would never be read.
            let mut f = OpenOptions::new()
                .append(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(journal_path(&self.registry))?;
            if !f.metadata()?.is_file() {
                return Err(std::io::Error::other("the journal is not a regular file"));
            }
            f.write_all(record)?;
            f.sync_data()
        })();
        match done {
            Ok(()) => self.journal_bytes += record.len() as u64,
            Err(_) => self.journal = None,
        }
        done
    }

    /// Writes `snapshot` (made by `store::snapshot` naming `id`) and an empty journal for it:
    /// the journal first under a temporary name, then the snapshot (the moment the save
    /// happens), then the journal into place. A crash in between leaves the new snapshot with
    /// the old journal, which names the old snapshot and so does not apply.
    pub fn compact(&mut self, id: &str, snapshot: &[u8]) -> std::io::Result<()> {
        self.journal = None;
        let journal = journal_path(&self.registry);
        let tmp = journal.with_extension("journal.tmp");
        let header = Header {
            journal: id.to_owned(),
        };
        let header = frame(&serde_json::to_vec(&header).expect("a header serializes"));
        let dir = self.registry.parent().unwrap_or(Path::new("."));
        super::create_private_dir(dir)?;
        write_new(&tmp, &header)?;
        write_atomic(&self.registry, snapshot)?;
        self.snapshot_bytes = snapshot.len() as u64;
        if let Err(e) = fs::rename(&tmp, &journal).and_then(|()| File::open(dir)?.sync_all()) {
            // Saved all the same: the snapshot holds everything; the next save compacts again.
            tracing::warn!("could not put the new journal in place: {e}");
            return Ok(());
        }
        self.journal = Some(id.to_owned());
        self.journal_bytes = header.len() as u64;
        Ok(())
    }
}
