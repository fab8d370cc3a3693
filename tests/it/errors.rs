//! Every error name of the contract, from the real daemon: each failing call answers with its
//! `org.trusty.Mpm1.Error.<Name>` and one sentence, and bad input changes nothing.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use trusty_mpm::cli::proxy::{ManagerProxy, SessionRow};
use zbus::Variant;

use crate::harness::*;
use crate::procs::find_descendant_where;

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

/// Waits until the pane of `key` shows the fake claude's prompt, so it no longer changes.
async fn wait_prompt(m: &ManagerProxy<'_>, key: &str) {
    wait_for("the prompt", || async {
        m.capture_output(key, 5, "trim")
            .await
            .unwrap()
            .trim_end()
            .ends_with('>')
    })
    .await;
}

#[tokio::test]
async fn not_found_for_unknown_keys() {
    let env = Env::new().await;
    let m = env.manager().await;
    let dir = env.project("known");
    m.register_session(&dir, "known").await.unwrap();
    let before: Vec<SessionRow> = m.list_sessions().await.unwrap();

    let uuid = uuid::Uuid::new_v4();
    let keys = [
        "nosuch".to_owned(),
        uuid.hyphenated().to_string(),
        uuid.simple().to_string(),
    ];
    for key in &keys {
        let k = key.as_str();
        let msg = assert_error(m.get_session(k).await, "NotFound");
        assert!(msg.contains(k), "message names the key: {msg:?}");
        assert_error(m.pause_session(k, "", false).await, "NotFound");
        assert_error(m.resume_session(k).await, "NotFound");
        assert_error(m.stop_session(k, true).await, "NotFound");
        assert_error(m.restart_session(k).await, "NotFound");
        assert_error(m.remove_session(k, true).await, "NotFound");
        assert_error(m.send_command(k, "hi").await, "NotFound");
        assert_error(m.send_keys(k, &["Enter"]).await, "NotFound");
        assert_error(m.capture_output(k, 5, "off").await, "NotFound");
        assert_error(m.set_session_pid(k, std::process::id()).await, "NotFound");
        assert_error(m.get_events(k, 0).await, "NotFound");
    }

    // Adopting a tmux session that does not exist (on a running server).
    let out = env.tmux(&["new-session", "-d", "-s", "keeper", "sleep", "1000"]);
    assert!(out.status.success());
    assert_error(m.adopt_session("nosuch").await, "NotFound");

    assert_eq!(m.list_sessions().await.unwrap(), before, "nothing changed");
    assert_eq!(env.tmux_sessions(), ["keeper"]);
}

#[tokio::test]
async fn invalid_argument_for_bad_names() {
    let env = Env::new().await;
    let m = env.manager().await;
    let dir = env.project("names");
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
    assert!(
        env.tmux_sessions().is_empty(),
        "no tmux session was created"
    );
    assert!(
        !env.tmux(&["list-sessions"]).status.success(),
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
    let env = Env::new().await;
    let m = env.manager().await;
    let file = env.dir.path().join("plain-file");
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
    assert!(
        env.tmux_sessions().is_empty(),
        "no tmux session was created"
    );
}

#[tokio::test]
async fn invalid_argument_for_bad_start_options() {
    let env = Env::new().await;
    let m = env.manager().await;
    let dir = env.project("opts");

    let mut unknown = no_options();
    unknown.insert("bogus", Variant::from("x"));
    let msg = assert_error(
        m.start_session(&dir, "opts", unknown).await,
        "InvalidArgument",
    );
    assert!(msg.contains("bogus"), "{msg:?}");

    let mut args_string = no_options();
    args_string.insert("args", Variant::from("--model x"));
    assert_error(
        m.start_session(&dir, "opts", args_string).await,
        "InvalidArgument",
    );

    let mut args_numbers = no_options();
    args_numbers.insert("args", Variant::from(vec![1u32, 2]));
    assert_error(
        m.start_session(&dir, "opts", args_numbers).await,
        "InvalidArgument",
    );

    let mut resume_number = no_options();
    resume_number.insert("resume", Variant::from(7u32));
    assert_error(
        m.start_session(&dir, "opts", resume_number).await,
        "InvalidArgument",
    );

    let mut resume_bad = no_options();
    resume_bad.insert("resume", Variant::from("x; rm -rf /"));
    assert_error(
        m.start_session(&dir, "opts", resume_bad).await,
        "InvalidArgument",
    );

    assert!(m.list_sessions().await.unwrap().is_empty(), "nothing added");
    assert!(
        env.tmux_sessions().is_empty(),
        "no tmux session was created"
    );
}

#[tokio::test]
async fn invalid_argument_for_limits_and_keys() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, path, pid) = env.start_active("lim").await;
    let s = env.session_uncached(&path).await;
    wait_prompt(&m, "lim").await;
    let screen = m.capture_output("lim", 50, "off").await.unwrap();
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
    assert_eq!(
        m.capture_output("lim", 50, "off").await.unwrap(),
        screen,
        "nothing was typed"
    );
    assert_eq!(env.tmux_sessions(), ["lim"]);
}

