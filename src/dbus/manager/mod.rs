//! The `org.trusty.Mpm1` interface at `/org/trusty/Mpm1`: session lifecycle by key, and the
//! manager's signals. The interface's doc comments are its introspection (the shipped XML), so
//! its methods stay here with them; a body of more than a call lives in the room of its theme:
//! `new_sessions` (StartSession, RegisterSession, AdoptSession), `listing` (ListSessions,
//! ListRequests), `answers` (AnswerPermission, AnswerRequest), `hook_call` (HandleHook).

mod answers;
mod hook_call;
mod listing;
mod new_sessions;

use std::collections::HashMap;
use std::sync::Arc;

use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::{ObjectPath, OwnedObjectPath, OwnedVariant, interface};

use super::requests::RequestRow;
use super::rows::{RowCache, Rows};
use super::{Backend, session_path};
use crate::error::Error;

/// The manager object.
pub struct Manager {
    backend: Arc<Backend>,
    rows: RowCache,
}

impl Manager {
    pub(super) fn new(backend: Arc<Backend>) -> Self {
        Manager {
            rows: RowCache::default(),
            backend,
        }
    }
}

/// Manages Claude Code sessions running in tmux.
#[interface(name = "org.trusty.Mpm1")]
impl Manager {
    /// All managed sessions, oldest first: id, name, project_dir, status, activity, pid, path.
    #[zbus(out_args("sessions"))]
    async fn list_sessions(&self, #[zbus(header)] hdr: Header<'_>) -> Result<Rows, Error> {
        self.backend.query(&hdr, || Ok(self.rows())).await
    }

