//! What a listening client sees: the manager's signals, ObjectManager's InterfacesAdded and
//! InterfacesRemoved, and PropertiesChanged on session objects and the manager.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use zbus::fdo::ObjectManagerProxy;
use zbus::message::Type;
use zbus::{MatchRule, Message, MessageStream};

use crate::harness::*;

async fn next<S: Stream + Unpin>(s: &mut S, what: &str) -> S::Item {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .unwrap_or_else(|_| panic!("no {what} within 10 s"))
        .unwrap_or_else(|| panic!("{what} stream ended"))
}

/// Every PropertiesChanged under /org/trusty/Mpm1, from before the call that causes it.
async fn property_changes(env: &Env) -> MessageStream {
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .interface("org.freedesktop.DBus.Properties")
        .member("PropertiesChanged")
        .path_namespace("/org/trusty/Mpm1")
        .build()
        .unwrap();
    MessageStream::for_match_rule(rule, &env.conn, None)
        .await
        .unwrap()
}

/// Waits for a PropertiesChanged at `path` carrying `prop` and returns its value as text.
async fn changed_prop(stream: &mut MessageStream, path: &str, prop: &str) -> String {
    loop {
        let msg: Message = next(stream, "PropertiesChanged").await.unwrap();
        if msg.header().path().map(|p| p.as_str()) != Some(path) {
            continue;
        }
        let (_iface, changed, _inv): (
            String,
            std::collections::HashMap<String, zbus::OwnedVariant>,
            Vec<String>,
        ) = msg.body().deserialize().unwrap();
        if let Some(v) = changed.get(prop) {
            return v.to_string();
        }
    }
}

#[tokio::test]
async fn clients_see_objects_signals_and_property_changes() {
    let env = Env::new().await;
    let m = env.manager().await;
    let om = ObjectManagerProxy::builder(&env.conn)
        .destination("org.trusty.Mpm1")
        .path("/org/trusty/Mpm1")
        .build()
        .await
        .unwrap();
    let mut added = om.receive_interfaces_added().await.unwrap();
    let mut removed = om.receive_interfaces_removed().await.unwrap();
    let mut new = m.receive_session_new().await.unwrap();
    let mut gone = m.receive_session_removed().await.unwrap();
    let mut status = m.receive_status_changed().await.unwrap();
    let mut exited = m.receive_claude_exited().await.unwrap();
    let mut props = property_changes(&env).await;

    let dir = env.project("sig");
    let (id, name, path) = m
        .start_session(&dir, "sig", Default::default())
        .await
        .unwrap();

    let a = next(&mut added, "InterfacesAdded").await;
    let args = a.args().unwrap();
    assert_eq!(args.object_path().as_str(), path.as_str());
    let ifaces = args.interfaces_and_properties();
    let props_added = ifaces
        .get("org.trusty.Mpm1.Session")
        .expect("session interface added");
    assert_eq!(
        props_added.get("Name").map(|v| v.to_string()),
        Some("\"sig\"".into())
    );

    let n = next(&mut new, "SessionNew").await;
    let args = n.args().unwrap();
    assert_eq!(
        (args.id(), args.name(), args.path().as_str()),
        (&id.as_str(), &"sig", path.as_str())
    );
    assert_eq!(
        changed_prop(&mut props, "/org/trusty/Mpm1", "SessionCount").await,
        "uint32 1"
    );

    // starting -> active once the fake claude is found.
    let st = next(&mut status, "StatusChanged").await;
    let args = st.args().unwrap();
    assert_eq!(
        (args.id(), args.name(), args.status()),
        (&id.as_str(), &name.as_str(), &"active")
    );
    assert_eq!(
        changed_prop(&mut props, path.as_str(), "Status").await,
        "\"active\""
    );
    let s = env.session(&path).await;
    let pid = s.pid().await.unwrap();

    // Killing claude is noticed without any call: stopped + ClaudeExited.
    signal(pid, "KILL");
    let ex = next(&mut exited, "ClaudeExited").await;
    assert_eq!(*ex.args().unwrap().pid(), pid);
    let st = next(&mut status, "StatusChanged").await;
    assert_eq!(*st.args().unwrap().status(), "stopped");
    assert_eq!(
        changed_prop(&mut props, path.as_str(), "Status").await,
        "\"stopped\""
    );
    assert_eq!(s.status().await.unwrap(), "stopped");

    m.remove_session(&id, true).await.unwrap();
    let r = next(&mut removed, "InterfacesRemoved").await;
    let args = r.args().unwrap();
    assert_eq!(args.object_path().as_str(), path.as_str());
    assert!(
        args.interfaces()
            .iter()
            .any(|i| i.as_str() == "org.trusty.Mpm1.Session")
    );
    let g = next(&mut gone, "SessionRemoved").await;
    assert_eq!(*g.args().unwrap().name(), "sig");
    assert_eq!(
        changed_prop(&mut props, "/org/trusty/Mpm1", "SessionCount").await,
        "uint32 0"
    );
    assert_eq!(m.session_count().await.unwrap(), 0);
}
