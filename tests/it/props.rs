//! Property-based tests (proptest) of what parses or validates untrusted text: session names,
//! hook payloads, tmux's output and error text, and pane text summaries. Each never panics on
//! any input and keeps its promises. The case counts are bounded so the whole file runs in a
//! few seconds.
//!
//! The tmux parsers (`parse_panes`, `tail_lines`, `classify_failure`) are private to
//! `trusty_mpm::tmux`, so they are driven through the public `TmuxDriver` with a stand-in
//! `tmux` that prints what each case asks for.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::Value;
use trusty_mpm::config::{Config, SUMMARY_CHARS};
use trusty_mpm::error::Error;
use trusty_mpm::hooks::{activity, payload};
use trusty_mpm::lifecycle::summary::{strip_ansi, summarise, trim};
use trusty_mpm::model::SessionName;

use crate::harness::HOOK_EVENTS;
use trusty_mpm::tmux::{Pane, Tmux, TmuxDriver};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What the contract allows in a name, written independently of the implementation.
fn name_is_valid(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Candidate names: mostly near-valid, some arbitrary.
fn names() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{0,70}",
        "[-a-z0-9:. \\n\\té_=%#]{0,12}",
        any::<String>(),
    ]
}

/// Pane-like text: ANSI sequences, box drawing, blank runs, control characters, words.
fn pane_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z0-9 .,:>]{1,30}",
        Just("\n".to_owned()),
        Just("\n\n\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\t".to_owned()),
        Just("\x1b[".to_owned()),
        Just("\x1b[1;32m".to_owned()),
        Just("\x1b[0m".to_owned()),
        Just("\x1b]0;title\x07".to_owned()),
        Just("\x1b]8;;http://x\x1b\\".to_owned()),
        Just("\x1b(B".to_owned()),
        Just("\x1b".to_owned()),
        Just("\x07".to_owned()),
        Just("╭──────╮".to_owned()),
        Just("│".to_owned()),
        Just("╰──────╯".to_owned()),
        Just("█▌▐░".to_owned()),
        Just("   ".to_owned()),
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..100).prop_map(|v| v.concat())
}

