//! The session operations of the contract: start, register, adopt, discover, pause, resume,
//! stop, restart, remove, send, keys, capture, set-pid. Each validates all input before it
//! changes anything, and persists before it returns.

use std::sync::Arc;
use std::time::Duration;

use super::summary::{Compression, summarise};
use super::{SessionService, gone, printable};
use crate::config::{
    DEFAULT_CAPTURE_LINES, MAX_CAPTURE_LINES, MAX_COMMAND_BYTES, MAX_NOTE_BYTES, STOP_GRACE,
    TERM_GRACE,
};
use crate::error::{Error, Result};
use crate::model::{Activity, Session, SessionId, SessionName, Status, now_usec};
use crate::procwatch::{self, ProcHandle, Sig};
use crate::tmux;

/// Options of `StartSession`.
#[derive(Debug, Default, Clone)]
pub struct StartOptions {
    /// Extra arguments for claude.
    pub args: Vec<String>,
    /// A Claude Code session id to resume.
    pub resume: Option<String>,
}

/// Key names `SendKeys` passes to tmux; anything else must be one printable character.
pub const KEY_NAMES: [&str; 10] = [
    "Enter", "Escape", "Tab", "Up", "Down", "Left", "Right", "BSpace", "C-c", "C-d",
];

/// Most keys one `SendKeys` call may press.
const MAX_KEYS: usize = 256;

/// Checks that `dir` is an absolute path to an existing directory.
async fn check_project_dir(dir: &str) -> Result<()> {
    if !dir.starts_with('/') {
        return Err(Error::invalid(format!(
            "The project directory must be an absolute path, not '{}'.",
            printable(dir)
        )));
    }
    if dir.chars().any(char::is_control) {
        return Err(Error::invalid(
            "The project directory must not contain control characters.",
        ));
    }
    match tokio::fs::metadata(dir).await {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::invalid(format!("'{dir}' is not a directory."))),
        Err(_) => Err(Error::invalid(format!(
            "The directory '{dir}' does not exist."
        ))),
    }
}

/// Checks a Claude Code session id before it becomes an argument.
fn check_claude_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(())
        .ok_or_else(|| Error::invalid("A resume id is 1 to 128 letters, digits, '-' or '_'."))
}

/// Releases a reserved name when an operation ends without creating its session.
struct Reservation<'a> {
    svc: &'a SessionService,
    name: SessionName,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.svc.lock().reserved.remove(&self.name);
    }
}

