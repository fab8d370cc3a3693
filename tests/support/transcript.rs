//! Transcript lines in the shape Claude Code 2.1.x writes them (`~/.claude/projects/…/<id>.jsonl`),
//! for the reader's unit tests, the integration tests and the benchmark: one reply is written as
//! one `"type":"assistant"` line per content block, all sharing `message.id`, the earlier ones
//! with the usage known when they were written; user lines (prompts, tool results) in between.

#![allow(dead_code)] // each user takes what it needs

use serde_json::{Value, json};

pub const MODEL: &str = "claude-opus-4-5-20251101";

/// Token counts as `message.usage` spells them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub cache_creation: u64,
    pub cache_read: u64,
    pub output: u64,
}

impl Tokens {
    pub fn new(input: u64, cache_creation: u64, cache_read: u64, output: u64) -> Tokens {
        Tokens {
            input,
            cache_creation,
            cache_read,
            output,
        }
    }

    pub fn context(&self) -> u64 {
        self.input + self.cache_creation + self.cache_read
    }
}

/// What a reader must report for these replies, each counted once with its final usage:
/// input, output, cache creation and cache read sums.
pub fn sums(replies: &[Tokens]) -> [u64; 4] {
    replies.iter().fold([0; 4], |s, t| {
        [
            s[0] + t.input,
            s[1] + t.output,
            s[2] + t.cache_creation,
            s[3] + t.cache_read,
        ]
    })
}

fn envelope(session: &str, kind: &str, sidechain: bool, message: Value) -> Value {
    json!({
        "parentUuid": "5f0c7b1e-8d2a-4c3b-9e1f-2a3b4c5d6e7f",
        "isSidechain": sidechain,
        "userType": "external",
        "cwd": "/home/me/src/myproj",
        "sessionId": session,
        "version": "2.1.3",
        "gitBranch": "main",
        "message": message,
        "requestId": "req_011CUq7n1yZ8gS2xN3kT5vWb",
        "type": kind,
        "uuid": "0b9c2a4d-1e3f-4a5b-8c6d-7e8f9a0b1c2d",
        "timestamp": "2026-01-10T12:00:00.000Z",
    })
}

/// One assistant line: content block `block` of reply `id`, with `usage` as known then.
pub fn assistant_line(session: &str, id: &str, model: &str, usage: Tokens, block: Value) -> String {
    envelope(
        session,
        "assistant",
        false,
        json!({
            "model": model,
            "id": id,
            "type": "message",
            "role": "assistant",
            "content": [block],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {
                "input_tokens": usage.input,
                "cache_creation_input_tokens": usage.cache_creation,
                "cache_read_input_tokens": usage.cache_read,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 0,
                    "ephemeral_1h_input_tokens": usage.cache_creation,
                },
                "output_tokens": usage.output,
                "service_tier": "standard",
            },
        }),
    )
    .to_string()
}

/// The lines of one reply, each ending in a newline: a thinking block, `text_blocks` text
/// blocks and a tool call, all with the reply's id; only the last carries the final output
/// count (the earlier ones were written while the reply was still streaming).
pub fn reply(session: &str, id: &str, model: &str, usage: Tokens, text_blocks: usize) -> String {
    let early = Tokens {
        output: usage.output.min(1),
        ..usage
    };
    let mut blocks = vec![
        json!({"type": "thinking", "thinking": "Let me look at the failing test first.", "signature": "EqQBCkgIBxABGAIiQ"}),
    ];
    blocks.extend((0..text_blocks).map(|i| {
        json!({"type": "text", "text": format!("Paragraph {i}: the test fails because the fixture \"usage\" is stale.")})
    }));
    blocks.push(json!({"type": "tool_use", "id": "toolu_01XyZ", "name": "Bash", "input": {"command": "cargo test"}}));
    let last = blocks.len() - 1;
    blocks
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let u = if i == last { usage } else { early };
            assistant_line(session, id, model, u, b) + "\n"
        })
        .collect()
}

/// A user line carrying a tool result of `bytes` characters, ending in a newline.
pub fn tool_result(session: &str, bytes: usize) -> String {
    let line = "test result: ok. 42 passed; 0 failed\n";
    let content = line.repeat(bytes / line.len() + 1);
    let content = &content[..bytes];
    envelope(
        session,
        "user",
        false,
        json!({
            "role": "user",
            "content": [{"tool_use_id": "toolu_01XyZ", "type": "tool_result", "content": content, "is_error": false}],
        }),
    )
    .to_string()
        + "\n"
}

/// A user prompt line, ending in a newline.
pub fn prompt(session: &str, text: &str) -> String {
    envelope(
        session,
        "user",
        false,
        json!({"role": "user", "content": text}),
    )
    .to_string()
        + "\n"
}

/// A user prompt line of the prompt `prompt_id` (Claude Code's `promptId`, which its Stop hook
/// names), ending in a newline.
pub fn prompt_with_id(session: &str, prompt_id: &str, text: &str) -> String {
    let mut v: Value = serde_json::from_str(prompt(session, text).trim_end()).expect("valid line");
    v["promptId"] = json!(prompt_id);
    v.to_string() + "\n"
}

/// A subagent's reply (`isSidechain`), one line.
pub fn sidechain_reply(session: &str, id: &str, usage: Tokens) -> String {
    let mut v: Value = serde_json::from_str(&assistant_line(
        session,
        id,
        "claude-haiku-4-5-20251001",
        usage,
        json!({"type": "text", "text": "Found 3 files."}),
    ))
    .expect("valid line");
    v["isSidechain"] = json!(true);
    v.to_string() + "\n"
}
