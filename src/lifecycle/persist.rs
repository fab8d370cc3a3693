//! Saving the registry (see `store`). Every way to change the sessions marks the session it
//! changes (`Sessions`), and each history counts the events it has not saved (`Events`), so a
//! save writes exactly what changed since the last one, as one journal record; or, when the
//! store asks for it (and on a clean stop), a whole new snapshot. Concurrent callers share one
//! write (group commit): whoever holds the saver writes the newest state, covering everyone
//! waiting. A save that fails leaves every mark in place for the next one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Deref;
use std::sync::atomic::Ordering;

use super::{Entry, SessionService, State};
use crate::config::EVENT_HISTORY;
use crate::error::{Error, Result};
use crate::model::{EventRecord, Session, SessionId};
use crate::store::{self, Change, Saver};
use crate::tmux::Tmux;

/// A session's bounded event history, newest last, and how many of its newest records no save
/// has written yet.
#[derive(Default)]
pub(super) struct Events {
    list: VecDeque<EventRecord>,
    unsaved: usize,
}

impl Events {
    /// A history as the registry kept it.
    pub(super) fn saved(list: VecDeque<EventRecord>) -> Self {
        Events { list, unsaved: 0 }
    }

    /// Appends a record, dropping the oldest beyond `EVENT_HISTORY`.
    pub(super) fn push(&mut self, record: EventRecord) {
        if self.list.len() == EVENT_HISTORY {
            self.list.pop_front();
        }
        self.list.push_back(record);
        self.unsaved += 1;
    }

    /// The records no save has written yet.
    fn unsaved(&self) -> impl Iterator<Item = &EventRecord> {
        let n = self.unsaved.min(self.list.len());
        self.list.iter().skip(self.list.len() - n)
    }
}

impl Deref for Events {
    type Target = VecDeque<EventRecord>;
    fn deref(&self) -> &Self::Target {
        &self.list
    }
}

/// The sessions by id. Reading goes through `Deref`; every way to change an entry is a method
/// here that marks it, so nothing changes unsaved.
#[derive(Default)]
pub(super) struct Sessions {
    map: HashMap<SessionId, Entry>,
    /// The sessions changed or removed since their last save, with the number of their latest
    /// mark (a save clears only the marks it covered).
    dirty: HashMap<SessionId, u64>,
    marks: u64,
}

impl Deref for Sessions {
    type Target = HashMap<SessionId, Entry>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl FromIterator<(SessionId, Entry)> for Sessions {
    fn from_iter<I: IntoIterator<Item = (SessionId, Entry)>>(iter: I) -> Self {
        let mut s = Sessions::default();
        for (id, e) in iter {
            s.insert(id, e);
        }
        s
    }
}

impl Sessions {
    fn mark(&mut self, id: SessionId) {
        self.marks += 1;
        self.dirty.insert(id, self.marks);
    }

    /// A session to change (marked for the next save).
    pub(super) fn get_mut(&mut self, id: &SessionId) -> Option<&mut Entry> {
        if !self.map.contains_key(id) {
            return None;
        }
        self.mark(*id);
        self.map.get_mut(id)
    }

    pub(super) fn insert(&mut self, id: SessionId, entry: Entry) -> Option<Entry> {
        self.mark(id);
        self.map.insert(id, entry)
    }

    pub(super) fn remove(&mut self, id: &SessionId) -> Option<Entry> {
        let entry = self.map.remove(id)?;
        self.mark(*id);
        Some(entry)
    }

    /// Every session, to change (all marked).
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&SessionId, &mut Entry)> {
        let ids: Vec<SessionId> = self.map.keys().copied().collect();
        for id in ids {
            self.mark(id);
        }
        self.map.iter_mut()
    }
}

/// What a save covered: the marks it cleared and the events it wrote, per session.
#[derive(Default)]
struct Taken {
    marks: Vec<(SessionId, u64)>,
    events: Vec<(SessionId, usize)>,
}

/// One save's bytes: a journal record, or a snapshot with the id of its new journal.
enum Job {
    Record(Vec<u8>),
    Snapshot(String, Vec<u8>),
}

