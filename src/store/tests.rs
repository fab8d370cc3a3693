//! The store's files: snapshots, the journal beside them, and what happens when either is
//! damaged, cut short or not ours.

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
        serde_json::from_slice(&encode(vec![a.clone(), twin, b.clone()], &History::new())).unwrap();
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

fn session(name: &str) -> Session {
    Session::new(SessionName::new(name).unwrap(), "/".into(), true)
}

fn event(what: &str) -> EventRecord {
    EventRecord {
        at_usec: 1,
        event: what.into(),
        tool: String::new(),
        summary: String::new(),
    }
}

/// A saver whose registry holds `sessions` in a fresh snapshot, with an empty journal.
fn compacted(path: &Path, sessions: &[Session]) -> Saver {
    let mut saver = Saver::new(path.to_owned());
    assert!(saver.wants_snapshot(), "a new saver starts with a snapshot");
    let id = new_journal_id();
    let history: BTreeMap<String, VecDeque<EventRecord>> = BTreeMap::new();
    saver
        .compact(&id, &snapshot(sessions, &history, Some(&id)))
        .unwrap();
    assert!(!saver.wants_snapshot());
    saver
}

fn put<'a>(s: &'a Session, events: &'a [EventRecord]) -> Put<'a> {
    Put {
        session: s,
        events: events.iter().collect(),
    }
}

fn names(loaded: Loaded) -> Vec<String> {
    match loaded {
        Loaded::Sessions(v) => v.iter().map(|s| s.name.to_string()).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_save_appends_the_change_and_load_applies_it_to_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/registry.json");
    let (a, b) = (session("a"), session("b"));
    let mut saver = compacted(&path, &[a.clone(), b.clone()]);
    let snapshot_bytes = fs::read(&path).unwrap();

    let mut a2 = a.clone();
    a2.pause_summary = "changed".into();
    let c = session("c");
    let (ea, ec) = ([event("paused")], [event("registered")]);
    let change = Change {
        put: vec![put(&a2, &ea), put(&c, &ec)],
        gone: vec![b.id],
    };
    saver.append(&change.encode()).unwrap();
    let more = [event("resumed")];
    saver
        .append(
            &Change {
                put: vec![put(&a2, &more)],
                gone: vec![],
            }
            .encode(),
        )
        .unwrap();

    assert_eq!(
        fs::read(&path).unwrap(),
        snapshot_bytes,
        "only the journal grew"
    );
    let Loaded::Sessions(loaded) = load(&path).unwrap() else {
        panic!("not loaded whole")
    };
    assert_eq!(loaded, vec![a2.clone(), c.clone()]);
    let history = load_history(&path);
    let events = |id| -> Vec<String> { history[&id].iter().map(|e| e.event.clone()).collect() };
    assert_eq!(events(a.id), ["paused", "resumed"]);
    assert_eq!(events(c.id), ["registered"]);
    assert!(
        !history.contains_key(&b.id),
        "a removed session's history goes"
    );
}

#[test]
fn a_torn_last_record_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let mut saver = compacted(&path, &[session("a")]);
    let b = session("b");
    let c = session("c");
    saver
        .append(
            &Change {
                put: vec![put(&b, &[])],
                gone: vec![],
            }
            .encode(),
        )
        .unwrap();
    // The daemon stopped while appending c: its record is cut short, in every possible place.
    let whole = Change {
        put: vec![put(&c, &[])],
        gone: vec![],
    }
    .encode();
    let journal = journal_path(&path);
    let before = fs::read(&journal).unwrap();
    for cut in [1, 16, 17, whole.len() / 2, whole.len() - 1] {
        let mut bytes = before.clone();
        bytes.extend_from_slice(&whole[..cut]);
        fs::write(&journal, &bytes).unwrap();
        assert_eq!(names(load(&path).unwrap()), ["a", "b"], "cut at {cut}");
    }
    // Or its blocks never reached the disk: zeros where the record should be.
    let mut bytes = before.clone();
    bytes.extend(std::iter::repeat_n(0u8, whole.len()));
    fs::write(&journal, &bytes).unwrap();
    assert_eq!(names(load(&path).unwrap()), ["a", "b"]);
    let kept: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(
        kept.len(),
        2,
        "a torn record is no damage to keep a copy of"
    );
}

