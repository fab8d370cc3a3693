//! Registry persistence in the daemon's private state directory: a snapshot, `registry.json`
//! (versioned JSON: every session and its event history), and a journal, `registry.journal`,
//! of the changes made since that snapshot (see `journal`). A save appends one record and makes
//! it durable before the change is acknowledged, so what a save costs follows the change, not
//! the size of the registry. A compaction (the first save after a start, a clean stop, and
//! whenever the journal has outgrown the snapshot) writes a new snapshot atomically (a fresh
//! temp file, fsync, rename, fsync of the directory) and a new, empty journal that names it.
//!
//! At load, the records of the journal that names the snapshot are applied in order; a torn
//! last record (a crash while appending, so a change never acknowledged) is ignored. A
//! `registry.json` of earlier builds is a snapshot without a journal: loading it migrates it.
//! A snapshot that cannot be read is moved aside with its journal, never overwritten; a
//! registry with a few bad records (unparsable, repeated, or not fit to serve, see
//! `text::record_problem`) loads the others, and a copy of its files is kept. These are
//! blocking functions; async callers run them on the blocking pool.

mod journal;
#[cfg(test)]
mod tests;

pub use journal::{Change, Put, Saver, new_journal_id};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::EVENT_HISTORY;
use crate::model::{EventRecord, Session, SessionId, now_usec};
use crate::text::{event_problem, record_problem};

/// The on-disk format version this build writes.
pub const FORMAT_VERSION: u32 = 1;

/// Each session's event history (`GetEvents`), newest last.
pub type History = HashMap<SessionId, VecDeque<EventRecord>>;

#[derive(Serialize)]
struct SnapshotFile<'a, S, H> {
    version: u32,
    /// The journal whose records apply to this snapshot (none: no journal does); older builds
    /// ignore it.
    #[serde(skip_serializing_if = "Option::is_none")]
    journal: Option<&'a str>,
    sessions: S,
    /// Keyed by session id; older builds ignore it.
    history: H,
}

/// A snapshot as read: records stay raw so that one bad record does not cost the others, and a
/// malformed history costs only the history.
#[derive(Deserialize)]
struct RawSnapshot {
    version: u32,
    #[serde(default)]
    journal: Option<String>,
    sessions: Vec<Value>,
    #[serde(default)]
    history: Value,
}

/// The registry as read: the snapshot with its journal applied, records still raw.
struct RawRegistry {
    sessions: Vec<Value>,
    history: BTreeMap<String, Vec<Value>>,
    /// Why journal records were left out (a damaged record that is not the last).
    problems: Vec<String>,
    /// The journal had records for this snapshot.
    journal_used: bool,
}

/// What `load` found.
#[derive(Debug)]
pub enum Loaded {
    /// No registry yet.
    Empty,
    /// The sessions of a readable registry.
    Sessions(Vec<Session>),
    /// The good sessions of a registry with records that were skipped (one reason each); the
    /// snapshot as it was is kept at `copy`, and its journal beside it (`registry.journal`
    /// with the same suffix) when it had records.
    Partial {
        sessions: Vec<Session>,
        skipped: Vec<String>,
        copy: PathBuf,
    },
    /// The snapshot was unreadable and was moved to the given path (its journal beside it);
    /// the daemon starts empty.
    MovedAside { to: PathBuf, reason: String },
}

/// The journal that belongs beside the snapshot at `registry`.
pub fn journal_path(registry: &Path) -> PathBuf {
    registry.with_extension("journal")
}

/// Reads the snapshot at `path` and applies its journal: `None` when there is no snapshot,
/// `Err(reason)` inside when it cannot be read.
fn read(path: &Path) -> std::io::Result<Option<Result<RawRegistry, String>>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let snap = match serde_json::from_slice::<RawSnapshot>(&bytes) {
        Ok(s) if s.version == FORMAT_VERSION => s,
        Ok(s) => {
            return Ok(Some(Err(format!(
                "format version {} is not one this build reads ({FORMAT_VERSION})",
                s.version
            ))));
        }
        Err(e) => return Ok(Some(Err(e.to_string()))),
    };
    let history = serde_json::from_value(snap.history).unwrap_or_default();
    let mut raw = RawRegistry {
        sessions: snap.sessions,
        history,
        problems: Vec::new(),
        journal_used: false,
    };
    if let Some(id) = &snap.journal {
        journal::replay(&journal_path(path), id, &mut raw)?;
    }
    Ok(Some(Ok(raw)))
}

