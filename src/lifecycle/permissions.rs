//! Permission requests of a session's claude, from first to last. Every announced request ends
//! exactly once: `allowed` or `denied` (AnswerPermission), `expired` (the hook call's wait ran
//! out), or `withdrawn` (the session moved on, stopped or was removed). Open requests live in
//! the session's entry, so a stop or a removal withdraws them in the same step that changes the
//! session, and a hook call waiting for an answer returns at once, without a decision.

use std::time::Duration;

use tokio::sync::oneshot;

use super::answers::{describe, fit, remember_denial};
use super::asks::{Answer, Ask, Outcome, Reply, Waiting};
use super::{DomainEvent, Entry, SessionService, printable, removed_meanwhile};
use crate::config::MAX_NOTE_BYTES;
use crate::error::{Error, Result};
use crate::model::{Activity, SessionId, Status, now_usec};
use crate::text;
use crate::tmux::Tmux;

/// Where request `request_id` waits for an answer among the entry's requests.
fn waiting_at(entry: &Entry, request_id: &str) -> Result<usize> {
    let at = entry
        .requests
        .iter()
        .position(|r| r.id == request_id)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "No request '{}' is waiting in this session; it was answered, expired or never existed.",
                printable(request_id)
            ))
        })?;
    match entry.requests[at].waiter {
        Some(_) => Ok(at),
        None => Err(Error::InvalidState(format!(
            "Request '{}' is answered in the terminal: nobody could answer it when it was made (no notify or tray ran, or permission_wait_secs is 0).",
            printable(request_id)
        ))),
    }
}

/// A request that has not ended yet.
pub(super) struct Request {
    id: String,
    ask: Ask,
    created_usec: u64,
    expires_usec: u64,
    /// The hook call waiting for the answer; `None` when nobody waits (notify only). Dropping
    /// it tells the waiting call that no answer will come.
    waiter: Option<oneshot::Sender<Answer>>,
}

impl<T: Tmux> SessionService<T> {
    /// Announces a request of a session's claude. With a `wait`, the answer arrives on the
    /// returned receiver; it closes without one when the request is withdrawn. `None` when the
    /// session is gone or nobody waits.
    pub fn permission_requested(
        &self,
        id: SessionId,
        request_id: &str,
        ask: Ask,
        wait: Duration,
    ) -> Option<oneshot::Receiver<Answer>> {
        let mut st = self.lock();
        let entry = st.sessions.get_mut(&id)?;
        let created_usec = now_usec();
        let (waiter, rx, expires_usec) = match wait.is_zero() {
            true => (None, None, 0),
            false => {
                let (tx, rx) = oneshot::channel();
                let expires = created_usec.saturating_add(wait.as_micros() as u64);
                (Some(tx), Some(rx), expires)
            }
        };
        self.emit(DomainEvent::PermissionRequested {
            session: entry.session.clone(),
            request_id: request_id.to_owned(),
            tool: ask.tool.clone(),
            detail: ask.summary.clone(),
        });
        entry.requests.push(Request {
            id: request_id.to_owned(),
            ask,
            created_usec,
            expires_usec,
            waiter,
        });
        rx
    }

    /// Every request waiting now, oldest first.
    pub fn requests(&self) -> Vec<Waiting> {
        let st = self.lock();
        let mut all: Vec<Waiting> = st
            .sessions
            .values()
            .flat_map(|e| {
                e.requests.iter().map(|r| Waiting {
                    session_id: e.session.id,
                    session_name: e.session.name.to_string(),
                    request_id: r.id.clone(),
                    ask: r.ask.clone(),
                    created_usec: r.created_usec,
                    expires_usec: r.expires_usec,
                })
            })
            .collect();
        all.sort_by_key(|w| w.created_usec);
        all
    }

    /// `AnswerPermission`: the short form of `answer_request` for allow or deny.
    pub async fn answer_permission(
        &self,
        id: SessionId,
        request_id: &str,
        allow: bool,
        reason: &str,
    ) -> Result<()> {
        let reply = Reply {
            allow: Some(allow),
            reason: reason.to_owned(),
            ..Reply::default()
        };
        self.answer_request(id, request_id, reply).await
    }

