//! The `org.trusty.Mpm1.Session` interface: one object per session, its fields as properties
//! and the manager's per-session methods without the key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use zbus::message::Header;
use zbus::object_server::{Interface, SignalEmitter};
use zbus::{Connection, OwnedVariant, interface};

use super::Backend;
use super::figures::LastReading;
use crate::error::{Error, Result as CoreResult};
use crate::model::{Session, SessionId};
use crate::units::Figures;

/// What a session object shows: the session as last published. The publisher replaces it
/// before it signals a change, so properties and PropertiesChanged always agree, and the
/// properties stay whole until the object is removed. Every getter reads it without awaiting:
/// a GetAll takes all its values at one instant, after the last await (`refresh_figures`).
pub type Published = Arc<Mutex<Session>>;

/// The object of one session.
pub struct SessionObject {
    id: SessionId,
    backend: Arc<Backend>,
    shown: Published,
    /// The last resource figures: one GetAll reads them once.
    figures: LastReading,
}

impl SessionObject {
    pub(super) fn new(id: SessionId, shown: Published, backend: Arc<Backend>) -> Self {
        SessionObject {
            id,
            backend,
            shown,
            figures: LastReading::default(),
        }
    }

    /// Reads the resource figures unless a reading for the claude now published is fresh.
    /// Get and GetAll run this first (see `Guarded`), so that the getters, which never await,
    /// then take every value from one look at the published session.
    pub(super) async fn refresh_figures(&self) {
        let (pid, unit) = {
            let s = self.published();
            (s.pid(), s.unit.clone())
        };
        self.figures.refresh(pid, unit).await;
    }

    /// The figures last read for the claude now published (0 when none is); 0 for the daemon's
    /// own reads (PropertiesChanged, InterfacesAdded), which never carry them.
    fn figures(&self, hdr: Option<Header<'_>>) -> Figures {
        if hdr.is_none() {
            return Figures::default();
        }
        self.figures.of(self.published().pid())
    }

