//! Agent telemetry of sessions: when a session's transcript is written to (inotify, see
//! `telemetry::Follower`), and after a hook event that follows a reply, the transcript is read
//! in the background (only what was appended, see `crate::telemetry`), one read at a time per
//! session, and the figures are applied under the state lock like any other change, so
//! PropertiesChanged follows. Nothing is polled.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::SessionService;
use crate::model::SessionId;
use crate::telemetry::{self, Follower, Telemetry};
use crate::tmux::Tmux;

/// Whether a session's transcript is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reading {
    Idle,
    Running,
    /// Running, and asked for again meanwhile: one more read follows.
    Again,
}

impl<T: Tmux> SessionService<T> {
    /// Reads what was appended to a session's transcript, in the background: the caller (a
    /// hook) never waits, not even for the first read of a long conversation. Requests made
    /// during a read become one more read after it.
    pub fn read_transcript(self: &Arc<Self>, id: SessionId) {
        {
            let mut st = self.lock();
            let Some(e) = st.sessions.get_mut(&id) else {
                return;
            };
            // Its directory may have been made since the last event.
            self.follow(&e.session.transcript_path);
            if e.reading != Reading::Idle {
                e.reading = Reading::Again;
                return;
            }
            e.reading = Reading::Running;
        }
        let svc = Arc::clone(self);
        tokio::spawn(async move { svc.read_transcript_now(id).await });
    }

    /// Reads a session's transcript whenever it is written to, from now on; the reads after
    /// hook events stay for a file whose directory did not exist yet.
    pub fn spawn_transcript_follower(self: &Arc<Self>) {
        let follower = match Follower::new() {
            Ok(f) => Arc::new(f),
            Err(e) => {
                tracing::warn!(
                    "cannot follow transcripts (inotify: {e}); reading them after hook events only"
                );
                return;
            }
        };
        if self.follower.set(follower.clone()).is_err() {
            return;
        }
        for s in self.list() {
            self.follow(&s.transcript_path);
        }
        let svc = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let changed = match follower.changed().await {
                    Ok(changed) => changed,
                    Err(e) => {
                        tracing::warn!("following transcripts failed: {e}");
                        return;
                    }
                };
                let Some(svc) = svc.upgrade() else { return };
                let written: Vec<Option<SessionId>> = svc.map_sessions(|s| {
                    changed
                        .contains(Path::new(&s.transcript_path))
                        .then_some(s.id)
                });
                for id in written.into_iter().flatten() {
                    svc.read_transcript(id);
                }
            }
        });
    }

    /// Follows writes to `path`, when transcripts are followed at all.
    fn follow(&self, path: &str) {
        if let Some(f) = self.follower.get()
            && Path::new(path).is_absolute()
            && let Err(e) = f.follow(Path::new(path))
        {
            tracing::debug!("not following {path} yet: {e}");
        }
    }

    async fn read_transcript_now(self: Arc<Self>, id: SessionId) {
        let mut figures_changed = false;
        loop {
            let Some(s) = self.get(id) else { return };
            let path = s.transcript_path;
            if Path::new(&path).is_absolute() {
                let (p, before) = (path.clone(), s.telemetry);
                let read =
                    tokio::task::spawn_blocking(move || telemetry::read(Path::new(&p), &before))
                        .await;
                match read {
                    Ok(Ok(r)) => {
                        tracing::debug!(session_id = %id, "transcript {path}: read {} bytes",
                            r.bytes_read);
                        if r.malformed > 0 {
                            tracing::warn!(session_id = %id, session_name = %s.name,
                                "{}: transcript {path}: skipped {} malformed lines", s.name, r.malformed);
                        }
                        if r.long_lines > 0 {
                            tracing::info!(session_id = %id, session_name = %s.name,
                                "{}: transcript {path}: skipping {} lines over {} MiB, up to their ends",
                                s.name, r.long_lines, telemetry::MAX_LINE >> 20);
                        }
                        if r.started_over {
                            tracing::info!(session_id = %id, session_name = %s.name,
                                "{}: transcript {path} was replaced or truncated; counting it again", s.name);
                        }
                        figures_changed |= self.set_telemetry(id, &path, r.telemetry);
                    }
                    // Claude Code creates the file with the conversation's first message.
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                        tracing::debug!(session_id = %id, "no transcript at {path} yet");
                    }
                    // A FIFO, a device, a link or another user's file: the figures stay.
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidInput => {
                        tracing::info!(session_id = %id, session_name = %s.name,
                            "{}: not reading the transcript {path}: {e}", s.name);
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(session_id = %id, session_name = %s.name,
                            "{}: cannot read the transcript {path}: {e}", s.name);
                    }
                    Err(e) => tracing::error!(session_id = %id, "reading {path} failed: {e}"),
                }
            }
            if !self.read_again(id) {
                break;
            }
        }
        // The cursor alone moving is saved with the next write: a registry holding an older
        // cursor holds the sums that go with it, so nothing is ever counted twice.
        if figures_changed && let Err(e) = self.persist().await {
            tracing::error!("could not save the registry: {e}");
        }
    }

    /// Applies a read of `path` unless the session follows another transcript by now; whether
    /// the figures it shows changed.
    fn set_telemetry(&self, id: SessionId, path: &str, t: Telemetry) -> bool {
        self.update(id, None, |s| {
            if s.transcript_path != path {
                return Ok(false);
            }
            let old = std::mem::replace(&mut s.telemetry, t);
            let t = &s.telemetry;
            if old.answered != t.answered {
                self.answered.notify_waiters();
            }
            Ok((&old.model, old.totals, old.context) != (&t.model, t.totals, t.context))
        })
        .unwrap_or(false)
    }

    /// Waits up to `wait` until the transcript holds the reply of the session's latest ended
    /// turn. Claude Code writes a turn after its Stop hook, and one that exits right after it
    /// (a `/exit` typed at once) can leave the turn out, and with it a `--resume` loses it.
    /// Whether it does now; true too when no turn is known to be pending.
    pub(super) async fn transcript_caught_up(&self, id: SessionId, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let read = self.answered.notified();
            let caught_up = self.lock().sessions.get(&id).is_none_or(|e| {
                let t = &e.session.telemetry;
                e.turn_ended.as_ref().is_none_or(|p| *p == t.answered)
            });
            if caught_up {
                return true;
            }
            if tokio::time::timeout_at(deadline, read).await.is_err() {
                return false;
            }
        }
    }

    /// Ends a read, or claims one more when it was asked for meanwhile.
    fn read_again(&self, id: SessionId) -> bool {
        let mut st = self.lock();
        let Some(e) = st.sessions.get_mut(&id) else {
            return false;
        };
        let again = e.reading == Reading::Again;
        e.reading = if again {
            Reading::Running
        } else {
            Reading::Idle
        };
        again
    }
}
