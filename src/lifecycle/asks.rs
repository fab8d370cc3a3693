//! What a session's claude asks (a permission or questions) and how the asking ends: the
//! request as the daemon keeps and shows it, the answer a client gives, and the outcome.

use std::collections::HashMap;

use crate::model::SessionId;

/// How a request ended, spelled as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    Expired,
    Withdrawn,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Expired => "expired",
            Outcome::Withdrawn => "withdrawn",
        }
    }
}

/// What claude asks: leave to use a tool, or AskUserQuestion's questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Permission,
    Question,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Permission => "permission",
            Kind::Question => "question",
        }
    }
}

/// One of Claude Code's `permission_suggestions`, offered to whoever answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// Its number among the request's suggestions, from "1".
    pub id: String,
    /// A human line: "Always allow Bash(npm test:*) in this project".
    pub label: String,
    pub destination: String,
    /// The entry exactly as Claude Code sent it: the answer that remembers it hands it back.
    pub entry: serde_json::Value,
}

/// One question of an AskUserQuestion call.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The question as shown (one clean line); answers name it so.
    pub question: String,
    /// The question exactly as Claude Code sent it: the key of its answer for Claude Code.
    pub raw: String,
    pub header: String,
    pub multi_select: bool,
    pub options: Vec<String>,
}

/// A request as the hook event brought it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub kind: Kind,
    pub tool: String,
    /// The one-line summary PermissionRequested carries.
    pub summary: String,
    /// The full command or input summary (up to 4 KiB).
    pub detail: String,
    pub suggestions: Vec<Suggestion>,
    pub questions: Vec<Question>,
}

/// A request waiting now, as `ListRequests` shows it.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub session_id: SessionId,
    pub session_name: String,
    pub request_id: String,
    pub ask: Ask,
    pub created_usec: u64,
    /// 0: nobody waits, the request is answered in the terminal.
    pub expires_usec: u64,
}

/// An answer as a caller gave it (`AnswerRequest`), before it is checked against its request.
#[derive(Debug, Default)]
pub struct Reply {
    pub allow: Option<bool>,
    pub reason: String,
    /// A suggestion's id.
    pub remember: Option<String>,
    /// Question (as shown) to the chosen label(s) or free text.
    pub answers: Option<HashMap<String, String>>,
}

/// An answer that fits its request, as the waiting hook call turns it into Claude Code's decision.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// Allowed; with the suggestion entry Claude Code should apply from now on.
    Allow { remember: Option<serde_json::Value> },
    /// Denied; with the rule (a suggestion turned to deny) already written to its settings
    /// file, so the same call is denied from now on.
    Deny {
        reason: String,
        remember: Option<serde_json::Value>,
    },
    /// Each question exactly as Claude Code sent it, with its answer, in the questions' order.
    Answers(Vec<(String, String)>),
}
