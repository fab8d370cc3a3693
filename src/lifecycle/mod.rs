//! `SessionService`: the one owner of session state and every rule about sessions. It knows
//! nothing of D-Bus or of who listens: it returns core errors and reports each change as a
//! `DomainEvent` to its `ChangeSink`, in the order the changes happened.
//!
//! State lives behind a short-held mutex that is never kept across an await, so reads never
//! wait for tmux. Every mutation is persisted (group-committed) before the operation returns.

mod adopt;
mod answers;
mod asks;
mod change;
mod checks;
mod dialog;
mod exits;
mod input;
mod launch;
mod on_hook;
mod ops;
mod permissions;
mod persist;
mod reconcile;
pub mod summary;
mod telemetry;
mod version;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch as tokio_watch;
use tokio::task::AbortHandle;

pub use asks::{Answer, Ask, Kind, Outcome, Question, Reply, Suggestion, Waiting};
pub use checks::resolve_claude;
pub use launch::StartOptions;
pub use on_hook::{HookCaller, HookEffect, HookEvent, Speaker};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{EventRecord, Session, SessionId, SessionName};
use crate::store;
use crate::tmux::{DaemonTmux, Tmux, TmuxDriver};
use persist::{Events, Sessions};

/// How many sessions there are and how many are active, for status lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub total: usize,
    pub active: usize,
}

impl std::fmt::Display for Totals {
    /// "No sessions", "1 session, 1 active": the words every client view uses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.total {
            0 => write!(f, "No sessions"),
            n => write!(
                f,
                "{}, {} active",
                crate::text::count(n, "session"),
                self.active
            ),
        }
    }
}

/// A change the D-Bus layer publishes.
#[derive(Debug)]
pub enum DomainEvent {
    /// A session joined the registry.
    Added(Session),
    /// A session's record changed; the listener diffs it against the last one it saw.
    Changed(Session),
    /// A session left the registry.
    Removed(Session),
    /// The claude process of a session exited.
    ClaudeExited { session: Session, pid: u32 },
    /// Claude asks for permission to use a tool.
    PermissionRequested {
        session: Session,
        request_id: String,
        tool: String,
        detail: String,
    },
    /// A permission request ended (each announced request ends exactly once).
    PermissionResolved {
        session: Session,
        request_id: String,
        outcome: Outcome,
    },
}

/// Where the service reports its changes, in order (the D-Bus publisher, in the daemon).
pub trait ChangeSink: Send + Sync {
    fn report(&self, event: DomainEvent);
}

/// No listener: for the core on its own.
impl ChangeSink for () {
    fn report(&self, _: DomainEvent) {}
}

/// A record taken out of the registry, kept until its removal is saved.
struct Removed {
    session: Session,
    history: Events,
}

struct Entry {
    session: Session,
    history: Events,
    watcher: Option<AbortHandle>,
    /// Open permission requests, oldest first.
    requests: Vec<permissions::Request>,
    /// The background read of the session's transcript (see `telemetry`).
    reading: telemetry::Reading,
    /// Prompts the session's claude reported taking (UserPromptSubmit); `None` until one of its
    /// hooks was seen, as then nothing can confirm a prompt (see `input`).
    prompts: Option<u64>,
    /// The prompt of the latest turn that ended (Stop's `prompt_id`), kept until the transcript
    /// holds that turn.
    turn_ended: Option<String>,
}

impl Entry {
    fn new(session: Session, history: Events) -> Self {
        Entry {
            session,
            history,
            watcher: None,
            requests: Vec::new(),
            reading: telemetry::Reading::Idle,
            prompts: None,
            turn_ended: None,
        }
    }
}

#[derive(Default)]
struct State {
    sessions: Sessions,
    /// Names held by operations that are still creating their tmux session.
    reserved: HashSet<SessionName>,
    /// The exit watcher of the tmux server the sessions' panes live on, with its pid.
    server_watcher: Option<(u32, AbortHandle)>,
}

impl State {
    fn by_name(&self, name: &str) -> Option<SessionId> {
        self.sessions
            .values()
            .find(|e| e.session.name.as_str() == name)
            .map(|e| e.session.id)
    }

    fn name_taken(&self, name: &SessionName) -> bool {
        self.reserved.contains(name) || self.by_name(name.as_str()).is_some()
    }
}

impl SessionService {
    /// The daemon's service: the real tmux driver for the configured server.
    pub fn new(cfg: Config, sessions: Vec<Session>, changes: Arc<dyn ChangeSink>) -> Arc<Self> {
        // The identity outside unit tests, where `DaemonTmux` is `TmuxDriver`.
        #[cfg_attr(not(test), allow(clippy::useless_conversion))]
        let tmux = TmuxDriver::new(&cfg).into();
        Self::with_tmux(cfg, tmux, sessions, changes)
    }
}

/// Owner of all sessions, driving tmux through `T` (the real `TmuxDriver` in the daemon).
pub struct SessionService<T: Tmux = DaemonTmux> {
    cfg: Config,
    tmux: T,
    state: Mutex<State>,
    changes: Arc<dyn ChangeSink>,
    /// Bumped by every mutation; compared with `persisted` to group-commit writes.
    generation: AtomicU64,
    persisted: AtomicU64,
    /// Held by the one save in progress (see `persist`).
    saver: tokio::sync::Mutex<store::Saver>,
    counts: tokio_watch::Sender<Totals>,
    /// One operation at a time per session (see `exclusive`).
    op_locks: Mutex<HashMap<SessionId, Arc<tokio::sync::Mutex<()>>>>,
    /// What each claude executable said with `--version`.
    versions: version::Versions,
    /// Woken whenever a claude reports taking a prompt.
    prompted: tokio::sync::Notify,
    /// Woken whenever a transcript read showed the reply to another prompt.
    answered: tokio::sync::Notify,
    /// Reports writes to the sessions' transcripts, once following has started.
    follower: std::sync::OnceLock<Arc<crate::telemetry::Follower>>,
}