    fn published(&self) -> MutexGuard<'_, Session> {
        self.shown.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl super::guarded::Hooks for SessionObject {
    async fn before_read(&self) {
        self.refresh_figures().await;
    }
}

/// Every property of a session object showing `session`, as the daemon reads them (the
/// getters below are the one list of properties; InterfacesAdded, GetManagedObjects and the
/// publisher's PropertiesChanged all come from here).
pub(super) async fn properties(
    session: Session,
    backend: &Arc<Backend>,
    conn: &Connection,
) -> zbus::Result<HashMap<String, OwnedVariant>> {
    let id = session.id;
    let emitter = SignalEmitter::new(conn, super::session_path(id))?;
    let object = SessionObject::new(id, Arc::new(Mutex::new(session)), backend.clone());
    Ok(object
        .get_all(conn.object_server(), conn, None, &emitter)
        .await?)
}

/// A session's history in wire form.
pub(super) fn events(
    backend: &Backend,
    id: SessionId,
    limit: u32,
) -> CoreResult<Vec<(u64, String, String, String)>> {
    Ok(backend
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
        #[zbus(header)] hdr: Header<'_>,
        note: &str,
        freeze: bool,
    ) -> Result<String, Error> {
        self.backend
            .call(&hdr, || self.backend.svc.pause(self.id, note, freeze))
            .await
    }

    /// Resumes the session; see ResumeSession.
    async fn resume(&self, #[zbus(header)] hdr: Header<'_>) -> Result<(), Error> {
        self.backend
            .call(&hdr, || self.backend.svc.resume(self.id))
            .await
    }

    /// Stops claude; see StopSession.
    async fn stop(&self, #[zbus(header)] hdr: Header<'_>, force: bool) -> Result<(), Error> {
        self.backend
            .call(&hdr, || self.backend.svc.stop(self.id, force))
            .await
    }

    /// Relaunches claude; see RestartSession.
    async fn restart(&self, #[zbus(header)] hdr: Header<'_>) -> Result<(), Error> {
        self.backend
            .call(&hdr, || self.backend.svc.restart(self.id))
            .await
    }

    /// Forgets the session; see RemoveSession.
    async fn remove(&self, #[zbus(header)] hdr: Header<'_>, kill_tmux: bool) -> Result<(), Error> {
        self.backend
            .call(&hdr, || self.backend.svc.remove(self.id, kill_tmux))
            .await
    }

    /// Types text, then Enter; see SendCommand.
    async fn send_command(&self, #[zbus(header)] hdr: Header<'_>, text: &str) -> Result<(), Error> {
        self.backend
            .call(&hdr, || self.backend.svc.send_command(self.id, text))
            .await
    }

    /// Presses allow-listed keys; see SendKeys.
    async fn send_keys(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        keys: Vec<String>,
    ) -> Result<(), Error> {
        self.backend
            .call(&hdr, || self.backend.svc.send_keys(self.id, &keys))
            .await
    }

    /// The pane's last lines; see CaptureOutput.
    #[zbus(out_args("text"))]
    async fn capture_output(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        lines: u32,
        compression: &str,
    ) -> Result<String, Error> {
        self.backend
            .call(&hdr, || {
                self.backend.svc.capture(self.id, lines, compression)
            })
            .await
    }

    /// Recent events; see GetEvents.
    #[zbus(out_args("events"))]
    async fn get_events(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        limit: u32,
    ) -> Result<Vec<(u64, String, String, String)>, Error> {
        self.backend
            .call(&hdr, || async { events(&self.backend, self.id, limit) })
            .await
    }

    /// Answers a waiting permission request; see AnswerPermission.
    async fn answer_permission(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        request_id: &str,
        allow: bool,
        reason: &str,
    ) -> Result<(), Error> {
        self.backend
            .call(&hdr, || async {
                self.backend
                    .svc
                    .answer_permission(self.id, request_id, allow, reason)
                    .await
            })
            .await
    }

    /// Answers a waiting request; see AnswerRequest.
    async fn answer_request(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        request_id: &str,
        answer: HashMap<String, OwnedVariant>,
    ) -> Result<(), Error> {
        self.backend
            .call(&hdr, || async {
                let reply = super::requests::reply(answer)?;
                self.backend
                    .svc
                    .answer_request(self.id, request_id, reply)
                    .await
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
    fn name(&self) -> String {
        self.published().name.to_string()
    }

    /// Absolute working directory.
    #[zbus(property)]
    fn project_dir(&self) -> String {
        self.published().project_dir.clone()
    }

    /// starting, active, paused or stopped.
    #[zbus(property)]
    fn status(&self) -> String {
        self.published().status.as_str().to_owned()
    }

    /// unknown, working, ready or needs-input.
    #[zbus(property)]
    fn activity(&self) -> String {
        self.published().activity.as_str().to_owned()
    }

    /// What the activity is about (tool name, notification message); may be empty.
    #[zbus(property)]
    fn activity_detail(&self) -> String {
        self.published().activity_detail.clone()
    }

    /// Pid of the claude process, 0 if unknown.
    #[zbus(property)]
    fn pid(&self) -> u32 {
        self.published().pid()
    }

    /// Claude Code's own session id (from hooks); may be empty.
    #[zbus(property)]
    fn claude_session_id(&self) -> String {
        self.published().claude_session_id.clone()
    }

    /// Claude Code's transcript file for that id (from hooks); may be empty.
    #[zbus(property)]
    fn transcript_path(&self) -> String {
        self.published().transcript_path.clone()
    }

    /// Creation time, microseconds since the Unix epoch.
    #[zbus(property)]
    fn created_at(&self) -> u64 {
        self.published().created_at
    }

    /// When the session was last seen alive, microseconds since the Unix epoch.
    #[zbus(property)]
    fn last_seen(&self) -> u64 {
        self.published().last_seen
    }

    /// When the session was paused, microseconds since the Unix epoch; 0 when not paused.
    #[zbus(property)]
    fn paused_at(&self) -> u64 {
        self.published().paused_at
    }

    /// The operator's note or the derived summary; empty when not paused.
    #[zbus(property)]
    fn pause_summary(&self) -> String {
        self.published().pause_summary.clone()
    }

    /// Whether the claude process is stopped with SIGSTOP (paused with freeze).
    #[zbus(property)]
    fn frozen(&self) -> bool {
        self.published().frozen
    }

    /// Why the session is in its status when that is not obvious, e.g. "the tmux server is
    /// gone" or "claude exited with status 127 (command not found) before it started: ..."; empty
    /// otherwise.
    #[zbus(property)]
    fn status_detail(&self) -> String {
        self.published().status_detail.clone()
    }

    /// The transient systemd unit holding claude and everything it starts, e.g.
    /// trusty-mpm-session-myproj.scope; empty when not under systemd.
    #[zbus(property)]
    fn unit(&self) -> String {
        self.published().unit.clone()
    }

    /// Memory the session uses now, in bytes (its unit's cgroup, else the sum over its
    /// processes); 0 when unknown. Computed when read.
    #[zbus(property(emits_changed_signal = "false"))]
    fn memory_current(&self, #[zbus(header)] hdr: Option<Header<'_>>) -> u64 {
        self.figures(hdr).memory
    }

    /// CPU time the session has used, in nanoseconds; 0 when unknown. Computed when read.
    #[zbus(property(emits_changed_signal = "false"))]
    fn cpu_usage_n_sec(&self, #[zbus(header)] hdr: Option<Header<'_>>) -> u64 {
        self.figures(hdr).cpu_nsec
    }

    /// Tasks (processes and threads) of the session now; 0 when unknown. Computed when read.
    #[zbus(property(emits_changed_signal = "false"))]
    fn tasks_current(&self, #[zbus(header)] hdr: Option<Header<'_>>) -> u64 {
        self.figures(hdr).tasks
    }

    /// The tmux session the daemon targets (equal to Name); empty for a session registered
    /// without tmux. Attach with: tmux -S "$TmuxSocket" attach -t "=$TmuxSession:".
    #[zbus(property)]
    fn tmux_session(&self) -> String {
        let s = self.published();
        match s.in_tmux {
            true => s.name.to_string(),
            false => String::new(),
        }
    }

    /// The extra claude arguments the session was started with; restarts use them again.
    #[zbus(property)]
    fn args(&self) -> Vec<String> {
        self.published().args.clone()
    }

    /// The executable the session's claude runs from, as resolved at its launch; empty for a
    /// claude the daemon did not start.
    #[zbus(property)]
    fn claude_command(&self) -> String {
        self.published().claude_command.clone()
    }

    /// The version that executable reports (e.g. "2.1.332 (Claude Code)"); empty until known.
    #[zbus(property)]
    fn claude_version(&self) -> String {
        self.published().claude_version.clone()
    }

    /// Claude Code's permission mode from the hooks (default, acceptEdits, plan, auto,
    /// bypassPermissions, ...); empty until a hook said.
    #[zbus(property)]
    fn permission_mode(&self) -> String {
        self.published().permission_mode.clone()
    }

    /// The model of the conversation's latest reply (from the transcript); empty until one is
    /// read.
    #[zbus(property)]
    fn model(&self) -> String {
        self.published().telemetry.model.clone()
    }

    /// Input tokens over the conversation's replies, each reply counted once.
    #[zbus(property)]
    fn input_tokens(&self) -> u64 {
        self.published().telemetry.totals.input
    }

    /// Output tokens over the conversation's replies, each reply counted once.
    #[zbus(property)]
    fn output_tokens(&self) -> u64 {
        self.published().telemetry.totals.output
    }

    /// Tokens written to the prompt cache over the conversation's replies.
    #[zbus(property)]
    fn cache_creation_tokens(&self) -> u64 {
        self.published().telemetry.totals.cache_creation
    }

    /// Tokens read from the prompt cache over the conversation's replies.
    #[zbus(property)]
    fn cache_read_tokens(&self) -> u64 {
        self.published().telemetry.totals.cache_read
    }

    /// What the model saw last: input, cache creation and cache read tokens of the latest reply.
    #[zbus(property)]
    fn context_tokens(&self) -> u64 {
        self.published().telemetry.context
    }
}
