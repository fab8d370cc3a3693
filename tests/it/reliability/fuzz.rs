//! Bad input: random and malformed calls over every method of the contract XML from several
//! clients (built by `fuzz_calls`); every reply is a success or an error the contract or the
//! bus allows, and the daemon carries on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zbus::Variant;

use super::fuzz_calls::{Val, World, describe, fuzz_call};
use super::rng::Rng;
use super::support::*;
use crate::harness::*;
use crate::procs::descendants;

const FUZZ_CALLS: usize = 10_000;
const FUZZ_CLIENTS: usize = 4;
const FUZZ_ROUNDS: usize = 10;

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
#[derive(Default, Debug)]
struct FuzzStats {
    calls: usize,
    ok: usize,
    errors: BTreeMap<String, usize>,
    problems: Vec<String>,
    slowest: (Duration, String),
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
        // The other clients may pause, stop or remove it at once: wait only until it is no
        // longer starting (or is gone).
        let name = format!("fz-live-{round}");
        let started = m
            .start_session(&env.project(&name), &name, Default::default())
            .await;
        if let Ok((_, _, path)) = started {
            let s = env.session_uncached(&path).await;
            wait_for("claude found", || async {
                s.status().await.map_or(true, |st| st != "starting")
            })
            .await;
        }
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
        pid_max: procfs::sys::kernel::pid_max()
            .ok()
            .and_then(|n| u32::try_from(n).ok())
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