impl<T: Tmux> SessionService<T> {
    /// Creates the service with the sessions of the registry file (not yet reconciled),
    /// driving tmux through `tmux` and reporting its changes to `changes`.
    pub fn with_tmux(
        cfg: Config,
        tmux: T,
        sessions: Vec<Session>,
        changes: Arc<dyn ChangeSink>,
    ) -> Arc<Self> {
        let state = State {
            sessions: sessions
                .into_iter()
                .map(|s| (s.id, Entry::new(s, Events::default())))
                .collect(),
            reserved: HashSet::new(),
            server_watcher: None,
        };
        let saver = store::Saver::new(cfg.registry_path());
        let svc = Arc::new(SessionService {
            tmux,
            cfg,
            state: Mutex::new(state),
            changes,
            generation: AtomicU64::new(0),
            persisted: AtomicU64::new(0),
            saver: tokio::sync::Mutex::new(saver),
            counts: tokio_watch::Sender::new(Totals::default()),
            op_locks: Mutex::new(HashMap::new()),
            versions: Default::default(),
            prompted: tokio::sync::Notify::new(),
            answered: tokio::sync::Notify::new(),
            follower: Default::default(),
        });
        svc.mark_changed(&svc.lock());
        svc
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The socket of the tmux server the sessions live on (what a client attaches to).
    pub fn tmux_socket(&self) -> std::path::PathBuf {
        crate::tmux::server_socket(&self.cfg)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, ev: DomainEvent) {
        self.changes.report(ev);
    }

    /// Marks the state dirty (call `persist` before answering) and refreshes the counts.
    fn mark_changed(&self, st: &State) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let counts = Totals {
            total: st.sessions.len(),
            active: st
                .sessions
                .values()
                .filter(|e| e.session.status == crate::model::Status::Active)
                .count(),
        };
        self.counts
            .send_if_modified(|c| std::mem::replace(c, counts) != counts);
    }

    /// Holds the state lock forever from another thread: the test-only fault of a deadlocked
    /// state owner (see `daemon::arm_test_faults`).
    #[cfg(feature = "test-faults")]
    pub fn wedge_for_tests(self: &Arc<Self>) {
        let svc = Arc::clone(self);
        std::thread::spawn(move || {
            let _held = svc.lock();
            loop {
                std::thread::park();
            }
        });
    }

    /// Waits for and holds the right to operate on one session: concurrent calls on the same
    /// session run one after the other, each deciding on the state the previous one left.
    pub(crate) async fn exclusive(&self, id: SessionId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.op_locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(id).or_default())
        };
        lock.lock_owned().await
    }

    /// Follows the session counts as they change.
    pub fn counts(&self) -> tokio_watch::Receiver<Totals> {
        self.counts.subscribe()
    }

    /// Resolves a key (UUID in either spelling, or a name) to a session id.
    pub fn resolve(&self, key: &str) -> Result<SessionId> {
        let st = self.lock();
        if let Some(id) = SessionId::parse(key)
            && st.sessions.contains_key(&id)
        {
            return Ok(id);
        }
        if let Some(id) = st.by_name(key) {
            return Ok(id);
        }
        if SessionId::parse(key).is_none() && SessionName::new(key).is_err() {
            return Err(Error::invalid(format!(
                "'{}' is neither a session id nor a valid session name.",
                printable(key)
            )));
        }
        Err(Error::NotFound(format!("No session matches '{key}'.")))
    }

    /// A copy of one session.
    pub fn get(&self, id: SessionId) -> Option<Session> {
        self.lock().sessions.get(&id).map(|e| e.session.clone())
    }

    /// Copies of all sessions, oldest first.
    pub fn list(&self) -> Vec<Session> {
        self.map_sessions(Session::clone)
    }

    /// `f` of every session, oldest first, without copying the sessions.
    pub fn map_sessions<R>(&self, f: impl Fn(&Session) -> R) -> Vec<R> {
        let st = self.lock();
        let mut v: Vec<&Session> = st.sessions.values().map(|e| &e.session).collect();
        v.sort_unstable_by_key(|s| (s.created_at, s.id));
        v.into_iter().map(f).collect()
    }

    pub fn count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// The last `limit` events of a session (all when 0), newest last.
    pub fn events(&self, id: SessionId, limit: u32) -> Result<Vec<EventRecord>> {
        let st = self.lock();
        let e = st.sessions.get(&id).ok_or_else(removed_meanwhile)?;
        let skip = match limit {
            0 => 0,
            n => e.history.len().saturating_sub(n as usize),
        };
        Ok(e.history.iter().skip(skip).cloned().collect())
    }
}

/// The error for a session removed while an operation was on its way.
pub(crate) fn removed_meanwhile() -> Error {
    Error::NotFound("The session no longer exists.".into())
}

/// A user-supplied string made safe to quote in a one-line message.
pub(crate) fn printable(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect();
    if s.chars().count() > 80 {
        format!("{clean}…")
    } else {
        clean
    }
}
