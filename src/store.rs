//! Registry persistence: one versioned JSON file in the daemon's private state directory,
//! written atomically (a fresh temp file, fsync, rename, fsync of the directory) and loaded at
//! start. A file that cannot be read is moved aside, never overwritten; a file with a few bad
//! records (unparsable, repeated, or not fit to serve, see `text::record_problem`) loads the
//! others, and a copy of it is kept. These are blocking functions; async callers run them on the
//! blocking pool.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::EVENT_HISTORY;
use crate::model::{EventRecord, Session, SessionId, now_usec};
use crate::text::{event_problem, record_problem};

/// The on-disk format version this build writes.
pub const FORMAT_VERSION: u32 = 1;

/// Each session's event history (`GetEvents`), newest last.
pub type History = HashMap<SessionId, VecDeque<EventRecord>>;

#[derive(Serialize)]
struct RegistryFile<'a> {
    version: u32,
    sessions: Vec<Session>,
    /// Keyed by session id; older builds ignore it.
    history: BTreeMap<String, &'a VecDeque<EventRecord>>,
}

/// The file as read: records stay raw so that one bad record does not cost the others.
#[derive(Deserialize)]
struct RawRegistryFile {
    version: u32,
    sessions: Vec<serde_json::Value>,
}

/// What `load` found.
#[derive(Debug)]
pub enum Loaded {
    /// No registry yet.
    Empty,
    /// The sessions of a readable registry.
    Sessions(Vec<Session>),
    /// The good sessions of a registry with records that were skipped (one reason each); the
    /// file as it was is kept at `copy`.
    Partial {
        sessions: Vec<Session>,
        skipped: Vec<String>,
        copy: PathBuf,
    },
    /// The file was unreadable and was moved to the given path; the daemon starts empty.
    MovedAside { to: PathBuf, reason: String },
}

/// Loads the registry at `path`.
pub fn load(path: &Path) -> std::io::Result<Loaded> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Empty),
        Err(e) => return Err(e),
    };
    let reason = match serde_json::from_slice::<RawRegistryFile>(&bytes) {
        Ok(file) if file.version == FORMAT_VERSION => {
            let (sessions, skipped) = records(file.sessions);
            if skipped.is_empty() {
                return Ok(Loaded::Sessions(sessions));
            }
            let copy = path.with_extension(format!("json.skipped-{}", now_usec()));
            fs::copy(path, &copy)?;
            return Ok(Loaded::Partial {
                sessions,
                skipped,
                copy,
            });
        }
        Ok(file) => format!(
            "format version {} is not one this build reads ({FORMAT_VERSION})",
            file.version
        ),
        Err(e) => e.to_string(),
    };
    let to = path.with_extension(format!("json.unreadable-{}", now_usec()));
    fs::rename(path, &to)?;
    Ok(Loaded::MovedAside { to, reason })
}

/// The sessions among raw records, and why each other record was skipped: it does not parse,
/// it is not fit to serve (a field over its bound could not even be published on the bus, and
/// the daemon would never start), or its id or name repeats an earlier record's.
fn records(raw: Vec<serde_json::Value>) -> (Vec<Session>, Vec<String>) {
    let mut sessions: Vec<Session> = Vec::new();
    let mut skipped = Vec::new();
    for (i, value) in raw.into_iter().enumerate() {
        match serde_json::from_value::<Session>(value) {
            Err(e) => skipped.push(format!("record {}: {e}", i + 1)),
            Ok(s) if sessions.iter().any(|o| o.id == s.id) => {
                skipped.push(format!("record {}: id {} is used twice", i + 1, s.id));
            }
            Ok(s) if sessions.iter().any(|o| o.name == s.name) => {
                skipped.push(format!("record {}: name '{}' is used twice", i + 1, s.name));
            }
            Ok(s) => match record_problem(&s) {
                Some(why) => skipped.push(format!("record {}: {why}", i + 1)),
                None => sessions.push(s),
            },
        }
    }
    (sessions, skipped)
}

