//! Figure 10, agent telemetry: reading a session's transcript with `trusty_mpm::telemetry::read`,
//! the call the daemon makes on its blocking pool after a hook. One read after a 10 KB reply
//! was appended to a 50 MB transcript, beside the same append to a 1 MB one (what was read
//! before must not matter); after a 100 KB append, beside the 10 KB one (the cost follows the
//! bytes appended); the first read of the whole 50 MB file, beside reading its bytes unparsed.
//! Then through the daemon (`first_read_through_the_daemon`): a SessionStart naming that file,
//! whose hook run must not wait for the first read, and the time until its figures are on the bus.

use std::fs::OpenOptions;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use trusty_mpm::telemetry::{Telemetry, read};
use zbus::{MatchRule, MessageStream};

use crate::hook_relay::{Pane, run_relay};
use crate::log;
use crate::report::{Row, percentile, sorted, summary};
use crate::world::World;

// Shared with the integration tests (tests/support/): one target cannot import another's
// modules, so the file is included by path.
#[path = "../../tests/support/transcript.rs"]
mod shape;
use shape::{MODEL, Tokens, prompt, reply, tool_result};

const SESSION: &str = "5b7c9e1a-2d3f-4a5b-8c6d-7e8f9a0b1c2d";
const BIG: u64 = 50_000_000;
const SMALL: u64 = 1_000_000;

fn usage(i: usize) -> Tokens {
    let i = i as u64;
    Tokens {
        input: 3 + i % 7,
        cache_creation: 200 + i % 900,
        cache_read: 20_000 + 13 * i,
        output: 40 + i % 500,
    }
}

/// A transcript of `bytes` or a little more in Claude Code's shape: prompts, replies of several
/// lines and tool results of 1–30 KB, as a long working session leaves them.
fn write_transcript(path: &Path, bytes: u64) {
    let mut out = BufWriter::new(std::fs::File::create(path).expect("create the transcript"));
    let (mut written, mut i) = (0u64, 0usize);
    while written < bytes {
        let mut turn = String::new();
        if i.is_multiple_of(5) {
            turn += &prompt(SESSION, "run the tests and fix what fails");
        }
        turn += &reply(SESSION, &format!("msg_{i:06}"), MODEL, usage(i), 2);
        turn += &tool_result(SESSION, [1_000, 4_000, 12_000, 30_000][i % 4]);
        out.write_all(turn.as_bytes())
            .expect("write the transcript");
        written += turn.len() as u64;
        i += 1;
    }
    out.flush().expect("write the transcript");
}

/// What Claude Code appends for one reply: its lines and a tool result, `bytes` long give or
/// take a few.
fn appended(i: usize, bytes: usize) -> String {
    let lines = reply(SESSION, &format!("msg_a{i:06}"), MODEL, usage(i), 3);
    let overhead = tool_result(SESSION, 0).len();
    // The result's newlines are escaped in JSON: each 37-character line costs 38 bytes.
    let content = bytes.saturating_sub(lines.len() + overhead) * 37 / 38;
    lines + &tool_result(SESSION, content)
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open the transcript");
    f.write_all(text.as_bytes()).expect("append");
}

/// One timed read after appending `bytes` to `path`, in µs; `t` moves on.
fn read_after_append(path: &Path, t: &mut Telemetry, i: usize, bytes: usize) -> f64 {
    append(path, &appended(i, bytes));
    let t0 = Instant::now();
    let r = read(path, t).expect("read the transcript");
    let us = t0.elapsed().as_secs_f64() * 1e6;
    assert_eq!(r.telemetry.cursor.offset, size(path), "read to the end");
    assert_eq!(r.malformed, 0);
    *t = r.telemetry;
    us
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).expect("transcript").len()
}

/// Reading the file's bytes in the reader's chunks, without looking at them.
fn read_bytes(path: &Path) -> f64 {
    let t0 = Instant::now();
    let mut f = std::fs::File::open(path).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf).expect("read") > 0 {}
    t0.elapsed().as_secs_f64() * 1000.0
}

