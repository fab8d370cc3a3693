//! Permission requests of a session's claude, from first to last. Every announced request ends
//! exactly once: `allowed` or `denied` (AnswerPermission), `expired` (the hook call's wait ran
//! out), or `withdrawn` (the session moved on, stopped or was removed). Open requests live in
//! the session's entry, so a stop or a removal withdraws them in the same step that changes the
//! session, and a hook call waiting for an answer returns at once, without a decision.

use tokio::sync::oneshot;

use super::{DomainEvent, Entry, SessionService, printable, push_event, removed_meanwhile};
use crate::config::MAX_NOTE_BYTES;
use crate::error::{Error, Result};
use crate::model::{Activity, SessionId, Status};
use crate::tmux::Tmux;

/// How a permission request ended, spelled as on the wire.
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

/// An operator's answer to a waiting request.
#[derive(Debug)]
pub struct Answer {
    pub allow: bool,
    pub reason: String,
}

/// A request that has not ended yet.
pub(super) struct Request {
    id: String,
    tool: String,
    /// The hook call waiting for the answer; `None` when nobody waits (notify only). Dropping
    /// it tells the waiting call that no answer will come.
    waiter: Option<oneshot::Sender<Answer>>,
}

impl<T: Tmux> SessionService<T> {
    /// Announces a permission request of a session's claude. With `wait`, the answer arrives on
    /// the returned receiver; it closes without one when the request is withdrawn. `None` when
    /// the session is gone.
    pub fn permission_requested(
        &self,
        id: SessionId,
        request_id: &str,
        tool: &str,
        detail: &str,
        wait: bool,
    ) -> Option<oneshot::Receiver<Answer>> {
        let mut st = self.lock();
        let entry = st.sessions.get_mut(&id)?;
        let (waiter, rx) = match wait {
            true => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            false => (None, None),
        };
        entry.requests.push(Request {
            id: request_id.to_owned(),
            tool: tool.to_owned(),
            waiter,
        });
        self.emit(DomainEvent::PermissionRequested {
            session: entry.session.clone(),
            request_id: request_id.to_owned(),
            tool: tool.to_owned(),
            detail: detail.to_owned(),
        });
        rx
    }

    /// `AnswerPermission`: allows or denies a request a hook call is waiting on. The agent goes
    /// on (with the tool, or with the reason it was given), so the session is working again.
    pub async fn answer_permission(
        &self,
        id: SessionId,
        request_id: &str,
        allow: bool,
        reason: &str,
    ) -> Result<()> {
        if reason.len() > MAX_NOTE_BYTES {
            return Err(Error::invalid(format!(
                "The reason is {} bytes; at most {MAX_NOTE_BYTES} are allowed.",
                reason.len()
            )));
        }
        {
            let mut st = self.lock();
            let entry = st.sessions.get_mut(&id).ok_or_else(removed_meanwhile)?;
            let at = entry
                .requests
                .iter()
                .position(|r| r.id == request_id)
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "No permission request '{}' is waiting in this session; it was answered, expired or never existed.",
                        printable(request_id)
                    ))
                })?;
            if entry.requests[at].waiter.is_none() {
                return Err(Error::InvalidState(format!(
                    "Permission request '{}' is answered in the terminal: the daemon does not wait for answers (permission_wait_secs is 0).",
                    printable(request_id)
                )));
            }
            let mut request = entry.requests.remove(at);
            let outcome = match allow {
                true => Outcome::Allowed,
                false => Outcome::Denied,
            };
            let waiter = request.waiter.take().expect("checked above");
            let answer = Answer {
                allow,
                reason: reason.to_owned(),
            };
            if waiter.send(answer).is_err() {
                // The hook call is gone (its client went away): nobody can use the answer.
                self.resolved(entry, request, Outcome::Withdrawn);
                return Err(Error::NotFound(
                    "That permission request no longer waits for an answer.".into(),
                ));
            }
            let tool = request.tool.clone();
            self.resolved(entry, request, outcome);
            let s = &mut entry.session;
            if entry.requests.is_empty() && s.activity == Activity::NeedsInput {
                s.activity = Activity::Working;
                s.activity_detail = tool;
                let changed = s.clone();
                self.mark_changed(&st);
                self.emit(DomainEvent::Changed(changed));
            }
        }
        self.persist().await
    }

    /// The wait for an answer ran out: the request expires, unless it was answered or withdrawn
    /// just before (then false). Claude Code asks in its terminal now, so the session still
    /// needs input.
    pub fn permission_expired(&self, id: SessionId, request_id: &str) -> bool {
        let mut st = self.lock();
        let Some(entry) = st.sessions.get_mut(&id) else {
            return false;
        };
        let Some(at) = entry.requests.iter().position(|r| r.id == request_id) else {
            return false;
        };
        let request = entry.requests.remove(at);
        self.resolved(entry, request, Outcome::Expired);
        true
    }

    /// Withdraws every open request of a session: it moved on, stopped or is being removed.
    pub(super) fn withdraw_requests(&self, entry: &mut Entry) {
        for request in std::mem::take(&mut entry.requests) {
            self.resolved(entry, request, Outcome::Withdrawn);
        }
    }

    /// `withdraw_requests` for a session that is stopped: announced before the change itself.
    pub(super) fn withdraw_if_stopped(&self, entry: &mut Entry) {
        if entry.session.status == Status::Stopped {
            self.withdraw_requests(entry);
        }
    }

    /// Records and announces the end of a request (dropping its waiter, if still there).
    fn resolved(&self, entry: &mut Entry, request: Request, outcome: Outcome) {
        let summary = format!("{} {}", outcome.as_str(), request.id);
        tracing::info!(session_id = %entry.session.id, session_name = %entry.session.name, "{}: permission request {summary}", entry.session.name);
        push_event(
            &mut entry.history,
            "PermissionResolved",
            &request.tool,
            summary,
        );
        self.emit(DomainEvent::PermissionResolved {
            session: entry.session.clone(),
            request_id: request.id,
            outcome,
        });
    }
}

#[cfg(test)]
#[path = "permission_tests.rs"]
mod tests;