/// The histories the registry at `path` keeps, each at most `EVENT_HISTORY` records long. A
/// record that does not parse or is out of bounds is left out (and counted in the log): the
/// history only tells, nothing depends on it. Unreadable files have none.
pub fn load_history(path: &Path) -> History {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        history: BTreeMap<String, Vec<serde_json::Value>>,
    }
    let raw = fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Raw>(&bytes).ok());
    let mut skipped = 0;
    let mut out = History::new();
    for (id, records) in raw.map(|r| r.history).unwrap_or_default() {
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

/// Serializes the sessions and their histories in the current format.
pub fn encode(sessions: Vec<Session>, history: &History) -> Vec<u8> {
    let file = RegistryFile {
        version: FORMAT_VERSION,
        sessions,
        history: history.iter().map(|(id, h)| (id.to_string(), h)).collect(),
    };
    // Serializing plain data structures cannot fail.
    serde_json::to_vec_pretty(&file).expect("registry serializes")
}

/// Creates `dir` and its missing parents, readable by the owner alone.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Replaces the file at `path` with `bytes` atomically and durably (mode 0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let tmp = path.with_extension("json.tmp");
    // The temp file is always a new file of ours: whatever is at its name (a crash's leftover,
    // a symbolic link to someone's file) is unlinked, never written through.
    if let Err(e) = fs::remove_file(&tmp)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(e);
    }
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SessionName;

    #[test]
    fn round_trip_and_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/registry.json");
        assert!(matches!(load(&path).unwrap(), Loaded::Empty));

        let s = Session::new(SessionName::new("a").unwrap(), "/".into(), true);
        write_atomic(&path, &encode(vec![s.clone()], &History::new())).unwrap();
        match load(&path).unwrap() {
            Loaded::Sessions(v) => assert_eq!(v, vec![s]),
            other => panic!("unexpected {other:?}"),
        }

        fs::write(&path, b"{ not json").unwrap();
        let Loaded::MovedAside { to, .. } = load(&path).unwrap() else {
            panic!("corrupt file not moved aside")
        };
        assert!(!path.exists());
        assert_eq!(fs::read(&to).unwrap(), b"{ not json");
    }

    #[test]
    fn bad_and_duplicate_records_are_skipped_and_the_file_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        let a = Session::new(SessionName::new("a").unwrap(), "/".into(), true);
        let mut twin = Session::new(SessionName::new("a").unwrap(), "/x".into(), true);
        twin.created_at += 1;
        let b = Session::new(SessionName::new("b").unwrap(), "/".into(), true);
        let mut file: serde_json::Value =
            serde_json::from_slice(&encode(vec![a.clone(), twin, b.clone()], &History::new()))
                .unwrap();
        file["sessions"]
            .as_array_mut()
            .unwrap()
            .insert(1, serde_json::json!({"id": "not a uuid"}));
        let text = serde_json::to_vec(&file).unwrap();
        fs::write(&path, &text).unwrap();
        let Loaded::Partial {
            sessions,
            skipped,
            copy,
        } = load(&path).unwrap()
        else {
            panic!("bad records did not load partially")
        };
        assert_eq!(sessions, vec![a, b]);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(skipped[0].starts_with("record 2:"), "{skipped:?}");
        assert!(skipped[1].contains("name 'a' is used twice"), "{skipped:?}");
        assert_eq!(fs::read(copy).unwrap(), text);
        assert!(
            path.exists(),
            "the registry itself stays until the next save"
        );
    }

    #[test]
    fn records_over_their_bounds_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        let a = Session::new(SessionName::new("a").unwrap(), "/".into(), true);
        let mut long = Session::new(SessionName::new("b").unwrap(), "/".into(), true);
        long.pause_summary = "x".repeat(crate::text::MAX_SUMMARY + 1);
        fs::write(&path, encode(vec![long, a.clone()], &History::new())).unwrap();
        let Loaded::Partial {
            sessions, skipped, ..
        } = load(&path).unwrap()
        else {
            panic!("a record over its bounds was loaded")
        };
        assert_eq!(sessions, vec![a]);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(
            skipped[0].starts_with("record 1: its pause summary"),
            "{skipped:?}"
        );
    }

    #[test]
    fn a_symlink_at_the_temp_file_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let path = dir.path().join("state/registry.json");
        fs::create_dir(dir.path().join("state")).unwrap();
        std::os::unix::fs::symlink(&victim, path.with_extension("json.tmp")).unwrap();
        write_atomic(&path, b"{}").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        let mode = fs::symlink_metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_state_dir_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new/state");
        let open = dir.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
        for state in [new, open] {
            let _lock = lock_state_dir(&state).unwrap();
            let mode = fs::metadata(&state).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", state.display());
        }
    }

    #[test]
    fn future_versions_are_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        fs::write(&path, br#"{"version": 99, "sessions": []}"#).unwrap();
        assert!(matches!(load(&path).unwrap(), Loaded::MovedAside { .. }));
    }
}