fn first_read(path: &Path) -> (f64, Telemetry) {
    let t0 = Instant::now();
    let r = read(path, &Telemetry::default()).expect("read the transcript");
    (t0.elapsed().as_secs_f64() * 1000.0, r.telemetry)
}

/// The 50 MB transcript of this run (written once).
pub fn big_transcript(w: &World) -> PathBuf {
    let path = w.dir.path().join("transcript-50mb.jsonl");
    if !path.exists() {
        write_transcript(&path, BIG);
    }
    path
}

/// Figure 10 on the reader itself.
pub fn transcript_reads(w: &World, rows: &mut Vec<Row>, raw: &mut serde_json::Map<String, Value>) {
    log("transcript reads: a 50 MB and a 1 MB transcript, appends of 10 KB and 100 KB");
    let (big, small) = (big_transcript(w), w.dir.path().join("transcript-1mb.jsonl"));
    write_transcript(&small, SMALL);
    let first_size = size(&big);
    let mb = first_size as f64 / 1e6;
    let (mut full, mut bytes) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        bytes.push(read_bytes(&big));
        full.push(first_read(&big).0);
    }
    let (full, bytes) = (sorted(full), sorted(bytes));
    let (mut t_big, mut t_small) = (first_read(&big).1, first_read(&small).1);
    let (mut on_big, mut on_small, mut hundred) = (Vec::new(), Vec::new(), Vec::new());
    let mut i = 0;
    // The three take turns, so a change in the machine's load hits them alike.
    for _ in 0..10 {
        for _ in 0..20 {
            i += 1;
            on_big.push(read_after_append(&big, &mut t_big, i, 10 << 10));
            on_small.push(read_after_append(&small, &mut t_small, i, 10 << 10));
        }
        for _ in 0..10 {
            i += 1;
            hundred.push(read_after_append(&big, &mut t_big, i, 100 << 10));
        }
    }
    let whole = first_read(&big).1;
    assert_eq!(
        whole.totals, t_big.totals,
        "a first read sums what the appends summed"
    );
    let (on_big, on_small, hundred) = (sorted(on_big), sorted(on_small), sorted(hundred));
    let med = |v: &[f64]| percentile(v, 50.0);
    rows.push(
        Row::new(
            10,
            "transcript read after a 10 KB reply, 50 MB transcript (p50 of 200)",
            "µs",
            med(&on_big),
        )
        .against(med(&on_small), "same append, 1 MB transcript")
        .value_target("≤ 1000 µs", 1000.0),
    );
    rows.push(
        Row::new(10, "same, p99", "µs", percentile(&on_big, 99.0))
            .against(percentile(&on_small, 99.0), "1 MB transcript p99"),
    );
    rows.push(
        Row::new(
            10,
            "transcript read after a 100 KB append (p50 of 100)",
            "µs",
            med(&hundred),
        )
        .against(med(&on_big), "10 KB append")
        .ratio_target("≤ 10× (10× the bytes)", 10.0, false),
    );
    rows.push(
        Row::new(
            10,
            format!("first read of the {mb:.0} MB transcript (median of 5)"),
            "ms",
            med(&full),
        )
        .against(med(&bytes), "reading its bytes, unparsed")
        .note(format!("{:.0} MB/s", mb / med(&full) * 1000.0)),
    );
    raw.insert(
        "transcript_read".into(),
        json!({
            "append_10k_on_50mb_us": summary(&on_big),
            "append_10k_on_1mb_us": summary(&on_small),
            "append_100k_on_50mb_us": summary(&hundred),
            "first_read_50mb_ms": full,
            "read_bytes_50mb_ms": bytes,
            "transcript_bytes": first_size,
        }),
    );
}

