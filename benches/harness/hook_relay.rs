//! Figure 5, the hook relay: wall time of one `trusty-mpm-hook` run (what Claude Code's settings
//! run) from a managed session's pane (and from none), beside spawning `true` (bare, and with
//! the hook's pipes) and one `busctl … Ping`; and `trusty-mpm hook`, the same relay in the
//! whole command.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trusty_mpm::cli::proxy::ManagerProxy;

use crate::log;
use crate::report::{Row, percentile, sorted};
use crate::world::{BUS_NAME, MANAGER_PATH, World};

/// Figure 5: wall time of one `trusty-mpm-hook` run, beside `true` and `busctl … Ping`.
pub async fn hook_relay(
    w: &World,
    name: &str,
    rows: &mut Vec<Row>,
    raw: &mut serde_json::Map<String, Value>,
) {
    log(
        "hook relay: 40 runs each of true (bare, with pipes), busctl Ping, trusty-mpm-hook \
         (managed, unmanaged) and trusty-mpm hook (unmanaged)",
    );
    let pane = Pane::of(w, name);
    let payload = json!({
        "session_id": "00000000-0000-4000-8000-000000000000",
        "transcript_path": "",
        "cwd": w.project(name),
        "hook_event_name": "Notification",
        "message": "Claude is waiting for your input",
        "notification_type": "idle_prompt",
    })
    .to_string();
    let stray = json!({
        "session_id": "00000000-0000-4000-8000-00000000ffff",
        "transcript_path": "",
        "cwd": "/",
        "hook_event_name": "Notification",
        "message": "Claude is waiting for your input",
        "notification_type": "idle_prompt",
    })
    .to_string();

    let run_true = || {
        let t = Instant::now();
        let ok = Command::new("true").status().is_ok_and(|s| s.success());
        assert!(ok, "true failed");
        t.elapsed()
    };
    let run_busctl = || {
        let t = Instant::now();
        let ok = Command::new("busctl")
            .arg(format!("--address={}", w.bus_addr))
            .args([
                "call",
                BUS_NAME,
                MANAGER_PATH,
                "org.freedesktop.DBus.Peer",
                "Ping",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "busctl Ping failed");
        t.elapsed()
    };
    // managed: from the pane of a managed session, so the event changes that session (and
    // the registry is saved before the reply); unmanaged: from no session, ignored.
    let run_hook = |managed: bool| match managed {
        true => run_relay(w, Some(&pane), &payload),
        false => run_relay(w, None, &stray),
    };
    let run_alias = || relay_run(Command::new(&w.bin).arg("hook"), w, None, &stray);
    // `true` spawned as the relay is, as Claude Code runs a hook: the payload on its stdin,
    // its stderr read to the end (the floor of a hook process, pipes included).
    let run_true_piped = || relay_run(&mut Command::new("true"), w, None, &stray).0;
    for _ in 0..5 {
        run_true();
        run_busctl();
        run_hook(true);
        run_hook(false);
        run_alias();
        run_true_piped();
    }
    let (mut t_true, mut t_busctl, mut t_hook) = (Vec::new(), Vec::new(), Vec::new());
    let (mut t_stray, mut t_alias, mut t_piped) = (Vec::new(), Vec::new(), Vec::new());
    let mut codes = HashMap::new();
    let mut stderr_sample = String::new();
    for _ in 0..40 {
        t_true.push(run_true().as_secs_f64() * 1000.0);
        t_busctl.push(run_busctl().as_secs_f64() * 1000.0);
        let (d, code, err) = run_hook(true);
        t_hook.push(d.as_secs_f64() * 1000.0);
        t_stray.push(run_hook(false).0.as_secs_f64() * 1000.0);
        t_alias.push(run_alias().0.as_secs_f64() * 1000.0);
        t_piped.push(run_true_piped().as_secs_f64() * 1000.0);
        *codes.entry(format!("{code:?}")).or_insert(0u32) += 1;
        if stderr_sample.is_empty() && !err.is_empty() {
            stderr_sample = String::from_utf8_lossy(&err).into_owned();
        }
    }
    let (t_true, t_busctl, t_hook) = (sorted(t_true), sorted(t_busctl), sorted(t_hook));
    let (t_stray, t_alias, t_piped) = (sorted(t_stray), sorted(t_alias), sorted(t_piped));
    // The runs took the managed path: the session's history holds the Notification events.
    let m = ManagerProxy::new(&w.conn).await.expect("manager proxy");
    let events = m.get_events(name, 100).await.expect("GetEvents");
    let reached = events.iter().filter(|e| e.1 == "Notification").count();
    let med = |v: &[f64]| percentile(v, 50.0);
    let row = Row::new(
        5,
        "hook relay run (managed session), median",
        "ms",
        med(&t_hook),
    )
    .against(med(&t_true), "`true` spawn")
    .value_target("≤ 10 ms", 10.0);
    rows.push(if reached == 0 {
        row.note("the events did not reach the session")
    } else {
        row
    });
    rows.push(
        Row::new(
            5,
            "hook relay run vs busctl Ping, median",
            "ms",
            med(&t_hook),
        )
        .against(med(&t_busctl), "`busctl call … Ping`"),
    );
    rows.push(
        Row::new(
            5,
            "hook relay run, unmanaged event, median",
            "ms",
            med(&t_stray),
        )
        .against(med(&t_true), "`true` spawn")
        .note("an event from no managed session: ignored, nothing saved"),
    );
    rows.push(
        Row::new(
            5,
            "hook relay run, unmanaged event, against `true` run alike",
            "ms",
            med(&t_stray),
        )
        .against(med(&t_piped), "`true` with the hook's pipes")
        .note("both given the payload on stdin and their stderr read, as Claude Code runs hooks"),
    );
    rows.push(
        Row::new(
            5,
            "`trusty-mpm hook` run, unmanaged event, median",
            "ms",
            med(&t_alias),
        )
        .against(med(&t_true), "`true` spawn")
        .note("the same relay in the whole command (the contract's name for it)"),
    );
    raw.insert(
        "hook_ms".into(),
        json!({
            "true": t_true, "busctl_ping": t_busctl, "hook": t_hook, "hook_unmanaged": t_stray,
            "trusty_mpm_hook_unmanaged": t_alias, "true_with_pipes": t_piped,
            "hook_exit_codes": codes, "hook_stderr_sample": stderr_sample,
            "notification_events_in_session_history": reached,
        }),
    );
}

/// Where a hook process runs: the `TMUX` and `TMUX_PANE` it has.
pub struct Pane {
    tmux: String,
    id: String,
}

impl Pane {
    /// The first pane of the tmux session `name`, on the private server.
    pub fn of(w: &World, name: &str) -> Pane {
        let id = String::from_utf8_lossy(
            &w.tmux(&["list-panes", "-t", &format!("={name}:"), "-F", "#{pane_id}"])
                .stdout,
        )
        .trim()
        .to_owned();
        let tmux = format!("{},{},0", w.tmux_socket().display(), w.tmux_server_pid());
        Pane { tmux, id }
    }
}

/// One `trusty-mpm-hook` run with `payload` on stdin, as a hook process of `pane` (of the
/// private tmux server) or of no tmux pane: its wall time, exit code and stderr.
pub fn run_relay(
    w: &World,
    pane: Option<&Pane>,
    payload: &str,
) -> (Duration, Option<i32>, Vec<u8>) {
    relay_run(&mut Command::new(&w.relay), w, pane, payload)
}

/// One run of the relay command `cmd` (see `run_relay`).
fn relay_run(
    cmd: &mut Command,
    w: &World,
    pane: Option<&Pane>,
    payload: &str,
) -> (Duration, Option<i32>, Vec<u8>) {
    let t = Instant::now();
    cmd.env("DBUS_SESSION_BUS_ADDRESS", &w.bus_addr)
        .env_remove("TMUX")
        .env_remove("TMUX_PANE");
    if let Some(pane) = pane {
        cmd.env("TMUX", &pane.tmux).env("TMUX_PANE", &pane.id);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the hook relay");
    let written = child
        .stdin
        .take()
        .expect("hook stdin")
        .write_all(payload.as_bytes());
    // A command that exits without reading (`true`) closes the pipe first.
    if let Err(e) = written {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "write the payload: {e}"
        );
    }
    let out = child.wait_with_output().expect("wait for the hook");
    (t.elapsed(), out.status.code(), out.stderr)
}
