//! Launching claude: start, register and restart. Each validates all input and resolves the
//! claude command before it creates anything, reserves its name, and undoes what it created
//! when the registry cannot be saved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{SessionService, printable};
use crate::config::{MAX_CLAUDE_ARGS, MAX_CLAUDE_ARGS_BYTES, MAX_DIR_BYTES, home};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::model::{Activity, Session, SessionId, SessionName, Status, now_usec};
use crate::procwatch;
use crate::text;
use crate::tmux::{Pane, Program, Tmux, TmuxError};
use crate::units;

/// Options of `StartSession`.
#[derive(Debug, Default, Clone)]
pub struct StartOptions {
    /// Extra arguments for claude.
    pub args: Vec<String>,
    /// A Claude Code session id to resume.
    pub resume: Option<String>,
    /// Resource limits for the session's unit.
    pub limits: Limits,
    /// Environment for claude, over the pass-through set and config.toml's `[env]`.
    pub env: BTreeMap<String, String>,
}

/// Checks a session's environment for claude (`config::check_env`).
fn check_env(env: BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    crate::config::check_env(env)
        .map_err(|e| Error::invalid(format!("The environment for claude is refused: {e}.")))
}

/// Checks that `dir` is an absolute path to an existing directory.
async fn check_project_dir(dir: &str) -> Result<()> {
    if !dir.starts_with('/') {
        return Err(Error::invalid(format!(
            "The project directory must be an absolute path, not '{}'.",
            printable(dir)
        )));
    }
    if dir.len() > MAX_DIR_BYTES {
        return Err(Error::invalid(format!(
            "The project directory is {} bytes long; at most {MAX_DIR_BYTES} are allowed.",
            dir.len()
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

/// Checks a Claude Code session id before it becomes an argument: a UUID, which no other
/// session holds (two sessions resuming one conversation would write one transcript).
fn check_claude_id<T: Tmux>(svc: &SessionService<T>, id: &str) -> Result<String> {
    let id = text::claude_id(id).ok_or_else(|| {
        Error::invalid(format!(
            "The resume id {:?} is not a Claude Code session id (a UUID).",
            text::one_line(id, 80)
        ))
    })?;
    match svc.holder_of(&id) {
        Some(name) => Err(Error::AlreadyExists(format!(
            "Session '{name}' already holds the Claude Code session {id}."
        ))),
        None => Ok(id),
    }
}

/// Checks the extra claude arguments: no NUL, and small enough for one tmux message.
fn check_args(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a.contains('\0')) {
        return Err(Error::invalid("Claude arguments must not contain NUL."));
    }
    let bytes: usize = args.iter().map(|a| a.len() + 1).sum();
    if args.len() > MAX_CLAUDE_ARGS || bytes > MAX_CLAUDE_ARGS_BYTES {
        return Err(Error::invalid(format!(
            "At most {MAX_CLAUDE_ARGS} claude arguments of {MAX_CLAUDE_ARGS_BYTES} bytes in all are allowed."
        )));
    }
    Ok(())
}

/// Where Claude Code installs itself when it is not on the service's PATH (a user service's
/// PATH usually lacks `~/.local/bin`): its native installer, its old local install, and npm's
/// global prefixes.
fn install_dirs() -> Vec<PathBuf> {
    let home = home();
    let mut dirs = vec![home.join(".local/bin"), home.join(".claude/local")];
    if let Some(prefix) = std::env::var_os("NPM_CONFIG_PREFIX").filter(|p| !p.is_empty()) {
        dirs.push(PathBuf::from(prefix).join("bin"));
    }
    dirs.extend([
        home.join(".npm-global/bin"),
        home.join(".local/share/npm/bin"),
        PathBuf::from("/usr/local/bin"),
    ]);
    dirs
}

/// Whether `p` is a file its owner may execute.
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program to run as claude: `command` itself when it is a path, else the first match on
/// the daemon's PATH, then in Claude Code's install places. Blocking (reads the file system).
pub fn resolve_claude(command: Option<&str>) -> Result<String> {
    let name = command.unwrap_or("claude");
    let how = "set claude_command in config.toml or TRUSTY_MPM_CLAUDE_COMMAND";
    if name.contains('/') {
        return if is_executable(Path::new(name)) {
            Ok(name.to_owned())
        } else {
            Err(Error::invalid(format!(
                "The claude command '{}' is not an executable file; {how}.",
                printable(name)
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(install_dirs())
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .map(|p| p.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::invalid(format!(
                "The claude command '{}' was not found on PATH, in ~/.local/bin, ~/.claude/local or npm's bin; {how}.",
                printable(name)
            ))
        })
}

/// Releases a reserved name when an operation ends without creating its session.
pub(super) struct Reservation<'a, T: Tmux> {
    svc: &'a SessionService<T>,
    pub(super) name: SessionName,
}

impl<T: Tmux> Drop for Reservation<'_, T> {
    fn drop(&mut self) {
        self.svc.lock().reserved.remove(&self.name);
    }
}

/// How claude is launched in a pane.
struct Launch {
    argv: Vec<String>,
    /// The pane's own environment for claude (`Config::claude_environment`).
    env: Vec<(String, String)>,
    /// The claude executable, resolved.
    command: String,
    /// The unit it runs in (empty: none).
    unit: String,
    /// The Claude Code session id the conversation will have.
    claude_id: String,
    summary: String,
}

impl<T: Tmux> SessionService<T> {
    /// The launch command for a pane: claude runs as the only child of a minimal `sh` that waits
    /// for it (tmux resumes a pane's own process when it stops, which would undo a freeze; and
    /// the daemon knows the child of its launcher is claude, whatever the program is called).
    /// Arguments reach claude as `"$@"`, never parsed by a shell. A new conversation gets a
    /// fresh `--session-id`, so it can be resumed even where no hook ever ran.
    ///
    /// Under systemd the launcher runs in a transient scope of its own (`units::scoped`), with
    /// the session's limits over config.toml's defaults; a unit of the same name that an
    /// earlier launch left behind is stopped first.
    async fn launch(&self, s: &Session, resume: Option<&str>) -> Result<Launch> {
        let (name, limits, args) = (&s.name, &s.limits, &s.args);
        let command = self.cfg.claude_command.clone();
        let claude = procwatch::blocking(move || resolve_claude(command.as_deref()))
            .await
            .ok_or_else(|| Error::internal("looking for claude", "the lookup task failed"))??;
        let mut argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            "\"$@\"; exit $?".to_owned(),
            "trusty-mpm-launch".to_owned(),
            claude.clone(),
        ];
        argv.extend(args.iter().cloned());
        let (claude_id, summary) = match resume {
            Some(id) => {
                argv.extend(["--resume".to_owned(), id.to_owned()]);
                (id.to_owned(), format!("--resume {id}"))
            }
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                argv.extend(["--session-id".to_owned(), id.clone()]);
                (id.clone(), format!("--session-id {id}"))
            }
        };
        let (argv, unit) = if self.cfg.under_systemd {
            let unit = units::unit_name(name);
            units::clear(&unit).await;
            let limits = limits.over(&self.cfg.default_limits);
            (units::scoped(&unit, &self.cfg.slice, &limits, argv), unit)
        } else {
            (argv, String::new())
        };
        Ok(Launch {
            argv,
            env: self.cfg.claude_environment(std::env::vars(), &s.env),
            command: claude,
            unit,
            claude_id,
            summary,
        })
    }

    /// Limits are valid, and there is a unit to apply them to.
    fn check_limits(&self, limits: &Limits) -> Result<()> {
        limits.check()?;
        if !limits.is_empty() && !self.cfg.under_systemd {
            return Err(Error::invalid(
                "Resource limits need the daemon to run as a systemd user service.",
            ));
        }
        Ok(())
    }

    /// Names of existing tmux sessions; a server that is not running has none.
    pub(super) async fn tmux_names(&self) -> Result<Vec<String>> {
        match self.tmux.list_sessions().await {
            Err(TmuxError::NoServer(_)) => Ok(Vec::new()),
            other => Ok(other?),
        }
    }

    /// Picks and reserves a name: the requested one if free, else one derived from `dir`.
    pub(super) fn reserve_name(
        &self,
        requested: Option<SessionName>,
        dir: &str,
        tmux_names: &[String],
    ) -> Result<Reservation<'_, T>> {
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
                    return Err(exists_in_tmux(&n));
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

    /// Saves a session just inserted, or takes it out again (and kills the tmux session the
    /// call created) when it cannot be saved: a failed call leaves nothing behind.
    pub(super) async fn commit_new(&self, session: &Session, created_tmux: bool) -> Result<()> {
        let Err(e) = self.persist().await else {
            return Ok(());
        };
        self.delete(session.id);
        if created_tmux && let Err(k) = self.tmux.kill_session(&session.name).await {
            tracing::error!(session_id = %session.id, session_name = %session.name, "{}: could not kill the tmux session of a start that failed: {k}", session.name);
        }
        Err(e)
    }

    /// `StartSession`: a detached tmux session in `dir` running claude.
    pub async fn start(
        self: &Arc<Self>,
        dir: &str,
        name: &str,
        mut opts: StartOptions,
    ) -> Result<Session> {
        check_project_dir(dir).await?;
        let requested = Self::requested_name(name)?;
        if let Some(id) = &opts.resume {
            opts.resume = Some(check_claude_id(self, id)?);
        }
        check_args(&opts.args)?;
        let env = check_env(opts.env)?;
        self.check_limits(&opts.limits)?;
        let tmux_names = self.tmux_names().await?;
        let reservation = self.reserve_name(requested, dir, &tmux_names)?;
        let mut session = Session::new(reservation.name.clone(), dir.to_owned(), true);
        session.limits = opts.limits;
        session.args = opts.args;
        session.env = env;
        let launch = self.launch(&session, opts.resume.as_deref()).await?;
        let program = Program {
            dir,
            env: &launch.env,
            argv: &launch.argv,
        };
        let name = &session.name;
        let pane = self
            .tmux
            .new_session(name, &program)
            .await
            .map_err(|e| duplicate_as_exists(e, name))?;
        session.claude_session_id = launch.claude_id;
        session.claude_command = launch.command;
        session.unit = launch.unit;
        self.set_pane(&mut session, &pane).await;
        self.insert(
            session.clone(),
            "started",
            format!("started in {dir} ({})", launch.summary),
        );
        drop(reservation);
        self.commit_new(&session, true).await?;
        self.spawn_detection(session.id);
        self.learn_version(session.id, session.claude_command.clone());
        Ok(session)
    }

    /// Records `pane` as the session's claude pane, with its server and its launcher.
    async fn set_pane(&self, s: &mut Session, pane: &Pane) {
        let pid = pane.pid;
        s.pane = pane.id.clone();
        s.pane_server = pane.server_pid;
        // A launcher that has already exited is found out by detection, through the pane.
        s.launcher = procwatch::blocking(move || procwatch::identity(pid))
            .await
            .flatten();
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
        self.commit_new(&session, false).await?;
        Ok(session)
    }

    /// `RestartSession`: like `systemctl restart`. A running session is stopped gracefully
    /// first; claude is launched again in a dead pane of the session, a new window, or (when
    /// the tmux session is gone) a new tmux session in the project directory, with `--resume`
    /// when Claude Code's session id is known.
    pub async fn restart(self: &Arc<Self>, id: SessionId) -> Result<()> {
        let _op = self.exclusive(id).await;
        let s = self.session(id)?;
        if !s.in_tmux {
            return Err(Error::InvalidState(format!(
                "Session '{}' is registered without tmux and cannot be restarted.",
                s.name
            )));
        }
        match s.status {
            Status::Starting => {
                return Err(Error::InvalidState(format!(
                    "Session '{}' is starting; restart it once it is active, or stop it.",
                    s.name
                )));
            }
            Status::Active | Status::Paused => self.stop_now(id, false).await?,
            Status::Stopped => {}
        }
        let s = self.session(id)?;
        let resume = (!s.claude_session_id.is_empty()).then_some(s.claude_session_id.as_str());
        let launch = self.launch(&s, resume).await?;
        let program = Program {
            dir: &s.project_dir,
            env: &launch.env,
            argv: &launch.argv,
        };
        let panes = match self.tmux.panes(&s.name).await {
            Ok(p) => Some(p),
            Err(TmuxError::MissingTarget(_) | TmuxError::NoServer(_)) => None,
            Err(e) => return Err(e.into()),
        };
        // Reuse the recorded pane if its program has exited, else any dead pane, else open a
        // new window: never kill whatever still runs in a live pane.
        let dead = panes.as_ref().and_then(|panes| {
            panes
                .iter()
                .filter(|p| p.dead)
                .min_by_key(|p| p.id != s.pane)
                .cloned()
        });
        let pane = match (panes, dead) {
            (None, _) => self
                .tmux
                .new_session(&s.name, &program)
                .await
                .map_err(|e| duplicate_as_exists(e, &s.name))?,
            (Some(_), Some(p)) => {
                self.tmux.respawn_pane(&p.id, &program).await?;
                self.tmux
                    .panes(&s.name)
                    .await?
                    .into_iter()
                    .find(|q| q.id == p.id)
                    .ok_or_else(|| TmuxError::Failed("The respawned pane vanished.".into()))?
            }
            (Some(_), None) => self.tmux.new_window(&s.name, &program).await?,
        };
        let mut fresh = s.clone();
        self.set_pane(&mut fresh, &pane).await;
        self.update(id, Some(("restarted", launch.summary)), |s| {
            s.status = Status::Starting;
            s.activity = Activity::Unknown;
            s.activity_detail.clear();
            s.status_detail.clear();
            s.pane = fresh.pane;
            s.pane_server = fresh.pane_server;
            s.launcher = fresh.launcher;
            s.unit = launch.unit;
            s.claude_session_id = launch.claude_id;
            s.claude_command = launch.command.clone();
            s.last_seen = now_usec();
            Ok(())
        })?;
        self.persist().await?;
        self.spawn_detection(id);
        self.learn_version(id, launch.command);
        Ok(())
    }
}

fn exists_in_tmux(name: &SessionName) -> Error {
    Error::AlreadyExists(format!(
        "A tmux session named '{name}' already exists; adopt it instead."
    ))
}

/// tmux's "duplicate session" as the contract's `AlreadyExists`.
fn duplicate_as_exists(e: TmuxError, name: &SessionName) -> Error {
    match e {
        TmuxError::DuplicateSession(_) => exists_in_tmux(name),
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_paths_must_be_executable_files() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("claude");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let path = plain.to_str().unwrap();
        let err = resolve_claude(Some(path)).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        assert!(err.to_string().contains("claude_command"), "{err}");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(resolve_claude(Some(path)).unwrap(), path);
        let missing = resolve_claude(Some("surely-no-such-claude-build")).unwrap_err();
        assert!(
            missing.to_string().contains("was not found on PATH"),
            "{missing}"
        );
    }

    #[test]
    fn args_are_bounded() {
        assert!(check_args(&["--model".into(), "opus".into()]).is_ok());
        assert!(check_args(&["a\0b".into()]).is_err());
        assert!(check_args(&["x".repeat(MAX_CLAUDE_ARGS_BYTES)]).is_err());
        assert!(check_args(&vec!["a".to_owned(); MAX_CLAUDE_ARGS + 1]).is_err());
    }
}
