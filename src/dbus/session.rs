//! The `org.trusty.Mpm1.Session` interface: one object per session, its fields as properties
//! and the manager's per-session methods without the key.

use std::sync::Arc;

use zbus::message::Header;
use zbus::{Connection, fdo, interface};

use super::{Ctx, WireError};
use crate::error::Result as CoreResult;
use crate::model::{Session, SessionId};

/// The object of one session.
pub struct SessionObject {
    id: SessionId,
    ctx: Arc<Ctx>,
}

impl SessionObject {
    pub(super) fn new(id: SessionId, ctx: Arc<Ctx>) -> Self {
        SessionObject { id, ctx }
    }

    fn read<T>(&self, f: impl FnOnce(&Session) -> T) -> fdo::Result<T> {
        self.ctx
            .svc
            .get(self.id)
            .map(|s| f(&s))
            .ok_or_else(|| fdo::Error::UnknownObject("The session no longer exists.".into()))
    }
}

/// A session's history in wire form.
pub(super) fn events(
    ctx: &Ctx,
    id: SessionId,
    limit: u32,
) -> CoreResult<Vec<(u64, String, String, String)>> {
    Ok(ctx
        .svc
        .events(id, limit)?
        .into_iter()
        .map(|e| (e.at_usec, e.event, e.tool, e.summary))
        .collect())
}

/// One Claude Code session managed by trusty-mpm.
#[interface(name = "org.trusty.Mpm1.Session")]
impl SessionObject {
    /// Pauses the session; see PauseSession.
    #[zbus(out_args("summary"))]
    async fn pause(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
        note: &str,
        freeze: bool,
    ) -> Result<String, WireError> {
        self.ctx
            .call(conn, &hdr, || self.ctx.svc.pause(self.id, note, freeze))
            .await
    }

    /// Resumes the session; see ResumeSession.
    async fn resume(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(), WireError> {
        self.ctx
            .call(conn, &hdr, || self.ctx.svc.resume(self.id))
            .await
    }

    /// Stops claude; see StopSession.
    async fn stop(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
        force: bool,
    ) -> Result<(), WireError> {
        self.ctx
            .call(conn, &hdr, || self.ctx.svc.stop(self.id, force))
            .await
    }

    /// Relaunches claude; see RestartSession.
    async fn restart(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(), WireError> {
        self.ctx
            .call(conn, &hdr, || self.ctx.svc.restart(self.id))
            .await
    }

    /// Forgets the session; see RemoveSession.
    async fn remove(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
        kill_tmux: bool,
    ) -> Result<(), WireError> {
        self.ctx
            .call(conn, &hdr, || self.ctx.svc.remove(self.id, kill_tmux))
            .await
    }

    /// Types text, then Enter; see SendCommand.
    async fn send_command(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
        text: &str,
    ) -> Result<(), WireError> {
        self.ctx
            .call(conn, &hdr, || self.ctx.svc.send_command(self.id, text))
            .await
    }

    /// Presses allow-listed keys; see SendKeys.
    async fn send_keys(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
        keys: Vec<String>,
    ) -> Result<(), WireError> {
        self.ctx
            .call(conn, &hdr, || self.ctx.svc.send_keys(self.id, &keys))
            .await
    }

    /// The pane's last lines; see CaptureOutput.
    #[zbus(out_args("text"))]
    async fn capture_output(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
        lines: u32,
        compression: &str,
    ) -> Result<String, WireError> {
        self.ctx
            .call(conn, &hdr, || {
                self.ctx.svc.capture(self.id, lines, compression)
            })
            .await
    }

    /// Recent events; see GetEvents.
    #[zbus(out_args("events"))]
    async fn get_events(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
        limit: u32,
    ) -> Result<Vec<(u64, String, String, String)>, WireError> {
        self.ctx
            .call(conn, &hdr, || async { events(&self.ctx, self.id, limit) })
            .await
    }

    /// Answers a waiting permission request; see AnswerPermission.
    async fn answer_permission(
        &self,
        #[zbus(connection)] conn: &Connection,
        #[zbus(header)] hdr: Header<'_>,
        request_id: &str,
        allow: bool,
        reason: &str,
    ) -> Result<(), WireError> {
        self.ctx
            .call(conn, &hdr, || async {
                self.ctx.hooks.answer(self.id, request_id, allow, reason)
            })
            .await
    }

    /// The session's UUID, hyphenated.
    #[zbus(property(emits_changed_signal = "const"))]
    fn id(&self) -> String {
        self.id.to_string()
    }

    /// Unique name, equal to the tmux session name.
    #[zbus(property)]
    fn name(&self) -> fdo::Result<String> {
        self.read(|s| s.name.to_string())
    }

    /// Absolute working directory.
    #[zbus(property)]
    fn project_dir(&self) -> fdo::Result<String> {
        self.read(|s| s.project_dir.clone())
    }

    /// starting, active, paused or stopped.
    #[zbus(property)]
    fn status(&self) -> fdo::Result<String> {
        self.read(|s| s.status.as_str().to_owned())
    }

    /// unknown, working, ready or needs-input.
    #[zbus(property)]
    fn activity(&self) -> fdo::Result<String> {
        self.read(|s| s.activity.as_str().to_owned())
    }

    /// What the activity is about (tool name, notification message); may be empty.
    #[zbus(property)]
    fn activity_detail(&self) -> fdo::Result<String> {
        self.read(|s| s.activity_detail.clone())
    }

    /// Pid of the claude process, 0 if unknown.
    #[zbus(property)]
    fn pid(&self) -> fdo::Result<u32> {
        self.read(Session::pid)
    }

    /// Claude Code's own session id (from hooks); may be empty.
    #[zbus(property)]
    fn claude_session_id(&self) -> fdo::Result<String> {
        self.read(|s| s.claude_session_id.clone())
    }

    /// Claude Code's transcript file for that id (from hooks); may be empty.
    #[zbus(property)]
    fn transcript_path(&self) -> fdo::Result<String> {
        self.read(|s| s.transcript_path.clone())
    }

    /// Creation time, microseconds since the Unix epoch.
    #[zbus(property)]
    fn created_at(&self) -> fdo::Result<u64> {
        self.read(|s| s.created_at)
    }

    /// When the session was last seen alive, microseconds since the Unix epoch.
    #[zbus(property)]
    fn last_seen(&self) -> fdo::Result<u64> {
        self.read(|s| s.last_seen)
    }

    /// When the session was paused, microseconds since the Unix epoch; 0 when not paused.
    #[zbus(property)]
    fn paused_at(&self) -> fdo::Result<u64> {
        self.read(|s| s.paused_at)
    }

    /// The operator's note or the derived summary; empty when not paused.
    #[zbus(property)]
    fn pause_summary(&self) -> fdo::Result<String> {
        self.read(|s| s.pause_summary.clone())
    }

    /// Whether the claude process is stopped with SIGSTOP (paused with freeze).
    #[zbus(property)]
    fn frozen(&self) -> fdo::Result<bool> {
        self.read(|s| s.frozen)
    }
}
