//! `make install` and `make uninstall` against a private `systemd --user`: the units verify,
//! uninstall disables them before removing them (no dangling .wants links) and leaves nothing
//! of what install put there, and a PREFIX off systemd's unit path says how to link the units.

use std::path::Path;
use std::process::Output;

use crate::e2e_systemd::UserManager;
use crate::harness::*;

const UNITS: [&str; 3] = [
    "trusty-mpm.service",
    "trusty-mpm-notify.service",
    "trusty-mpm-tray.service",
];

fn make(um: &UserManager, target: &str, vars: &[String]) -> String {
    let mut args = vec!["-s", "-C", env!("CARGO_MANIFEST_DIR"), target];
    let bin = format!("BIN={DAEMON}");
    args.push(&bin);
    args.extend(vars.iter().map(String::as_str));
    let out: Output = um.run("make", &args);
    assert!(
        out.status.success(),
        "make {target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every file (not directory) below `dir`.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(files(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[tokio::test]
async fn uninstall_disables_the_units_and_removes_what_install_put() {
    let um = UserManager::start();
    let (prefix, data) = (um.path("prefix"), um.path("data"));
    let vars = [
        format!("PREFIX={}", prefix.display()),
        format!("DATADIR={}", data.display()),
    ];
    let said = make(&um, "install", &vars);
    assert!(!said.contains("systemctl --user link"), "{said}");
    let unitdir = data.join("systemd/user");
    for unit in UNITS {
        let file = unitdir.join(unit);
        let verify = um.run(
            "systemd-analyze",
            &["verify", "--user", "--man=no", file.to_str().unwrap()],
        );
        assert_eq!(String::from_utf8_lossy(&verify.stderr), "", "{unit}");
    }
    for page in ["man/man1/trusty-mpm.1", "man/man1/trusty-mpm-tray.1"] {
        assert!(data.join(page).is_file(), "{page}");
    }
    let mut enable = vec!["enable"];
    enable.extend(UNITS);
    um.ok(&enable);
    let config = um.path("config/systemd/user");
    let wants = config.join("default.target.wants/trusty-mpm.service");
    assert!(wants.is_symlink());
    assert!(
        config
            .join("graphical-session.target.wants/trusty-mpm-tray.service")
            .is_symlink()
    );

    make(&um, "uninstall", &vars);
    assert_eq!(files(&config), Vec::<String>::new(), "links left behind");
    assert_eq!(files(&prefix), Vec::<String>::new());
    assert_eq!(files(&data), Vec::<String>::new());
}

#[tokio::test]
async fn a_prefix_off_the_unit_path_says_how_to_link_the_units() {
    let um = UserManager::start();
    let prefix = um.path("opt");
    let vars = [format!("PREFIX={}", prefix.display())];
    let said = make(&um, "install", &vars);
    let link = said
        .lines()
        .find_map(|l| l.trim().strip_prefix("systemctl --user "))
        .unwrap_or_else(|| panic!("no link command in:\n{said}"));
    // The printed command works, and uninstall takes the links away again.
    let args: Vec<&str> = link.split(' ').collect();
    um.ok(&args);
    um.ok(&["enable", "trusty-mpm-tray.service"]);
    let config = um.path("config/systemd/user");
    assert!(config.join("trusty-mpm.service").is_symlink());
    make(&um, "uninstall", &vars);
    assert_eq!(files(&config), Vec::<String>::new(), "links left behind");
    assert_eq!(files(&prefix), Vec::<String>::new());
}

/// `make uninstall` leaves nothing that breaks: the relay's entries go from every settings file
/// `hooks install` wrote (Claude Code would fail each hook on the missing binary), the
/// sessions' units stop with the service, and it says what it kept; `make purge` removes that.
#[tokio::test]
async fn uninstall_takes_the_hooks_and_the_sessions_units_then_purge_the_rest() {
    let um = UserManager::start();
    let (prefix, data, home) = (um.path("prefix"), um.path("data"), um.path("home"));
    let vars = [
        format!("PREFIX={}", prefix.display()),
        format!("DATADIR={}", data.display()),
    ];
    let with_home = |program: &str| {
        let mut cmd = um.command(program);
        cmd.env("HOME", &home);
        cmd
    };
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let make_args = |target: &str| {
        let mut args = vec![
            "-s".to_owned(),
            "-C".into(),
            env!("CARGO_MANIFEST_DIR").into(),
            target.into(),
            format!("BIN={DAEMON}"),
        ];
        args.extend(vars.iter().cloned());
        args
    };
    run(with_home("make").args(make_args("install")));

    // The service runs a session, in a unit of its own in the slice.
    um.use_test_claude(&[]);
    um.ok(&["start", "trusty-mpm.service"]);
    let conn = um.bus().await;
    let m = trusty_mpm::cli::proxy::ManagerProxy::new(&conn)
        .await
        .unwrap();
    let project = um.path("project");
    std::fs::create_dir_all(project.join(".claude")).unwrap();
    m.start_session(project.to_str().unwrap(), "kept", Default::default())
        .await
        .unwrap();
    let claude = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let rows = m.list_sessions().await.unwrap();
            if rows[0].5 != 0 {
                break rows[0].5;
            }
            assert!(std::time::Instant::now() < deadline, "claude did not start");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let scope = "trusty-mpm-session-kept.scope";
    let active = |unit: &str| {
        let out = um.systemctl(&["is-active", unit]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(active(scope), "active");

    // The relay in the user's settings and a project's, beside settings of their own.
    let bin = prefix.join("bin/trusty-mpm");
    let project_settings = project.join(".claude/settings.json");
    std::fs::write(&project_settings, r#"{"model": "opus"}"#).unwrap();
    run(with_home(bin.to_str().unwrap()).args(["hooks", "install"]));
    run(with_home(bin.to_str().unwrap())
        .args(["hooks", "install", "--project"])
        .arg(&project));
    let user_settings = home.join(".claude/settings.json");
    // The settings point at the relay's own executable, which `make install` put beside.
    let relay = prefix.join("bin/trusty-mpm-hook");
    let mode = std::os::unix::fs::PermissionsExt::mode(&relay.metadata().unwrap().permissions());
    assert_eq!(mode & 0o777, 0o755, "{}", relay.display());
    for file in [&user_settings, &project_settings] {
        let text = std::fs::read_to_string(file).unwrap();
        let command = format!("\"command\": \"{}\"", relay.display());
        assert!(text.contains(&command), "{command} not in {text}");
    }
    let config = um.path("config/trusty-mpm/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "restore_on_start = true\n").unwrap();
    let state = um.path("state/trusty-mpm");
    assert!(state.join("registry.json").is_file());

    let said = run(with_home("make").args(make_args("uninstall")));
    for file in [&user_settings, &project_settings] {
        let removed = format!("Removed 13 relay entries from {}.", file.display());
        assert!(said.contains(&removed), "{removed:?} not in:\n{said}");
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.contains("trusty-mpm"), "{}: {text}", file.display());
    }
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&project_settings).unwrap()).unwrap();
    assert_eq!(kept, serde_json::json!({"model": "opus"}));
    let keeps = format!(
        "Kept your config ({}) and the registry ({}); `make purge` removes them too.",
        config.display(),
        state.display()
    );
    assert!(said.contains(&keeps), "{keeps:?} not in:\n{said}");
    assert_ne!(active(scope), "active", "the session's unit runs on");
    assert_ne!(active("trusty-mpm.service"), "active");
    wait_for("claude ends with its unit", || async { !alive(claude) }).await;
    assert!(
        !state.join("hooks.list").exists(),
        "the list outlived its entries"
    );
    assert!(config.is_file() && state.join("registry.json").is_file());
    assert_eq!(files(&prefix), Vec::<String>::new());

    run(with_home("make").args(make_args("purge")));
    assert!(
        !config.exists() && !state.exists(),
        "purge left config or state"
    );
    assert!(!config.parent().unwrap().exists());
}
