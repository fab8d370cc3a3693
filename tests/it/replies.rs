//! Replies never go back in time. Caching proxies (zbus's, GDBusProxy) drop the signals that
//! arrive before their first GetAll reply, so a reply older than a signal already sent sticks in
//! them forever: an applet that makes a proxy right after StartSession would show `starting`
//! for good. Many sessions start at once here, each watched at once by a fresh caching proxy
//! of both kinds, and every proxy must come to show what the daemon says.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use trusty_mpm::cli::proxy::SessionProxy;
use zbus::OwnedObjectPath;

use crate::harness::*;

/// Sessions started in all, and how many start at once.
const SESSIONS: usize = 500;
const AT_ONCE: usize = 50;
/// How long proxies may take to catch up with the daemon once every session is active.
const CATCH_UP: Duration = Duration::from_secs(30);

/// The Status the daemon shows for each path.
type Shown = BTreeMap<String, String>;

#[tokio::test]
async fn caching_proxies_made_right_after_start_never_stick() {
    require("tmux");
    // Fifty starts at once on a loaded machine: tmux may take longer than its usual 5 s.
    let env = Env::with_env(&[("TRUSTY_MPM_TMUX_TIMEOUT_MS", "30000")]).await;
    let mut gio = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gdbus-proxies.py"
        ))
        .arg(&env.bus.address)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 with python3-gi runs (apt-get install python3-gi)");
    let gio_in = Arc::new(Mutex::new(gio.stdin.take().unwrap()));
    let mut gio_out = BufReader::new(gio.stdout.take().unwrap());
    let mut line = String::new();
    gio_out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the GDBusProxy script did not start");

    let m = env.manager().await;
    let mut zbus_proxies = Vec::new();
    for batch in 0..SESSIONS / AT_ONCE {
        let mut started = JoinSet::new();
        for i in 0..AT_ONCE {
            let name = format!("r{batch}-{i}");
            let (dir, m, conn) = (env.project(&name), m.clone(), env.conn.clone());
            let gio_in = gio_in.clone();
            started.spawn(async move {
                let (_, _, path) = m
                    .start_session(&dir, &name, Default::default())
                    .await
                    .expect("StartSession");
                // At once, as applets that learnt of the session from the reply.
                writeln!(gio_in.lock().unwrap(), "{}", path.as_str()).unwrap();
                let proxy = SessionProxy::builder(&conn)
                    .path(path.clone())
                    .build()
                    .await
                    .unwrap();
                let _ = proxy.status().await.unwrap();
                (path, proxy)
            });
        }
        while let Some(done) = started.join_next().await {
            let (path, proxy) = done.unwrap();
            zbus_proxies.push((path, proxy));
        }
    }

    wait_for("every session active", || async {
        m.list_sessions()
            .await
            .unwrap()
            .iter()
            .all(|r| r.3 == "active")
    })
    .await;
    // The daemon's word for every session, without a cache.
    let truth: Shown = m
        .list_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.6.to_string(), r.3))
        .collect();
    assert_eq!(truth.len(), SESSIONS);

    let deadline = Instant::now() + CATCH_UP;
    let zbus_stuck = loop {
        let stuck = stuck_zbus(&zbus_proxies, &truth).await;
        if stuck.is_empty() || Instant::now() > deadline {
            break stuck;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    writeln!(gio_in.lock().unwrap(), "report").unwrap();
    let (mut gio_shown, mut stale, mut rules) = (BTreeMap::new(), Vec::new(), 0);
    loop {
        line.clear();
        assert_ne!(gio_out.read_line(&mut line).unwrap(), 0, "the script died");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["stale", ..] => stale.push(line.trim().to_owned()),
            ["rules", n] => rules = n.parse().unwrap(),
            [path, cached, after] => {
                gio_shown.insert(path.to_owned(), (cached.to_owned(), after.to_owned()));
            }
            _ => break,
        }
    }
    let _ = gio.wait();
    // Two per GDBusProxy (PropertiesChanged, the interface's signals): a bus that refused some
    // would leave those proxies deaf, and the comparison below would blame the daemon.
    assert!(
        rules >= 2 * SESSIONS,
        "the bus holds {rules} match rules for the GDBusProxy client, fewer than the {} its {SESSIONS} \
         proxies asked for",
        2 * SESSIONS
    );
    // A GDBusProxy whose cache disagrees is the daemon's doing unless the daemon's newer
    // PropertiesChanged reached the connection after the proxy's GetAll reply: then GLib
    // dropped it (its proxy ignores PropertiesChanged until its own init completes).
    let (mut gio_stuck, mut gio_dropped) = (Vec::new(), Vec::new());
    for (path, truth) in &truth {
        match gio_shown.get(path) {
            Some((cached, _)) if cached == truth => {}
            Some((cached, after)) if after == truth => {
                gio_dropped.push(format!("{path}: {cached}"))
            }
            shown => gio_stuck.push(format!("{path}: {shown:?} (daemon: {truth})")),
        }
    }
    if !gio_dropped.is_empty() {
        eprintln!(
            "GLib's GDBusProxy dropped the daemon's PropertiesChanged for {} of {SESSIONS}: \
             {gio_dropped:?}",
            gio_dropped.len()
        );
    }
    assert!(
        zbus_stuck.is_empty() && gio_stuck.is_empty() && stale.is_empty(),
        "caching proxies disagree with the daemon after {CATCH_UP:?}: zbus {} of {SESSIONS} \
         {zbus_stuck:?}; GDBusProxy {} of {SESSIONS} {gio_stuck:?}; replies older than a \
         signal already received: {stale:?}",
        zbus_stuck.len(),
        gio_stuck.len(),
    );
}

/// The zbus proxies whose cached Status is not the daemon's.
async fn stuck_zbus(
    proxies: &[(OwnedObjectPath, SessionProxy<'static>)],
    truth: &Shown,
) -> Vec<String> {
    let mut stuck = Vec::new();
    for (path, proxy) in proxies {
        let shown = proxy.status().await.unwrap();
        if truth.get(path.as_str()) != Some(&shown) {
            stuck.push(format!("{path}: {shown}"));
        }
    }
    stuck
}