impl SessionService {
    /// The claude command line for a pane. claude runs as a child of a minimal `sh` that only
    /// waits for it: tmux resumes a pane's own process when it stops (which would undo a
    /// freeze), and a command of several words is run by tmux as argv, not through a shell.
    /// Arguments reach claude as `"$@"`, never parsed by the shell.
    fn claude_argv(&self, args: &[String], resume: Option<&str>) -> Vec<String> {
        let mut argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            "\"$@\"; exit $?".to_owned(),
            "trusty-mpm-launch".to_owned(),
            self.cfg.claude_command.clone(),
        ];
        argv.extend(args.iter().cloned());
        if let Some(id) = resume {
            argv.extend(["--resume".to_owned(), id.to_owned()]);
        }
        argv
    }

    /// Names of existing tmux sessions; a server that is not running has none.
    async fn tmux_names(&self) -> Result<Vec<String>> {
        match self.tmux.list_sessions().await {
            Err(Error::TmuxUnavailable(m)) if tmux::is_no_server(&m) => Ok(Vec::new()),
            other => other,
        }
    }

    /// Picks and reserves a name: the requested one if free, else one derived from `dir`.
    fn reserve_name(
        &self,
        requested: Option<SessionName>,
        dir: &str,
        tmux_names: &[String],
    ) -> Result<Reservation<'_>> {
        let mut st = self.lock();
        let in_tmux = |n: &SessionName| tmux_names.iter().any(|t| t == n.as_str());
        let name = match requested {
            Some(n) => {
                if st.name_taken(&n) {
                    return Err(Error::AlreadyExists(format!(
                        "A session named '{n}' is already managed."
                    )));
                }
                if in_tmux(&n) {
                    return Err(Error::AlreadyExists(format!(
                        "A tmux session named '{n}' already exists; adopt it instead."
                    )));
                }
                n
            }
            None => {
                let folder = dir.trim_end_matches('/').rsplit('/').next().unwrap_or("");
                let base = SessionName::derive_base(folder);
                (1..1000)
                    .map(|i| match i {
                        1 => base.clone(),
                        _ => format!("{base}-{i}"),
                    })
                    .filter_map(|s| SessionName::new(&s).ok())
                    .find(|n| !st.name_taken(n) && !in_tmux(n))
                    .ok_or_else(|| {
                        Error::AlreadyExists(format!("No free session name is left for '{base}'."))
                    })?
            }
        };
        st.reserved.insert(name.clone());
        Ok(Reservation { svc: self, name })
    }

    fn requested_name(name: &str) -> Result<Option<SessionName>> {
        match name {
            "" => Ok(None),
            n => SessionName::new(n).map(Some),
        }
    }

    /// `StartSession`: a detached tmux session in `dir` running claude.
    pub async fn start(
        self: &Arc<Self>,
        dir: &str,
        name: &str,
        opts: StartOptions,
    ) -> Result<Session> {
        check_project_dir(dir).await?;
        let requested = Self::requested_name(name)?;
        if let Some(id) = &opts.resume {
            check_claude_id(id)?;
        }
        if opts.args.iter().any(|a| a.contains('\0')) {
            return Err(Error::invalid("Claude arguments must not contain NUL."));
        }
        let tmux_names = self.tmux_names().await?;
        let reservation = self.reserve_name(requested, dir, &tmux_names)?;
        let name = reservation.name.clone();
        let argv = self.claude_argv(&opts.args, opts.resume.as_deref());
        let pane = self
            .tmux
            .new_session(&name, dir, &argv)
            .await
            .map_err(|e| match e {
                Error::TmuxFailed(m) if m.contains("duplicate session") => Error::AlreadyExists(
                    format!("A tmux session named '{name}' already exists; adopt it instead."),
                ),
                e => e,
            })?;
        let mut session = Session::new(name, dir.to_owned(), true);
        session.pane = pane.id.clone();
        if let Some(id) = &opts.resume {
            session.claude_session_id = id.clone();
        }
        let summary = format!("started in {dir}");
        self.insert(session.clone(), "started", summary);
        drop(reservation);
        self.persist().await?;
        self.spawn_detection(session.id, pane.pid);
        Ok(session)
    }

    /// `RegisterSession`: a bookkeeping-only record, no tmux.
    pub async fn register(&self, dir: &str, name: &str) -> Result<Session> {
        check_project_dir(dir).await?;
        let requested = Self::requested_name(name)?;
        // Registered names still must not shadow a tmux session; without tmux there is none.
        let tmux_names = match self.tmux_names().await {
            Err(Error::TmuxUnavailable(_)) => Vec::new(),
            other => other?,
        };
        let reservation = self.reserve_name(requested, dir, &tmux_names)?;
        let session = Session::new(reservation.name.clone(), dir.to_owned(), false);
        self.insert(
            session.clone(),
            "registered",
            format!("registered for {dir}"),
        );
        drop(reservation);
        self.persist().await?;
        Ok(session)
    }

    /// `AdoptSession`: manage an existing tmux session, finding claude in any of its panes.
    pub async fn adopt(self: &Arc<Self>, tmux_name: &str) -> Result<Session> {
        let name = SessionName::new(tmux_name).map_err(|e| {
            Error::invalid(format!("'{}' cannot be adopted: {e}", printable(tmux_name)))
        })?;
        if self.lock().name_taken(&name) {
            return Err(Error::AlreadyExists(format!(
                "A session named '{name}' is already managed."
            )));
        }
        let panes = self.tmux.panes(&name).await.map_err(|e| match e {
            Error::TmuxFailed(m) if tmux::is_missing_target(&m) => {
                Error::NotFound(format!("There is no tmux session named '{name}'."))
            }
            e => e,
        })?;
        // Prefer the active pane, then any other, for where claude runs.
        let mut ordered = panes.clone();
        ordered.sort_by_key(|p| !p.active);
        let mut found = None;
        for p in &ordered {
            if let Some(id) = procwatch::find_claude_async(p.pid).await {
                found = Some((p.clone(), id));
                break;
            }
        }
        let pane = found.as_ref().map(|(p, _)| p).or(ordered.first());
        let dir = pane.map(|p| p.current_path.clone()).unwrap_or_default();
        let reservation = self.reserve_name(Some(name), &dir, &[])?;
        let mut session = Session::new(reservation.name.clone(), dir, true);
        session.pane = pane.map(|p| p.id.clone()).unwrap_or_default();
        if let Some((_, id)) = found {
            session.process = Some(id);
            session.status = Status::Active;
        }
        self.insert(
            session.clone(),
            "adopted",
            format!("adopted tmux session {}", session.name),
        );
        drop(reservation);
        self.persist().await?;
        if let Some(id) = session.process {
            self.watch(session.id, id);
        }
        Ok(session)
    }

    /// `DiscoverSessions`: adopts every unmanaged tmux session whose panes run claude.
    pub async fn discover(self: &Arc<Self>) -> Result<Vec<String>> {
        let mut adopted = Vec::new();
        for tmux_name in self.tmux.list_sessions().await? {
            let Ok(name) = SessionName::new(&tmux_name) else {
                tracing::debug!("not discovering tmux session {tmux_name:?}: name not allowed");
                continue;
            };
            if self.lock().name_taken(&name) {
                continue;
            }
            let panes = match self.tmux.panes(&name).await {
                Ok(p) => p,
                Err(Error::TmuxFailed(_)) => continue, // vanished meanwhile
                Err(e) => return Err(e),
            };
            let mut runs_claude = false;
            for p in &panes {
                if procwatch::find_claude_async(p.pid).await.is_some() {
                    runs_claude = true;
                    break;
                }
            }
            if !runs_claude {
                continue;
            }
            match self.adopt(&tmux_name).await {
                Ok(s) => adopted.push(s.name.to_string()),
                Err(Error::AlreadyExists(_) | Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(adopted)
    }

    /// `PauseSession`: records a summary (the note, or one derived from the pane) and
    /// optionally freezes claude with SIGSTOP.
    pub async fn pause(&self, id: SessionId, note: &str, freeze: bool) -> Result<String> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(Error::invalid(format!(
                "The note is {} bytes; at most {MAX_NOTE_BYTES} are allowed.",
                note.len()
            )));
        }
        let s = self.session(id)?;
        check_pausable(&s)?;
        let handle = if freeze {
            let ident = s.process.ok_or_else(|| {
                Error::InvalidState(format!(
                    "Session '{}' has no known claude process to freeze.",
                    s.name
                ))
            })?;
            Some(ProcHandle::open(ident).ok_or_else(|| {
                Error::InvalidState(format!(
                    "The claude process of session '{}' has exited.",
                    s.name
                ))
            })?)
        } else {
            None
        };
        let summary = if !note.trim().is_empty() {
            note.trim().to_owned()
        } else if s.in_tmux {
            let text = self
                .tmux
                .capture(&tmux::target(&s.name, &s.pane), DEFAULT_CAPTURE_LINES)
                .await?;
            summarise(&text)
        } else {
            String::new()
        };
        let now = now_usec();
        let kept = summary.clone();
        self.update(id, Some(("paused", first_line(&summary))), |s| {
            check_pausable(s)?;
            if let Some(h) = &handle {
                h.signal(Sig::Stop).map_err(|e| {
                    Error::InvalidState(format!("The claude process could not be frozen: {e}."))
                })?;
            }
            s.status = Status::Paused;
            s.paused_at = now;
            s.pause_summary = kept;
            s.frozen = handle.is_some();
            Ok(())
        })?;
        self.persist().await?;
        Ok(summary)
    }

    /// `ResumeSession`: only from `paused`; thaws a frozen claude.
    pub async fn resume(&self, id: SessionId) -> Result<()> {
        self.update(id, Some(("resumed", String::new())), |s| {
            if s.status != Status::Paused {
                return Err(Error::InvalidState(format!(
                    "Session '{}' is {}; only paused sessions can be resumed.",
                    s.name,
                    s.status.as_str()
                )));
            }
            if s.frozen
                && let Some(h) = s.process.and_then(ProcHandle::open)
            {
                // A process that vanished meanwhile is picked up by its watcher.
                let _ = h.signal(Sig::Cont);
            }
            s.status = if s.process.is_some() {
                Status::Active
            } else {
                Status::Starting
            };
            s.paused_at = 0;
            s.pause_summary.clear();
            s.frozen = false;
            Ok(())
        })?;
        self.persist().await
    }

    /// `StopSession`: graceful asks claude to `/exit`, waits, then terminates; force terminates
    /// at once. Stopping a stopped session is a no-op.
    pub async fn stop(self: &Arc<Self>, id: SessionId, force: bool) -> Result<()> {
        let s = self.session(id)?;
        if s.status == Status::Stopped {
            return Ok(());
        }
        let handle = s.process.and_then(ProcHandle::open);
        if s.frozen
            && let Some(h) = &handle
        {
            // A stopped process can neither read /exit nor act on SIGTERM.
            let _ = h.signal(Sig::Cont);
        }
        let mut exited = handle.is_none();
        if !force && s.in_tmux {
            match self
                .tmux
                .send_text(&tmux::target(&s.name, &s.pane), "/exit")
                .await
            {
                Ok(()) => {}
                Err(e) if handle.is_some() => tracing::info!(
                    session_id = %s.id, session_name = %s.name, "could not send /exit ({e}); terminating instead"
                ),
                Err(e) => return Err(e),
            }
            if let Some(h) = &handle {
                exited = wait_exit(h, STOP_GRACE).await;
            }
        }
        if !exited && let Some(h) = &handle {
            let _ = h.signal(Sig::Term);
            // A process stopped by someone else would otherwise sit on the SIGTERM.
            let _ = h.signal(Sig::Cont);
            if !wait_exit(h, TERM_GRACE).await {
                tracing::warn!(session_id = %s.id, session_name = %s.name, pid = h.identity().pid, "claude ignored SIGTERM; killing it");
                let _ = h.signal(Sig::Kill);
                wait_exit(h, TERM_GRACE).await;
            }
        }
        if let Some(h) = &handle {
            self.on_exit(id, h.identity());
        }
        self.update(
            id,
            Some(("stopped", if force { "forced" } else { "graceful" }.into())),
            |s| {
                mark_stopped(s);
                Ok(())
            },
        )?;
        self.persist().await
    }

    /// `RestartSession`: only from `stopped`; relaunches claude in the same tmux session, with
    /// `--resume` when Claude Code's session id is known.
    pub async fn restart(self: &Arc<Self>, id: SessionId) -> Result<()> {
        let s = self.session(id)?;
        if s.status != Status::Stopped {
            return Err(Error::InvalidState(format!(
                "Session '{}' is {}; only stopped sessions can be restarted.",
                s.name,
                s.status.as_str()
            )));
        }
        if !s.in_tmux {
            return Err(Error::InvalidState(format!(
                "Session '{}' is registered without tmux and cannot be restarted.",
                s.name
            )));
        }
        let resume = (!s.claude_session_id.is_empty()).then_some(s.claude_session_id.as_str());
        let argv = self.claude_argv(&[], resume);
        let panes = self.tmux.panes(&s.name).await.map_err(|e| match e {
            Error::TmuxFailed(m) if tmux::is_missing_target(&m) => Error::InvalidState(format!(
                "The tmux session of '{}' no longer exists.",
                s.name
            )),
            e => e,
        })?;
        // Reuse the recorded pane if its program has exited, else any dead pane, else open a
        // new window: never kill whatever still runs in a live pane.
        let dead = panes
            .iter()
            .filter(|p| p.dead)
            .min_by_key(|p| p.id != s.pane)
            .cloned();
        let pane = match dead {
            Some(p) => {
                self.tmux.respawn_pane(&p.id, &s.project_dir, &argv).await?;
                self.tmux
                    .panes(&s.name)
                    .await?
                    .into_iter()
                    .find(|q| q.id == p.id)
                    .ok_or_else(|| Error::TmuxFailed("The respawned pane vanished.".into()))?
            }
            None => self.tmux.new_window(&s.name, &s.project_dir, &argv).await?,
        };
        let summary = match resume {
            Some(r) => format!("restarted with --resume {r}"),
            None => "restarted".to_owned(),
        };
        self.update(id, Some(("restarted", summary)), |s| {
            s.status = Status::Starting;
            s.activity = Activity::Unknown;
            s.pane = pane.id.clone();
            s.last_seen = now_usec();
            Ok(())
        })?;
        self.persist().await?;
        self.spawn_detection(id, pane.pid);
        Ok(())
    }

    /// `RemoveSession`: forgets the session, killing its tmux session only when asked.
    pub async fn remove(&self, id: SessionId, kill_tmux: bool) -> Result<()> {
        let s = self.session(id)?;
        if kill_tmux && s.in_tmux {
            self.tmux.kill_session(&s.name).await?;
        }
        self.delete(id);
        self.persist().await
    }

    /// `SendCommand`: literal text, then Enter.
    pub async fn send_command(&self, id: SessionId, text: &str) -> Result<()> {
        if text.len() > MAX_COMMAND_BYTES {
            return Err(Error::invalid(format!(
                "The text is {} bytes; at most {MAX_COMMAND_BYTES} are allowed.",
                text.len()
            )));
        }
        if text.contains('\0') {
            return Err(Error::invalid("The text must not contain NUL."));
        }
        let s = self.tmux_session(id)?;
        self.tmux
            .send_text(&tmux::target(&s.name, &s.pane), text)
            .await?;
        self.record_event(id, "command", "", first_line(text));
        Ok(())
    }

    /// `SendKeys`: allow-listed key names or single printable characters.
    pub async fn send_keys(&self, id: SessionId, keys: &[String]) -> Result<()> {
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return Err(Error::invalid(format!(
                "Send between 1 and {MAX_KEYS} keys."
            )));
        }
        let mut parsed = Vec::with_capacity(keys.len());
        for k in keys {
            let literal = match KEY_NAMES.contains(&k.as_str()) {
                true => false,
                false if k.chars().count() == 1 && !k.chars().any(char::is_control) => true,
                false => {
                    return Err(Error::invalid(format!(
                        "'{}' is not an allowed key; use one of {} or a single printable character.",
                        printable(k),
                        KEY_NAMES.join(", ")
                    )));
                }
            };
            parsed.push((k.as_str(), literal));
        }
        let s = self.tmux_session(id)?;
        let target = tmux::target(&s.name, &s.pane);
        for (key, literal) in parsed {
            self.tmux.send_key(&target, key, literal).await?;
        }
        self.record_event(id, "keys", "", keys.join(" "));
        Ok(())
    }

    /// `CaptureOutput`: the last `lines` lines of the pane (50 when 0), post-processed.
    pub async fn capture(&self, id: SessionId, lines: u32, compression: &str) -> Result<String> {
        if lines > MAX_CAPTURE_LINES {
            return Err(Error::invalid(format!(
                "At most {MAX_CAPTURE_LINES} lines can be captured."
            )));
        }
        let comp = Compression::parse(compression).ok_or_else(|| {
            Error::invalid(format!(
                "Unknown compression '{}'; use off, trim or summarise.",
                printable(compression)
            ))
        })?;
        let lines = if lines == 0 {
            DEFAULT_CAPTURE_LINES
        } else {
            lines
        };
        let s = self.tmux_session(id)?;
        let text = self
            .tmux
            .capture(&tmux::target(&s.name, &s.pane), lines)
            .await?;
        Ok(comp.apply(&text))
    }

    /// `SetSessionPid`: names the claude process of a session by hand.
    pub async fn set_pid(self: &Arc<Self>, id: SessionId, pid: u32) -> Result<()> {
        let ident = procwatch::identity(pid)
            .ok_or_else(|| Error::invalid(format!("No running process has pid {pid}.")))?;
        self.update(id, Some(("pid", format!("pid {pid}"))), |s| {
            s.process = Some(ident);
            s.frozen = procwatch::state(pid) == Some('T') && s.status == Status::Paused;
            if matches!(s.status, Status::Starting | Status::Stopped) {
                s.status = Status::Active;
            }
            s.last_seen = now_usec();
            Ok(())
        })?;
        self.persist().await?;
        self.watch(id, ident);
        Ok(())
    }

    /// A copy of a session, or `NotFound`.
    fn session(&self, id: SessionId) -> Result<Session> {
        self.get(id).ok_or_else(gone)
    }

    /// A copy of a session that lives in tmux, or `InvalidState`.
    fn tmux_session(&self, id: SessionId) -> Result<Session> {
        let s = self.session(id)?;
        if !s.in_tmux {
            return Err(Error::InvalidState(format!(
                "Session '{}' is registered without tmux; it has no pane.",
                s.name
            )));
        }
        Ok(s)
    }
}

fn check_pausable(s: &Session) -> Result<()> {
    match s.status {
        Status::Starting | Status::Active => Ok(()),
        st => Err(Error::InvalidState(format!(
            "Session '{}' is {}; only starting or active sessions can be paused.",
            s.name,
            st.as_str()
        ))),
    }
}

/// The record of a session whose claude is no longer running.
pub(super) fn mark_stopped(s: &mut Session) {
    s.status = Status::Stopped;
    s.activity = Activity::Unknown;
    s.activity_detail.clear();
    s.process = None;
    s.frozen = false;
    s.paused_at = 0;
    s.pause_summary.clear();
}

/// Waits up to `limit` for the process behind `h` to exit.
async fn wait_exit(h: &ProcHandle, limit: Duration) -> bool {
    let Some(again) = ProcHandle::open(h.identity()) else {
        return true;
    };
    tokio::time::timeout(limit, again.exited()).await.is_ok()
}

/// The first line of a text, shortened for an event summary.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    printable(line)
}
