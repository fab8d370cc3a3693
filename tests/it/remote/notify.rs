//! `notify` following every host: a remote permission request is a notification on this
//! desktop (the stand-in server of `desktop`), named with its host, whose Allow reaches the
//! remote daemon and its relay; a host that cannot be reached is said once on stderr and holds
//! up nothing.

use std::process::Stdio;

use super::{Two, decided};
use crate::desktop::{FULL, click, serve_notifications};
use crate::harness::*;

#[tokio::test]
async fn a_remote_permission_request_is_answered_from_a_local_notification() {
    // `gone` is lab's sshd on a port where nothing listens.
    let hosts = "[hosts.lab]\nssh = \"lab\"\n\n[hosts.gone]\nssh = \"ssh://lab:1\"\n";
    let two = Two::with_hosts("permission_wait_secs = 60\n", hosts).await;
    let (server, log, _caps) = serve_notifications(&two.env, FULL).await;
    let mut cmd = two.command(&["notify"]);
    // Where notify keeps its notification ids.
    cmd.env("XDG_RUNTIME_DIR", two.lab.client.path());
    let notify = tokio::process::Command::from(cmd)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Once notify reached lab it offers to answer there: then lab's relay waits for an answer.
    let lab_bus = two.lab.bus().await;
    let dbus = zbus::fdo::DBusProxy::new(&lab_bus).await.unwrap();
    wait_for("notify answers requests on lab", || async {
        let name = trusty_mpm::contract::ANSWERER_NAME.try_into().unwrap();
        dbus.name_has_owner(name).await.unwrap()
    })
    .await;
    two.start_remote("api").await;
    let out = two.ask_remote("api");

    let asking = || {
        let log = log.lock().unwrap();
        let mut shown = log.shown.iter();
        shown.find(|s| s.summary.contains(" asks to use ")).cloned()
    };
    wait_for("the request's notification", || async {
        asking().is_some()
    })
    .await;
    let shown = asking().unwrap();
    assert_eq!(shown.summary, "api@lab asks to use Bash");
    assert_eq!(shown.body, "make deploy");
    assert!(
        shown.actions.chunks(2).any(|a| a == ["allow", "Allow"]),
        "{:?}",
        shown.actions
    );
    click(&server, shown.id, "allow").await;
    let decided = decided(&out).await;
    assert!(decided.contains(r#""behavior":"allow""#), "{decided}");
    // lab's PermissionResolved closes it.
    wait_for("the notification closed", || async {
        log.lock().unwrap().closed.contains(&shown.id)
    })
    .await;
    assert_eq!(
        two.json(&["requests", "--host", "lab", "--json"]),
        serde_json::json!([])
    );

    let mut notify = notify;
    notify.start_kill().unwrap();
    let said = notify.wait_with_output().await.unwrap().stderr;
    let said = String::from_utf8(said).unwrap();
    let gone: Vec<&str> = said.lines().filter(|l| l.contains("gone")).collect();
    assert_eq!(gone.len(), 1, "{said}");
    assert!(
        gone[0].starts_with("trusty-mpm notify: gone: unreachable: "),
        "{said}"
    );
    assert!(gone[0].ends_with("; trying again."), "{said}");
}
