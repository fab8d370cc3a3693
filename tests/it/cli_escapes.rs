//! The CLI never lets a control character from the daemon act on the terminal, whatever the
//! daemon sends: a stand-in daemon on a private bus answers every string with escape sequences
//! (a title change, an OSC 52 clipboard write, a screen clear, and the same as C1 controls), and
//! `list`, `status`, `events`, `watch`, errors and their `--json` forms print them visibly, or
//! as JSON escapes that read back to the same text.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use trusty_mpm::contract::{BUS_NAME, MANAGER_IFACE, MANAGER_PATH};
use zbus::{Connection, OwnedObjectPath};

use crate::harness::*;

/// What the stand-in daemon says everywhere: OSC 0 (window title), OSC 52 (clipboard), CSI 2J
/// (clear the screen), C1 CSI, C1 NEL and DEL.
const HOSTILE: &str = "a\x1b]0;pwned\x07b\x1b]52;c;ZWNobyBoaQ==\x07c\x1b[2Jd\u{9b}2Je\u{85}f\x7f";

/// The one session the stand-in daemon has.
const SESSION: &str = "/org/trusty/Mpm1/session/x";

struct FakeManager;

#[zbus::interface(name = "org.trusty.Mpm1")]
impl FakeManager {
    /// Session "x"; any other key fails with a hostile message.
    fn get_session(&self, key: &str) -> zbus::fdo::Result<OwnedObjectPath> {
        match key {
            "x" => Ok(OwnedObjectPath::try_from(SESSION).unwrap()),
            _ => Err(zbus::fdo::Error::Failed(HOSTILE.to_owned())),
        }
    }

    fn get_events(&self, _key: &str, _limit: u32) -> Vec<(u64, String, String, String)> {
        vec![(1, HOSTILE.into(), HOSTILE.into(), HOSTILE.into())]
    }

    #[zbus(property)]
    fn tmux_socket(&self) -> String {
        HOSTILE.into()
    }
}

struct FakeSession;

/// The session interface with every text property `HOSTILE`.
macro_rules! hostile_properties {
    ($($name:ident),*) => {
        #[zbus::interface(name = "org.trusty.Mpm1.Session")]
        impl FakeSession {
            $(
                #[zbus(property)]
                fn $name(&self) -> String {
                    HOSTILE.into()
                }
            )*
        }
    };
}

hostile_properties!(
    id,
    name,
    project_dir,
    status,
    status_detail,
    activity,
    activity_detail,
    claude_session_id,
    transcript_path,
    pause_summary,
    unit,
    tmux_session,
    model
);

/// A private bus with the stand-in daemon on it.
async fn fake_daemon(dir: &std::path::Path) -> (Bus, Connection) {
    let bus = Bus::start(dir);
    let conn = zbus::connection::Builder::address(bus.address.as_str())
        .serve_at(MANAGER_PATH, FakeManager)
        .serve_at(MANAGER_PATH, zbus::fdo::ObjectManager)
        .serve_at(SESSION, FakeSession)
        .name(BUS_NAME)
        .build()
        .await
        .unwrap();
    (bus, conn)
}

/// Runs a client command against the stand-in, which answers from this test's runtime.
async fn cli(bus: &Bus, args: &[&str]) -> Output {
    tokio::process::Command::new(DAEMON)
        .args(args)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

/// Asserts `text` holds no control character but the newlines that end its lines.
fn assert_inert(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "{what} printed {bad:?}: {text:?}");
}

/// Asserts a human form printed the hostile text visibly (escaped, not dropped) and nothing a
/// terminal would act on.
fn assert_shown(what: &str, out: &[u8]) {
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert_inert(what, &text);
    assert!(
        text.contains(r"a\x1b]0;pwned\x07b") && text.contains(r"d\u{9b}2Je\u{85}f\x7f"),
        "{what} does not show the control characters: {text}"
    );
}

/// Asserts a JSON form has no raw control character and reads back to the hostile text.
fn assert_json(what: &str, out: &[u8], field: impl Fn(&serde_json::Value) -> &serde_json::Value) {
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert_inert(what, &text);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(field(&v), HOSTILE, "{what}: {text}");
}

#[tokio::test]
async fn list_status_events_and_errors_show_control_characters_visibly() {
    let dir = tempfile::tempdir().unwrap();
    let (bus, _daemon) = fake_daemon(dir.path()).await;
    for args in [&["list"][..], &["status", "x"], &["events", "x"]] {
        let out = cli(&bus, args).await;
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert_shown(&args.join(" "), &out.stdout);
    }
    let failed = cli(&bus, &["status", "y"]).await;
    assert!(!failed.status.success());
    assert_shown("an error", &failed.stderr);

    let list = cli(&bus, &["list", "--json"]).await;
    assert_json("list --json", &list.stdout, |v| &v[0]["activity_detail"]);
    let status = cli(&bus, &["status", "x", "--json"]).await;
    assert_json("status --json", &status.stdout, |v| &v["name"]);
    let events = cli(&bus, &["events", "x", "--json"]).await;
    assert_json("events --json", &events.stdout, |v| &v[0]["summary"]);
}

#[tokio::test]
async fn watch_shows_control_characters_visibly() {
    let dir = tempfile::tempdir().unwrap();
    let (bus, daemon) = fake_daemon(dir.path()).await;
    for json in [false, true] {
        let mut args = vec!["watch"];
        if json {
            args.push("--json");
        }
        let mut watch = tokio::process::Command::new(DAEMON)
            .args(&args)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
        // The signal goes out until watch, once subscribed, prints it.
        let deadline = Instant::now() + Duration::from_secs(30);
        let line = loop {
            assert!(Instant::now() < deadline, "watch printed nothing in 30 s");
            daemon
                .emit_signal(
                    None::<zbus::names::BusName<'_>>,
                    MANAGER_PATH,
                    MANAGER_IFACE,
                    "ActivityChanged",
                    &(HOSTILE, HOSTILE, HOSTILE, HOSTILE),
                )
                .await
                .unwrap();
            let next = tokio::time::timeout(Duration::from_millis(200), lines.next_line());
            if let Ok(line) = next.await {
                break line.unwrap().expect("watch ended");
            }
        };
        if json {
            assert_json("watch --json", line.as_bytes(), |v| &v["detail"]);
        } else {
            assert_shown("watch", line.as_bytes());
        }
    }
}
