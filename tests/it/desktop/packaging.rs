//! `make install` ships the desktop entry notifications name (`desktop-entry` hint), its icon
//! and the tray's icon for each state, valid as the desktop reads them, and `make uninstall`
//! takes them away again.

use std::process::Command;

use super::*;

#[test]
fn make_install_ships_a_valid_desktop_entry_and_icon() {
    for tool in ["make", "desktop-file-validate", "python3"] {
        require(tool);
    }
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    let make = |target: &str| {
        let out = Command::new("make")
            .args(["-s", "-C", env!("CARGO_MANIFEST_DIR"), target])
            .arg(format!("PREFIX={}", prefix.display()))
            .arg(format!("BIN={DAEMON}"))
            // No user manager to reach: install and uninstall must not touch the real one.
            .env("XDG_RUNTIME_DIR", dir.path().join("no-runtime"))
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .output()
            .unwrap();
        assert!(out.status.success(), "make {target}: {out:?}");
    };
    make("install");
    let entry = prefix.join("share/applications/trusty-mpm.desktop");
    let icons = prefix.join("share/icons/hicolor/scalable");
    let icon = icons.join("apps/trusty-mpm.svg");
    let states = ["down", "idle", "running", "attention"]
        .map(|s| icons.join(format!("status/trusty-mpm-{s}.svg")));
    let validate = Command::new("desktop-file-validate")
        .arg(&entry)
        .output()
        .unwrap();
    assert!(
        validate.status.success() && validate.stdout.is_empty(),
        "{validate:?}"
    );
    let text = std::fs::read_to_string(&entry).unwrap();
    let bin = prefix.join("bin/trusty-mpm");
    assert!(
        text.contains(&format!("\nExec={} notify\n", bin.display())),
        "{text}"
    );
    assert!(text.contains("\nIcon=trusty-mpm\n"), "{text}");
    for icon in states.iter().chain([&icon]) {
        let parse = Command::new("python3")
            .args([
                "-c",
                "import sys, xml.dom.minidom as m; m.parse(sys.argv[1])",
            ])
            .arg(icon)
            .output()
            .unwrap();
        assert!(
            parse.status.success(),
            "{} is not well-formed: {parse:?}",
            icon.display()
        );
    }

    make("uninstall");
    assert!(!entry.exists() && !icon.exists());
    assert!(states.iter().all(|s| !s.exists()), "uninstall leaves none");
}