#[tokio::test]
async fn invalid_argument_for_a_pid_that_does_not_run() {
    let env = Env::new().await;
    let m = env.manager().await;
    let dir = env.project("reg");
    let (_, _, path) = m.register_session(&dir, "reg").await.unwrap();
    let s = env.session_uncached(&path).await;
    let events = m.get_events("reg", 0).await.unwrap();

    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    assert!(!alive(gone_pid));
    let msg = assert_error(m.set_session_pid("reg", gone_pid).await, "InvalidArgument");
    assert!(msg.contains(&gone_pid.to_string()), "{msg:?}");
    assert_error(m.set_session_pid("reg", u32::MAX).await, "InvalidArgument");

    assert_eq!(s.status().await.unwrap(), "starting");
    assert_eq!(s.pid().await.unwrap(), 0);
    assert_eq!(m.get_events("reg", 0).await.unwrap(), events);
}

#[tokio::test]
async fn already_exists_for_taken_names() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (id, path, pid) = env.start_active("dup").await;
    let dir = env.project("other");

    // A managed name.
    let msg = assert_error(
        m.start_session(&dir, "dup", no_options()).await,
        "AlreadyExists",
    );
    assert!(msg.contains("dup"), "{msg:?}");
    assert_error(m.register_session(&dir, "dup").await, "AlreadyExists");
    assert_error(m.adopt_session("dup").await, "AlreadyExists");

    // A tmux session nobody manages.
    let out = env.tmux(&["new-session", "-d", "-s", "taken", "sleep", "1000"]);
    assert!(out.status.success());
    let taken_pane = env.pane_pid("taken");
    assert_error(
        m.start_session(&dir, "taken", no_options()).await,
        "AlreadyExists",
    );
    assert_error(m.register_session(&dir, "taken").await, "AlreadyExists");

    // Nothing changed: one session, still running, and the unmanaged one untouched.
    let rows = m.list_sessions().await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), &rows[0].6), (id.as_str(), &path));
    assert_eq!(rows[0].3, "active");
    assert_eq!(rows[0].5, pid);
    assert!(alive(pid));
    let mut tmux = env.tmux_sessions();
    tmux.sort();
    assert_eq!(tmux, ["dup", "taken"]);
    assert_eq!(env.pane_pid("taken"), taken_pane);
    assert!(alive(taken_pane));
}

#[tokio::test]
async fn invalid_state_for_operations_out_of_turn() {
    let env = Env::new().await;
    let m = env.manager().await;
    let (_, path, pid) = env.start_active("st").await;
    let s = env.session_uncached(&path).await;

    let msg = assert_error(m.resume_session("st").await, "InvalidState");
    assert!(msg.contains("active"), "message names the status: {msg:?}");
    assert_error(s.resume().await, "InvalidState");
    assert_eq!(s.status().await.unwrap(), "active");
    assert_eq!(s.pid().await.unwrap(), pid);

    assert_eq!(
        m.pause_session("st", "first", false).await.unwrap(),
        "first"
    );
    let msg = assert_error(m.pause_session("st", "second", false).await, "InvalidState");
    assert!(msg.contains("paused"), "message names the status: {msg:?}");
    assert_error(s.pause("third", true).await, "InvalidState");
    assert_eq!(s.status().await.unwrap(), "paused");
    assert_eq!(s.pause_summary().await.unwrap(), "first");
    assert!(!s.frozen().await.unwrap());
    assert_ne!(proc_state(pid), 'T');

    // A bookkeeping-only session has no pane.
    let dir = env.project("reg");
    let (_, _, reg_path) = m.register_session(&dir, "reg").await.unwrap();
    let events = m.get_events("reg", 0).await.unwrap();
    assert_error(m.send_command("reg", "hi").await, "InvalidState");
    assert_error(m.send_keys("reg", &["Enter"]).await, "InvalidState");
    assert_error(m.capture_output("reg", 5, "off").await, "InvalidState");
    let r = env.session_uncached(&reg_path).await;
    assert_error(r.send_command("hi").await, "InvalidState");
    assert_eq!(r.status().await.unwrap(), "starting");
    assert_eq!(m.get_events("reg", 0).await.unwrap(), events);
    assert_eq!(env.tmux_sessions(), ["st"]);
}

