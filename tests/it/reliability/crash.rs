//! Crash safety: `kill -9` at random points of a storm of mutations from many clients; after
//! every restart each acknowledged mutation is still there.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use trusty_mpm::cli::proxy::SessionRow;

use super::rng::Rng;
use super::support::*;
use crate::harness::*;

const STORM_MUTATIONS: usize = 1_000;
const STORM_CLIENTS: usize = 8;
const STORM_KILLS: usize = 3;

/// What a storm client knows about one of its session names.
#[derive(Debug, Clone, PartialEq)]
enum Fate {
    /// Registration acknowledged, and the note of an acknowledged pause, if any.
    Registered { id: String, note: Option<String> },
    /// Removal acknowledged.
    Removed,
    /// A call about it got no reply (the daemon died): either state is allowed.
    Unsure,
}

#[derive(Default)]
struct StormLog {
    fates: BTreeMap<String, Fate>,
    acked: usize,
    unanswered: usize,
    violations: Vec<String>,
}

/// Errors that mean the daemon was down (killed, or not yet back), not that it answered.
fn daemon_down(name: &str) -> bool {
    matches!(
        name,
        "org.freedesktop.DBus.Error.ServiceUnknown"
            | "org.freedesktop.DBus.Error.NoReply"
            | "org.freedesktop.DBus.Error.NameHasNoOwner"
    )
}

enum StormOp {
    Register(String),
    Pause { name: String, key: String },
    Remove { name: String, key: String },
}

/// A key for a session: its name or its id, in either spelling.
fn storm_key(rng: &mut Rng, name: &str, id: &str) -> String {
    match rng.below(3) {
        0 => name.to_owned(),
        1 => id.to_owned(),
        _ => id.replace('-', ""),
    }
}

/// One storm client: claims mutations from the shared budget until it is spent and keeps
/// the fate of every name it touched.
async fn storm_client(
    addr: String,
    client: usize,
    dir: String,
    mut rng: Rng,
    claimed: Arc<AtomicUsize>,
) -> StormLog {
    let conn = connect(&addr).await;
    let m = manager_on(&conn).await;
    let mut log = StormLog::default();
    let mut n = 0;
    while claimed.fetch_add(1, Ordering::SeqCst) < STORM_MUTATIONS {
        n += 1;
        let registered: Vec<(String, String, bool)> = log
            .fates
            .iter()
            .filter_map(|(name, f)| match f {
                Fate::Registered { id, note } => Some((name.clone(), id.clone(), note.is_none())),
                _ => None,
            })
            .collect();
        let unpaused: Vec<&(String, String, bool)> = registered.iter().filter(|r| r.2).collect();
        let roll = rng.below(100);
        let op = if registered.is_empty() || roll < 45 {
            StormOp::Register(format!("storm-{client}-{n}"))
        } else if roll < 75 && !unpaused.is_empty() {
            let (name, id, _) = unpaused[rng.below(unpaused.len())];
            StormOp::Pause {
                name: name.clone(),
                key: storm_key(&mut rng, name, id),
            }
        } else {
            let (name, id, _) = &registered[rng.below(registered.len())];
            StormOp::Remove {
                name: name.clone(),
                key: storm_key(&mut rng, name, id),
            }
        };
        let (what, name, result): (String, String, zbus::Result<Fate>) = match op {
            StormOp::Register(name) => {
                let r = tokio::time::timeout(CALL_LIMIT, m.register_session(&dir, &name)).await;
                let r = r.unwrap_or_else(|_| Err(zbus::Error::Failure("hung".into())));
                let r = r.map(|(id, got, _)| {
                    if got != name {
                        log.violations
                            .push(format!("RegisterSession({name}) named it {got}"));
                    }
                    Fate::Registered { id, note: None }
                });
                (format!("RegisterSession({name})"), name, r)
            }
            StormOp::Pause { name, key } => {
                let note = format!("storm note {client}/{n}: waiting for review ✓");
                let id = match &log.fates[&name] {
                    Fate::Registered { id, .. } => id.clone(),
                    _ => unreachable!(),
                };
                let r = tokio::time::timeout(CALL_LIMIT, m.pause_session(&key, &note, false)).await;
                let r = r.unwrap_or_else(|_| Err(zbus::Error::Failure("hung".into())));
                let r = r.map(|summary| {
                    if summary != note {
                        log.violations.push(format!(
                            "PauseSession({key}) answered {summary:?}, not the note {note:?}"
                        ));
                    }
                    Fate::Registered {
                        id,
                        note: Some(note),
                    }
                });
                (format!("PauseSession({key}) of {name}"), name, r)
            }
            StormOp::Remove { name, key } => {
                let r = tokio::time::timeout(CALL_LIMIT, m.remove_session(&key, false)).await;
                let r = r.unwrap_or_else(|_| Err(zbus::Error::Failure("hung".into())));
                (
                    format!("RemoveSession({key}) of {name}"),
                    name,
                    r.map(|()| Fate::Removed),
                )
            }
        };
        match result {
            Ok(fate) => {
                log.acked += 1;
                log.fates.insert(name, fate);
            }
            Err(e) => {
                let (ename, msg) = error_of(&e);
                log.fates.insert(name, Fate::Unsure);
                if daemon_down(&ename) {
                    log.unanswered += 1;
                    // Paces this client's next mutation while the daemon is down.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                } else {
                    // The daemon answered, and the answer contradicts what it acknowledged
                    // before (e.g. NotFound for a registration it confirmed).
                    log.violations.push(format!("{what}: {ename}: {msg}"));
                }
            }
        }
    }
    log
}

