//! Agent telemetry end to end: transcripts in Claude Code 2.1.x's shape, appended the way claude
//! writes them, read by the real daemon after hook events relayed by the real `trusty-mpm hook`,
//! and checked through the session properties and the CLI.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use trusty_mpm::cli::proxy::SessionProxy;

use crate::cli::{json, ok, read_until, spawn_cli};
use crate::harness::*;

#[path = "../support/transcript.rs"]
mod shape;
use shape::{MODEL, Tokens, prompt, prompt_with_id, reply, sidechain_reply, sums, tool_result};

fn tokens(input: u64, cache_creation: u64, cache_read: u64, output: u64) -> Tokens {
    Tokens::new(input, cache_creation, cache_read, output)
}

/// The session's figures: model, input, output, cache creation, cache read, context.
type Figures = (String, [u64; 4], u64);

fn figures(model: &str, replies: &[Tokens], latest: Tokens) -> Figures {
    (model.to_owned(), sums(replies), latest.context())
}

async fn read_figures(s: &SessionProxy<'_>) -> Figures {
    (
        s.model().await.unwrap(),
        [
            s.input_tokens().await.unwrap(),
            s.output_tokens().await.unwrap(),
            s.cache_creation_tokens().await.unwrap(),
            s.cache_read_tokens().await.unwrap(),
        ],
        s.context_tokens().await.unwrap(),
    )
}

