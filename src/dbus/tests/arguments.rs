//! InvalidArgument for every kind of bad input: names, project directories, StartSession's
//! options, the contract's limits, keys, text and pids. The sentence says what was wrong, the
//! input is not echoed back whole, and nothing changes: no session, no event, no tmux session
//! (not even a tmux server), nothing typed.

use std::collections::HashMap;

use zbus::Variant;

use super::{Rig, assert_error, proc_state};

/// Names the contract refuses: tmux target syntax, option syntax, control characters, too long.
fn bad_names() -> Vec<String> {
    vec![
        "a:b".into(),
        "a.b".into(),
        "-x".into(),
        "a\nb".into(),
        "a b".into(),
        "a$b".into(),
        "a".repeat(65),
    ]
}

fn no_options() -> HashMap<&'static str, Variant<'static>> {
    HashMap::new()
}

fn args(list: &[&str]) -> HashMap<&'static str, Variant<'static>> {
    let owned: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    HashMap::from([("args", Variant::from(owned))])
}

#[tokio::test]
async fn invalid_argument_for_bad_names() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let dir = r.project("names");
    for name in bad_names() {
        let n = name.as_str();
        assert_error(
            m.start_session(&dir, n, no_options()).await,
            "InvalidArgument",
        );
        assert_error(m.register_session(&dir, n).await, "InvalidArgument");
        assert_error(m.adopt_session(n).await, "InvalidArgument");
        assert_error(m.get_session(n).await, "InvalidArgument");
        assert_error(m.send_command(n, "hi").await, "InvalidArgument");
    }
    assert!(m.list_sessions().await.unwrap().is_empty(), "nothing added");
    assert_eq!(m.session_count().await.unwrap(), 0);
    assert!(r.tmux_sessions().is_empty(), "no tmux session was created");
    assert_eq!(
        r.tmux.world().servers_started,
        0,
        "no tmux server was even started"
    );

    // The limits are exact: 64 characters and a leading '_' are fine.
    let longest = "b".repeat(64);
    let (_, name, _) = m.register_session(&dir, &longest).await.unwrap();
    assert_eq!(name, longest);
    let (_, name, _) = m.register_session(&dir, "_x-Y_9").await.unwrap();
    assert_eq!(name, "_x-Y_9");
}

#[tokio::test]
async fn invalid_argument_for_bad_project_dirs() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let file = std::path::Path::new(&r.project("files")).join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let bad = [
        "".to_owned(),
        "projects/relative".to_owned(),
        "./here".to_owned(),
        "/nonexistent/trusty-mpm/dir".to_owned(),
        file.to_string_lossy().into_owned(),
    ];
    for dir in &bad {
        assert_error(
            m.start_session(dir, "p", no_options()).await,
            "InvalidArgument",
        );
        assert_error(
            m.start_session(dir, "", no_options()).await,
            "InvalidArgument",
        );
        assert_error(m.register_session(dir, "p").await, "InvalidArgument");
        assert_error(m.register_session(dir, "").await, "InvalidArgument");
    }
    assert!(m.list_sessions().await.unwrap().is_empty(), "nothing added");
    assert!(r.tmux_sessions().is_empty(), "no tmux session was created");
}

#[tokio::test]
async fn invalid_argument_for_bad_start_options() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let dir = r.project("opts");

    let mut unknown = no_options();
    unknown.insert("bogus", Variant::from("x"));
    let msg = assert_error(
        m.start_session(&dir, "opts", unknown).await,
        "InvalidArgument",
    );
    assert!(msg.contains("bogus"), "{msg:?}");

    let bad = [
        ("args", Variant::from("--model x")),
        ("args", Variant::from(vec![1u32, 2])),
        ("resume", Variant::from(7u32)),
        ("resume", Variant::from("x; rm -rf /")),
    ];
    for (key, value) in bad {
        let options = HashMap::from([(key, value)]);
        assert_error(
            m.start_session(&dir, "opts", options).await,
            "InvalidArgument",
        );
    }

    assert!(m.list_sessions().await.unwrap().is_empty(), "nothing added");
    assert!(r.tmux_sessions().is_empty(), "no tmux session was created");
}

#[tokio::test]
async fn overlong_arguments_are_invalid() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let dir = r.project("long");
    let huge = "x".repeat(100 * 1024);
    assert_error(
        m.start_session(&dir, "long", args(&[&huge])).await,
        "InvalidArgument",
    );
    let many: Vec<&str> = vec!["-v"; 5000];
    assert_error(
        m.start_session(&dir, "long", args(&many)).await,
        "InvalidArgument",
    );
    let deep = format!("/{}", "d".repeat(5000));
    assert_error(
        m.start_session(&deep, "long", no_options()).await,
        "InvalidArgument",
    );
    assert!(m.list_sessions().await.unwrap().is_empty());
    assert!(r.tmux_sessions().is_empty());
}

