//! What a person sees of the tray: always shown (never Passive), the themed icon of each state
//! when `make install` put the icons in the theme (else the pixmaps, a different one per
//! state), Restart and Remove for a stopped session, and long commands cut in the menu but
//! whole in the tooltip.

use super::*;

/// A data directory holding the tray's icons as `make install` lays them out.
fn themed(dir: &Path) -> PathBuf {
    let share = dir.join("share");
    let icons = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/icons");
    for (context, names) in [
        ("apps", &["trusty-mpm"][..]),
        (
            "status",
            &[
                "trusty-mpm-down",
                "trusty-mpm-idle",
                "trusty-mpm-running",
                "trusty-mpm-attention",
            ][..],
        ),
    ] {
        let to = share.join("icons/hicolor/scalable").join(context);
        std::fs::create_dir_all(&to).unwrap();
        for name in names {
            let file = format!("{name}.svg");
            std::fs::copy(icons.join(&file), to.join(&file)).unwrap();
        }
    }
    share
}

#[tokio::test]
async fn grey_until_a_session_runs_and_a_stopped_one_restarts_or_goes() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let mut env = Env::with_env(&[("TRUSTY_MPM_CONFIG", &config)]).await;
    let (_watcher, items) = serve_watcher(&env).await;
    let share = themed(dir.path());
    let setup =
        Setup::plain(&config, dir.path()).with("XDG_DATA_DIRS", share.display().to_string());
    let tray = Tray::start(&env, &items, setup).await;
    // The theme has the icons: the item names them (no extra theme path needed).
    tray.wait_icon("trusty-mpm-idle").await;
    assert_eq!(tray.item.status().await.unwrap(), "Active");
    assert_eq!(
        tray.item.attention_icon_name().await.unwrap(),
        "trusty-mpm-attention"
    );
    assert_eq!(tray.item.icon_theme_path().await.unwrap(), "");
    assert_eq!(tray.item.tool_tip().await.unwrap().0, "trusty-mpm");

    env.stop_daemon();
    tray.wait_icon("trusty-mpm-down").await;
    assert_eq!(
        tray.item.status().await.unwrap(),
        "Active",
        "not running is shown too"
    );
    env.start_daemon().await;
    tray.wait_icon("trusty-mpm-idle").await;

    let (id, _, _) = env.start_active("s").await;
    tray.wait_icon("trusty-mpm-running").await;
    let m = env.manager().await;
    m.stop_session(&id, false).await.unwrap();
    tray.wait_icon("trusty-mpm-idle").await;
    let stopped = "s (stopped)";
    tray.wait_entry(&format!("{stopped}/Remove")).await;
    let children: Vec<String> = tray
        .entries()
        .await
        .into_iter()
        .filter_map(|e| {
            e.path
                .strip_prefix(&format!("{stopped}/"))
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(children, ["Restart", "Remove"], "nothing to attach to");

    tray.click(&format!("{stopped}/Restart")).await.unwrap();
    tray.wait_icon("trusty-mpm-running").await;
    assert_eq!(m.list_sessions().await.unwrap()[0].3, "active");
    m.stop_session(&id, false).await.unwrap();
    tray.click(&tray.wait_entry(&format!("{stopped}/Remove")).await.path)
        .await
        .unwrap();
    wait_for("the session is gone", || async {
        m.list_sessions().await.unwrap().is_empty()
    })
    .await;
    wait_for("no session in the menu", || async {
        tray.top().await[0] == "trusty-mpm — No sessions (off)"
    })
    .await;
}

#[tokio::test]
async fn without_the_theme_each_state_has_its_own_pixmap() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let mut env = Env::with_env(&[("TRUSTY_MPM_CONFIG", &config)]).await;
    let (_watcher, items) = serve_watcher(&env).await;
    let tray = Tray::start(&env, &items, Setup::plain(&config, dir.path())).await;
    assert_eq!(
        tray.item.icon_name().await.unwrap(),
        "",
        "hosts draw the pixmap"
    );
    let idle = tray.item.icon_pixmap().await.unwrap();
    assert!(idle.iter().any(|(w, _, _)| *w == 22), "a size panels draw");
    for (w, h, px) in &idle {
        assert_eq!(px.len(), (w * h * 4) as usize, "ARGB32");
    }
    env.start_active("p").await;
    wait_for("the running pixmap", || async {
        tray.item.icon_pixmap().await.unwrap() != idle
    })
    .await;
    let running = tray.item.icon_pixmap().await.unwrap();
    env.stop_daemon();
    wait_for("the pixmap of a daemon that is gone", || async {
        let now = tray.item.icon_pixmap().await.unwrap();
        now != running && now != idle
    })
    .await;
}

#[tokio::test]
async fn long_commands_are_cut_in_the_menu_and_whole_in_the_tooltip() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "permission_wait_secs = 30\n");
    let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", &config)]).await;
    let (_watcher, items) = serve_watcher(&env).await;
    let tray = Tray::start(&env, &items, Setup::plain(&config, dir.path())).await;
    env.start_active("long").await;
    let command = format!(
        "cargo build --release && cat <{}> | tee out.log",
        "x.".repeat(150)
    );
    let _pending = ask_permission(&env, "long", &command);
    wait_for("the request in the tooltip", || async {
        tray.tooltip().await.contains("long asks to use Bash:")
    })
    .await;
    let tip = tray.tooltip().await;
    // Hosts read the tooltip as markup: what it shows is the command as it will run.
    let escaped = command
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(
        tip.ends_with(&format!("long asks to use Bash: {escaped}")),
        "{tip}"
    );
    let asks = tray.wait_entry("Allow").await;
    let sub = asks.path.rsplit_once('/').unwrap().0.to_owned();
    let entries = tray.entries().await;
    let label = entries
        .iter()
        .find(|e| e.path.starts_with(&format!("{sub}/Asks: ")))
        .unwrap()
        .path
        .rsplit_once('/')
        .unwrap()
        .1
        .to_owned();
    assert_eq!(label.chars().count(), 57, "{label}");
    assert!(
        label.starts_with("Asks: Bash: cargo build --release && cat <x.x.") && label.ends_with('…')
    );
    assert!(
        entries
            .iter()
            .all(|e| e.path.rsplit('/').next().unwrap().chars().count() <= 57)
    );
}