/// Figure 10 through the daemon: SessionStart naming a new 50 MB transcript from the pane of
/// session `name`, five times (each under a new name, so each is a first read), beside the
/// same hook naming a new empty transcript (the same change and save, nothing to read).
pub async fn first_read_through_the_daemon(
    w: &World,
    name: &str,
    rows: &mut Vec<Row>,
    raw: &mut serde_json::Map<String, Value>,
) {
    log("transcript read through the daemon: SessionStart naming a 50 MB transcript");
    let big = big_transcript(w);
    let want = first_read(&big).1.context;
    let pane = Pane::of(w, name);
    let m = trusty_mpm::cli::proxy::ManagerProxy::new(&w.conn)
        .await
        .expect("manager proxy");
    let rule = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface("org.freedesktop.DBus.Properties")
        .member("PropertiesChanged")
        .path(m.get_session(name).await.expect("GetSession"))
        .build()
        .expect("match rule");
    let mut changes = MessageStream::for_match_rule(rule, &w.conn, None)
        .await
        .expect("subscribe");
    let session_start = |i: usize, path: &Path| {
        json!({"hook_event_name": "SessionStart", "source": "startup",
            "session_id": format!("{SESSION}-{i}"), "transcript_path": path})
        .to_string()
    };
    let (mut hook, mut empty, mut on_bus) = (Vec::new(), Vec::new(), Vec::new());
    let mut missed = 0;
    for i in 0..5 {
        let nothing = w.dir.path().join(format!("empty-{i}.jsonl"));
        std::fs::write(&nothing, "").expect("an empty transcript");
        let (d, code, _) = run_relay(w, Some(&pane), &session_start(2 * i, &nothing));
        assert_eq!(code, Some(0), "the hook failed");
        empty.push(d.as_secs_f64() * 1000.0);
        let link = w.dir.path().join(format!("session-{i}.jsonl"));
        std::fs::hard_link(&big, &link).expect("link the transcript");
        let t0 = Instant::now();
        let (d, code, _) = run_relay(w, Some(&pane), &session_start(2 * i + 1, &link));
        assert_eq!(code, Some(0), "the hook failed");
        hook.push(d.as_secs_f64() * 1000.0);
        let arrived = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(Ok(msg)) = changes.next().await {
                if context_in(&msg) == Some(want) {
                    return;
                }
            }
        })
        .await;
        match arrived {
            Ok(()) => on_bus.push(t0.elapsed().as_secs_f64() * 1000.0),
            // The relay fails open after 1 s: on a machine loaded enough, the event is lost.
            Err(_) => missed += 1,
        }
    }
    let harness = sorted((0..3).map(|_| first_read(&big).0).collect());
    let (hook, empty, on_bus) = (sorted(hook), sorted(empty), sorted(on_bus));
    let med = |v: &[f64]| percentile(v, 50.0);
    rows.push(
        Row::new(
            10,
            "hook run, SessionStart naming a 50 MB transcript (median of 5)",
            "ms",
            med(&hook),
        )
        .against(med(&empty), "naming an empty one")
        .ratio_target("≤ 1.5× (no wait for the read)", 1.5, false),
    );
    let figures = Row::new(
        10,
        "SessionStart → its figures on the bus (median of 5)",
        "ms",
        if on_bus.is_empty() {
            f64::NAN
        } else {
            med(&on_bus)
        },
    )
    .against(med(&harness), "first read in the harness");
    rows.push(match missed {
        0 => figures,
        n => figures.note(format!(
            "{n} of 5 never reached the bus in 30 s (the hook gave up: the machine was too busy)"
        )),
    });
    raw.insert(
        "transcript_read_through_daemon_ms".into(),
        json!({"session_start_hook": hook, "session_start_hook_empty": empty,
            "figures_on_bus": on_bus, "first_read_in_harness": harness}),
    );
}

/// `ContextTokens` in a PropertiesChanged signal, if there.
fn context_in(msg: &zbus::Message) -> Option<u64> {
    type Changed = (
        String,
        std::collections::HashMap<String, zbus::OwnedVariant>,
        Vec<String>,
    );
    let (_, props, _) = msg.body().deserialize::<Changed>().ok()?;
    u64::try_from(props.get("ContextTokens")?.clone()).ok()
}
