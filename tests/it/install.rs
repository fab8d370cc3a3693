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