#[test]
fn a_damaged_record_before_good_ones_is_reported_and_the_files_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let mut saver = compacted(&path, &[session("a")]);
    for name in ["b", "c", "d"] {
        let s = session(name);
        saver
            .append(
                &Change {
                    put: vec![put(&s, &[])],
                    gone: vec![],
                }
                .encode(),
            )
            .unwrap();
    }
    let journal = journal_path(&path);
    let mut bytes = fs::read(&journal).unwrap();
    // One bit flipped inside c's record (the third line).
    let third = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0;
    bytes[third + 40] ^= 1;
    fs::write(&journal, &bytes).unwrap();
    let Loaded::Partial {
        sessions,
        skipped,
        copy,
    } = load(&path).unwrap()
    else {
        panic!("damage was not reported")
    };
    let names: Vec<&str> = sessions.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b"], "replay stops at the damaged record");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].contains("journal record 2 is damaged"),
        "{skipped:?}"
    );
    let journal_copy = aside(&journal, copy.to_str().unwrap().rsplit('.').next().unwrap());
    assert_eq!(fs::read(journal_copy).unwrap(), bytes);
}

#[test]
fn a_journal_of_another_snapshot_does_not_apply() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let a = session("a");
    let mut saver = compacted(&path, std::slice::from_ref(&a));
    let ev = [event("paused")];
    saver
        .append(
            &Change {
                put: vec![put(&a, &ev)],
                gone: vec![],
            }
            .encode(),
        )
        .unwrap();
    // A crash after a compaction put its snapshot (which holds that event) in place, before
    // its journal: the old journal's records are in the snapshot already.
    let history = load_history(&path);
    let id = new_journal_id();
    let map: BTreeMap<String, &VecDeque<EventRecord>> =
        history.iter().map(|(k, v)| (k.to_string(), v)).collect();
    write_atomic(&path, &snapshot([&a], &map, Some(&id))).unwrap();
    assert_eq!(names(load(&path).unwrap()), ["a"]);
    assert_eq!(
        load_history(&path)[&a.id].len(),
        1,
        "the event is not doubled"
    );
}

#[test]
fn a_registry_of_earlier_builds_loads_and_its_first_compaction_adds_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let (a, b) = (session("a"), session("b"));
    let mut history = History::new();
    history.insert(a.id, VecDeque::from([event("registered")]));
    fs::write(&path, encode(vec![a.clone(), b.clone()], &history)).unwrap();
    assert!(!journal_path(&path).exists());
    assert_eq!(names(load(&path).unwrap()), ["a", "b"]);

    let mut saver = Saver::new(path.clone());
    let id = new_journal_id();
    let kept = load_history(&path);
    let map: BTreeMap<String, &VecDeque<EventRecord>> =
        kept.iter().map(|(k, v)| (k.to_string(), v)).collect();
    saver
        .compact(&id, &snapshot([&a, &b], &map, Some(&id)))
        .unwrap();
    let c = session("c");
    saver
        .append(
            &Change {
                put: vec![put(&c, &[])],
                gone: vec![],
            }
            .encode(),
        )
        .unwrap();
    assert_eq!(names(load(&path).unwrap()), ["a", "b", "c"]);
    assert_eq!(load_history(&path)[&a.id].len(), 1);
}

#[test]
fn a_journal_that_is_not_ours_takes_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let mut saver = compacted(&path, &[session("a")]);
    let journal = journal_path(&path);
    let victim = dir.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    fs::remove_file(&journal).unwrap();
    std::os::unix::fs::symlink(&victim, &journal).unwrap();
    let b = session("b");
    let record = Change {
        put: vec![put(&b, &[])],
        gone: vec![],
    }
    .encode();
    assert!(saver.append(&record).is_err(), "appended through a symlink");
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert!(
        saver.wants_snapshot(),
        "after a failed append the next save compacts"
    );

    // The temp file of the next journal is a new file too.
    fs::remove_file(&journal).unwrap();
    std::os::unix::fs::symlink(&victim, journal.with_extension("journal.tmp")).unwrap();
    let id = new_journal_id();
    let none: BTreeMap<String, VecDeque<EventRecord>> = BTreeMap::new();
    saver
        .compact(&id, &snapshot([&b], &none, Some(&id)))
        .unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    let mode = fs::symlink_metadata(&journal).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(names(load(&path).unwrap()), ["b"]);
}

#[test]
fn an_unreadable_snapshot_takes_its_journal_aside_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    compacted(&path, &[session("a")]);
    fs::write(&path, b"{ not json").unwrap();
    let Loaded::MovedAside { to, .. } = load(&path).unwrap() else {
        panic!("not moved aside")
    };
    assert!(!journal_path(&path).exists());
    let suffix = to.to_str().unwrap().rsplit('.').next().unwrap().to_owned();
    assert!(aside(&journal_path(&path), &suffix).exists());
}
