//! Launching claude: start, register and restart. Each validates all input and resolves the
//! claude command before it creates anything, reserves its name, and undoes what it created
//! when the registry cannot be saved.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::SessionService;
use super::checks::{check_args, check_claude_id, check_env, check_project_dir, resolve_claude};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::model::{Activity, Session, SessionId, SessionName, Status, now_usec};
use crate::procwatch;
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
struct LaunchPlan {
    argv: Vec<String>,
    /// The pane's own environment for claude (`Config::claude_environment`).
    env: Vec<(String, String)>,
    /// The claude executable, resolved.
    command: String,
    /// The unit it runs in (empty: none).
    unit: String,
    /// Where its launcher waits until the unit holds it (under systemd).
    gate: Option<units::Gate>,
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
    /// Under systemd the launcher first waits at a gate (`units::Gate`), until `spawn_unit`
    /// has put it in a transient scope of its own.
    async fn launch(&self, s: &Session, resume: Option<&str>) -> Result<LaunchPlan> {
        let (name, args) = (&s.name, &s.args);
        let command = self.cfg.claude_command.clone();
        let claude = procwatch::blocking(move || resolve_claude(command.as_deref()))
            .await
            .ok_or_else(|| Error::internal("looking for claude", "the lookup task failed"))??;
        let gate = match self.cfg.under_systemd {
            true => Some(units::Gate::new(&self.cfg.state_dir)?),
            false => None,
        };
        let script = match gate {
            Some(_) => units::GATE_SCRIPT,
            None => "\"$@\"; exit $?",
        };
        let mut argv = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            script.to_owned(),
            "trusty-mpm-launch".to_owned(),
        ];
        if let Some(gate) = &gate {
            argv.push(gate.path().to_string_lossy().into_owned());
        }
        argv.push(claude.clone());
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
        let unit = match gate {
            Some(_) => units::unit_name(name),
            None => String::new(),
        };
        Ok(LaunchPlan {
            argv,
            env: self.cfg.claude_environment(std::env::vars(), &s.env),
            command: claude,
            unit,
            gate,
            claude_id,
            summary,
        })
    }

    /// Under systemd, puts the launcher of `s` (process `pid`, waiting at its gate) in a
    /// transient scope with the session's limits over config.toml's defaults, then lets it
    /// start claude; a unit of the same name that an earlier launch left behind is stopped
    /// first. In the background, as the launch itself: the session is `starting` meanwhile.
    /// When systemd refuses, the launcher prints why and exits without starting anything, and
    /// the session stops saying so (see `launch_failed`).
    fn spawn_unit(
        self: &Arc<Self>,
        gate: Option<units::Gate>,
        unit: String,
        s: &Session,
        pid: u32,
    ) {
        let Some(gate) = gate else {
            return;
        };
        let (svc, limits) = (Arc::clone(self), s.limits);
        let (id, name) = (s.id, s.name.clone());
        tokio::spawn(async move {
            units::clear(&unit).await;
            let scope = units::Scope {
                unit: &unit,
                slice: &svc.cfg.slice,
                description: "Claude Code session run by trusty-mpm",
                limits: limits.over(&svc.cfg.default_limits),
                pids: &[pid],
            };
            let opened = match units::start_scope(scope).await {
                Ok(()) => gate.open().await,
                Err(e) => {
                    tracing::error!(session_id = %id, session_name = %name, "{name}: {e}");
                    gate.refuse(&format!("trusty-mpm: {e}")).await
                }
            };
            if let Err(e) = opened {
                tracing::error!(session_id = %id, session_name = %name, "{name}: {e}");
            }
        });
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
        // Asked even for a requested name: a tmux that does not answer then fails the start
        // before a new-session is queued that it would carry out later, unmanaged.
        let tmux_names = self.tmux_names().await?;
        let reservation = self.reserve_name(requested, dir, &tmux_names)?;
        let mut session = Session::new(reservation.name.clone(), dir.to_owned(), true);
        session.limits = opts.limits;
        session.args = opts.args;
        session.env = env;
        let mut launch = self.launch(&session, opts.resume.as_deref()).await?;
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
        let gate = launch.gate.take();
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
        self.spawn_unit(gate, session.unit.clone(), &session, pane.pid);
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
        let mut launch = self.launch(&s, resume).await?;
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
        let (gate, unit) = (launch.gate.take(), launch.unit.clone());
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
        self.spawn_unit(gate, unit, &s, pane.pid);
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