#[tokio::test]
async fn invalid_argument_for_limits_and_keys() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let (_, path, pid) = r.start_active("lim").await;
    let s = r.session_uncached(&path).await;
    let events = m.get_events("lim", 0).await.unwrap();
    let rows = m.list_sessions().await.unwrap();

    // SendCommand: at most 64 KiB.
    let big = "x".repeat(64 * 1024 + 1);
    let msg = assert_error(m.send_command("lim", &big).await, "InvalidArgument");
    assert!(
        msg.len() < 200,
        "the text is not echoed back: {} bytes",
        msg.len()
    );
    assert_error(s.send_command(&big).await, "InvalidArgument");

    // PauseSession: note at most 4 KiB.
    let note = "n".repeat(4 * 1024 + 1);
    assert_error(
        m.pause_session("lim", &note, false).await,
        "InvalidArgument",
    );
    assert_error(m.pause_session("lim", &note, true).await, "InvalidArgument");
    assert_error(s.pause(&note, false).await, "InvalidArgument");
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(s.pause_summary().await.unwrap(), "");
    assert_eq!(s.paused_at().await.unwrap(), 0);
    assert!(!s.frozen().await.unwrap());
    assert_ne!(proc_state(pid), 'T');

    // CaptureOutput: at most 10,000 lines; known compressions only.
    assert_error(
        m.capture_output("lim", 10_001, "off").await,
        "InvalidArgument",
    );
    assert_error(
        m.capture_output("lim", u32::MAX, "off").await,
        "InvalidArgument",
    );
    assert_error(s.capture_output(10_001, "trim").await, "InvalidArgument");
    for comp in ["zip", "OFF", "summarize", "", "gzip"] {
        assert_error(m.capture_output("lim", 5, comp).await, "InvalidArgument");
    }
    m.capture_output("lim", 10_000, "off").await.unwrap();

    // SendKeys: allow-listed names or one printable character, 1 or more keys; nothing is
    // pressed when any key is refused.
    for keys in [
        vec!["F1"],
        vec!["C-z"],
        vec!["ab"],
        vec!["h", "F1"],
        vec!["h", "i", "Enter", "C-z"],
        vec!["\n"],
        vec!["\u{1b}"],
        vec![""],
        vec![],
    ] {
        assert_error(m.send_keys("lim", &keys).await, "InvalidArgument");
        assert_error(s.send_keys(&keys).await, "InvalidArgument");
    }

    assert_eq!(
        m.get_events("lim", 0).await.unwrap(),
        events,
        "no event recorded"
    );
    assert_eq!(m.list_sessions().await.unwrap(), rows, "no session changed");
    assert!(r.tmux.world().typed.is_empty(), "nothing was typed");
    assert_eq!(r.tmux_sessions(), ["lim"]);
}

#[tokio::test]
async fn control_characters_in_text_are_refused() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let (_, path, pid) = r.start_active("ctl").await;
    for bad in ["stop\x03", "\x1b:q", "a\rb", "x\x7f"] {
        let msg = assert_error(m.send_command("ctl", bad).await, "InvalidArgument");
        assert!(msg.contains("control character"), "{msg:?}");
    }
    assert!(r.tmux.world().typed.is_empty(), "a C-c was typed");
    assert!(super::alive(pid));
    let s = r.session_uncached(&path).await;
    assert_eq!(s.status().await.unwrap(), "active");
}

#[tokio::test]
async fn invalid_argument_for_a_pid_that_does_not_run() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let dir = r.project("reg");
    let (_, _, path) = m.register_session(&dir, "reg").await.unwrap();
    let s = r.session_uncached(&path).await;
    let events = m.get_events("reg", 0).await.unwrap();

    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    assert!(!super::alive(gone_pid));
    let msg = assert_error(m.set_session_pid("reg", gone_pid).await, "InvalidArgument");
    assert!(msg.contains(&gone_pid.to_string()), "{msg:?}");
    assert_error(m.set_session_pid("reg", u32::MAX).await, "InvalidArgument");

    assert_eq!(s.status().await.unwrap(), "starting");
    assert_eq!(s.pid().await.unwrap(), 0);
    assert_eq!(m.get_events("reg", 0).await.unwrap(), events);
}

#[tokio::test]
async fn bad_environment_is_refused_before_anything_is_created() {
    let r = Rig::new().await;
    let m = r.manager().await;
    for (name, value) in [("1BAD", "x"), ("A=B", "x"), ("", "x")] {
        let options = HashMap::from([("env", Variant::from(HashMap::from([(name, value)])))]);
        assert_error(
            m.start_session(&r.project("e"), "e", options).await,
            "InvalidArgument",
        );
    }
    assert!(m.list_sessions().await.unwrap().is_empty());
    assert!(r.tmux_sessions().is_empty());
}

/// Limits out of range are refused, and any limit without systemd (the rig's daemon does not
/// run under it) is refused saying so.
#[tokio::test]
async fn limits_are_checked_and_need_systemd() {
    let r = Rig::new().await;
    let m = r.manager().await;
    let dir = r.project("limited");
    let opt = |k: &'static str, v: Variant<'static>| HashMap::from([(k, v)]);
    for bad in [
        opt("cpu_weight", Variant::from(0u32)),
        opt("cpu_weight", Variant::from(10_001u32)),
        opt("memory_max", Variant::from(0u64)),
        opt("memory_max", Variant::from("8G")),
    ] {
        assert_error(
            m.start_session(&dir, "limited", bad).await,
            "InvalidArgument",
        );
    }
    let one_gib = opt("memory_max", Variant::from(1u64 << 30));
    let msg = assert_error(
        m.start_session(&dir, "limited", one_gib).await,
        "InvalidArgument",
    );
    assert!(msg.contains("systemd"), "{msg:?}");
    assert!(m.list_sessions().await.unwrap().is_empty());
    assert!(r.tmux_sessions().is_empty());
}