impl State {
    /// The journal record of what changed since the last save (empty: nothing to write).
    fn change(&self) -> (Option<Vec<u8>>, Taken) {
        let mut change = Change::default();
        let mut taken = Taken::default();
        for (id, mark) in &self.sessions.dirty {
            taken.marks.push((*id, *mark));
            match self.sessions.get(id) {
                Some(e) => {
                    change.put.push(store::Put {
                        session: &e.session,
                        events: e.history.unsaved().collect(),
                    });
                    taken.events.push((*id, e.history.unsaved));
                }
                None => change.gone.push(*id),
            }
        }
        let bytes = (!change.is_empty()).then(|| change.encode());
        (bytes, taken)
    }

    /// A snapshot of every session, oldest first, with its history, naming journal `id`.
    fn snapshot(&self, id: &str) -> (Vec<u8>, Taken) {
        let mut list: Vec<&Session> = self.sessions.values().map(|e| &e.session).collect();
        list.sort_by_key(|s| (s.created_at, s.id));
        let history: BTreeMap<String, &VecDeque<EventRecord>> = self
            .sessions
            .iter()
            .map(|(id, e)| (id.to_string(), &e.history.list))
            .collect();
        let taken = Taken {
            marks: self.sessions.dirty.iter().map(|(i, m)| (*i, *m)).collect(),
            events: self
                .sessions
                .iter()
                .filter(|(_, e)| e.history.unsaved > 0)
                .map(|(i, e)| (*i, e.history.unsaved))
                .collect(),
        };
        (store::snapshot(&list, &history, Some(id)), taken)
    }

    /// Clears what a successful save covered; later marks and events stay for the next one.
    fn settle(&mut self, taken: Taken) {
        let s = &mut self.sessions;
        for (id, mark) in taken.marks {
            if s.dirty.get(&id) == Some(&mark) {
                s.dirty.remove(&id);
            }
        }
        for (id, n) in taken.events {
            if let Some(e) = s.map.get_mut(&id) {
                e.history.unsaved = e.history.unsaved.saturating_sub(n);
            }
        }
    }
}

impl<T: Tmux> SessionService<T> {
    /// Saves the changes made since the last save, durably, before returning.
    pub async fn persist(&self) -> Result<()> {
        self.save(false).await
    }

    /// Saves everything as a new snapshot with an empty journal (a clean stop).
    pub async fn compact(&self) -> Result<()> {
        self.save(true).await
    }

    async fn save(&self, whole: bool) -> Result<()> {
        let wanted = self.generation.load(Ordering::SeqCst);
        let mut saver = self.saver.lock().await;
        if !whole && self.persisted.load(Ordering::SeqCst) >= wanted {
            return Ok(());
        }
        let mut snapshot = whole || saver.wants_snapshot();
        loop {
            let (generation, job, taken) = {
                let st = self.lock();
                let generation = self.generation.load(Ordering::SeqCst);
                let (job, taken) = if snapshot {
                    let id = store::new_journal_id();
                    let (bytes, taken) = st.snapshot(&id);
                    (Some(Job::Snapshot(id, bytes)), taken)
                } else {
                    let (bytes, taken) = st.change();
                    (bytes.map(Job::Record), taken)
                };
                (generation, job, taken)
            };
            let done = match job {
                None => Ok(()),
                Some(job) => {
                    let mut s = saver.clone();
                    let written = tokio::task::spawn_blocking(move || {
                        let done = match job {
                            Job::Record(bytes) => s.append(&bytes),
                            Job::Snapshot(id, bytes) => s.compact(&id, &bytes),
                        };
                        (s, done)
                    })
                    .await;
                    let Ok((s, done)) = written else {
                        // What the store wrote is unknown: the next save starts afresh.
                        *saver = Saver::new(self.cfg.registry_path());
                        return Err(Error::internal("saving the registry", "the task failed"));
                    };
                    *saver = s;
                    done
                }
            };
            match done {
                Ok(()) => {
                    self.lock().settle(taken);
                    self.persisted.fetch_max(generation, Ordering::SeqCst);
                    return Ok(());
                }
                Err(e) if !snapshot => {
                    tracing::warn!(
                        "appending to the registry journal failed ({e}); writing a new snapshot instead"
                    );
                    snapshot = true;
                }
                Err(e) => return Err(Error::internal("saving the registry", e)),
            }
        }
    }
}