/// SIGKILLs the daemon and reaps it.
fn kill_daemon(env: &mut Env) {
    let mut daemon = env.daemon.take().expect("daemon running");
    signal(daemon.id(), "KILL");
    daemon.wait().unwrap();
}

/// `kill -9` at 3 random points of a storm of 1,000 mutations (RegisterSession with unique
/// names, PauseSession with notes, RemoveSession) from 8 clients, restarting the daemon each
/// time, then once more after the storm. The registry must load every time (never moved aside)
/// and hold every acknowledged mutation: acknowledged registrations (with their ids) present
/// unless an acknowledged removal followed, acknowledged pauses with their notes, removals
/// gone, and no session nobody registered. A call whose reply was lost may have happened or not.
#[tokio::test]
async fn crash_safety_kill_9_during_a_mutation_storm() {
    let mut rng = Rng::from_env("crash_safety_kill_9_during_a_mutation_storm");
    let seed = rng.seed;
    let mut env = Env::with_env(&[("RUST_LOG", "warn")]).await;
    let dir = env.project("storm");
    let claimed = Arc::new(AtomicUsize::new(0));
    // One kill in each third of the storm's middle, at a random mutation.
    let span = (STORM_MUTATIONS * 8 / 10) / STORM_KILLS;
    let points: Vec<usize> = (0..STORM_KILLS)
        .map(|i| STORM_MUTATIONS / 10 + i * span + rng.below(span))
        .collect();
    eprintln!("kill points (mutations claimed): {points:?}");

    let started = Instant::now();
    let clients: Vec<_> = (0..STORM_CLIENTS)
        .map(|c| {
            tokio::spawn(storm_client(
                env.bus.address.clone(),
                c,
                dir.clone(),
                rng.fork(),
                claimed.clone(),
            ))
        })
        .collect();
    let mut downtime = Duration::ZERO;
    for &point in &points {
        // Polled every millisecond (wait_for polls every 20), so the kill lands at its point.
        while claimed.load(Ordering::SeqCst) < point {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Land anywhere inside the calls in flight, not just between them.
        tokio::time::sleep(Duration::from_micros(rng.below(3000) as u64)).await;
        let t = Instant::now();
        kill_daemon(&mut env);
        env.start_daemon().await;
        downtime += t.elapsed();
    }
    let mut logs = Vec::new();
    for c in clients {
        logs.push(c.await.expect("storm client"));
    }
    let storm_took = started.elapsed();
    // Crash once more right after the last reply, so what is checked is what was on disk.
    kill_daemon(&mut env);
    env.start_daemon().await;

    let m = env.manager().await;
    let rows = m
        .list_sessions()
        .await
        .expect("ListSessions after the crashes");
    let listed: HashMap<&str, &SessionRow> = rows.iter().map(|r| (r.1.as_str(), r)).collect();
    let mut problems: Vec<String> = logs.iter().flat_map(|l| l.violations.clone()).collect();
    let aside: Vec<String> = std::fs::read_dir(env.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("unreadable"))
        .collect();
    if !aside.is_empty() {
        problems.push(format!(
            "the registry could not be read after a crash: {aside:?}"
        ));
    }
    let mut known = HashSet::new();
    for log in &logs {
        for (name, fate) in &log.fates {
            known.insert(name.as_str());
            match (fate, listed.get(name.as_str())) {
                (Fate::Registered { id, .. }, None) => problems.push(format!(
                    "acknowledged registration of {name} ({id}) is missing"
                )),
                (Fate::Registered { id, note }, Some(row)) => {
                    if row.0 != *id {
                        problems.push(format!("{name} has id {}, acknowledged {id}", row.0));
                    }
                    match note {
                        Some(_) if row.3 != "paused" => problems
                            .push(format!("{name} is {} after an acknowledged pause", row.3)),
                        Some(note) => {
                            let got = env
                                .session_uncached(&row.6)
                                .await
                                .pause_summary()
                                .await
                                .unwrap();
                            if got != *note {
                                problems.push(format!(
                                    "{name}: PauseSummary {got:?}, acknowledged note {note:?}"
                                ));
                            }
                        }
                        None if row.3 != "starting" => problems.push(format!(
                            "{name} is {}, but no pause of it was acknowledged",
                            row.3
                        )),
                        None => {}
                    }
                }
                (Fate::Removed, Some(_)) => {
                    problems.push(format!("acknowledged removal of {name} was undone"))
                }
                (Fate::Removed, None) | (Fate::Unsure, _) => {}
            }
        }
    }
    for row in &rows {
        if !known.contains(row.1.as_str()) {
            problems.push(format!("{} appeared from nowhere", row.1));
        }
    }
    let acked: usize = logs.iter().map(|l| l.acked).sum();
    let unanswered: usize = logs.iter().map(|l| l.unanswered).sum();
    eprintln!(
        "storm: {acked} acknowledged, {unanswered} unanswered, {STORM_KILLS} kills + 1, \
         {} sessions after; storm {storm_took:?}, daemon down (kill to name owned) {downtime:?}",
        rows.len()
    );
    assert!(
        problems.is_empty(),
        "{} problems (seed {seed}):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        acked >= STORM_MUTATIONS / 2,
        "only {acked} of {STORM_MUTATIONS} mutations were acknowledged (seed {seed})"
    );
}