#[tokio::test]
async fn tmux_unavailable_when_the_server_cannot_be_reached() {
    let env = Env::with_env(&[("TRUSTY_MPM_TMUX_SOCKET", "/nonexistent/dir/sock")]).await;
    let m = env.manager().await;
    let msg = assert_error(m.adopt_session("x").await, "TmuxUnavailable");
    assert!(msg.contains("/nonexistent/dir/sock"), "{msg:?}");
    // No server means no tmux sessions to discover (as after a reboot).
    assert!(m.discover_sessions().await.unwrap().is_empty());
    assert!(m.list_sessions().await.unwrap().is_empty());
    // Bookkeeping needs no tmux.
    let dir = env.project("books");
    m.register_session(&dir, "books").await.unwrap();
    assert_eq!(session_names(&m).await, ["books"]);
}

/// Starting a session needs the tmux server too; when its socket cannot be created tmux cannot
/// be reached, which the contract calls TmuxUnavailable.
#[tokio::test]
async fn tmux_unavailable_for_start_session() {
    let env = Env::with_env(&[("TRUSTY_MPM_TMUX_SOCKET", "/nonexistent/dir/sock")]).await;
    let m = env.manager().await;
    let dir = env.project("nostart");
    assert_error(
        m.start_session(&dir, "nostart", no_options()).await,
        "TmuxUnavailable",
    );
    assert!(m.list_sessions().await.unwrap().is_empty(), "nothing added");
}

/// A session whose tmux session vanished has no pane to talk to (and never another's).
#[tokio::test]
async fn invalid_state_when_the_tmux_session_vanished() {
    let env = Env::new().await;
    let m = env.manager().await;
    env.start_active("victim").await;
    // Keep the server alive once the victim's session is gone.
    let out = env.tmux(&["new-session", "-d", "-s", "keeper", "sleep", "1000"]);
    assert!(out.status.success());
    let out = env.tmux(&["kill-session", "-t", "=victim"]);
    assert!(out.status.success());

    let msg = assert_error(m.send_keys("victim", &["Enter"]).await, "InvalidState");
    assert!(msg.contains("pane of session 'victim' is gone"), "{msg:?}");
    // Its claude died with the tmux session: text is refused as for any stopped session.
    let s = env
        .session_uncached(&m.get_session("victim").await.unwrap())
        .await;
    wait_for("stopped", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
    let msg = assert_error(m.send_command("victim", "hi").await, "InvalidState");
    assert!(
        msg.contains("start it again with `trusty-mpm restart victim`"),
        "{msg:?}"
    );
    assert_error(m.capture_output("victim", 5, "off").await, "InvalidState");
    assert_eq!(
        session_names(&m).await,
        ["victim"],
        "the record stays until reaped"
    );
    assert_eq!(env.tmux_sessions(), ["keeper"]);
}

#[tokio::test]
async fn timeout_when_tmux_does_not_answer() {
    let env = Env::with_env(&[("TRUSTY_MPM_TMUX_TIMEOUT_MS", "500")]).await;
    let m = env.manager().await;
    let (id, path, pid) = env.start_active("slow").await;
    let s = env.session_uncached(&path).await;
    let out = env.tmux(&["display-message", "-p", "#{pid}"]);
    assert!(out.status.success());
    let server: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(alive(server));

    signal(server, "STOP");
    let thaw = Thaw(server);
    wait_for("tmux server stopped", || async {
        proc_state(server) == 'T'
    })
    .await;

    let daemon = env.daemon.as_ref().expect("daemon running").id();
    let started = Instant::now();
    let capture = async {
        let r = m.capture_output("slow", 5, "off").await;
        (r, started.elapsed())
    };
    // Reads never wait for tmux: asked while the capture is waiting for it, that is once its
    // tmux client (a child of the daemon, `tmux: client` when connected) hangs on the server.
    let reads = async {
        wait_for(
            "the capture's tmux client waits on the stopped server",
            || async { find_descendant_where(daemon, |comm| comm.starts_with("tmux")).is_some() },
        )
        .await;
        let rows = m.list_sessions().await;
        let status = s.status().await;
        let spid = s.pid().await;
        let events = m.get_events("slow", 0).await;
        (rows, status, spid, events, started.elapsed())
    };
    let ((captured, took), (rows, status, spid, events, reads_done)) = tokio::join!(capture, reads);
    // Also once the call has failed, while tmux is still stopped.
    let rows_after = m.list_sessions().await;
    let status_after = s.status().await;
    drop(thaw);

    assert_error(captured, "Timeout");
    // Well under the 5 s default, so the 500 ms set here applied; a loaded machine may add
    // a second or two (make bench measures call times closely).
    assert!(took < Duration::from_secs(3), "Timeout took {took:?}");
    assert!(
        took >= Duration::from_millis(400),
        "answered before the timeout: {took:?}"
    );
    let rows = rows.expect("ListSessions while tmux is stopped");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, id);
    assert_eq!(status.unwrap(), "active");
    assert_eq!(spid.unwrap(), pid);
    events.expect("GetEvents while tmux is stopped");
    assert!(
        reads_done < took,
        "reads waited for tmux: done after {reads_done:?}, the capture failed after {took:?}"
    );
    assert_eq!(rows_after.unwrap().len(), 1);
    assert_eq!(status_after.unwrap(), "active");

    wait_for("tmux server running", || async {
        proc_state(server) != 'T'
    })
    .await;
    wait_for("capture works again", || async {
        m.capture_output("slow", 5, "off")
            .await
            .is_ok_and(|t| t.contains("fake claude started"))
    })
    .await;
    assert_eq!(s.status().await.unwrap(), "active");
}

