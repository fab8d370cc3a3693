//! The reader against transcripts in Claude Code's real shape, written to temp files.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{MAX_LINE, RECENT_REPLIES, Read, Telemetry, read};

/// Transcript lines in Claude Code's shape, for every unit test that needs them.
#[path = "../../tests/support/transcript.rs"]
pub(crate) mod shape;
use shape::{
    MODEL, Tokens, assistant_line, prompt, prompt_with_id, reply, sidechain_reply, sums,
    tool_result,
};

const S: &str = "0f6c2b1e-5d4a-4b3c-8a9b-1c2d3e4f5a6b";

fn tokens(input: u64, cache_creation: u64, cache_read: u64, output: u64) -> Tokens {
    Tokens::new(input, cache_creation, cache_read, output)
}

struct File {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl File {
    fn new() -> File {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{S}.jsonl"));
        std::fs::write(&path, "").unwrap();
        File { _dir: dir, path }
    }

    fn append(&self, text: &str) {
        let mut f = OpenOptions::new().append(true).open(&self.path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn len(&self) -> u64 {
        std::fs::metadata(&self.path).unwrap().len()
    }
}

fn read_on(path: &Path, before: &Telemetry) -> Read {
    read(path, before).unwrap()
}

fn got(t: &Telemetry) -> [u64; 4] {
    let u = t.totals;
    [u.input, u.output, u.cache_creation, u.cache_read]
}

/// The prompt the latest reply answers: set by a reply of the session's model after the
/// prompt's user line, whichever read saw which line; a sub-agent's reply answers nothing.
#[test]
fn the_answered_prompt_is_the_one_before_the_latest_reply() {
    const P1: &str = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
    const P2: &str = "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e";
    let f = File::new();
    f.append(&prompt_with_id(S, P1, "run the tests"));
    let t = read_on(&f.path, &Telemetry::default()).telemetry;
    assert_eq!(t.answered, "", "asked, not answered yet");
    f.append(&reply(S, "msg_01A", MODEL, tokens(3, 0, 0, 9), 1));
    f.append(&tool_result(S, 300));
    let t = read_on(&f.path, &t).telemetry;
    assert_eq!(t.answered, P1, "a tool result carries no prompt of its own");
    f.append(&prompt_with_id(S, &P2.to_uppercase(), "and now the docs"));
    f.append(&sidechain_reply(S, "msg_01S", tokens(1, 0, 0, 1)));
    let t = read_on(&f.path, &t).telemetry;
    assert_eq!(
        t.answered, P1,
        "only a sub-agent replied to the second prompt"
    );
    f.append(&reply(S, "msg_01B", MODEL, tokens(4, 0, 0, 8), 0));
    let t = read_on(&f.path, &t).telemetry;
    assert_eq!(t.answered, P2);
    assert_eq!(t.cursor.prompt, P2);
}

#[test]
fn each_reply_counts_once_with_its_last_lines_usage() {
    let f = File::new();
    let (a, b) = (tokens(3, 1520, 21890, 412), tokens(5, 230, 23410, 96));
    f.append(&prompt(S, "run the tests"));
    f.append(&reply(S, "msg_01A", MODEL, a, 2));
    f.append(&tool_result(S, 2000));
    f.append(&reply(S, "msg_01B", MODEL, b, 1));
    let r = read_on(&f.path, &Telemetry::default());
    assert_eq!(got(&r.telemetry), sums(&[a, b]));
    assert_eq!(r.telemetry.context, b.context());
    assert_eq!(r.telemetry.model, MODEL);
    assert_eq!((r.malformed, r.started_over), (0, false));
    assert_eq!(r.telemetry.cursor.offset, f.len());
}

#[test]
fn only_the_appended_bytes_are_read() {
    let f = File::new();
    let (a, b) = (tokens(3, 100, 1000, 50), tokens(4, 200, 1100, 60));
    f.append(&reply(S, "msg_01A", MODEL, a, 1));
    let first = read_on(&f.path, &Telemetry::default());
    // Scribble over what was read (same file, same size): a reader that went back would see it.
    let len = f.len() as usize;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f.path)
        .unwrap()
        .write_all(&vec![b'#'; len - 1])
        .unwrap();
    f.append(&reply(S, "msg_01B", MODEL, b, 1));
    let second = read_on(&f.path, &first.telemetry);
    assert_eq!(got(&second.telemetry), sums(&[a, b]));
    assert_eq!((second.malformed, second.started_over), (0, false));
    // Nothing new: nothing changes.
    assert_eq!(
        read_on(&f.path, &second.telemetry).telemetry,
        second.telemetry
    );
}

#[test]
fn a_partial_last_line_waits_for_its_end() {
    let f = File::new();
    let (a, b) = (tokens(3, 100, 1000, 50), tokens(4, 200, 1100, 60));
    f.append(&reply(S, "msg_01A", MODEL, a, 1));
    let whole = f.len();
    let next = reply(S, "msg_01B", MODEL, b, 0);
    let (head, tail) = next.split_at(next.len() - 40);
    f.append(head);
    let r = read_on(&f.path, &Telemetry::default());
    assert_eq!(got(&r.telemetry), sums(&[a, tokens(4, 200, 1100, 1)]));
    assert_eq!(r.malformed, 0, "a line being written is not malformed");
    assert!(r.telemetry.cursor.offset > whole && r.telemetry.cursor.offset < f.len());
    f.append(tail);
    let r = read_on(&f.path, &r.telemetry);
    assert_eq!(got(&r.telemetry), sums(&[a, b]));
    assert_eq!(r.telemetry.cursor.offset, f.len());
}

#[test]
fn a_reply_whose_lines_are_apart_still_counts_once() {
    let f = File::new();
    let (a, b, a_final) = (
        tokens(3, 100, 1000, 1),
        tokens(4, 200, 1100, 60),
        tokens(3, 100, 1000, 75),
    );
    f.append(&reply(S, "msg_01A", MODEL, a, 0));
    f.append(&sidechain_reply(S, "msg_01B", b));
    let r = read_on(&f.path, &Telemetry::default());
    f.append(&reply(S, "msg_01A", MODEL, a_final, 0));
    let r = read_on(&f.path, &r.telemetry);
    assert_eq!(got(&r.telemetry), sums(&[a_final, b]));
    assert_eq!(r.telemetry.context, a_final.context());
}

#[test]
fn subagent_and_synthetic_replies_count_but_are_not_the_context() {
    let f = File::new();
    let (a, side) = (tokens(3, 100, 1000, 50), tokens(9, 900, 9000, 90));
    f.append(&reply(S, "msg_01A", MODEL, a, 1));
    f.append(&sidechain_reply(S, "msg_01S", side));
    f.append(&reply(S, "msg_01E", "<synthetic>", Tokens::default(), 0));
    let r = read_on(&f.path, &Telemetry::default());
    assert_eq!(got(&r.telemetry), sums(&[a, side]));
    assert_eq!(
        (r.telemetry.context, r.telemetry.model.as_str()),
        (a.context(), MODEL)
    );
}

#[test]
fn malformed_lines_are_skipped_and_counted() {
    let f = File::new();
    let (a, b) = (tokens(3, 100, 1000, 50), tokens(4, 200, 1100, 60));
    f.append(&reply(S, "msg_01A", MODEL, a, 1));
    f.append("this is not json\n");
    f.append(
        "{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01X\",\"usage\":{\"input_tokens\":7\n",
    );
    f.append("\n");
    f.append(
        &(json!({"type": "summary", "summary": "Fixing tests", "leafUuid": "x"}).to_string()
            + "\n"),
    );
    f.append(&reply(S, "msg_01B", MODEL, b, 1));
    let r = read_on(&f.path, &Telemetry::default());
    assert_eq!(got(&r.telemetry), sums(&[a, b]));
    assert_eq!(r.malformed, 2);
}

#[test]
fn a_truncated_or_replaced_file_is_counted_from_the_start() {
    let f = File::new();
    let (a, b, c) = (
        tokens(3, 100, 1000, 50),
        tokens(4, 200, 1100, 60),
        tokens(5, 300, 1200, 70),
    );
    f.append(&reply(S, "msg_01A", MODEL, a, 1));
    f.append(&reply(S, "msg_01B", MODEL, b, 1));
    let before = read_on(&f.path, &Telemetry::default()).telemetry;

    std::fs::write(&f.path, reply(S, "msg_01C", MODEL, c, 0)).unwrap();
    let r = read_on(&f.path, &before);
    assert!(r.started_over, "shorter than the cursor");
    assert_eq!(got(&r.telemetry), sums(&[c]));

    // Another file renamed over the path, longer than the cursor.
    let other = f.path.with_extension("new");
    let text = reply(S, "msg_01B", MODEL, b, 3) + &reply(S, "msg_01C", MODEL, c, 3);
    std::fs::write(&other, text).unwrap();
    std::fs::rename(&other, &f.path).unwrap();
    let r = read_on(&f.path, &before);
    assert!(r.started_over, "another inode");
    assert_eq!(got(&r.telemetry), sums(&[b, c]));
}

#[test]
fn memory_of_recent_replies_is_bounded() {
    let f = File::new();
    let all: Vec<Tokens> = (0..100).map(|i| tokens(i, 10, 100, i)).collect();
    for (i, t) in all.iter().enumerate() {
        f.append(&reply(S, &format!("msg_{i:03}"), MODEL, *t, 0));
    }
    let r = read_on(&f.path, &Telemetry::default());
    assert_eq!(got(&r.telemetry), sums(&all));
    assert_eq!(r.telemetry.cursor.recent.len(), RECENT_REPLIES);
    assert_eq!(r.telemetry.cursor.recent.back().unwrap().0, "msg_099");
}

#[test]
fn an_over_long_line_is_skipped_without_holding_it() {
    let f = File::new();
    let a = tokens(3, 100, 1000, 50);
    f.append(&tool_result(S, MAX_LINE + 1));
    f.append(&reply(S, "msg_01A", MODEL, a, 0));
    let r = read_on(&f.path, &Telemetry::default());
    assert_eq!(got(&r.telemetry), sums(&[a]));
    assert_eq!((r.malformed, r.long_lines), (0, 1));
    assert_eq!(r.telemetry.cursor.offset, f.len());
}

/// A line being written is looked at once: each read starts at the bytes appended since the
/// last, whether the line will count (under `MAX_LINE`) or is skipped up to its end.
#[test]
fn a_partial_line_is_not_read_again() {
    let (a, b) = (tokens(3, 100, 1000, 50), tokens(4, 200, 1100, 60));
    for (text, counted) in [(1 << 20, true), (MAX_LINE + (4 << 20), false)] {
        let f = File::new();
        f.append(&reply(S, "msg_01A", MODEL, a, 0));
        let start = f.len();
        let text = json!({"type": "text", "text": "x".repeat(text)});
        let line = assistant_line(S, "msg_01B", MODEL, b, text) + "\n";
        let (head, tail) = line.split_at(line.len() - 40);
        f.append(head);
        let first = read_on(&f.path, &Telemetry::default());
        let c = &first.telemetry.cursor;
        assert_eq!((c.offset, c.scanned), (start, f.len()));
        assert_eq!(first.long_lines, u64::from(!counted));
        f.append(&tail[..30]);
        let second = read_on(&f.path, &first.telemetry);
        assert_eq!(second.bytes_read, 30, "only the appended bytes are read");
        assert_eq!(second.long_lines, 0, "a long line is reported once");
        f.append(&tail[30..]);
        let last = read_on(&f.path, &second.telemetry);
        let want = if counted { sums(&[a, b]) } else { sums(&[a]) };
        assert_eq!(got(&last.telemetry), want);
        assert_eq!((last.malformed, last.long_lines), (0, 0));
        assert_eq!(last.telemetry.cursor.offset, f.len());
    }
}

/// A readable file of another user: a transcript given to nobody when the tests run as root,
/// else root's /etc/passwd.
fn foreign_file(f: &File) -> PathBuf {
    if !rustix::process::geteuid().is_root() {
        return PathBuf::from("/etc/passwd");
    }
    let path = f.path.with_extension("nobody");
    std::fs::copy(&f.path, &path).unwrap();
    let nobody = rustix::fs::Uid::from_raw(65534);
    rustix::fs::chown(&path, Some(nobody), None).unwrap();
    path
}

#[test]
fn only_regular_files_of_this_user_are_read() {
    let f = File::new();
    f.append(&reply(S, "msg_01A", MODEL, tokens(3, 100, 1000, 50), 0));
    let dir = f.path.parent().unwrap();
    let fifo = dir.join("fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let link = dir.join("link.jsonl");
    std::os::unix::fs::symlink(&f.path, &link).unwrap();
    // A FIFO without a writer would block an open or a read forever.
    for path in [fifo, link, foreign_file(&f), "/dev/zero".into(), dir.into()] {
        let e = read(&path, &Telemetry::default()).unwrap_err();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::InvalidInput,
            "{}",
            path.display()
        );
    }
    let missing = read(&dir.join("none.jsonl"), &Telemetry::default());
    assert_eq!(missing.unwrap_err().kind(), std::io::ErrorKind::NotFound);
}
