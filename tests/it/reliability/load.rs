//! Load: many clients making mixed calls while sessions start and stop; every call about a
//! session that stays succeeds, and the daemon's memory stays put.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::rng::Rng;
use super::support::*;
use crate::harness::*;
use crate::procs::{cpu_ticks, rss_kib};

const LOAD_CLIENTS: usize = 16;
const LOAD_CALLS: usize = 2_000;
/// Allowed growth of the daemon's resident memory over the load.
const LOAD_RSS_GROWTH_KIB: u64 = 10 * 1024;

/// CPU time of a process itself and of its reaped children, in seconds.
fn cpu_secs(pid: u32) -> (f64, f64) {
    let (own, children) = cpu_ticks(pid);
    let per_sec = procfs::ticks_per_second() as f64;
    (own as f64 / per_sec, children as f64 / per_sec)
}

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
            // Paces the next attempt (the error already fails the test).
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
    // Not a wait for an event: lets the daemon finish what the warm-up left it (frees, a
    // last save) before its memory is measured.
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
    // As before the baseline: settling before the memory is measured, not a wait for an event.
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