#[tokio::test]
async fn access_denied_for_other_users() {
    require("gdbus");
    require("busctl");
    let env = Env::new().await;
    let m = env.manager().await;
    let addr = env.bus.address.as_str();
    let dir = env.project("intruder");

    // The uid switch works here, and the other user reaches the bus itself.
    assert_nobody_reaches_bus(addr);

    let gdbus = |method: &str, args: &[&str]| {
        gdbus_as_nobody(
            addr,
            "/org/trusty/Mpm1",
            &format!("org.trusty.Mpm1.{method}"),
            args,
        )
    };
    let quoted = format!("'{dir}'");
    for (method, args) in [
        ("ListSessions", vec![]),
        ("RegisterSession", vec![quoted.as_str(), "'intruder'"]),
        (
            "StartSession",
            vec![quoted.as_str(), "'intruder'", "@a{sv} {}"],
        ),
        ("DiscoverSessions", vec![]),
    ] {
        let out = gdbus(method, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{method} as uid 65534 succeeded: {out:?}"
        );
        assert!(
            err.contains("org.trusty.Mpm1.Error.AccessDenied"),
            "{method} as uid 65534: {err}"
        );
    }

    let out = as_nobody(&[
        "busctl",
        &format!("--address={addr}"),
        "call",
        "org.trusty.Mpm1",
        "/org/trusty/Mpm1",
        "org.trusty.Mpm1",
        "RegisterSession",
        "ss",
        &dir,
        "intruder",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "busctl as uid 65534 succeeded: {out:?}"
    );
    assert!(err.contains("65534"), "busctl shows the denial: {err}");

    // Nothing changed; the daemon's own user is still served.
    assert!(m.list_sessions().await.unwrap().is_empty());
    assert!(env.tmux_sessions().is_empty());
    m.register_session(&dir, "owner").await.unwrap();
    assert_eq!(session_names(&m).await, ["owner"]);
}

#[tokio::test]
async fn internal_when_the_registry_cannot_be_saved() {
    let env = Env::new().await;
    let m = env.manager().await;
    let state = env.state_dir();
    if state.exists() {
        std::fs::remove_dir_all(&state).unwrap();
    }
    std::fs::write(&state, "x").unwrap();
    let dir = env.project("doomed");
    let msg = assert_error(m.register_session(&dir, "doomed").await, "Internal");
    assert!(
        !msg.contains(state.to_string_lossy().as_ref()),
        "detail stays in the log: {msg:?}"
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        b"x",
        "the file was not replaced"
    );
}
