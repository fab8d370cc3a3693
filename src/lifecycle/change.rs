//! The one way the session state changes: a session's record and history under the state
//! lock, published as `DomainEvent`s in the order of the changes and marked for the next
//! `persist` (see `update_entry`); records added, removed and put back; history appended.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::persist::Events;
use super::{DomainEvent, Entry, Removed, SessionService, removed_meanwhile};
use crate::error::Result;
use crate::model::{EventRecord, Session, SessionId, now_usec};
use crate::store;
use crate::tmux::Tmux;

impl<T: Tmux> SessionService<T> {
    /// Applies `f` to a session under the lock; on `Ok` the change is recorded in history (if
    /// `event` is given), published and marked for persisting. On `Err` nothing changed.
    pub(super) fn update<R>(
        &self,
        id: SessionId,
        event: Option<(&str, String)>,
        f: impl FnOnce(&mut Session) -> Result<R>,
    ) -> Result<R> {
        self.update_entry(id, |entry| {
            let out = f(&mut entry.session)?;
            if let Some((name, summary)) = event {
                let text = log_text(entry.session.name.as_str(), name, &summary);
                tracing::info!(session_id = %id, session_name = %entry.session.name, "{text}");
                self.push_event(&mut entry.history, name, "", summary);
            }
            Ok(out)
        })
    }

    /// The one way to change a session: `f` changes its entry (record, history, requests)
    /// under the state lock; a session that is stopped then has no open requests; a changed
    /// record is published, and saved by the next `persist` unless only `last_seen` moved (not
    /// worth a write per hook event). What `f` returns; on its error nothing is published.
    pub(super) fn update_entry<R>(
        &self,
        id: SessionId,
        f: impl FnOnce(&mut Entry) -> Result<R>,
    ) -> Result<R> {
        let mut st = self.lock();
        let entry = st.sessions.get_mut(&id).ok_or_else(removed_meanwhile)?;
        let before = entry.session.clone();
        let out = f(entry)?;
        self.withdraw_if_stopped(entry);
        let after = &entry.session;
        if *after != before {
            let durable = Session {
                last_seen: before.last_seen,
                ..after.clone()
            } != before;
            let changed = after.clone();
            if durable {
                self.mark_changed(&st);
            }
            self.emit(DomainEvent::Changed(changed));
        }
        Ok(out)
    }

    /// Adds a session record, publishing it.
    pub(super) fn insert(&self, session: Session, event: &str, summary: String) {
        let mut st = self.lock();
        st.reserved.remove(&session.name);
        let text = log_text(session.name.as_str(), event, &summary);
        tracing::info!(session_id = %session.id, session_name = %session.name, "{text}");
        let mut history = Events::default();
        self.push_event(&mut history, event, "", summary);
        self.emit(DomainEvent::Added(session.clone()));
        st.sessions.insert(session.id, Entry::new(session, history));
        self.mark_changed(&st);
    }

    /// Drops a session record and its watcher, publishing the removal.
    pub(super) fn delete(&self, id: SessionId) -> Option<Removed> {
        let mut st = self.lock();
        let mut entry = st.sessions.remove(&id)?;
        tracing::info!(session_id = %id, session_name = %entry.session.name, "{}: removed", entry.session.name);
        self.withdraw_requests(&mut entry);
        if let Some(w) = &entry.watcher {
            w.abort();
        }
        self.mark_changed(&st);
        self.emit(DomainEvent::Removed(entry.session.clone()));
        self.op_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        Some(Removed {
            session: entry.session,
            history: entry.history,
        })
    }

    /// Puts back a record `delete` removed (a removal that could not be saved), watching its
    /// process again.
    pub(super) fn restore(self: &Arc<Self>, removed: Removed) {
        let (id, process) = (removed.session.id, removed.session.process);
        {
            let mut st = self.lock();
            self.emit(DomainEvent::Added(removed.session.clone()));
            st.sessions
                .insert(id, Entry::new(removed.session, removed.history));
            self.mark_changed(&st);
        }
        if let Some(ident) = process {
            self.watch(id, ident);
        }
    }

    /// Appends an event to a session's history without changing the session.
    pub fn record_event(&self, id: SessionId, event: &str, tool: &str, summary: String) {
        if let Some(e) = self.lock().sessions.get_mut(&id) {
            self.push_event(&mut e.history, event, tool, summary);
        }
    }

    /// Appends to a session's bounded history, which is saved with the registry (the next
    /// `persist` writes it) and so outlives the daemon.
    pub(super) fn push_event(
        &self,
        history: &mut Events,
        event: &str,
        tool: &str,
        summary: String,
    ) {
        history.push(EventRecord {
            at_usec: now_usec(),
            event: event.to_owned(),
            tool: tool.to_owned(),
            summary,
        });
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Puts back the histories the registry kept (see `store::load_history`), before anything
    /// happens to the sessions.
    pub fn restore_history(&self, mut history: store::History) {
        let mut st = self.lock();
        for (id, entry) in st.sessions.iter_mut() {
            if let Some(h) = history.remove(id) {
                entry.history = Events::saved(h);
            }
        }
    }
}

/// A session's log line names it, then what happened: "myproj: paused: waiting for review",
/// "myproj: resumed"; a detail that begins with the event stands alone ("myproj: started in …").
fn log_text(name: &str, event: &str, detail: &str) -> String {
    if detail.is_empty() {
        format!("{name}: {event}")
    } else if detail.starts_with(event) {
        format!("{name}: {detail}")
    } else {
        format!("{name}: {event}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::log_text;

    #[test]
    fn log_lines_name_the_session_and_never_end_in_an_empty_detail() {
        assert_eq!(log_text("myproj", "resumed", ""), "myproj: resumed");
        assert_eq!(
            log_text("myproj", "paused", "waiting for review"),
            "myproj: paused: waiting for review"
        );
        assert_eq!(
            log_text("myproj", "started", "started in /src/myproj"),
            "myproj: started in /src/myproj"
        );
    }
}
