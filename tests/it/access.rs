//! Issue 9: reading properties and GetManagedObjects are refused to other users, as the methods
//! are (`reliability::other_users`), while the owner reads on. A client of uid 65534 on a bus
//! that admits it stands in for another user.

use std::collections::HashMap;

use zbus::fdo::{ObjectManagerProxy, PropertiesProxy};
use zbus::names::InterfaceName;
use zbus::proxy::CacheProperties;

use crate::harness::*;

const MANAGER_PATH: &str = "/org/trusty/Mpm1";
const MANAGER_IFACE: &str = "org.trusty.Mpm1";
const SESSION_IFACE: &str = "org.trusty.Mpm1.Session";
const DENIED: &str = "org.trusty.Mpm1.Error.AccessDenied";
/// zbus's Properties.GetAll can only fail with a standard error name.
const DENIED_GET_ALL: &str = "org.freedesktop.DBus.Error.AccessDenied";

async fn properties(env: &Env, path: &str) -> PropertiesProxy<'static> {
    PropertiesProxy::builder(&env.conn)
        .destination("org.trusty.Mpm1")
        .path(path.to_owned())
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn other_users_cannot_read_properties_or_managed_objects() {
    let env = Env::with_env(&[("RUST_LOG", "warn")]).await;
    let addr = env.bus.address.clone();
    assert_nobody_reaches_bus(&addr);
    let (_, path, _) = env.start_active("acc-props").await;
    let path = path.as_str();

    let get = "org.freedesktop.DBus.Properties.Get";
    let get_all = "org.freedesktop.DBus.Properties.GetAll";
    let calls: [(&str, &str, &[&str], &str); 5] = [
        (
            MANAGER_PATH,
            get,
            &["'org.trusty.Mpm1'", "'SessionCount'"],
            DENIED,
        ),
        (
            MANAGER_PATH,
            get_all,
            &["'org.trusty.Mpm1'"],
            DENIED_GET_ALL,
        ),
        (path, get, &["'org.trusty.Mpm1.Session'", "'Name'"], DENIED),
        (
            path,
            get_all,
            &["'org.trusty.Mpm1.Session'"],
            DENIED_GET_ALL,
        ),
        (
            MANAGER_PATH,
            "org.freedesktop.DBus.ObjectManager.GetManagedObjects",
            &[],
            DENIED,
        ),
    ];
    let mut failures = Vec::new();
    for (target, member, args, error) in calls {
        let out = gdbus_as_nobody(&addr, target, member, args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        if out.status.success() || !stderr.contains(error) {
            failures.push(format!(
                "{member} {args:?} on {target} as uid 65534: {} {stdout}{stderr}",
                out.status
            ));
        }
    }
    assert!(failures.is_empty(), "not denied:\n{}", failures.join("\n"));

    // The owner reads on, on the same daemon, and GetManagedObjects lists the session object
    // only (not the bare /org/trusty/Mpm1/session node).
    let iface = |name| InterfaceName::from_static_str(name).unwrap();
    let manager = properties(&env, MANAGER_PATH).await;
    let count = manager.get(iface(MANAGER_IFACE), "SessionCount").await;
    assert_eq!(u32::try_from(count.unwrap()).unwrap(), 1);
    let all = manager.get_all(iface(MANAGER_IFACE)).await.unwrap();
    assert!(all.contains_key("Version"), "{all:?}");
    let session = properties(&env, path).await;
    let name = session.get(iface(SESSION_IFACE), "Name").await.unwrap();
    assert_eq!(String::try_from(name).unwrap(), "acc-props");
    let all: HashMap<String, _> = session
        .get_all(iface(SESSION_IFACE))
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(all.contains_key("Status"), "{all:?}");
    let objects = ObjectManagerProxy::builder(&env.conn)
        .destination("org.trusty.Mpm1")
        .path(MANAGER_PATH)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .unwrap()
        .get_managed_objects()
        .await
        .unwrap();
    let paths: Vec<&str> = objects.keys().map(|p| p.as_str()).collect();
    assert_eq!(paths, [path]);
    let listed = objects
        .values()
        .next()
        .unwrap()
        .iter()
        .find(|(i, _)| i.as_str() == SESSION_IFACE)
        .map(|(_, props)| props)
        .expect("the session interface is listed");
    assert_eq!(listed.len(), all.len(), "{listed:?}");
}