/// Long pane text, past the summary budget.
fn long_pane_text() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z │─]{0,80}\n{1,3}", 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn session_names_are_exactly_the_contracts(s in names()) {
        let r = SessionName::new(&s);
        prop_assert_eq!(r.is_ok(), name_is_valid(&s), "{:?}: {:?}", s, r);
        if let Ok(n) = r {
            prop_assert_eq!(n.as_str(), s.as_str());
        }
    }

    #[test]
    fn derived_bases_are_valid_names_with_room_for_a_suffix(folder in names()) {
        let base = SessionName::derive_base(&folder);
        prop_assert!(SessionName::new(&base).is_ok(), "{:?} -> {:?}", folder, base);
        let suffixed = format!("{base}-999");
        prop_assert!(SessionName::new(&suffixed).is_ok(), "{:?} -> {:?}", folder, base);
    }

    #[test]
    fn summaries_are_short_and_clean(text in prop_oneof![pane_text(), long_pane_text()]) {
        let s = summarise(&text);
        prop_assert!(s.chars().count() <= SUMMARY_CHARS, "{} chars", s.chars().count());
        prop_assert!(!s.contains('\x1b'), "{:?}", s);
        prop_assert!(!s.chars().any(|c| ('\u{2500}'..='\u{259F}').contains(&c)), "{:?}", s);
        prop_assert!(!s.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{:?}", s);
    }

    #[test]
    fn strip_ansi_leaves_no_escapes(text in prop_oneof![pane_text(), any::<String>()]) {
        let s = strip_ansi(&text);
        prop_assert!(!s.contains('\x1b'), "{:?}", s);
        prop_assert!(!s.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{:?}", s);
        let t = trim(&text);
        prop_assert!(!t.contains('\x1b'), "{:?}", t);
        prop_assert!(!t.contains("\n\n\n"), "blank run left: {:?}", t);
        prop_assert!(t.lines().all(|l| l == l.trim_end()), "trailing space left: {:?}", t);
    }

    #[test]
    fn strip_ansi_keeps_plain_text(text in "[^\\x00-\\x1f\\x7f-\\x9f]{0,200}") {
        prop_assert_eq!(strip_ansi(&text), text);
    }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const HOOK_FIELDS: [&str; 10] = [
    "session_id",
    "transcript_path",
    "cwd",
    "tool_name",
    "prompt",
    "message",
    "notification_type",
    "source",
    "reason",
    "tool_input",
];

/// Hook payloads as Claude Code sends them, with odd names, odd values and odd types.
fn hook_object() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    let event = prop_oneof![
        prop::sample::select(HOOK_EVENTS.to_vec()).prop_map(Value::from),
        "[A-Za-z]{1,20}".prop_map(Value::from),
        "[A-Za-z \\n\\t\\x1b]{1,300}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        json_value(),
    ];
    let field = prop_oneof![
        3 => any::<String>().prop_map(Value::from),
        1 => prop::sample::select(vec![
            "Bash", "AskUserQuestion", "permission_prompt", "idle_prompt",
            "elicitation_dialog", "clear", "startup",
        ])
        .prop_map(Value::from),
        1 => json_value(),
    ];
    (
        event,
        prop::collection::vec((prop::sample::select(HOOK_FIELDS.to_vec()), field), 0..10),
        prop::collection::btree_map("[a-z_]{1,12}", json_value(), 0..3),
    )
        .prop_map(|(event, fields, extra)| {
            let mut m: serde_json::Map<String, Value> = extra.into_iter().collect();
            m.insert("hook_event_name".into(), event);
            for (k, v) in fields {
                m.insert(k.into(), v);
            }
            m
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn hook_payloads_parse_or_are_invalid_arguments(
        json in prop_oneof![
            hook_object().prop_map(|m| Value::Object(m).to_string()),
            json_value().prop_map(|v| v.to_string()),
            any::<String>(),
        ]
    ) {
        match payload::parse(&json) {
            Ok(p) => {
                prop_assert!(!p.hook_event_name.is_empty());
                let _ = p.subject();
                let _ = activity::effect(&p);
            }
            Err(Error::InvalidArgument(m)) => prop_assert!(m.ends_with('.'), "{:?}", m),
            Err(e) => prop_assert!(false, "{:?} for {:?}", e, json),
        }
    }

    #[test]
    fn hook_payload_fields_are_read_or_absent(obj in hook_object()) {
        let json = Value::Object(obj.clone()).to_string();
        let event = obj["hook_event_name"].as_str().unwrap_or("");
        // Event names are identifiers: 1 to 64 letters, digits or '_'.
        let valid = (1..=64).contains(&event.len())
            && event.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let Ok(p) = payload::parse(&json) else {
            prop_assert!(!valid, "refused a valid hook_event_name: {}", json);
            return Ok(());
        };
        prop_assert!(valid, "accepted hook_event_name {:?}", event);
        prop_assert_eq!(p.hook_event_name.as_str(), event);
        let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        // Session ids are UUIDs (in their canonical spelling), else absent.
        let id = uuid::Uuid::try_parse(&text("session_id")).ok().filter(|_| text("session_id").len() == 36);
        prop_assert_eq!(&p.session_id, &id.map(|u| u.to_string()).unwrap_or_default());
        // Paths are absolute, on one line, and no longer than a path may be.
        let path = text("transcript_path");
        let path_ok = path.starts_with('/') && path.len() <= 4095 && !path.chars().any(char::is_control);
        prop_assert_eq!(&p.transcript_path, &if path_ok { path } else { String::new() });
        // Tool names are kept printable and at most 128 characters.
        let tool: String = text("tool_name").chars().filter(|c| !c.is_control()).take(128).collect();
        prop_assert_eq!(&p.tool_name, &tool);
        // Texts are one clean line of bounded length.
        prop_assert_eq!(&p.message, &trusty_mpm::text::one_line(&text("message"), 200));
        prop_assert_eq!(&p.reason, &trusty_mpm::text::one_line(&text("reason"), 64));
        prop_assert_eq!(&p.tool_input, obj.get("tool_input").unwrap_or(&Value::Null));
    }

    /// The history's summary of an event is one line of at most 200 characters (and an
    /// ellipsis), whatever the event says.
    #[test]
    fn hook_summaries_are_one_short_line(obj in hook_object()) {
        if let Ok(p) = payload::parse(&Value::Object(obj).to_string()) {
            let s = activity::summary(&p);
            prop_assert!(!s.chars().any(char::is_control), "{:?}", s);
            prop_assert!(s.chars().count() <= 201, "{} chars", s.chars().count());
        }
    }
}

/// A stand-in `tmux` that prints prepared stdout and stderr and exits with a prepared code,
/// behind a real `TmuxDriver`.
struct FakeTmux {
    dir: tempfile::TempDir,
    driver: TmuxDriver,
    rt: tokio::runtime::Runtime,
}

impl FakeTmux {
    fn new() -> FakeTmux {
        let dir = tempfile::tempdir().unwrap();
        let bin: PathBuf = dir.path().join("tmux");
        std::fs::write(
            &bin,
            "#!/bin/sh\nd=${0%/*}\ncat \"$d/out\"\ncat \"$d/err\" >&2\nread -r code < \"$d/code\"\nexit \"$code\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut cfg = Config::from_env();
        cfg.tmux_bin = bin.clone();
        cfg.tmux_socket = None;
        cfg.tmux_timeout = Duration::from_secs(10);
        cfg.under_systemd = false;
        let fake = FakeTmux {
            driver: TmuxDriver::new(&cfg),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            dir,
        };
        // A process forked elsewhere in this test binary while the script was open for writing
        // holds it busy until it execs (ETXTBSY); wait until it runs.
        fake.answer(b"", b"", 0);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::process::Command::new(&bin).output().is_err() {
            assert!(Instant::now() < deadline, "the fake tmux does not run");
            std::thread::sleep(Duration::from_millis(10));
        }
        fake
    }

    fn answer(&self, out: &[u8], err: &[u8], code: u8) {
        let d = self.dir.path();
        std::fs::write(d.join("out"), out).unwrap();
        std::fs::write(d.join("err"), err).unwrap();
        std::fs::write(d.join("code"), format!("{code}\n")).unwrap();
    }

    fn panes(&self) -> Result<Vec<Pane>, Error> {
        let name = SessionName::new("s").unwrap();
        Ok(self.rt.block_on(self.driver.panes(&name))?)
    }
}

thread_local! {
    /// One stand-in per test thread (each test runs on its own thread, its cases in turn).
    static FAKE: FakeTmux = FakeTmux::new();
}

fn pane() -> impl Strategy<Value = Pane> {
    (
        (0u32..100_000, any::<u32>(), any::<bool>()),
        (any::<Option<i32>>(), any::<bool>(), any::<u32>()),
        "[^\\n\\r]{0,40}",
    )
        .prop_map(
            |((n, pid, dead), (dead_status, active, server_pid), current_path)| Pane {
                id: format!("%{n}"),
                pid,
                dead,
                dead_status,
                active,
                server_pid,
                current_path,
            },
        )
}

fn bytes_like_tmux_output() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(b'\t'),
            Just(b'\n'),
            Just(b'%'),
            Just(b'\r'),
            b'0'..=b'9',
            any::<u8>(),
        ],
        0..300,
    )
}

/// Error text like tmux's, and arbitrary text.
fn tmux_stderr() -> impl Strategy<Value = String> {
    let phrase = prop_oneof![
        Just("no server running on /tmp/x".to_owned()),
        Just("error connecting to /nope/sock (No such file or directory)".to_owned()),
        Just("error creating /nope/sock (Permission denied)".to_owned()),
        Just("can't find session: x".to_owned()),
        Just("server exited unexpectedly".to_owned()),
        Just("duplicate session: x".to_owned()),
        Just("\n\n  \t".to_owned()),
        Just("\x1b[31m".to_owned()),
        "[ -~]{0,40}",
        any::<String>(),
    ];
    prop::collection::vec(phrase, 0..6).prop_map(|v| v.join("\n"))
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn well_formed_pane_lines_round_trip(panes in prop::collection::vec(pane(), 0..8)) {
        let out: String = panes
            .iter()
            .map(|p| format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                p.id,
                p.pid,
                u8::from(p.dead),
                p.dead_status.map(|s| s.to_string()).unwrap_or_default(),
                u8::from(p.active),
                p.server_pid,
                p.current_path
            ))
            .collect();
        let got = FAKE.with(|fake| {
            fake.answer(out.as_bytes(), b"", 0);
            fake.panes().unwrap()
        });
        prop_assert_eq!(got, panes);
    }

    #[test]
    fn any_pane_listing_parses_without_panicking(out in bytes_like_tmux_output()) {
        let panes = FAKE.with(|fake| {
            fake.answer(&out, b"", 0);
            fake.panes().unwrap()
        });
        prop_assert!(panes.iter().all(|p| p.id.starts_with('%')), "{:?}", panes);
        prop_assert!(panes.len() <= out.iter().filter(|&&b| b == b'\n').count() + 1);
    }

    #[test]
    fn captures_keep_at_most_the_last_n_lines(
        screen in prop_oneof![pane_text(), "([a-z]{0,5}\n){0,30}\n{0,10}"],
        n in 0u32..40,
    ) {
        let got = FAKE.with(|fake| {
            fake.answer(screen.as_bytes(), b"", 0);
            fake.rt.block_on(fake.driver.capture("%1", n)).unwrap()
        });
        // The last n lines of the text without its trailing blank rows, each ending in \n.
        let all: Vec<&str> = screen.trim_end().lines().collect();
        let want = &all[all.len().saturating_sub(n as usize)..];
        prop_assert!(want.len() <= n as usize);
        if want.is_empty() {
            prop_assert_eq!(got, "");
        } else {
            prop_assert_eq!(got, format!("{}\n", want.join("\n")));
        }
    }

    #[test]
    fn failures_are_tmux_unavailable_or_tmux_failed(stderr in tmux_stderr(), code in 1u8..=255) {
        let e = FAKE.with(|fake| {
            fake.answer(b"", stderr.as_bytes(), code);
            fake.rt.block_on(fake.driver.list_sessions()).unwrap_err()
        });
        let e = Error::from(e);
        let msg = match &e {
            Error::TmuxUnavailable(m) => m,
            Error::TmuxFailed(m) => {
                prop_assert!(!stderr.contains("no server running"), "{:?}", e);
                m
            }
            other => return Err(TestCaseError::fail(format!("{other:?} for {stderr:?}"))),
        };
        prop_assert!(msg.ends_with('.'), "{:?}", msg);
        prop_assert!(!msg.chars().any(char::is_control), "{:?}", msg);
        prop_assert!(msg.chars().count() <= 400, "{} chars", msg.chars().count());
    }
}