/// Waits (the read runs after the hook returned) until the session shows exactly `want`.
async fn expect(s: &SessionProxy<'_>, want: &Figures, step: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = read_figures(s).await;
        if got == *want {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(got, *want, "{step}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A claude conversation as its hooks and transcript show it.
struct Conversation {
    id: String,
    path: PathBuf,
}

impl Conversation {
    fn new(env: &Env, id: &str) -> Conversation {
        let dir = env.dir.path().join("claude/projects/-home-me-src-tel");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{id}.jsonl"));
        std::fs::write(&path, "").unwrap();
        Conversation {
            id: id.to_owned(),
            path,
        }
    }

    fn append(&self, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Relays a hook event of this conversation from `pane`, as Claude Code runs it.
    async fn hook(&self, env: &Env, pane: &str, event: &str, extra: serde_json::Value) {
        let mut p = json!({
            "session_id": self.id,
            "transcript_path": self.path,
            "cwd": "/home/me/src/tel",
            "hook_event_name": event,
        });
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        let r = relay(env, &p.to_string(), pane).await;
        assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{event}");
    }
}

fn bash_call() -> serde_json::Value {
    json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"}, "tool_response": {}})
}

/// Replaces the file at `path` by another (a new inode), as an editor or a rewrite would.
fn replace_file(path: &Path, text: &str) {
    let other = path.with_extension("rewritten");
    std::fs::write(&other, text).unwrap();
    std::fs::rename(&other, path).unwrap();
}

#[tokio::test]
async fn tokens_and_context_follow_the_transcript() {
    let mut env = Env::new().await;
    let (_, path, _) = env.start_active("tel").await;
    let pane = pane_of(&env, "tel");
    let s = env.session_uncached(&path).await;
    let c = Conversation::new(&env, "5b7c9e1a-2d3f-4a5b-8c6d-7e8f9a0b1c2d");
    let sid = c.id.as_str();

    // A reply of three lines, a tool result, and the first line of the next reply half written.
    let a = tokens(3, 1520, 21890, 412);
    let b = tokens(5, 230, 23410, 96);
    c.append(&prompt(sid, "run the tests and fix what fails"));
    c.append(&reply(sid, "msg_01A", MODEL, a, 1));
    c.append(&tool_result(sid, 3000));
    let b_lines = reply(sid, "msg_01B", MODEL, b, 2);
    let (head, tail) = b_lines.split_at(200);
    c.append(head);
    c.hook(&env, &pane, "SessionStart", json!({"source": "startup"}))
        .await;
    expect(&s, &figures(MODEL, &[a], a), "first read, partial line").await;

    // The rest of the reply, a garbage line and a user line: each reply still counts once.
    c.append(tail);
    c.append("\u{1}garbage that is not JSON {\n");
    c.append(&tool_result(sid, 500));
    c.hook(&env, &pane, "PostToolUse", bash_call()).await;
    expect(&s, &figures(MODEL, &[a, b], b), "partial line completed").await;

    // A subagent's reply counts but is not the session's context; a new model shows.
    let side = tokens(9, 900, 9000, 90);
    let sonnet = "claude-sonnet-4-5-20250929";
    let cc = tokens(2, 410, 24100, 230);
    c.append(&sidechain_reply(sid, "msg_01S", side));
    c.hook(&env, &pane, "SubagentStop", json!({})).await;
    c.append(&reply(sid, "msg_01C", sonnet, cc, 1));
    c.hook(&env, &pane, "Stop", json!({"stop_hook_active": false}))
        .await;
    expect(
        &s,
        &figures(sonnet, &[a, b, side, cc], cc),
        "appended replies",
    )
    .await;

    // The file replaced by another: counted again from its start.
    let (d, e) = (tokens(4, 100, 500, 40), tokens(6, 120, 640, 50));
    replace_file(
        &c.path,
        &(reply(sid, "msg_01D", MODEL, d, 1) + &reply(sid, "msg_01E", MODEL, e, 1)),
    );
    c.hook(&env, &pane, "Stop", json!({})).await;
    expect(&s, &figures(MODEL, &[d, e], e), "replaced file").await;

    // A restarted daemon shows the same figures and goes on from where it stopped: what was
    // read before is scribbled over (same file, same size) and must not be read again.
    env.restart_daemon().await;
    let s = env.session_uncached(&path).await;
    assert_eq!(
        read_figures(&s).await,
        figures(MODEL, &[d, e], e),
        "after a restart"
    );
    let len = std::fs::metadata(&c.path).unwrap().len() as usize;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&c.path)
        .unwrap()
        .write_all(&vec![b'#'; len - 1])
        .unwrap();
    let f = tokens(3, 80, 700, 33);
    c.append(&reply(sid, "msg_01F", MODEL, f, 0));
    c.hook(&env, &pane, "PreCompact", json!({"trigger": "auto"}))
        .await;
    expect(&s, &figures(MODEL, &[d, e, f], f), "after a restart").await;

    // /clear: another conversation in another file; its figures alone.
    let next = Conversation::new(&env, "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a");
    let g = tokens(10, 3000, 0, 20);
    next.append(&reply(&next.id, "msg_01G", MODEL, g, 0));
    next.hook(&env, &pane, "SessionStart", json!({"source": "clear"}))
        .await;
    expect(&s, &figures(MODEL, &[g], g), "after /clear").await;
    assert_eq!(
        s.transcript_path().await.unwrap(),
        next.path.to_string_lossy()
    );
}

/// Claude Code writes a turn to its transcript after the turn's Stop hook, and a claude told
/// to `/exit` at once can end before it does: a `--resume` would then lose the turn. A
/// graceful stop waits until the transcript holds the reply to the prompt Stop named.
#[tokio::test]
async fn a_graceful_stop_waits_until_the_transcript_holds_the_ended_turn() {
    let env = Env::new().await;
    let (_, path, pid) = env.start_active("tel").await;
    let pane = pane_of(&env, "tel");
    let s = env.session_uncached(&path).await;
    let c = Conversation::new(&env, "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7");
    let asked = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    // The turn before is in the transcript already; the one Stop names is not.
    c.append(&prompt_with_id(
        &c.id,
        "7d6c5b4a-3f2e-4d1c-8b0a-9f8e7d6c5b4a",
        "run the tests",
    ));
    c.append(&reply(&c.id, "msg_01V", MODEL, tokens(3, 0, 0, 7), 1));
    c.hook(&env, &pane, "SessionStart", json!({"source": "startup"}))
        .await;
    c.hook(&env, &pane, "Stop", json!({"prompt_id": asked}))
        .await;
    let m = env.manager().await;
    let typed = || {
        std::fs::read_to_string(Path::new(&env.project("tel")).join(".fake-claude-input"))
            .unwrap_or_default()
    };
    let writes = async {
        stays_for(
            Duration::from_millis(500),
            "no /exit typed before the transcript holds the turn",
            || async { !typed().contains("/exit") && crate::procs::alive(pid) },
        )
        .await;
        c.append(&prompt_with_id(&c.id, asked, "fix the test"));
        c.append(&reply(&c.id, "msg_01W", MODEL, tokens(3, 0, 0, 9), 1));
    };
    let (stopped, ()) = tokio::join!(m.stop_session("tel", false), writes);
    stopped.unwrap();
    assert!(typed().contains("/exit"), "a graceful stop: {:?}", typed());
    assert!(!crate::procs::alive(pid));
    assert_eq!(s.status().await.unwrap(), "stopped");
}

#[tokio::test]
async fn the_cli_shows_model_tokens_and_context() {
    let env = Env::new().await;
    let mut watch = spawn_cli(&env, &["watch", "--waybar"]);
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    read_until(&mut lines, |_| true).await;
    let (_, path, _) = env.start_active("tel").await;
    let pane = pane_of(&env, "tel");
    let c = Conversation::new(&env, "5b7c9e1a-2d3f-4a5b-8c6d-7e8f9a0b1c2d");
    let a = tokens(12, 3300, 44000, 1234);
    c.append(&reply(&c.id, "msg_01A", MODEL, a, 1));
    c.hook(&env, &pane, "SessionStart", json!({"source": "startup"}))
        .await;
    let s = env.session_uncached(&path).await;
    expect(&s, &figures(MODEL, &[a], a), "read").await;

    // SessionStart changes no activity: only the context's PropertiesChanged redraws the bar.
    read_until(&mut lines, |v| {
        v["tooltip"] == "tel: active / unknown · 47k context"
    })
    .await;
    let table = ok(&env, &["list"]);
    let mut rows = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>());
    assert_eq!(
        rows.next().unwrap()[..4],
        ["NAME", "STATUS", "ACTIVITY", "CTX"]
    );
    assert_eq!(
        rows.next().unwrap()[..4],
        ["tel", "active", "unknown", "47k"]
    );
    let status = ok(&env, &["status", "tel"]);
    for want in [
        format!("Model: {MODEL}"),
        "Context: 47,312 tokens".into(),
        "Tokens: 12 in · 1,234 out · 3,300 cache write · 44,000 cache read".into(),
    ] {
        assert!(status.contains(&want), "no {want:?} in\n{status}");
    }
    let v = &json(&env, &["list", "--json"])[0];
    assert_eq!(v["model"], MODEL);
    assert_eq!(
        [
            &v["input_tokens"],
            &v["output_tokens"],
            &v["cache_creation_tokens"],
            &v["cache_read_tokens"],
            &v["context_tokens"]
        ],
        [12, 1234, 3300, 44000, 47312]
    );
}

/// Claude Code writes a reply's line about 100 ms after the Stop hook that follows it: the
/// figures follow the file itself, mid-turn too, with no hook after the write.
#[tokio::test]
async fn figures_follow_lines_written_after_the_hooks() {
    let env = Env::new().await;
    let (_, path, _) = env.start_active("late").await;
    let pane = pane_of(&env, "late");
    let s = env.session_uncached(&path).await;
    let c = Conversation::new(&env, "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5");
    let sid = c.id.as_str();
    c.hook(&env, &pane, "SessionStart", json!({"source": "startup"}))
        .await;
    c.append(&prompt(sid, "hello"));
    c.hook(&env, &pane, "Stop", json!({})).await;
    // The reply lands after its Stop hook returned.
    let a = tokens(3, 1200, 0, 41);
    c.append(&reply(sid, "msg_late1", MODEL, a, 1));
    expect(&s, &figures(MODEL, &[a], a), "a line written after Stop").await;
    // Mid-turn, with no hook at all.
    let b = tokens(5, 0, 1200, 77);
    c.append(&reply(sid, "msg_late2", MODEL, b, 2));
    expect(&s, &figures(MODEL, &[a, b], b), "a line written mid-turn").await;
}

/// A transcript path is followed only to a regular file of the daemon's user, never through a
/// link (a hook could name any file the daemon may read).
#[tokio::test]
async fn a_transcript_behind_a_link_is_not_read() {
    let env = Env::new().await;
    let (_, path, _) = env.start_active("link").await;
    let pane = pane_of(&env, "link");
    let s = env.session_uncached(&path).await;
    let c = Conversation::new(&env, "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d");
    let a = tokens(3, 1200, 0, 41);
    c.append(&reply(&c.id, "msg_link1", MODEL, a, 1));
    let link = c.path.with_extension("link.jsonl");
    std::os::unix::fs::symlink(&c.path, &link).unwrap();
    let through_link = Conversation {
        id: c.id.clone(),
        path: link,
    };
    through_link
        .hook(&env, &pane, "SessionStart", json!({"source": "startup"}))
        .await;
    through_link.hook(&env, &pane, "Stop", json!({})).await;
    // The real file, named as such, is read: the reads ran, and left the link unread.
    let m = env.manager().await;
    let events = events_of(&m, "link").await;
    assert!(events.iter().any(|e| e.event == "Stop"), "{events:?}");
    assert_eq!(s.output_tokens().await.unwrap(), 0, "read through a link");
    c.hook(&env, &pane, "SessionStart", json!({"source": "resume"}))
        .await;
    expect(&s, &figures(MODEL, &[a], a), "the file itself").await;
}

/// A read always advances: a huge transcript without a line end is not scanned again at
/// every hook (a 2 GiB sparse file cost seconds of CPU per Stop).
#[tokio::test]
async fn a_huge_partial_line_is_not_read_again_at_every_hook() {
    let env = Env::new().await;
    env.start_active("huge").await;
    let pane = pane_of(&env, "huge");
    let c = Conversation::new(&env, "2c3d4e5f-6071-4b8c-9d0e-1f2a3b4c5d6e");
    std::fs::File::options()
        .write(true)
        .open(&c.path)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    c.hook(&env, &pane, "SessionStart", json!({"source": "startup"}))
        .await;
    let daemon = env.daemon.as_ref().unwrap().id();
    // The first read looks at the whole file once; then the hooks, each read to its end.
    let before = settled_cpu(daemon).await;
    for _ in 0..5 {
        c.hook(&env, &pane, "Stop", json!({})).await;
    }
    let ticks = settled_cpu(daemon).await - before;
    let per_sec = procfs::ticks_per_second();
    assert!(
        ticks < per_sec,
        "five Stops cost the daemon {ticks} ticks of CPU ({per_sec} a second)"
    );
}

/// The CPU ticks a process has used, once it stopped using any for half a second.
async fn settled_cpu(pid: u32) -> u64 {
    let mut last = crate::procs::cpu_ticks(pid).0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = crate::procs::cpu_ticks(pid).0;
        if now == last {
            return now;
        }
        last = now;
    }
}