/// Loads the registry at `path` (the snapshot and its journal).
pub fn load(path: &Path) -> std::io::Result<Loaded> {
    let raw = match read(path)? {
        None => return Ok(Loaded::Empty),
        Some(Ok(raw)) => raw,
        Some(Err(reason)) => {
            let suffix = format!("unreadable-{}", now_usec());
            let to = aside(path, &suffix);
            fs::rename(path, &to)?;
            let journal = journal_path(path);
            if journal.exists() {
                fs::rename(&journal, aside(&journal, &suffix))?;
            }
            return Ok(Loaded::MovedAside { to, reason });
        }
    };
    let (sessions, mut skipped) = records(raw.sessions);
    skipped.extend(raw.problems);
    if skipped.is_empty() {
        return Ok(Loaded::Sessions(sessions));
    }
    let suffix = format!("skipped-{}", now_usec());
    let copy = aside(path, &suffix);
    fs::copy(path, &copy)?;
    if raw.journal_used {
        let journal = journal_path(path);
        fs::copy(&journal, aside(&journal, &suffix))?;
    }
    Ok(Loaded::Partial {
        sessions,
        skipped,
        copy,
    })
}

/// `registry.json` → `registry.json.<suffix>`.
fn aside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}

/// The sessions among raw records, and why each other record was skipped: it does not parse,
/// it is not fit to serve (a field over its bound could not even be published on the bus, and
/// the daemon would never start), or its id or name repeats an earlier record's.
fn records(raw: Vec<Value>) -> (Vec<Session>, Vec<String>) {
    let mut sessions: Vec<Session> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    let mut names = std::collections::HashSet::new();
    let mut skipped = Vec::new();
    for (i, value) in raw.into_iter().enumerate() {
        match serde_json::from_value::<Session>(value) {
            Err(e) => skipped.push(format!("record {}: {e}", i + 1)),
            Ok(s) if ids.contains(&s.id) => {
                skipped.push(format!("record {}: id {} is used twice", i + 1, s.id));
            }
            Ok(s) if names.contains(&s.name) => {
                skipped.push(format!("record {}: name '{}' is used twice", i + 1, s.name));
            }
            Ok(s) => match record_problem(&s) {
                Some(why) => skipped.push(format!("record {}: {why}", i + 1)),
                None => {
                    ids.insert(s.id);
                    names.insert(s.name.clone());
                    sessions.push(s);
                }
            },
        }
    }
    (sessions, skipped)
}

/// The histories the registry at `path` keeps, each at most `EVENT_HISTORY` records long. A
/// record that does not parse or is out of bounds is left out (and counted in the log): the
/// history only tells, nothing depends on it. Unreadable registries have none.
pub fn load_history(path: &Path) -> History {
    let raw = match read(path) {
        Ok(Some(Ok(raw))) => raw.history,
        _ => BTreeMap::new(),
    };
    let mut skipped = 0;
    let mut out = History::new();
    for (id, records) in raw {
        let Some(id) = SessionId::parse(&id) else {
            skipped += records.len();
            continue;
        };
        let total = records.len();
        let kept: VecDeque<EventRecord> = records
            .into_iter()
            .filter_map(|v| serde_json::from_value::<EventRecord>(v).ok())
            .filter(|e| event_problem(e).is_none())
            .collect();
        skipped += total - kept.len();
        let extra = kept.len().saturating_sub(EVENT_HISTORY);
        out.insert(id, kept.into_iter().skip(extra).collect());
    }
    if skipped > 0 {
        tracing::warn!(
            "registry {}: skipped {skipped} history records",
            path.display()
        );
    }
    out
}

/// Takes the state directory for this daemon alone (an advisory lock held while the returned
/// file stays open), so two daemons never write one registry. The directory is the daemon's
/// own: it is made private (0700) whatever mode it had, so no one else can put files in it.
pub fn lock_state_dir(dir: &Path) -> std::io::Result<File> {
    create_private_dir(dir)?;
    if fs::metadata(dir)?.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join("daemon.lock"))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
    Ok(f)
}

/// A snapshot of the sessions and their histories in the current format, with no journal (as
/// earlier builds wrote it).
pub fn encode(sessions: Vec<Session>, history: &History) -> Vec<u8> {
    let history: BTreeMap<String, &VecDeque<EventRecord>> =
        history.iter().map(|(id, h)| (id.to_string(), h)).collect();
    snapshot(&sessions, &history, None)
}

/// A snapshot of `sessions` and `history` (keyed by session id) whose journal is `journal`.
pub fn snapshot<S: Serialize, H: Serialize>(
    sessions: S,
    history: H,
    journal: Option<&str>,
) -> Vec<u8> {
    let file = SnapshotFile {
        version: FORMAT_VERSION,
        journal,
        sessions,
        history,
    };
    // Serializing plain data structures cannot fail.
    serde_json::to_vec_pretty(&file).expect("registry serializes")
}

/// Creates `dir` and its missing parents, readable by the owner alone.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Writes `bytes` durably into a new file at `path` (mode 0600). Whatever is at that name (a
/// crash's leftover, a symbolic link to someone's file) is unlinked, never written through.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(e);
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Replaces the file at `path` with `bytes` atomically and durably (mode 0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let tmp = path.with_extension("json.tmp");
    write_new(&tmp, bytes)?;
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}
