//! Callers of another uid: refused by every method of the contract, and nothing changes.

use std::collections::BTreeMap;

use trusty_mpm::cli::proxy::SessionRow;

use super::support::*;
use crate::harness::*;

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
        let mut props = get_all(&env.conn, r.6.as_str(), SESSION_IFACE)
            .await
            .unwrap();
        // Figures of running processes move on by themselves; they say nothing of a change.
        for live in ["MemoryCurrent", "CpuUsageNSec", "TasksCurrent"] {
            props.remove(live);
        }
        session_props.push(props);
        events.push(m.get_events(&r.0, 0).await.unwrap());
    }
    let mut tmux = env.tmux_sessions();
    tmux.sort();
    Observed {
        manager_props: get_all(&env.conn, MANAGER_PATH, MANAGER_IFACE)
            .await
            .unwrap(),
        screen: m.capture_output("acc-live", 100, "off").await.unwrap(),
        registry: ["registry.json", "registry.journal"]
            .map(|f| std::fs::read(env.state_dir().join(f)).unwrap())
            .concat(),
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
/// properties, events, the pane, tmux sessions and the registry's files.
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
