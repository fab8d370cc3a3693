//! The tray following every host: a submenu per host holding that host's sessions, whose
//! actions reach that host's daemon; a host that cannot be reached is shown so in its own
//! submenu while the others are shown as usual.

use crate::harness::wait_for;
use crate::tray::{Tray, serve_watcher};

use super::Two;

#[tokio::test]
async fn the_tray_shows_a_submenu_per_host_and_stops_a_remote_session_there() {
    // `gone` is lab's sshd on a port where nothing listens.
    let hosts = "[hosts.lab]\nssh = \"lab\"\n\n[hosts.gone]\nssh = \"ssh://lab:1\"\n";
    let two = Two::with_hosts("", hosts).await;
    two.start_remote("api").await;
    let (_watcher, items) = serve_watcher(&two.env).await;
    let child = tokio::process::Command::from(two.command(&["tray"]))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let tray = Tray::spawned(&two.env, &items, 0, child).await;

    let stop = |entries: &[crate::tray::Shown]| {
        entries
            .iter()
            .find(|e| e.path.starts_with("lab — ") && e.path.ends_with("/Stop"))
            .map(|e| (e.id, e.path.clone(), e.enabled))
    };
    wait_for("lab's session in lab's submenu", || async {
        stop(&tray.entries().await).is_some()
    })
    .await;
    let entries = tray.entries().await;
    let (id, path, enabled) = stop(&entries).unwrap();
    assert!(
        path.starts_with("lab — 1 session") && path.contains("/api (active"),
        "{path}"
    );
    assert!(enabled, "{path}");
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"local — No sessions/No sessions"),
        "{paths:?}"
    );
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("local") && p.contains("api")),
        "lab's session only in lab's submenu: {paths:?}"
    );

    tray.click_id(id).await.unwrap();
    wait_for("lab's session stopped", || async {
        two.json(&["status", "api@lab", "--json"])["status"] == "stopped"
    })
    .await;
    // Its submenu follows lab's signals: a stopped session offers Restart.
    wait_for("Restart in lab's submenu", || async {
        let entries = tray.entries().await;
        entries.iter().any(|e| {
            e.path.starts_with("lab — ")
                && e.path.contains("/api (stopped")
                && e.path.ends_with("/Restart")
        })
    })
    .await;

    wait_for("gone shown unreachable", || async {
        let entries = tray.entries().await;
        entries
            .iter()
            .any(|e| e.path == "gone — unreachable/unreachable — retrying" && !e.enabled)
    })
    .await;
}