    /// The object path of the session matching key (a UUID in either spelling, or a name).
    #[zbus(out_args("path"))]
    async fn get_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
    ) -> Result<OwnedObjectPath, Error> {
        self.backend
            .call(&hdr, || async {
                Ok(session_path(self.backend.svc.resolve(key)?))
            })
            .await
    }

    /// Creates a detached tmux session in project_dir running claude. An empty name is derived
    /// from the folder. Options: "args" (as) extra claude arguments, "resume" (s) a Claude Code
    /// session id (a UUID no other session holds) to resume; otherwise claude gets a fresh
    /// session id, recorded as ClaudeSessionId. "env" (a{ss}) environment for claude, over the
    /// daemon's pass-through variables (config pass_env) and config.toml's [env]. Args and env
    /// are kept for restarts. Under systemd claude runs in a unit of its own (Unit), limited by
    /// "memory_high" (t, bytes), "memory_max" (t, bytes), "cpu_weight" (u, 1 to 10000) and
    /// "tasks_max" (t), over config.toml's defaults. The claude command is found before
    /// anything is created. The session is starting until its claude process runs; a claude
    /// that cannot start leaves it stopped, StatusDetail saying why.
    #[zbus(out_args("id", "name", "path"))]
    async fn start_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        project_dir: &str,
        name: &str,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<(String, String, OwnedObjectPath), Error> {
        self.start(&hdr, project_dir, name, options).await
    }

    /// Records a session for bookkeeping only; no tmux session is created.
    #[zbus(out_args("id", "name", "path"))]
    async fn register_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        project_dir: &str,
        name: &str,
    ) -> Result<(String, String, OwnedObjectPath), Error> {
        self.register(&hdr, project_dir, name).await
    }

    /// Manages an existing tmux session, finding claude in its panes.
    #[zbus(out_args("id", "path"))]
    async fn adopt_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        tmux_name: &str,
    ) -> Result<(String, OwnedObjectPath), Error> {
        self.adopt(&hdr, tmux_name).await
    }

    /// Adopts every unmanaged tmux session with claude running in one of its panes; returns
    /// the names adopted.
    #[zbus(out_args("names"))]
    async fn discover_sessions(
        &self,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<Vec<String>, Error> {
        self.backend
            .call(&hdr, || self.backend.svc.discover())
            .await
    }

    /// Pauses a starting or active session. The summary is the note, or when the note is empty
    /// the meaningful tail (at most 500 characters) of the pane's last 50 lines. With freeze,
    /// the claude process is also stopped with SIGSTOP.
    #[zbus(out_args("summary"))]
    async fn pause_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        note: &str,
        freeze: bool,
    ) -> Result<String, Error> {
        self.backend
            .call_key(&hdr, key, |id| self.backend.svc.pause(id, note, freeze))
            .await
    }

    /// Resumes a paused session (continuing a frozen claude process).
    async fn resume_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
    ) -> Result<(), Error> {
        self.backend
            .call_key(&hdr, key, |id| self.backend.svc.resume(id))
            .await
    }

    /// Stops claude. Graceful: types /exit, waits 5 s, then SIGTERM, then SIGKILL after 3 s.
    /// Force: SIGTERM at once. The record stays, stopped; stopping a stopped session is a no-op.
    async fn stop_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        force: bool,
    ) -> Result<(), Error> {
        self.backend
            .call_key(&hdr, key, |id| self.backend.svc.stop(id, force))
            .await
    }

    /// Relaunches claude, like systemctl restart: an active or paused session is stopped
    /// gracefully first; a session whose tmux session is gone gets a new one in its project
    /// directory. Claude Code's conversation is resumed when its session id is known.
    async fn restart_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
    ) -> Result<(), Error> {
        self.backend
            .call_key(&hdr, key, |id| self.backend.svc.restart(id))
            .await
    }

    /// Forgets a session; kills its tmux session only when kill_tmux is true.
    async fn remove_session(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        kill_tmux: bool,
    ) -> Result<(), Error> {
        self.backend
            .call_key(&hdr, key, |id| self.backend.svc.remove(id, kill_tmux))
            .await
    }

    /// Pastes text into the session's pane as one unit (at most 64 KiB, no control characters
    /// but tab and newline), then presses Enter; on failure nothing is typed. A paused or
    /// stopped session takes no text (InvalidState). When the session's claude runs its hooks,
    /// returns once claude took the text (its UserPromptSubmit, or the text gone from its input
    /// line); Enter is pressed once more only when the text still waits there, and if even that
    /// is not taken the input line is cleared and the call is Timeout.
    async fn send_command(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        text: &str,
    ) -> Result<(), Error> {
        self.backend
            .call_key(&hdr, key, |id| self.backend.svc.send_command(id, text))
            .await
    }

    /// Presses keys: Enter, Escape, Tab, Up, Down, Left, Right, BSpace, C-c, C-d, or single
    /// printable characters (typed literally).
    async fn send_keys(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        keys: Vec<String>,
    ) -> Result<(), Error> {
        self.backend
            .call_key(&hdr, key, |id| self.backend.svc.send_keys(id, &keys))
            .await
    }

    /// The last lines (1 to 10,000; 0 means 50) of the pane, trailing blank rows dropped.
    /// compression: off (as is), trim (escapes, trailing spaces and blank runs removed) or
    /// summarise (also borders dropped, at most the last 500 characters).
    #[zbus(out_args("text"))]
    async fn capture_output(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        lines: u32,
        compression: &str,
    ) -> Result<String, Error> {
        self.backend
            .call_key(&hdr, key, |id| {
                self.backend.svc.capture(id, lines, compression)
            })
            .await
    }

    /// Forgets sessions whose tmux session is gone (nothing, when tmux cannot be asked; all,
    /// when no tmux server runs) and marks sessions whose claude process is gone as stopped.
    #[zbus(out_args("reaped", "names", "stopped"))]
    async fn reap_dead_sessions(
        &self,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<(u32, Vec<String>, u32), Error> {
        self.backend.call(&hdr, || self.backend.svc.reap()).await
    }

    /// Names the claude process of a session: a running process in the session's tmux panes (or,
    /// without tmux, of the same user in its project directory). The session becomes active.
    async fn set_session_pid(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        pid: u32,
    ) -> Result<(), Error> {
        self.backend
            .call_key(&hdr, key, |id| self.backend.svc.set_pid(id, pid))
            .await
    }

    /// The session's recent events (all when limit is 0): at_usec, event, tool, summary;
    /// newest last.
    #[zbus(out_args("events"))]
    async fn get_events(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        limit: u32,
    ) -> Result<Vec<(u64, String, String, String)>, Error> {
        self.backend
            .call_key(&hdr, key, |id| async move {
                super::session::events(&self.backend, id, limit)
            })
            .await
    }

    /// The short form of AnswerRequest: allows or denies a waiting request (see
    /// PermissionRequested); reason is shown to Claude on deny. An unknown or ended request
    /// is NotFound; a request nobody waits for (no answering client ran when it was made, or
    /// permission_wait_secs is 0) is InvalidState.
    async fn answer_permission(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        request_id: &str,
        allow: bool,
        reason: &str,
    ) -> Result<(), Error> {
        self.allow_or_deny(&hdr, key, request_id, allow, reason)
            .await
    }

    /// Every request waiting now, oldest first: session id, session name, request id, kind
    /// (permission or question) and details: tool s, detail s (the full command or input
    /// summary, up to 4 KiB), created_usec t, expires_usec t (0: nobody waits, it is answered in
    /// the terminal), answerable b, suggestions aa{sv} (id, label, destination: rules Claude Code
    /// offers to remember), questions aa{sv} (question, header, multi_select, options).
    #[zbus(out_args("requests"))]
    async fn list_requests(
        &self,
        #[zbus(header)] hdr: Header<'_>,
    ) -> Result<Vec<RequestRow>, Error> {
        self.requests(&hdr).await
    }

    /// Answers a waiting request: allow b, reason s (shown to Claude on deny), remember s (the
    /// id of a suggestion: with allow Claude Code applies it; with allow false the daemon
    /// writes its rules as deny rules to the settings file it names, so the same is denied
    /// from now on), answers a{ss} (question to the chosen label(s), comma-joined for
    /// multi-select, or free text). Unknown keys, answers that do not fit the request and a
    /// suggestion that cannot be denied so (not rules, or for this session only) are
    /// InvalidArgument; an ended request is NotFound; a request nobody waits for, or a
    /// settings file that cannot be changed, is InvalidState.
    async fn answer_request(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        key: &str,
        request_id: &str,
        answer: HashMap<String, OwnedVariant>,
    ) -> Result<(), Error> {
        self.answer(&hdr, key, request_id, answer).await
    }

    // HandleHook stays the last method because its last argument is an out argument: busctl
    // (systemd 252) carries the direction of the last method argument in a nested <node> over
    // to the signal arguments after it, and zbus nests the whole tree in the introspection of
    // /, /org and /org/trusty; an `in` there makes `busctl tree` warn "Unexpected signal <arg>
    // direction value 'in'" once per signal argument.
    /// The hook relay's call: one Claude Code hook event (JSON, at most 1 MiB) and what only
    /// the relay sees: "tmux_pane" (s), "tmux" (s), "answerer" (b: an answering client owns
    /// org.trusty.Mpm1.Answerer, so the relay waits; without it no request waits). The event belongs to the session whose
    /// claude the calling process descends from (the bus names the caller); a claude between
    /// them is a sub-agent, recorded in the history only. Events of other processes are
    /// ignored, except a SessionStart from a managed or unmanaged tmux pane the caller runs in,
    /// which finds that session's claude or adopts the tmux session (config auto_adopt).
    /// Returns what the relay prints on stdout (a decision JSON, or nothing), its exit code (0,
    /// or 2 to block) and stderr. A PermissionRequest, or a PreToolUse of AskUserQuestion,
    /// emits PermissionRequested and, with an answerer, waits permission_wait_secs (default
    /// 120) for AnswerRequest; a request withdrawn meanwhile returns at once with no decision.
    #[zbus(out_args("stdout", "exit_code", "stderr"))]
    async fn handle_hook(
        &self,
        #[zbus(header)] hdr: Header<'_>,
        payload_json: &str,
        context: HashMap<String, OwnedVariant>,
    ) -> Result<(String, i32, String), Error> {
        self.relay_hook(&hdr, payload_json, context).await
    }

    /// The daemon's version.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    /// How many sessions are managed.
    #[zbus(property)]
    fn session_count(&self) -> u32 {
        self.backend.published_count()
    }

    /// The machine the daemon runs on (its host name), for clients that show several.
    #[zbus(property(emits_changed_signal = "const"))]
    fn hostname(&self) -> String {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    }

    /// The socket path of the tmux server the sessions live on: the configured one, or tmux's
    /// default server (TMUX_TMPDIR or /tmp, then tmux-UID/default). Never empty.
    #[zbus(property(emits_changed_signal = "const"))]
    fn tmux_socket(&self) -> String {
        self.backend
            .svc
            .tmux_socket()
            .to_string_lossy()
            .into_owned()
    }

    /// A session was added.
    #[zbus(signal)]
    pub async fn session_new(
        emitter: &SignalEmitter<'_>,
        id: &str,
        name: &str,
        path: ObjectPath<'_>,
    ) -> zbus::Result<()>;

    /// A session was removed.
    #[zbus(signal)]
    pub async fn session_removed(
        emitter: &SignalEmitter<'_>,
        id: &str,
        name: &str,
        path: ObjectPath<'_>,
    ) -> zbus::Result<()>;

    /// A session's status changed (starting, active, paused, stopped).
    #[zbus(signal)]
    pub async fn status_changed(
        emitter: &SignalEmitter<'_>,
        id: &str,
        name: &str,
        status: &str,
    ) -> zbus::Result<()>;

    /// A session's activity changed (unknown, working, ready, needs-input).
    #[zbus(signal)]
    pub async fn activity_changed(
        emitter: &SignalEmitter<'_>,
        id: &str,
        name: &str,
        activity: &str,
        detail: &str,
    ) -> zbus::Result<()>;

    /// Claude Code asks for permission to use a tool, or asks the user questions (tool
    /// AskUserQuestion); see ListRequests for the whole request, answer with AnswerRequest.
    #[zbus(signal)]
    pub async fn permission_requested(
        emitter: &SignalEmitter<'_>,
        id: &str,
        name: &str,
        request_id: &str,
        tool: &str,
        detail: &str,
    ) -> zbus::Result<()>;

    /// A request ended; every PermissionRequested is followed by exactly one. outcome: allowed
    /// or denied (AnswerRequest; an answered question is allowed; GetEvents says what the
    /// answer was), expired (the wait ran out), or withdrawn
    /// (answered in the terminal: the session moved on, stopped or was removed).
    #[zbus(signal)]
    pub async fn permission_resolved(
        emitter: &SignalEmitter<'_>,
        id: &str,
        name: &str,
        request_id: &str,
        outcome: &str,
    ) -> zbus::Result<()>;

    /// A session's claude process exited.
    #[zbus(signal)]
    pub async fn claude_exited(
        emitter: &SignalEmitter<'_>,
        id: &str,
        name: &str,
        pid: u32,
    ) -> zbus::Result<()>;
}
