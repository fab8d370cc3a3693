//! Telemetry rules of the service: which transcript a session follows, its figures starting
//! over with a new one, and background reads that never lose a request.

use std::io::Write;
use std::time::Duration;

use super::{Rig, rig};
use crate::lifecycle::HookEffect;
use crate::model::{Session, SessionId};
use crate::telemetry::Usage;

use crate::telemetry::tests::shape::{MODEL, Tokens, reply, sums, tool_result};

const CID: &str = "0f6c2b1e-5d4a-4b3c-8a9b-1c2d3e4f5a6b";

fn hook(r: &Rig, id: SessionId, event: &str, effect: HookEffect) -> Session {
    r.svc
        .apply_hook(id, event, "", event.into(), &effect)
        .unwrap();
    r.svc.get(id).unwrap()
}

fn ids(cid: &str, path: &str) -> Option<(String, String)> {
    Some((cid.into(), path.into()))
}

fn append(path: &str, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

impl Rig {
    async fn wait_totals(&self, id: SessionId, want: Usage) {
        for _ in 0..250 {
            if self.svc.get(id).unwrap().telemetry.totals == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(self.svc.get(id).unwrap().telemetry.totals, want);
    }
}

fn usage(t: &[Tokens]) -> Usage {
    let [input, output, cache_creation, cache_read] = sums(t);
    Usage {
        input,
        output,
        cache_creation,
        cache_read,
    }
}

/// The SessionStart of conversation `CID` with its transcript at `path`.
fn start_of(path: &str) -> HookEffect {
    HookEffect {
        claude_ids: ids(CID, path),
        ..Default::default()
    }
}

impl Rig {
    /// A registered session whose conversation writes the transcript `file` (in the rig's dir).
    async fn following(&self, file: &str) -> (Session, String) {
        let s = self.svc.register(&self.project("p"), "p").await.unwrap();
        let path = self.dir.path().join(file).to_string_lossy().into_owned();
        append(&path, "");
        hook(self, s.id, "SessionStart", start_of(&path));
        (s, path)
    }
}

#[tokio::test]
async fn another_transcript_starts_the_figures_over() {
    let r = rig();
    let (s, first) = r.following("first.jsonl").await;
    let a = Tokens::new(3, 100, 1000, 50);
    append(&first, &reply(CID, "msg_01A", MODEL, a, 1));
    r.svc.read_transcript(s.id);
    r.wait_totals(s.id, usage(&[a])).await;

    // The same conversation again (a resume): the figures stay.
    assert_eq!(
        hook(&r, s.id, "SessionStart", start_of(&first))
            .telemetry
            .totals,
        usage(&[a])
    );
    // Another one (/clear, a fork): nothing of the old file's figures is its own.
    let clear = HookEffect {
        claude_ids: ids(
            "9d8c7b6a-0000-4000-8000-000000000000",
            "/nowhere/second.jsonl",
        ),
        ..Default::default()
    };
    assert!(hook(&r, s.id, "SessionStart", clear).telemetry.is_empty());
}

#[tokio::test]
async fn a_missed_session_start_is_made_up_for_by_the_next_event() {
    let r = rig();
    let s = r.start("launched").await;
    assert!(!s.claude_session_id.is_empty() && s.transcript_path.is_empty());
    let path = r.dir.path().join("t.jsonl").to_string_lossy().into_owned();
    // Another conversation's event does not claim the session's transcript...
    let other = HookEffect {
        seen_ids: ids(CID, &path),
        ..Default::default()
    };
    assert_eq!(hook(&r, s.id, "Stop", other).transcript_path, "");
    // ...its own does.
    let own = HookEffect {
        seen_ids: ids(&s.claude_session_id, &path),
        ..Default::default()
    };
    assert_eq!(hook(&r, s.id, "Stop", own).transcript_path, path);
}

#[tokio::test]
async fn a_read_asked_for_while_one_runs_is_not_lost() {
    let r = rig();
    let (s, path) = r.following("t.jsonl").await;
    // A long conversation, so that its first read takes a while.
    let a = Tokens::new(3, 100, 1000, 50);
    append(&path, &reply(CID, "msg_01A", MODEL, a, 1));
    append(&path, &tool_result(CID, 1 << 20).repeat(32));
    r.svc.read_transcript(s.id);
    // The read is under way (it reads the size the file had when it began) when the next
    // reply arrives and is asked for.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let b = Tokens::new(5, 200, 1100, 60);
    append(&path, &reply(CID, "msg_01B", MODEL, b, 1));
    r.svc.read_transcript(s.id);
    r.wait_totals(s.id, usage(&[a, b])).await;
    assert_eq!(r.svc.get(s.id).unwrap().telemetry.context, b.context());
}
