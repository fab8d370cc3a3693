//! The newcomer's path under a real `systemd --user`: the API key given to the service in a
//! drop-in (the systemd way) reaches claude, though its tmux server is a unit of the user
//! manager, which never had the key; claude then talks to the API instead of saying
//! "Not logged in".

use std::collections::HashMap;

use trusty_mpm::cli::proxy::ManagerProxy;

use super::api::{ClaudeApi, Reply, Usage};
use super::{API_KEY, Version, claude_env, count_events, install, path_str, write_home};
use crate::e2e_systemd::UserManager;
use crate::harness::*;

pub async fn the_service_s_key_reaches_claude(version: Version) {
    let um = UserManager::start();
    um.install();
    let number = version.number();
    let claude = install::claude(&number);
    let api = ClaudeApi::start();
    let (home, project) = (um.path("home"), um.path("work/keyed"));
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    write_home(&home, std::slice::from_ref(&project), &number);
    // What every unit of the manager gets (the tmux server's too): all but the key.
    let mut vars: Vec<String> = claude_env(&home, &api)
        .into_iter()
        .filter(|(k, _)| k != "ANTHROPIC_API_KEY")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    vars.push(format!("TRUSTY_MPM_CLAUDE_COMMAND={}", path_str(&claude)));
    vars.push(format!(
        "TRUSTY_MPM_TMUX_SOCKET={}",
        um.path("tmux.sock").display()
    ));
    let mut args = vec!["set-environment"];
    args.extend(vars.iter().map(String::as_str));
    um.ok(&args);
    // The key, for the service alone.
    um.drop_in(
        "key.conf",
        &format!("[Service]\nEnvironment=ANTHROPIC_API_KEY={API_KEY}\n"),
    );
    um.ok(&["daemon-reload"]);
    um.ok(&["start", "trusty-mpm.service"]);

    let conn = um.bus().await;
    let m = ManagerProxy::new(&conn).await.unwrap();
    let (_, _, path) = m
        .start_session(&path_str(&project), "keyed", HashMap::new())
        .await
        .expect("StartSession");
    let s = trusty_mpm::cli::bus::session_proxy(&conn, path)
        .await
        .unwrap();
    wait_for("claude's SessionStart", || async {
        count_events(&s, "SessionStart").await >= 1
    })
    .await;
    api.push(Reply::text("Hello from the API.", Usage::new(120, 9, 0, 0)));
    m.send_command("keyed", "say hello").await.unwrap();
    let screen = || async { m.capture_output("keyed", 40, "off").await.unwrap() };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while api.turns().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "claude {number} never reached the API with the service's key; the pane shows:\n{}",
            screen().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
