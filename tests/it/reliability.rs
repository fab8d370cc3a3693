//! The reliability suite (issue 6): the real daemon under crashes, a wedged tmux server, bad
//! input, load, and callers of another uid.
//!
//! - `crash_safety_*`: `kill -9` at random points of a 1,000-mutation storm from 8 clients;
//!   after every restart each acknowledged mutation is still there.
//! - `wedged_tmux_*`: a SIGSTOPped tmux server costs tmux-bound calls a `Timeout` and nothing
//!   more; reads and the watchdog carry on, and all works again after SIGCONT.
//! - `fuzz_*`: 10,000 random and malformed calls over every method of the contract XML.
//! - `load_*`: 16 clients × 2,000 mixed calls while sessions start and stop.
//! - `other_users_*`: uid 65534 is refused by every method and changes nothing.
//!
//! The randomised tests print their seed; `TRUSTY_MPM_SEED=<n>` replays the same choices (the
//! interleaving of concurrent clients still varies from run to run).

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use trusty_mpm::cli::proxy::{ManagerProxy, SessionRow};
use zbus::proxy::CacheProperties;
use zbus::{Connection, Message, ObjectPath, Structure, Variant};

use crate::harness::*;

const BUS_NAME: &str = "org.trusty.Mpm1";
const MANAGER_PATH: &str = "/org/trusty/Mpm1";
const MANAGER_IFACE: &str = "org.trusty.Mpm1";
const SESSION_IFACE: &str = "org.trusty.Mpm1.Session";
const PROPERTIES_IFACE: &str = "org.freedesktop.DBus.Properties";

/// The error names of the contract, after `org.trusty.Mpm1.Error.`.
const CONTRACT_ERRORS: [&str; 9] = [
    "NotFound",
    "InvalidState",
    "InvalidArgument",
    "AlreadyExists",
    "TmuxUnavailable",
    "TmuxFailed",
    "Timeout",
    "AccessDenied",
    "Internal",
];

/// Longest any single call of these tests may take before it counts as a hang.
const CALL_LIMIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// A small seeded generator (SplitMix64): reproducible choices without another dependency.
struct Rng {
    state: u64,
    seed: u64,
}

impl Rng {
    /// Seeded from `TRUSTY_MPM_SEED` or the clock; prints the seed for replaying a failure.
    fn from_env(test: &str) -> Rng {
        let seed = std::env::var("TRUSTY_MPM_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{test}: seed {seed} (replay with TRUSTY_MPM_SEED={seed})");
        Rng { state: seed, seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// An independent generator for a concurrent client, derived from this one.
    fn fork(&mut self) -> Rng {
        let state = self.next();
        Rng {
            state,
            seed: self.seed,
        }
    }
}

/// The error name and message of a failed call; transport failures get a descriptive name.
fn error_of(e: &zbus::Error) -> (String, String) {
    match e {
        zbus::Error::MethodError(name, msg, _) => {
            (name.to_string(), msg.clone().unwrap_or_default())
        }
        // Error replies with a name of org.freedesktop.DBus.Error.* arrive as this variant.
        zbus::Error::FDO(e) => (
            zbus::DBusError::name(e.as_ref()).to_string(),
            zbus::DBusError::description(e.as_ref())
                .unwrap_or_default()
                .to_owned(),
        ),
        other => (format!("(no error reply) {other}"), String::new()),
    }
}

fn is_contract_error(name: &str) -> bool {
    name.strip_prefix("org.trusty.Mpm1.Error.")
        .is_some_and(|n| CONTRACT_ERRORS.contains(&n))
}

/// The contract's rule for error messages: one human sentence, no debug output (looked for
/// outside the quoted caller input, which may hold anything).
fn one_sentence(msg: &str) -> bool {
    let unquoted = match (msg.find('\''), msg.rfind('\'')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &msg[..a], &msg[b + 1..]),
        _ => msg.to_owned(),
    };
    !msg.is_empty()
        && !msg.contains('\n')
        && msg.ends_with('.')
        && !unquoted.contains("Error(")
        && !unquoted.contains("{ ")
}

async fn connect(addr: &str) -> Connection {
    zbus::connection::Builder::address(addr)
        .build()
        .await
        .expect("connect to the private bus")
}

/// A manager proxy that caches nothing (no match rules, every read asks the daemon).
async fn manager_on(conn: &Connection) -> ManagerProxy<'static> {
    ManagerProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .unwrap()
}

/// A method call with a body made of `args`, whatever their types (the signature follows them).
async fn call_raw(
    conn: &Connection,
    path: &str,
    iface: &str,
    member: &str,
    args: Vec<Variant<'static>>,
) -> zbus::Result<Message> {
    if args.is_empty() {
        return conn
            .call_method(Some(BUS_NAME), path, Some(iface), member, &())
            .await;
    }
    let mut body = Structure::builder();
    for a in args {
        body = body.append_field(a);
    }
    let body = body.build().expect("a non-empty body");
    conn.call_method(Some(BUS_NAME), path, Some(iface), member, &body)
        .await
}

/// `org.freedesktop.DBus.Properties.GetAll` of `iface` at `path`.
async fn get_all_raw(
    conn: &Connection,
    path: &str,
    iface: &str,
) -> zbus::Result<HashMap<String, zbus::OwnedVariant>> {
    let reply = call_raw(
        conn,
        path,
        PROPERTIES_IFACE,
        "GetAll",
        vec![Variant::from(iface.to_owned())],
    )
    .await?;
    reply.body().deserialize()
}

/// `GetAll`, rendered for comparison.
async fn get_all(
    conn: &Connection,
    path: &str,
    iface: &str,
) -> zbus::Result<BTreeMap<String, String>> {
    Ok(get_all_raw(conn, path, iface)
        .await?
        .into_iter()
        .map(|(k, v)| (k, format!("{v:?}")))
        .collect())
}

/// `org.freedesktop.DBus.Properties.Get` of one property at `path`.
async fn get_property(
    conn: &Connection,
    path: &str,
    iface: &str,
    name: &str,
) -> zbus::Result<zbus::OwnedVariant> {
    let reply = call_raw(
        conn,
        path,
        PROPERTIES_IFACE,
        "Get",
        vec![
            Variant::from(iface.to_owned()),
            Variant::from(name.to_owned()),
        ],
    )
    .await?;
    reply.body().deserialize()
}

fn daemon_pid(env: &Env) -> u32 {
    env.daemon.as_ref().expect("daemon running").id()
}

/// Whether the daemon process is still running (not exited: a zombie until reaped).
fn daemon_alive(env: &Env) -> bool {
    alive(daemon_pid(env))
}

/// Resident set size of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// CPU time of a process itself and of its reaped children, in seconds.
fn cpu_secs(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime, stime, cutime, cstime are fields 14-17 (1-based), i.e. 11-14 after the comm.
    let secs = |r: std::ops::Range<usize>| {
        fields[r]
            .iter()
            .map(|f| f.parse::<u64>().unwrap())
            .sum::<u64>() as f64
            / 100.0
    };
    (secs(11..13), secs(13..15))
}

/// The pid of this test's tmux server, when one runs.
fn tmux_server_pid(env: &Env) -> Option<u32> {
    let out = env.tmux(&["display-message", "-p", "#{pid}"]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .flatten()
}

/// The parent pid of `pid`, from /proc.
fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()
}

/// Whether `pid` is a live descendant of `root` (so it belongs to this test).
fn descends_from(pid: u32, root: u32) -> bool {
    let mut p = pid;
    for _ in 0..16 {
        match ppid(p) {
            Some(parent) if parent == root => return alive(pid),
            Some(parent) if parent > 1 => p = parent,
            _ => return false,
        }
    }
    false
}

/// All live descendants of `root`.
fn descendants(root: u32) -> Vec<u32> {
    let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, ppid(pid)?)))
        .collect();
    let mut out = Vec::new();
    let mut queue = vec![root];
    while let Some(parent) = queue.pop() {
        for &(pid, pp) in &all {
            if pp == parent {
                out.push(pid);
                queue.push(pid);
            }
        }
    }
    out
}