    /// `AnswerRequest`: answers a request a hook call is waiting on, once the reply fits it.
    /// The agent goes on (with the tool, or with the reason it was given), so the session is
    /// working again.
    pub async fn answer_request(
        &self,
        id: SessionId,
        request_id: &str,
        reply: Reply,
    ) -> Result<()> {
        if reply.reason.len() > MAX_NOTE_BYTES {
            return Err(Error::invalid(format!(
                "The reason is {} bytes; at most {MAX_NOTE_BYTES} are allowed.",
                reply.reason.len()
            )));
        }
        let (answer, project) = {
            let mut st = self.lock();
            let entry = st.sessions.get_mut(&id).ok_or_else(removed_meanwhile)?;
            let at = waiting_at(entry, request_id)?;
            (
                fit(&entry.requests[at].ask, reply)?,
                entry.session.project_dir.clone(),
            )
        };
        // A denial's rule is in its file before claude hears of it, and outside the lock.
        if let Answer::Deny {
            remember: Some(rule),
            ..
        } = &answer
        {
            remember_denial(rule, &project).await?;
        }
        self.update_entry(id, |entry| {
            let at = waiting_at(entry, request_id)?;
            let (outcome, note) = describe(&entry.requests[at].ask, &answer);
            let mut request = entry.requests.remove(at);
            let waiter = request.waiter.take().expect("checked above");
            if waiter.send(answer).is_err() {
                // The hook call is gone (its client went away): nobody can use the answer.
                self.resolved(entry, request, Outcome::Withdrawn, "");
                return Err(Error::NotFound(
                    "That request no longer waits for an answer.".into(),
                ));
            }
            let tool = request.ask.tool.clone();
            self.resolved(entry, request, outcome, &note);
            let s = &mut entry.session;
            if entry.requests.is_empty() && s.activity == Activity::NeedsInput {
                s.activity = Activity::Working;
                s.activity_detail = tool;
            }
            Ok(())
        })?;
        self.persist().await
    }

    /// The wait for an answer ran out: the request expires, unless it was answered or withdrawn
    /// just before (then false). Claude Code asks in its terminal now, so the session still
    /// needs input. The expiry is saved in the history.
    pub async fn permission_expired(&self, id: SessionId, request_id: &str) -> bool {
        {
            let mut st = self.lock();
            let Some(entry) = st.sessions.get_mut(&id) else {
                return false;
            };
            let Some(at) = entry.requests.iter().position(|r| r.id == request_id) else {
                return false;
            };
            let request = entry.requests.remove(at);
            self.resolved(entry, request, Outcome::Expired, "");
        }
        if let Err(e) = self.persist().await {
            tracing::error!("could not save the registry: {e}");
        }
        true
    }

    /// Withdraws every open request of a session: it moved on, stopped or is being removed.
    pub(super) fn withdraw_requests(&self, entry: &mut Entry) {
        for request in std::mem::take(&mut entry.requests) {
            self.resolved(entry, request, Outcome::Withdrawn, "");
        }
    }

    /// `withdraw_requests` for a session that is stopped: announced before the change itself.
    pub(super) fn withdraw_if_stopped(&self, entry: &mut Entry) {
        if entry.session.status == Status::Stopped {
            self.withdraw_requests(entry);
        }
    }

    /// Records and announces the end of a request (dropping its waiter, if still there); `note`
    /// says what the answer was, for the history.
    fn resolved(&self, entry: &mut Entry, request: Request, outcome: Outcome, note: &str) {
        let summary = match note {
            "" => format!("{} {}", outcome.as_str(), request.id),
            note => format!("{} {}: {note}", outcome.as_str(), request.id),
        };
        let summary = text::one_line(&summary, text::MAX_DETAIL);
        tracing::info!(session_id = %entry.session.id, session_name = %entry.session.name, "{}: request {summary}", entry.session.name);
        self.push_event(
            &mut entry.history,
            "PermissionResolved",
            &request.ask.tool,
            summary,
        );
        self.emit(DomainEvent::PermissionResolved {
            session: entry.session.clone(),
            request_id: request.id,
            outcome,
        });
    }
}
