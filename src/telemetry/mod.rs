//! Agent telemetry from Claude Code's transcript (the JSON Lines file a hook names in
//! `transcript_path`): the token sums of a conversation, the context its latest reply saw, the
//! model, and where reading stopped. `transcript` reads only what was appended since the last
//! read. Nothing here knows sessions, hooks or D-Bus; the lifecycle service decides when to read
//! and publishes the result.

mod follow;
mod transcript;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

pub use follow::Follower;
pub use transcript::{MAX_LINE, Read, read};

/// How many recent replies keep the usage counted for them: a line repeating one of their ids
/// replaces that usage instead of adding to it. The lines of one reply are written together,
/// so a short memory covers them even when another reply's lines come in between.
pub const RECENT_REPLIES: usize = 16;

/// Token counts of one reply (`message.usage`), or their sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_creation: u64,
    pub cache_read: u64,
}

impl Usage {
    /// What the model saw: everything that went in, cached or not.
    pub fn context(&self) -> u64 {
        self.input + self.cache_creation + self.cache_read
    }

    fn add(&mut self, u: Usage) {
        self.input = self.input.saturating_add(u.input);
        self.output = self.output.saturating_add(u.output);
        self.cache_creation = self.cache_creation.saturating_add(u.cache_creation);
        self.cache_read = self.cache_read.saturating_add(u.cache_read);
    }

    fn sub(&mut self, u: Usage) {
        self.input = self.input.saturating_sub(u.input);
        self.output = self.output.saturating_sub(u.output);
        self.cache_creation = self.cache_creation.saturating_sub(u.cache_creation);
        self.cache_read = self.cache_read.saturating_sub(u.cache_read);
    }
}

/// Where the reading of a transcript stopped: the end of its last complete line, how far the
/// line after it was looked at, in the file that was read (device and inode, so a replaced file
/// is noticed), and the latest replies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cursor {
    pub offset: u64,
    /// The end of the bytes looked at: from `offset` to here runs a line whose end is not
    /// written yet, so the next read starts here. 0 in registries from before it was kept.
    pub scanned: u64,
    pub dev: u64,
    pub ino: u64,
    /// The latest replies' ids with the usage counted for each, oldest first.
    pub recent: VecDeque<(String, Usage)>,
    /// The prompt (`promptId`) of the latest user line read: the replies after it answer it.
    pub prompt: String,
}

/// What one transcript says so far. Persisted with its session, so a restarted daemon goes on
/// from `cursor` instead of counting again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Telemetry {
    /// The model of the latest reply; empty until one is read.
    pub model: String,
    /// Sums over the conversation, each reply once.
    pub totals: Usage,
    /// The latest reply's context (`Usage::context`).
    pub context: u64,
    /// The prompt the latest reply answers: once it is the prompt of the latest ended turn,
    /// the transcript holds that turn (Claude Code writes it after the turn's Stop hook).
    pub answered: String,
    pub cursor: Cursor,
}

/// One assistant line of a transcript.
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    /// `message.id`; empty when the line has none (then it is counted on its own).
    pub id: &'a str,
    pub model: &'a str,
    pub usage: Usage,
    /// A subagent's or a synthetic message: counted, but not what the session's model saw.
    pub aside: bool,
}

impl Telemetry {
    /// Nothing read yet: the registry leaves such records out.
    pub fn is_empty(&self) -> bool {
        *self == Telemetry::default()
    }

    /// Counts one assistant line: a reply already counted gets this line's usage instead.
    pub fn count(&mut self, r: Reply<'_>) {
        if !r.id.is_empty() {
            let recent = &mut self.cursor.recent;
            if let Some(i) = recent.iter().position(|(id, _)| id == r.id) {
                let (id, earlier) = recent.remove(i).expect("found");
                self.totals.sub(earlier);
                recent.push_back((id, r.usage));
            } else {
                if recent.len() == RECENT_REPLIES {
                    recent.pop_front();
                }
                recent.push_back((r.id.to_owned(), r.usage));
            }
        }
        self.totals.add(r.usage);
        if !r.aside {
            if self.answered != self.cursor.prompt {
                self.answered.clone_from(&self.cursor.prompt);
            }
            self.context = r.usage.context();
            if !r.model.is_empty() && self.model != r.model {
                self.model = r.model.to_owned();
            }
        }
    }
}