/// Continues every stopped process under this test's tmux server (frozen or ^Z'd agents), so
/// that they end with the server when the test's environment is dropped.
fn thaw_agents(env: &Env) {
    if let Some(server) = tmux_server_pid(env) {
        for pid in descendants(server) {
            if alive(pid) && proc_state(pid) == 'T' {
                let _ = std::process::Command::new("kill")
                    .args(["-CONT", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// What the fuzz test starts besides its `Env`, cleaned up even when the test fails: a decoy
/// process to hand out as a pid, and agents it may leave stopped (frozen, or ^Z typed into
/// their terminal) under the test's tmux server.
struct FuzzLeftovers<'a> {
    env: &'a Env,
    decoy: std::process::Child,
}

impl Drop for FuzzLeftovers<'_> {
    fn drop(&mut self) {
        thaw_agents(self.env);
        let _ = self.decoy.kill();
        let _ = self.decoy.wait();
    }
}

/// A method of the contract, as the shipped introspection XML declares it.
#[derive(Debug, Clone)]
struct Method {
    iface: String,
    name: String,
    /// In-arguments: (name, D-Bus type).
    args: Vec<(String, String)>,
}

impl Method {
    fn signature(&self) -> String {
        self.args.iter().map(|(_, t)| t.as_str()).collect()
    }
}

fn xml_attr(line: &str, key: &str) -> Option<String> {
    let pat = format!(" {key}=\"");
    let start = line.find(&pat)? + pat.len();
    let end = start + line[start..].find('"')?;
    Some(line[start..end].to_owned())
}

/// Every method of `org.trusty.Mpm1` and `org.trusty.Mpm1.Session` in the contract XML (which
/// `contract.rs` keeps equal to the live introspection), so new methods are covered here too.
fn contract_methods() -> Vec<Method> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/dbus/org.trusty.Mpm1.xml");
    let xml = std::fs::read_to_string(file).expect("the contract XML");
    let mut out: Vec<Method> = Vec::new();
    let mut iface = String::new();
    let mut in_method = false;
    for line in xml.lines().map(str::trim) {
        if line.starts_with("<interface ") {
            iface = xml_attr(line, "name").unwrap();
        } else if line.starts_with("<method ") {
            out.push(Method {
                iface: iface.clone(),
                name: xml_attr(line, "name").unwrap(),
                args: Vec::new(),
            });
            in_method = !line.ends_with("/>");
        } else if line.starts_with("</method>") {
            in_method = false;
        } else if in_method
            && line.starts_with("<arg ")
            && xml_attr(line, "direction").as_deref() != Some("out")
        {
            out.last_mut().unwrap().args.push((
                xml_attr(line, "name").unwrap(),
                xml_attr(line, "type").unwrap(),
            ));
        }
    }
    for (iface, at_least) in [(MANAGER_IFACE, 17), (SESSION_IFACE, 9)] {
        let n = out.iter().filter(|m| m.iface == iface).count();
        assert!(n >= at_least, "only {n} methods of {iface} in the XML");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Crash safety
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Wedged tmux
// ---------------------------------------------------------------------------------------------

/// Awaits a call (10 s at most) and returns its outcome without the value, and how long it took.
async fn timed<T>(
    fut: impl std::future::Future<Output = zbus::Result<T>>,
) -> (zbus::Result<()>, Duration) {
    let t = Instant::now();
    let r = match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(r) => r.map(drop),
        Err(_) => Err(zbus::Error::Failure("no answer in 10 s".into())),
    };
    (r, t.elapsed())
}

/// The tmux server is SIGSTOPped (tmux timeout 1 s) for about 3 s: every tmux-bound call (8 at
/// once, then 2 one after the other) fails with `Timeout` within the timeout + 1 s, while
/// ListSessions, GetSession, GetEvents and property reads keep answering promptly and the
/// watchdog keeps pinging. After SIGCONT everything
/// works again. A guard continues the server whatever happens.
#[tokio::test]
async fn wedged_tmux_times_out_tmux_calls_while_reads_and_the_watchdog_go_on() {
    let sd = FakeSystemd::new();
    let env = Env::with_env(&[
        ("NOTIFY_SOCKET", sd.path.as_str()),
        ("WATCHDOG_USEC", "400000"),
        ("TRUSTY_MPM_TMUX_TIMEOUT_MS", "1000"),
        ("RUST_LOG", "warn"),
    ])
    .await;
    sd.wait_for("READY=1");
    // Keep reading the notify socket: a full queue would block the daemon's sd_notify send.
    let notify = sd.record();
    let m = env.manager().await;
    let (id, path, pid) = env.start_active("wedge").await;
    m.register_session(&env.project("books"), "books")
        .await
        .unwrap();
    let s = env.session_uncached(&path).await;
    let fresh = env.project("fresh");
    let server = tmux_server_pid(&env).expect("tmux server runs");
    let events_before = m.get_events("wedge", 0).await.unwrap();

    signal(server, "STOP");
    let thaw = Thaw(server);
    wait_for("tmux server stopped", || async {
        proc_state(server) == 'T'
    })
    .await;
    let stopped_at = Instant::now();

    let done = Cell::new(false);
    let tmux_bound = async {
        let r = tokio::join!(
            timed(m.capture_output("wedge", 5, "off")),
            timed(s.capture_output(5, "trim")),
            timed(m.send_command("wedge", "typed while tmux was stopped")),
            timed(s.send_keys(&["Enter"])),
            timed(m.start_session(&fresh, "fresh", HashMap::new())),
            timed(m.pause_session("wedge", "", false)),
            timed(m.adopt_session("unmanaged")),
            timed(m.discover_sessions()),
        );
        // A second wave, one call at a time: no call waits on an earlier one's leftovers.
        let again = timed(m.capture_output("wedge", 5, "summarise")).await;
        let keys = timed(m.send_keys("wedge", &["Escape"])).await;
        done.set(true);
        vec![
            ("CaptureOutput (again)", again),
            ("SendKeys", keys),
            ("CaptureOutput", r.0),
            ("Session.CaptureOutput", r.1),
            ("SendCommand", r.2),
            ("Session.SendKeys", r.3),
            ("StartSession", r.4),
            ("PauseSession (derived summary)", r.5),
            ("AdoptSession", r.6),
            ("DiscoverSessions", r.7),
        ]
    };
    // Reads, over and over while the tmux-bound calls wait; each round is 7 calls.
    let reads = async {
        let mut worst = Duration::ZERO;
        let mut rounds = 0;
        let mut failures = Vec::new();
        while !done.get() {
            let t = Instant::now();
            let round = tokio::time::timeout(Duration::from_secs(5), async {
                let rows = m.list_sessions().await?;
                let found = m.get_session("wedge").await?;
                let status = s.status().await?;
                let spid = s.pid().await?;
                let all = get_all(&env.conn, path.as_str(), SESSION_IFACE).await?;
                let count =
                    get_property(&env.conn, MANAGER_PATH, MANAGER_IFACE, "SessionCount").await?;
                let events = m.get_events("wedge", 0).await?;
                zbus::Result::Ok((rows, found, status, spid, all, count, events))
            })
            .await
            .unwrap_or_else(|_| Err(zbus::Error::Failure("no answer in 5 s".into())));
            worst = worst.max(t.elapsed());
            rounds += 1;
            match round {
                Ok((rows, found, status, spid, all, count, events)) => {
                    let ok = rows.len() == 2
                        && rows[0].0 == id
                        && found == path
                        && status == "active"
                        && spid == pid
                        && all.len() >= 14
                        && u32::try_from(count).is_ok_and(|c| c == 2)
                        && events == events_before;
                    if !ok {
                        failures.push(format!("round {rounds}: unexpected values"));
                    }
                }
                Err(e) => failures.push(format!("round {rounds}: {e}")),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (worst, rounds, failures)
    };
    let (outcomes, (worst, rounds, failures)) = tokio::join!(tmux_bound, reads);
    // Still stopped: the daemon answers once the calls have failed, too.
    let rows_after = m.list_sessions().await;
    let status_after = s.status().await;
    let window = stopped_at.elapsed();
    let wedged_pings = notify.pings_between(stopped_at, stopped_at + window);
    assert_eq!(proc_state(server), 'T', "tmux stayed stopped throughout");
    drop(thaw);
    let thawed_at = Instant::now();

    for (call, (r, took)) in &outcomes {
        let e = r
            .as_ref()
            .expect_err(&format!("{call} succeeded with tmux stopped"));
        assert_eq!(
            error_name(e),
            "org.trusty.Mpm1.Error.Timeout",
            "{call} while tmux is stopped: {e:?}"
        );
        assert!(
            *took >= Duration::from_millis(900) && *took <= Duration::from_millis(2000),
            "{call} failed after {took:?}, not within the 1 s timeout + 1 s"
        );
    }
    eprintln!(
        "wedged: {rounds} read rounds, worst {worst:?}; {wedged_pings} watchdog pings in {window:?}"
    );
    assert!(failures.is_empty(), "reads while wedged: {failures:?}");
    assert!(
        rounds >= 5,
        "only {rounds} read rounds while the calls waited"
    );
    assert!(
        worst < Duration::from_millis(500),
        "a round of 7 reads took {worst:?} while tmux was stopped"
    );
    assert_eq!(rows_after.unwrap().len(), 2);
    assert_eq!(status_after.unwrap(), "active");
    // A ping every 200 ms: allow for half of them.
    let expected = window.as_millis() as usize / 200;
    assert!(
        wedged_pings >= 3 && wedged_pings * 2 >= expected,
        "{wedged_pings} watchdog pings in {window:?} with tmux stopped (about {expected} due)"
    );

    // Thawed: every tmux-bound operation works again.
    wait_for("tmux server running", || async {
        proc_state(server) != 'T'
    })
    .await;
    wait_for("capture works again", || async {
        m.capture_output("wedge", 20, "off").await.is_ok()
    })
    .await;
    // Whatever tmux still had queued from the timed-out calls (text, Escape) ends its line.
    s.send_keys(&["Enter"]).await.unwrap();
    m.send_command("wedge", "after the thaw").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let screen = m.capture_output("wedge", 50, "off").await.unwrap();
        if screen.lines().any(|l| l.ends_with("echo: after the thaw")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the command did not reach claude: {screen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let summary = m.pause_session("wedge", "", false).await.unwrap();
    assert!(summary.contains("after the thaw"), "{summary:?}");
    m.resume_session("wedge").await.unwrap();
    assert_error(m.adopt_session("unmanaged").await, "NotFound");
    assert_eq!(m.discover_sessions().await.unwrap(), Vec::<String>::new());
    let (_, fresh_path, _) = env.start_active("fresh").await;
    assert_eq!(
        env.session_uncached(&fresh_path)
            .await
            .status()
            .await
            .unwrap(),
        "active"
    );
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(s.pid().await.unwrap(), pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let thawed_pings = notify.pings_between(thawed_at, Instant::now());
    assert!(thawed_pings >= 3, "{thawed_pings} pings after SIGCONT");
}

// ---------------------------------------------------------------------------------------------
// Bad input: D-Bus fuzz
// ---------------------------------------------------------------------------------------------

const FUZZ_CALLS: usize = 10_000;
const FUZZ_CLIENTS: usize = 4;
const FUZZ_ROUNDS: usize = 10;
/// Sessions beyond which the fuzzer stops creating more (StartSession gets bad directories).
const FUZZ_SESSION_CAP: usize = 12;

/// A D-Bus value the fuzzer sends.
#[derive(Debug, Clone)]
enum Val {
    S(String),
    B(bool),
    U(u32),
    I(i32),
    T(u64),
    Y(u8),
    D(f64),
    O(String),
    As(Vec<String>),
    Au(Vec<u32>),
    Dict(Vec<(String, Val)>),
    V(Box<Val>),
}

impl Val {
    fn into_variant(self) -> Variant<'static> {
        match self {
            Val::S(s) => Variant::from(s),
            Val::B(b) => Variant::from(b),
            Val::U(u) => Variant::from(u),
            Val::I(i) => Variant::from(i),
            Val::T(t) => Variant::from(t),
            Val::Y(y) => Variant::from(y),
            Val::D(d) => Variant::from(d),
            Val::O(o) => Variant::from(ObjectPath::try_from(o).expect("a valid object path")),
            Val::As(v) => Variant::new(v),
            Val::Au(v) => Variant::new(v),
            Val::Dict(entries) => {
                let map: HashMap<String, Variant<'static>> = entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_variant()))
                    .collect();
                Variant::new(map)
            }
            Val::V(inner) => Variant::Variant(Box::new(inner.into_variant())),
        }
    }

    fn signature(&self) -> &'static str {
        match self {
            Val::S(_) => "s",
            Val::B(_) => "b",
            Val::U(_) => "u",
            Val::I(_) => "i",
            Val::T(_) => "t",
            Val::Y(_) => "y",
            Val::D(_) => "d",
            Val::O(_) => "o",
            Val::As(_) => "as",
            Val::Au(_) => "au",
            Val::Dict(_) => "a{sv}",
            Val::V(_) => "v",
        }
    }
}

/// What the fuzzer knows of the daemon and the test's world, refreshed as it goes.
#[derive(Debug, Clone, Default)]
struct World {
    /// Names and ids (both spellings) of the listed sessions.
    keys: Vec<String>,
    /// Their object paths.
    paths: Vec<String>,
    sessions: usize,
    /// Existing directories, one regular file.
    dirs: Vec<String>,
    file: String,
    /// tmux sessions on the test's server, for AdoptSession.
    tmux_names: Vec<String>,
    tmux_server: Option<u32>,
    tmux_socket: String,
    /// Processes the test owns (a decoy `sleep`), and the listed claude pids.
    decoy: u32,
    claude_pids: Vec<u32>,
    pid_max: u32,
}

impl World {
    fn refresh(&mut self, rows: &[SessionRow]) {
        self.keys.clear();
        self.paths.clear();
        self.claude_pids.clear();
        for r in rows {
            self.keys.push(r.1.clone());
            self.keys.push(r.0.clone());
            self.keys.push(r.0.replace('-', ""));
            self.paths.push(r.6.to_string());
            if r.5 != 0 {
                self.claude_pids.push(r.5);
            }
        }
        self.sessions = rows.len();
    }
}

fn random_ascii(rng: &mut Rng, max: usize) -> String {
    let len = 1 + rng.below(max);
    (0..len)
        .map(|_| (b' ' + rng.below(95) as u8) as char)
        .collect()
}

fn random_unicode(rng: &mut Rng) -> String {
    const RANGES: [(u32, u32); 7] = [
        (0xA0, 0x2FF),
        (0x400, 0x4FF),
        (0x2500, 0x259F),
        (0x4E00, 0x4FFF),
        (0x1F600, 0x1F64F),
        (0x202A, 0x202E),
        (0xFFF0, 0xFFFD),
    ];
    let len = 1 + rng.below(30);
    (0..len)
        .filter_map(|_| {
            let (lo, hi) = *rng.pick(&RANGES);
            char::from_u32(lo + rng.below((hi - lo + 1) as usize) as u32)
        })
        .collect()
}

fn control_mix(rng: &mut Rng) -> String {
    const PIECES: [&str; 20] = [
        "\n",
        "\r",
        "\t",
        "\x1b[31m",
        "\x1b]0;title\x07",
        "\x1b",
        "\x7f",
        "\x01",
        "\x03",
        "\x04",
        "\x08",
        "\u{85}",
        "\u{2028}",
        "\u{feff}",
        "\u{202e}",
        "a",
        "b",
        " ",
        "-",
        "x",
    ];
    (0..1 + rng.below(10)).map(|_| *rng.pick(&PIECES)).collect()
}

fn huge(rng: &mut Rng) -> String {
    let len = 1024 + rng.below(99 * 1024);
    let unit: &[u8] = match rng.below(3) {
        0 => b"abcdefghijklmnopqrstuvwxyz",
        1 => b"a\n\tb\x1b[0m ",
        _ => b"xxxxxxxx",
    };
    let mut s: String = unit.iter().cycle().take(len).map(|&b| b as char).collect();
    if rng.percent(30) {
        s.push('é');
    }
    s
}

fn uuid_like(rng: &mut Rng) -> String {
    let hex = format!("{:016x}{:016x}", rng.next(), rng.next());
    let hyph = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    match rng.below(7) {
        0 => hyph,
        1 => hex,
        2 => hyph.to_uppercase(),
        3 => format!("{{{hyph}}}"),
        4 => hex[..31].to_owned(),
        5 => format!("urn:uuid:{hyph}"),
        _ => format!("{hex}0"),
    }
}

fn valid_name(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    let len = 1 + rng.below(70);
    let mut s: String = (0..len)
        .map(|_| CHARS[rng.below(CHARS.len())] as char)
        .collect();
    if s.starts_with('-') && rng.percent(50) {
        s.replace_range(..1, "x");
    }
    s
}

/// A string from the fuzzer's mix: empty, printable, unicode, control characters, huge (up to
/// 100 KiB), tmux and shell metacharacters, UUID look-alikes, name-like.
fn fuzz_string(rng: &mut Rng) -> String {
    const META: [&str; 26] = [
        ":",
        ".",
        "-x",
        "--",
        "=wedge",
        "#{pane_pid}",
        "%1",
        "a;b",
        "a:b.c",
        "$(id)",
        "`id`",
        "'",
        "\"",
        "\\",
        "~",
        "*",
        "?",
        "{}",
        "%s%n%x",
        "../..",
        "/",
        "//",
        "a b",
        ";kill-server",
        "-t",
        "{0}",
    ];
    match rng.below(100) {
        0..=9 => String::new(),
        10..=31 => random_ascii(rng, 40),
        32..=44 => random_unicode(rng),
        45..=59 => control_mix(rng),
        60..=63 => huge(rng),
        64..=76 => rng.pick(&META).to_string(),
        77..=86 => uuid_like(rng),
        _ => valid_name(rng),
    }
}

fn fuzz_key(rng: &mut Rng, w: &World) -> String {
    if !w.keys.is_empty() && rng.percent(45) {
        return rng.pick(&w.keys).clone();
    }
    fuzz_string(rng)
}

fn fuzz_dir(rng: &mut Rng, w: &World) -> String {
    if w.sessions < FUZZ_SESSION_CAP && rng.percent(20) {
        return rng.pick(&w.dirs).clone();
    }
    match rng.below(8) {
        0 => "relative/dir".into(),
        1 => "/nonexistent/trusty-mpm-fuzz".into(),
        2 => w.file.clone(),
        3 => format!("{}/\x01ctl", rng.pick(&w.dirs)),
        4 => format!("{}/../../../../../../nope", rng.pick(&w.dirs)),
        5 => format!("/{}", huge(rng)),
        _ => fuzz_string(rng),
    }
}

fn fuzz_name(rng: &mut Rng, w: &World) -> String {
    match rng.below(10) {
        0 => String::new(),
        1 | 2 if !w.keys.is_empty() => rng.pick(&w.keys).clone(),
        3 => format!("fz-{}", rng.below(6)),
        4 => "x".repeat(64 + rng.below(2)),
        5 => format!("-{}", valid_name(rng)),
        6 | 7 => valid_name(rng),
        _ => fuzz_string(rng),
    }
}

fn fuzz_pid(rng: &mut Rng, w: &World) -> u32 {
    match rng.below(6) {
        0 => 0,
        1 => u32::MAX,
        2 => w.pid_max + rng.below(100_000) as u32,
        3 => w.decoy,
        // A listed claude pid, only while it still is a live process under the test's tmux
        // server: the daemon may signal whatever it is given.
        _ => w
            .claude_pids
            .get(rng.below(w.claude_pids.len().max(1)))
            .copied()
            .filter(|&p| w.tmux_server.is_some_and(|s| descends_from(p, s)))
            .unwrap_or(w.decoy),
    }
}

fn fuzz_keys(rng: &mut Rng) -> Vec<String> {
    const KEYS: [&str; 16] = [
        "Enter", "Escape", "Tab", "Up", "Down", "Left", "Right", "BSpace", "C-c", "C-d", "a", "Z",
        "7", " ", "é", "/",
    ];
    const BAD: [&str; 10] = [
        "F1", "C-z", "ab", "", "\n", "\x1b", "enter", "M-x", "C-\\", "\u{7f}",
    ];
    match rng.below(20) {
        0 => Vec::new(),
        // Over the 256 limit, or long with a refused key: long valid lists would press
        // hundreds of keys one tmux call at a time.
        1 => {
            let mut v: Vec<String> = (0..257 + rng.below(50))
                .map(|_| rng.pick(&KEYS).to_string())
                .collect();
            if rng.percent(50) {
                v.truncate(256);
                let at = rng.below(256);
                v[at] = "F1".into();
            }
            v
        }
        2..=5 => (0..1 + rng.below(3))
            .map(|_| {
                if rng.percent(50) {
                    rng.pick(&BAD).to_string()
                } else {
                    rng.pick(&KEYS).to_string()
                }
            })
            .collect(),
        6..=8 => (0..1 + rng.below(3)).map(|_| fuzz_string(rng)).collect(),
        _ => (0..1 + rng.below(4))
            .map(|_| rng.pick(&KEYS).to_string())
            .collect(),
    }
}

fn fuzz_u32(rng: &mut Rng) -> u32 {
    let (any, small) = (rng.next() as u32, rng.below(100) as u32);
    *rng.pick(&[
        0,
        1,
        5,
        50,
        255,
        256,
        257,
        9_999,
        10_000,
        10_001,
        65_536,
        i32::MAX as u32,
        u32::MAX - 1,
        u32::MAX,
        any,
        small,
    ])
}

fn fuzz_options(rng: &mut Rng) -> Val {
    let mut entries = Vec::new();
    for _ in 0..rng.below(4) {
        let entry = match rng.below(9) {
            0 => (
                "args".to_owned(),
                Val::As((0..rng.below(4)).map(|_| fuzz_string(rng)).collect()),
            ),
            1 => ("args".to_owned(), Val::U(rng.next() as u32)),
            2 => ("args".to_owned(), Val::S(fuzz_string(rng))),
            3 => ("resume".to_owned(), Val::S(fuzz_string(rng))),
            4 => ("resume".to_owned(), Val::S(valid_name(rng))),
            5 => ("resume".to_owned(), Val::As(vec![fuzz_string(rng)])),
            6 => ("resume".to_owned(), Val::V(Box::new(Val::S("x".into())))),
            7 => (fuzz_string(rng), Val::S(fuzz_string(rng))),
            _ => (fuzz_string(rng), Val::B(rng.percent(50))),
        };
        entries.push(entry);
    }
    Val::Dict(entries)
}

/// A hook payload: well-formed events of every kind (and unknown ones), broken JSON, or junk.
fn fuzz_payload(rng: &mut Rng, w: &World) -> String {
    let text = |rng: &mut Rng| -> serde_json::Value {
        match rng.below(10) {
            0 => serde_json::Value::from(rng.next()),
            1 => serde_json::Value::Null,
            2 => serde_json::json!({ "nested": [fuzz_string(rng)] }),
            _ => serde_json::Value::from(fuzz_string(rng)),
        }
    };
    match rng.below(10) {
        0..=5 => {
            let event = if rng.percent(90) {
                if rng.below(12) == 0 {
                    "BrandNewEvent".to_owned()
                } else {
                    rng.pick(&HOOK_EVENTS).to_string()
                }
            } else {
                fuzz_string(rng)
            };
            let mut v = serde_json::json!({ "hook_event_name": event });
            for key in [
                "session_id",
                "transcript_path",
                "cwd",
                "tool_name",
                "prompt",
                "message",
                "notification_type",
                "source",
                "reason",
            ] {
                if rng.percent(40) {
                    v[key] = text(rng);
                }
            }
            if rng.percent(30) {
                v["tool_name"] = rng
                    .pick(&["Bash", "Edit", "AskUserQuestion", "Task"])
                    .to_string()
                    .into();
            }
            if rng.percent(30) {
                v["notification_type"] = rng
                    .pick(&["permission_prompt", "idle_prompt", "elicitation_dialog"])
                    .to_string()
                    .into();
            }
            if rng.percent(40) {
                v["tool_input"] = serde_json::json!({ "command": fuzz_string(rng), "n": 1 });
            }
            if rng.percent(10) && !w.keys.is_empty() {
                v["session_id"] = rng.pick(&w.keys).clone().into();
            }
            let json = v.to_string();
            if rng.percent(5) {
                let mut cut = rng.below(json.len());
                while !json.is_char_boundary(cut) {
                    cut -= 1;
                }
                json[..cut].to_owned()
            } else {
                json
            }
        }
        6 => rng
            .pick(&[
                "",
                "{}",
                "[1,2]",
                "null",
                "nope",
                "{\"hook_event_name\": 5}",
                "{\"hook_event_name\":\"\"}",
            ])
            .to_string(),
        7 => format!("{}1{}", "[".repeat(200 + rng.below(2000)), "]".repeat(200)),
        8 if rng.percent(5) => format!(
            "{{\"hook_event_name\":\"Stop\",\"x\":\"{}\"}}",
            "a".repeat(1024 * 1024)
        ),
        _ => fuzz_string(rng),
    }
}

/// What the hook relay adds: the pane (`%N`), `TMUX` (socket,pid,index) and its parent pid.
fn fuzz_context(rng: &mut Rng, w: &World) -> Val {
    let mut entries = Vec::new();
    if rng.percent(60) {
        let pane = match rng.below(4) {
            0 => fuzz_string(rng),
            n => format!("%{}", rng.below(4 * n)),
        };
        entries.push(("tmux_pane".to_owned(), Val::S(pane)));
    }
    if rng.percent(60) {
        let tmux = match rng.below(3) {
            0 => fuzz_string(rng),
            _ => format!(
                "{},{},0",
                w.tmux_socket,
                w.tmux_server.unwrap_or(rng.below(1000) as u32)
            ),
        };
        entries.push(("tmux".to_owned(), Val::S(tmux)));
    }
    if rng.percent(50) {
        let ppid = if rng.percent(80) {
            Val::U(fuzz_pid(rng, w))
        } else {
            Val::S(fuzz_string(rng))
        };
        entries.push(("ppid".to_owned(), ppid));
    }
    if rng.percent(20) {
        entries.push((fuzz_string(rng), Val::B(true)));
    }
    Val::Dict(entries)
}

/// A well-typed value for argument `name` of type `ty`.
fn fuzz_arg(rng: &mut Rng, w: &World, name: &str, ty: &str) -> Val {
    match (name, ty) {
        ("key", "s") => Val::S(fuzz_key(rng, w)),
        ("project_dir", "s") => Val::S(fuzz_dir(rng, w)),
        ("name", "s") => Val::S(fuzz_name(rng, w)),
        ("tmux_name", "s") => Val::S(if rng.percent(30) && !w.tmux_names.is_empty() {
            rng.pick(&w.tmux_names).clone()
        } else {
            fuzz_name(rng, w)
        }),
        ("compression", "s") => Val::S(match rng.below(10) {
            0..=5 => rng.pick(&["off", "trim", "summarise"]).to_string(),
            6 => rng
                .pick(&["summarize", "OFF", "Trim", "", "zip", "gzip", "off "])
                .to_string(),
            _ => fuzz_string(rng),
        }),
        ("pid", "u") => Val::U(fuzz_pid(rng, w)),
        ("lines" | "limit", "u") => Val::U(fuzz_u32(rng)),
        ("keys", "as") => Val::As(fuzz_keys(rng)),
        ("options", "a{sv}") => fuzz_options(rng),
        ("payload_json", "s") => Val::S(fuzz_payload(rng, w)),
        ("context", "a{sv}") => fuzz_context(rng, w),
        ("request_id", "s") => Val::S(if rng.percent(50) {
            uuid_like(rng).replace('-', "")
        } else {
            fuzz_string(rng)
        }),
        (_, "s") => Val::S(fuzz_string(rng)),
        (_, "b") => Val::B(rng.percent(50)),
        (_, "u") => Val::U(fuzz_u32(rng)),
        (_, "i") => {
            let any = rng.next() as i32;
            Val::I(*rng.pick(&[0, -1, 1, 2, i32::MIN, i32::MAX, any]))
        }
        (_, "t") => {
            let any = rng.next();
            Val::T(*rng.pick(&[0, 1, u64::MAX, any]))
        }
        (_, "as") => Val::As((0..rng.below(4)).map(|_| fuzz_string(rng)).collect()),
        (_, "a{sv}") => fuzz_options(rng),
        (name, ty) => panic!("the fuzzer has no values for {name} of type {ty}; extend fuzz_arg"),
    }
}

/// A value of a random type, for wrong signatures.
fn random_val(rng: &mut Rng, w: &World) -> Val {
    match rng.below(12) {
        0 => Val::S(fuzz_string(rng)),
        1 => Val::U(fuzz_u32(rng)),
        2 => Val::B(rng.percent(50)),
        3 => Val::I(rng.next() as i32),
        4 => Val::T(rng.next()),
        5 => Val::Y(rng.next() as u8),
        6 => Val::D(rng.next() as f64 / 3.0 - 1e18),
        7 => Val::O(
            w.paths
                .first()
                .cloned()
                .unwrap_or_else(|| MANAGER_PATH.to_owned()),
        ),
        8 => Val::As(vec![fuzz_string(rng)]),
        9 => Val::Au(vec![rng.next() as u32]),
        10 => fuzz_options(rng),
        _ => Val::V(Box::new(Val::S(fuzz_key(rng, w)))),
    }
}

/// One fuzz call: where it goes, what it sends, and which non-contract errors it may get.
struct FuzzCall {
    path: String,
    iface: String,
    member: String,
    args: Vec<Val>,
    /// The body's signature differs from the method's.
    wrong_signature: bool,
    /// The member does not exist.
    unknown_member: bool,
}

fn fuzz_call(rng: &mut Rng, w: &World, methods: &[Method]) -> FuzzCall {
    let m = rng.pick(methods);
    let on_session = m.iface == SESSION_IFACE;
    let path = if !on_session {
        MANAGER_PATH.to_owned()
    } else if !w.paths.is_empty() && rng.percent(80) {
        rng.pick(&w.paths).clone()
    } else {
        match rng.below(4) {
            0 => format!(
                "{MANAGER_PATH}/session/{:016x}{:016x}",
                rng.next(),
                rng.next()
            ),
            1 => format!("{MANAGER_PATH}/session"),
            2 => MANAGER_PATH.to_owned(),
            _ => "/".to_owned(),
        }
    };
    let mut call = FuzzCall {
        path,
        iface: m.iface.clone(),
        member: m.name.clone(),
        args: Vec::new(),
        wrong_signature: false,
        unknown_member: false,
    };
    let well_typed = |rng: &mut Rng| -> Vec<Val> {
        m.args.iter().map(|(n, t)| fuzz_arg(rng, w, n, t)).collect()
    };
    match rng.below(100) {
        0..=1 => {
            call.member = rng
                .pick(&[
                    "Frobnicate",
                    "listSessions",
                    "ListSession",
                    "Kill",
                    "Shutdown",
                    "Get",
                ])
                .to_string();
            call.unknown_member = true;
            call.args = well_typed(rng);
        }
        2..=21 => {
            call.args = match rng.below(5) {
                0 => Vec::new(),
                1 => {
                    let mut a = well_typed(rng);
                    a.push(random_val(rng, w));
                    a
                }
                2 => {
                    let mut a = well_typed(rng);
                    if a.pop().is_none() {
                        a.push(random_val(rng, w));
                    }
                    a
                }
                3 if !m.args.is_empty() => {
                    let mut a = well_typed(rng);
                    let at = rng.below(a.len());
                    a[at] = random_val(rng, w);
                    a
                }
                _ => (0..1 + rng.below(4)).map(|_| random_val(rng, w)).collect(),
            };
            let sig: String = call.args.iter().map(Val::signature).collect();
            call.wrong_signature = sig != m.signature();
        }
        _ => call.args = well_typed(rng),
    }
    // A graceful stop of a live claude may wait 8 s: stop known sessions with force only.
    if matches!(call.member.as_str(), "StopSession" | "Stop") && !call.wrong_signature {
        let known = match call.member.as_str() {
            "Stop" => w.paths.contains(&call.path),
            _ => matches!(&call.args[0], Val::S(k) if w.keys.contains(k)),
        };
        if let (true, Some(Val::B(force))) = (known, call.args.last_mut()) {
            *force = true;
        }
    }
    call
}

#[derive(Default, Debug)]
struct FuzzStats {
    calls: usize,
    ok: usize,
    errors: BTreeMap<String, usize>,
    problems: Vec<String>,
    slowest: (Duration, String),
}

fn describe(call: &FuzzCall) -> String {
    let args: Vec<String> = call
        .args
        .iter()
        .map(|a| {
            let s = format!("{a:?}");
            match s.chars().count() {
                n if n > 120 => format!("{}…({n} chars)", s.chars().take(120).collect::<String>()),
                _ => s,
            }
        })
        .collect();
    format!(
        "{}.{}({}) at {}",
        call.iface,
        call.member,
        args.join(", "),
        call.path
    )
}

async fn fuzz_client(
    addr: String,
    mut world: World,
    methods: Arc<Vec<Method>>,
    mut rng: Rng,
    calls: usize,
) -> FuzzStats {
    let conn = connect(&addr).await;
    let m = manager_on(&conn).await;
    let mut stats = FuzzStats::default();
    for i in 0..calls {
        if i % 50 == 0 {
            match m.list_sessions().await {
                Ok(rows) => world.refresh(&rows),
                Err(e) => stats.problems.push(format!("ListSessions: {e}")),
            }
        }
        let call = fuzz_call(&mut rng, &world, &methods);
        let t = Instant::now();
        let args: Vec<Variant<'static>> =
            call.args.iter().cloned().map(Val::into_variant).collect();
        let r = tokio::time::timeout(
            CALL_LIMIT,
            call_raw(&conn, &call.path, &call.iface, &call.member, args),
        )
        .await;
        let took = t.elapsed();
        stats.calls += 1;
        if took > stats.slowest.0 {
            stats.slowest = (took, describe(&call));
        }
        let r = match r {
            Ok(r) => r,
            Err(_) => {
                stats
                    .problems
                    .push(format!("no answer in {CALL_LIMIT:?}: {}", describe(&call)));
                continue;
            }
        };
        let e = match r {
            Ok(_) if call.wrong_signature || call.unknown_member => {
                stats.problems.push(format!(
                    "succeeded with a wrong signature or member: {}",
                    describe(&call)
                ));
                continue;
            }
            Ok(_) => {
                stats.ok += 1;
                continue;
            }
            Err(e) => e,
        };
        let (name, msg) = error_of(&e);
        *stats.errors.entry(name.clone()).or_default() += 1;
        let short = name.rsplit('.').next().unwrap_or("");
        let allowed = if is_contract_error(&name) {
            if !one_sentence(&msg) {
                stats.problems.push(format!(
                    "{name} message is not one sentence: {:?} for {}",
                    msg.chars().take(200).collect::<String>(),
                    describe(&call)
                ));
            }
            true
        } else if name.starts_with("org.freedesktop.DBus.Error.") {
            // Bus-standard errors for calls the contract does not cover: a body of the wrong
            // signature, an unknown member, or a Session method at a path with no session
            // object (never created, or removed by the fuzz meanwhile).
            (call.wrong_signature && matches!(short, "InvalidArgs" | "UnknownMethod"))
                || (call.unknown_member && short == "UnknownMethod")
                || (call.iface == SESSION_IFACE
                    && (short == "UnknownObject"
                        || (short == "UnknownInterface" && !call.path.contains("/session/"))))
        } else {
            false
        };
        if !allowed {
            stats.problems.push(format!(
                "{name}: {:?} for {}",
                msg.chars().take(200).collect::<String>(),
                describe(&call)
            ));
        }
    }
    stats
}

/// Makes sure real sessions exist for valid keys to hit: one running claude, one bookkeeping
/// record, and one unmanaged tmux session for AdoptSession.
async fn fuzz_provision(env: &Env, round: usize) {
    let m = env.manager().await;
    let rows = m.list_sessions().await.unwrap();
    if !rows.iter().any(|r| r.3 == "active") {
        env.start_active(&format!("fz-live-{round}")).await;
    }
    if !rows.iter().any(|r| r.3 == "starting" && r.5 == 0) {
        let _ = m
            .register_session(&env.project("books"), &format!("fz-books-{round}"))
            .await;
    }
    if env.tmux_sessions().len() <= rows.len() {
        let name = format!("fz-free-{round}");
        let _ = env.tmux(&["new-session", "-d", "-s", &name, "sleep", "600"]);
    }
}

/// 10,000 random and malformed calls over every method of both interfaces of the contract XML,
/// from 4 clients in 10 rounds: random, huge (up to 100 KiB) and control-character strings,
/// wrong key shapes, bad compressions and directories, out-of-range numbers and pids, hook
/// payloads (well-formed events of every kind, broken and deeply nested JSON, 1 MiB) with odd
/// relay contexts, and bodies of the wrong signature. Every reply must be a success or a
/// contract error with a one-sentence message — or, only where the contract has no say, the
/// bus-standard InvalidArgs/UnknownMethod (wrong signature or member; these never succeed) or
/// UnknownObject/UnknownInterface (a Session method at a path with no session object). The
/// daemon must keep running and answering (Ping, ListSessions), and its session objects must
/// match its list afterwards. Real sessions are kept around so valid keys hit real paths; pids
/// handed out are the test's own; graceful stops (up to 8 s) only go to keys of no session.
#[tokio::test]
async fn fuzz_every_method_with_random_and_malformed_calls() {
    let mut rng = Rng::from_env("fuzz_every_method_with_random_and_malformed_calls");
    let seed = rng.seed;
    let env = Env::with_env(&[("RUST_LOG", "error")]).await;
    let methods = Arc::new(contract_methods());
    let leftovers = FuzzLeftovers {
        env: &env,
        decoy: std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap(),
    };
    let file = env.dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let mut world = World {
        dirs: vec![env.project("fz-a"), env.project("fz-b"), "/".into()],
        file: file.to_string_lossy().into_owned(),
        decoy: leftovers.decoy.id(),
        tmux_socket: env.tmux_socket().to_string_lossy().into_owned(),
        pid_max: std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4_194_304),
        ..World::default()
    };
    let pid = daemon_pid(&env);
    let started = Instant::now();
    let mut total = FuzzStats::default();
    for round in 0..FUZZ_ROUNDS {
        fuzz_provision(&env, round).await;
        world.tmux_names = env.tmux_sessions();
        world.tmux_server = tmux_server_pid(&env);
        let clients: Vec<_> = (0..FUZZ_CLIENTS)
            .map(|_| {
                tokio::spawn(fuzz_client(
                    env.bus.address.clone(),
                    world.clone(),
                    methods.clone(),
                    rng.fork(),
                    FUZZ_CALLS / FUZZ_ROUNDS / FUZZ_CLIENTS,
                ))
            })
            .collect();
        for c in clients {
            let s = c.await.expect("fuzz client");
            total.calls += s.calls;
            total.ok += s.ok;
            for (k, v) in s.errors {
                *total.errors.entry(k).or_default() += v;
            }
            total.problems.extend(s.problems);
            if s.slowest.0 > total.slowest.0 {
                total.slowest = s.slowest;
            }
        }
        assert!(
            daemon_alive(&env),
            "the daemon died in fuzz round {round} (seed {seed}); problems so far: {:#?}",
            total.problems
        );
    }
    let took = started.elapsed();

    // Still alive, still the same process, still answering.
    assert!(daemon_alive(&env), "the daemon died (seed {seed})");
    assert_eq!(daemon_pid(&env), pid);
    call_raw(
        &env.conn,
        MANAGER_PATH,
        "org.freedesktop.DBus.Peer",
        "Ping",
        vec![],
    )
    .await
    .expect("Ping after the fuzz");
    let rows = env
        .manager()
        .await
        .list_sessions()
        .await
        .expect("ListSessions after the fuzz");
    // Its objects are exactly its sessions.
    let objects = zbus::fdo::ObjectManagerProxy::builder(&env.conn)
        .destination(BUS_NAME)
        .path(MANAGER_PATH)
        .build()
        .await
        .unwrap()
        .get_managed_objects()
        .await
        .expect("GetManagedObjects after the fuzz");
    let mut object_paths: Vec<String> = objects.keys().map(|p| p.to_string()).collect();
    let mut row_paths: Vec<String> = rows.iter().map(|r| r.6.to_string()).collect();
    object_paths.sort();
    row_paths.sort();
    drop(leftovers);

    eprintln!(
        "fuzz: {} calls in {took:?}, {} ok, errors {:?}, {} sessions after; slowest {:?}: {}",
        total.calls,
        total.ok,
        total.errors,
        rows.len(),
        total.slowest.0,
        total.slowest.1
    );
    assert_eq!(total.calls, FUZZ_CALLS);
    assert_eq!(
        object_paths, row_paths,
        "session objects differ from ListSessions after the fuzz (seed {seed})"
    );
    assert!(
        total.problems.is_empty(),
        "{} bad replies (seed {seed}):\n{}",
        total.problems.len(),
        total.problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

const LOAD_CLIENTS: usize = 16;
const LOAD_CALLS: usize = 2_000;
/// Allowed growth of the daemon's resident memory over the load.
const LOAD_RSS_GROWTH_KIB: u64 = 10 * 1024;

/// Starts and force-stops-and-removes real sessions (`churn-<n>`) until told to stop,
/// publishing the number of the newest one. Every call of its own must succeed.
async fn churn_task(
    addr: String,
    dir: String,
    stop: Arc<AtomicBool>,
    newest: Arc<AtomicUsize>,
) -> (usize, Vec<String>) {
    let conn = connect(&addr).await;
    let m = manager_on(&conn).await;
    let mut cycles = 0;
    let mut errors = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let n = newest.fetch_add(1, Ordering::SeqCst) + 1;
        let name = format!("churn-{n}");
        if let Err(e) = m.start_session(&dir, &name, HashMap::new()).await {
            errors.push(format!("StartSession({name}): {e}"));
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        // Long enough to be found active most of the time.
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Err(e) = m.stop_session(&name, true).await {
            errors.push(format!("StopSession({name}, force): {e}"));
        }
        if let Err(e) = m.remove_session(&name, true).await {
            errors.push(format!("RemoveSession({name}, kill_tmux): {e}"));
        }
        cycles += 1;
    }
    (cycles, errors)
}

#[derive(Default)]
struct LoadStats {
    calls: usize,
    by_method: BTreeMap<&'static str, usize>,
    expected_errors: BTreeMap<String, usize>,
    unexpected: Vec<String>,
}

/// One load client: `calls` mixed calls. `steady` are sessions that live throughout (name,
/// path); churn sessions come and go.
async fn load_client(
    addr: String,
    client: usize,
    mut rng: Rng,
    steady: Vec<(String, String)>,
    dir: String,
    newest_churn: Arc<AtomicUsize>,
    calls: usize,
) -> LoadStats {
    let conn = connect(&addr).await;
    let m = manager_on(&conn).await;
    let mut stats = LoadStats::default();
    let mut mine: Option<(String, String)> = None; // a registration of this client: (name, id)
    let mut listed_paths: Vec<String> = steady.iter().map(|s| s.1.clone()).collect();
    for i in 0..calls {
        let (sname, spath) = rng.pick(&steady).clone();
        let churn = format!(
            "churn-{}",
            newest_churn
                .load(Ordering::SeqCst)
                .saturating_sub(rng.below(2))
        );
        let roll = rng.below(100);
        // (method, is about a churn session, outcome)
        let (method, about_churn, r): (&'static str, bool, zbus::Result<()>) = match roll {
            0..=26 => {
                let r = m.list_sessions().await;
                if let Ok(rows) = &r {
                    listed_paths = rows.iter().map(|r| r.6.to_string()).collect();
                    if !steady.iter().all(|s| rows.iter().any(|r| r.1 == s.0)) {
                        stats
                            .unexpected
                            .push(format!("ListSessions lacks a steady session: {rows:?}"));
                    }
                }
                ("ListSessions", false, r.map(drop))
            }
            27..=45 => {
                if rng.percent(60) {
                    let r = m.get_session(&sname).await;
                    if let Ok(p) = &r
                        && p.as_str() != spath
                    {
                        stats
                            .unexpected
                            .push(format!("GetSession({sname}) = {p}, not {spath}"));
                    }
                    ("GetSession", false, r.map(drop))
                } else {
                    ("GetSession", true, m.get_session(&churn).await.map(drop))
                }
            }
            46..=64 => {
                let path = rng.pick(&listed_paths).clone();
                let churny = !steady.iter().any(|s| s.1 == path);
                let r = get_all_raw(&conn, &path, SESSION_IFACE).await;
                // Whole or not at all: a session object answers with all its properties, or
                // is gone (UnknownObject).
                if let Ok(props) = &r
                    && props.len() < 14
                {
                    stats.unexpected.push(format!(
                        "GetAll({path}) succeeded with only {:?}",
                        props.keys().collect::<Vec<_>>()
                    ));
                }
                ("GetAll", churny, r.map(drop))
            }
            65..=78 => {
                let limit = rng.below(300) as u32;
                if rng.percent(70) {
                    (
                        "GetEvents",
                        false,
                        m.get_events(&sname, limit).await.map(drop),
                    )
                } else {
                    (
                        "GetEvents",
                        true,
                        m.get_events(&churn, limit).await.map(drop),
                    )
                }
            }
            79..=91 => (
                "Get(SessionCount)",
                false,
                get_property(&conn, MANAGER_PATH, MANAGER_IFACE, "SessionCount")
                    .await
                    .map(drop),
            ),
            92..=93 => {
                let lines = 1 + rng.below(200) as u32;
                let comp = *rng.pick(&["off", "trim", "summarise"]);
                if rng.percent(85) {
                    (
                        "CaptureOutput",
                        false,
                        m.capture_output(&sname, lines, comp).await.map(drop),
                    )
                } else {
                    (
                        "CaptureOutput",
                        true,
                        m.capture_output(&churn, lines, comp).await.map(drop),
                    )
                }
            }
            94 => (
                "SendCommand",
                false,
                m.send_command(&sname, &format!("load {client}/{i}"))
                    .await
                    .map(drop),
            ),
            _ => match mine.take() {
                None => {
                    let name = format!("load-{client}-{i}");
                    let r = m.register_session(&dir, &name).await;
                    if let Ok((id, _, _)) = &r {
                        mine = Some((name, id.clone()));
                    }
                    ("RegisterSession", false, r.map(drop))
                }
                Some((name, id)) => {
                    let key = if rng.percent(50) { name } else { id };
                    ("RemoveSession", false, m.remove_session(&key, false).await)
                }
            },
        };
        stats.calls += 1;
        *stats.by_method.entry(method).or_default() += 1;
        if let Err(e) = r {
            let (name, msg) = error_of(&e);
            let short = name.rsplit('.').next().unwrap_or("").to_owned();
            // A churn session may be removed between any two steps: its key is then unknown
            // (NotFound), its object gone (UnknownObject, or UnknownInterface while zbus takes
            // the object down), or its tmux session killed just before its record was dropped
            // (its pane gone: InvalidState on a capture).
            let expected = about_churn
                && matches!(
                    (method, short.as_str()),
                    (_, "NotFound")
                        | ("GetAll", "UnknownObject" | "UnknownInterface")
                        | ("CaptureOutput", "InvalidState")
                );
            if expected {
                *stats
                    .expected_errors
                    .entry(format!("{method}: {short}"))
                    .or_default() += 1;
            } else {
                stats.unexpected.push(format!("{method}: {name}: {msg}"));
            }
        }
    }
    if let Some((name, _)) = mine
        && let Err(e) = m.remove_session(&name, false).await
    {
        stats.unexpected.push(format!("RemoveSession({name}): {e}"));
    }
    stats
}

/// 16 clients × 2,000 mixed calls (ListSessions, GetSession, Properties.GetAll and Get,
/// GetEvents, CaptureOutput, SendCommand, RegisterSession/RemoveSession of their own records)
/// while a background task starts and force-stops-and-removes real sessions. Calls about the
/// steady sessions and the clients' own records must all succeed; calls about churn sessions
/// may only fail because the session just went away (NotFound, UnknownObject for GetAll,
/// TmuxFailed for a capture racing the tmux kill). The daemon's RSS may grow by < 10 MiB.
#[tokio::test]
async fn load_16_clients_while_sessions_start_and_stop() {
    let mut rng = Rng::from_env("load_16_clients_while_sessions_start_and_stop");
    let seed = rng.seed;
    let env = Env::with_env(&[("RUST_LOG", "warn")]).await;
    let (_, path_a, _) = env.start_active("steady-a").await;
    let (_, path_b, _) = env.start_active("steady-b").await;
    let steady = vec![
        ("steady-a".to_owned(), path_a.to_string()),
        ("steady-b".to_owned(), path_b.to_string()),
    ];
    let dir = env.project("load");
    let churn_dir = env.project("churn");
    let pid = daemon_pid(&env);
    let addr = env.bus.address.clone();
    let newest = Arc::new(AtomicUsize::new(0));

    // Warm up, so lazily grown buffers are part of the baseline.
    let warm = load_client(
        addr.clone(),
        99,
        rng.fork(),
        steady.clone(),
        dir.clone(),
        newest.clone(),
        300,
    )
    .await;
    assert!(warm.unexpected.is_empty(), "warm-up: {:?}", warm.unexpected);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = rss_kib(pid);
    let cpu_before = (cpu_secs(pid), cpu_secs(std::process::id()));

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = tokio::spawn(churn_task(
        addr.clone(),
        churn_dir,
        stop.clone(),
        newest.clone(),
    ));
    let clients: Vec<_> = (0..LOAD_CLIENTS)
        .map(|c| {
            tokio::spawn(load_client(
                addr.clone(),
                c,
                rng.fork(),
                steady.clone(),
                dir.clone(),
                newest.clone(),
                LOAD_CALLS,
            ))
        })
        .collect();
    let mut total = LoadStats::default();
    for c in clients {
        let s = c.await.expect("load client");
        total.calls += s.calls;
        for (k, v) in s.by_method {
            *total.by_method.entry(k).or_default() += v;
        }
        for (k, v) in s.expected_errors {
            *total.expected_errors.entry(k).or_default() += v;
        }
        total.unexpected.extend(s.unexpected);
    }
    let took = started.elapsed();
    let (daemon_cpu, test_cpu) = (cpu_secs(pid), cpu_secs(std::process::id()));
    let cpu = (
        daemon_cpu.0 - cpu_before.0.0,
        daemon_cpu.1 - cpu_before.0.1,
        test_cpu.0 - cpu_before.1.0,
    );
    stop.store(true, Ordering::SeqCst);
    let (cycles, churn_errors) = churn.await.expect("churn task");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_after = rss_kib(pid);

    assert!(daemon_alive(&env), "the daemon died (seed {seed})");
    let names = session_names(&env.manager().await).await;
    eprintln!(
        "load: {} calls in {took:?} ({:.0}/s), {cycles} churn cycles; by method {:?}; \
         expected errors {:?}; RSS {rss_before} KiB -> {rss_after} KiB; CPU: daemon {:.1} s, \
         its tmux children {:.1} s, test process {:.1} s",
        total.calls,
        total.calls as f64 / took.as_secs_f64(),
        total.by_method,
        total.expected_errors,
        cpu.0,
        cpu.1,
        cpu.2
    );
    assert_eq!(total.calls, LOAD_CLIENTS * LOAD_CALLS);
    assert!(
        total.unexpected.is_empty(),
        "{} unexpected errors (seed {seed}):\n{}",
        total.unexpected.len(),
        total.unexpected.join("\n")
    );
    assert!(churn_errors.is_empty(), "churn: {churn_errors:?}");
    assert!(cycles >= 3, "only {cycles} sessions started and stopped");
    assert_eq!(
        names,
        ["steady-a", "steady-b"],
        "only the steady sessions remain"
    );
    assert!(
        rss_after < rss_before + LOAD_RSS_GROWTH_KIB,
        "daemon RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}

// ---------------------------------------------------------------------------------------------
// Access
// ---------------------------------------------------------------------------------------------

/// Everything a caller can observe, for before/after comparison.
#[derive(Debug, PartialEq)]
struct Observed {
    rows: Vec<SessionRow>,
    manager_props: BTreeMap<String, String>,
    session_props: Vec<BTreeMap<String, String>>,
    events: Vec<Vec<(u64, String, String, String)>>,
    screen: String,
    tmux: Vec<String>,
    registry: Vec<u8>,
}

async fn observe(env: &Env) -> Observed {
    let m = env.manager().await;
    let rows = m.list_sessions().await.unwrap();
    let mut session_props = Vec::new();
    let mut events = Vec::new();
    for r in &rows {
        session_props.push(
            get_all(&env.conn, r.6.as_str(), SESSION_IFACE)
                .await
                .unwrap(),
        );
        events.push(m.get_events(&r.0, 0).await.unwrap());
    }
    let mut tmux = env.tmux_sessions();
    tmux.sort();
    Observed {
        manager_props: get_all(&env.conn, MANAGER_PATH, MANAGER_IFACE)
            .await
            .unwrap(),
        screen: m.capture_output("acc-live", 100, "off").await.unwrap(),
        registry: std::fs::read(env.state_dir().join("registry.json")).unwrap(),
        rows,
        session_props,
        events,
        tmux,
    }
}

/// A caller of uid 65534, on a bus that admits it, gets `AccessDenied` from every method of
/// both interfaces (taken from the contract XML), each called with arguments that would
/// succeed for the owner (a paused session to resume, a stopped one to restart, an unmanaged
/// tmux session running claude to adopt, ...), and nothing observable changes: sessions,
/// properties, events, the pane, tmux sessions and the registry file.
#[tokio::test]
async fn other_users_are_denied_every_method_and_change_nothing() {
    let env = Env::with_env(&[("RUST_LOG", "warn")]).await;
    let addr = env.bus.address.clone();
    assert_nobody_reaches_bus(&addr);
    let m = env.manager().await;
    let (_, live_path, live_pid) = env.start_active("acc-live").await;
    let (_, stopped_path, _) = env.start_active("acc-stopped").await;
    m.stop_session("acc-stopped", true).await.unwrap();
    let dir = env.project("acc-books");
    let (_, _, paused_path) = m.register_session(&dir, "acc-paused").await.unwrap();
    m.pause_session("acc-paused", "kept note", false)
        .await
        .unwrap();
    env.tmux_with_claude("acc-free", &dir).await;
    let before = observe(&env).await;

    let mut failures = Vec::new();
    let methods = contract_methods();
    for method in &methods {
        // The session each call is about, in the state where the call would succeed.
        let (key, path) = match method.name.as_str() {
            "ResumeSession" | "Resume" => ("acc-paused", paused_path.as_str()),
            "RestartSession" | "Restart" => ("acc-stopped", stopped_path.as_str()),
            _ => ("acc-live", live_path.as_str()),
        };
        let args: Vec<String> = method
            .args
            .iter()
            .map(|(name, ty)| match (name.as_str(), ty.as_str()) {
                ("key", "s") => format!("'{key}'"),
                ("project_dir", "s") => format!("'{dir}'"),
                ("name", "s") => "'intruder'".into(),
                ("tmux_name", "s") => "'acc-free'".into(),
                ("note", "s") => "'intruder note'".into(),
                ("text", "s") => "'intruder text'".into(),
                ("compression", "s") => "'off'".into(),
                ("keys", "as") => "['C-c']".into(),
                ("lines", "u") => "uint32 5".into(),
                ("limit", "u") => "uint32 0".into(),
                ("pid", "u") => format!("uint32 {live_pid}"),
                ("payload_json", "s") => {
                    r#"'{"hook_event_name":"Stop","session_id":"intruder"}'"#.into()
                }
                ("request_id", "s") => "'r1'".into(),
                ("reason", "s") => "'intruder reason'".into(),
                (_, "b") => "true".into(),
                (_, "s") => "'x'".into(),
                (_, "u") => "uint32 1".into(),
                (_, "i") => "int32 0".into(),
                (_, "t") => "uint64 0".into(),
                (_, "as") => "@as []".into(),
                (_, "a{sv}") => "@a{sv} {}".into(),
                (name, ty) => panic!("no sample value for {name} of type {ty}; extend this test"),
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let target = if method.iface == SESSION_IFACE {
            path
        } else {
            MANAGER_PATH
        };
        let member = format!("{}.{}", method.iface, method.name);
        let out = gdbus_as_nobody(&addr, target, &member, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || !err.contains("org.trusty.Mpm1.Error.AccessDenied") {
            failures.push(format!(
                "{member} {args:?} as uid 65534: {} {}{err}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            ));
        }
    }
    let after = observe(&env).await;
    assert!(failures.is_empty(), "not denied:\n{}", failures.join("\n"));
    assert_eq!(before, after, "a denied call changed something");
    assert!(alive(live_pid) && proc_state(live_pid) != 'T');
    eprintln!("access: {} methods denied", methods.len());
}
