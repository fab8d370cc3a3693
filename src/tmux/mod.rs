//! `TmuxDriver`: the only code that runs `tmux`. It picks the server socket, passes every
//! argument as argv (never through a shell) and literal to tmux's own parser (`argv`), reads
//! tmux's output unmangled in every locale, bounds every call with a timeout, pastes text as one
//! unit, and turns tmux's exit status and stderr into a `TmuxError` (once, in `parse`), which
//! becomes a core error in one place.

mod argv;
#[cfg(test)]
pub mod memory;
mod parse;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

pub use argv::session_target;
use argv::{command_list, start_dir};
use parse::{PANE_FORMAT, parse_panes, tail_lines};
pub use parse::{Pane, PaneOwner};

use crate::config::Config;
use crate::error::Error;
use crate::model::SessionName;

/// What went wrong with a tmux call, decided once from its exit and stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TmuxError {
    /// No server runs behind the socket (for a listing: there is nothing).
    #[error("{0}")]
    NoServer(String),
    /// tmux could not be run, or its socket made, or its server died.
    #[error("{0}")]
    Unavailable(String),
    /// The target session, window or pane does not exist (any more).
    #[error("{0}")]
    MissingTarget(String),
    /// A session of that name exists already.
    #[error("{0}")]
    DuplicateSession(String),
    #[error("tmux did not answer within {} ms.", .0.as_millis())]
    Timeout(Duration),
    /// The command line would exceed what the kernel takes.
    #[error("The arguments are too long for tmux.")]
    TooLong,
    #[error("{0}")]
    Failed(String),
}

impl From<TmuxError> for Error {
    fn from(e: TmuxError) -> Error {
        let msg = e.to_string();
        match e {
            TmuxError::NoServer(_) | TmuxError::Unavailable(_) => Error::TmuxUnavailable(msg),
            TmuxError::Timeout(_) => Error::Timeout(msg),
            TmuxError::TooLong => Error::InvalidArgument(msg),
            TmuxError::MissingTarget(_) | TmuxError::DuplicateSession(_) | TmuxError::Failed(_) => {
                Error::TmuxFailed(msg)
            }
        }
    }
}

/// The tmux behind the daemon's service and its D-Bus face: the real driver; in unit tests also
/// the in-memory tmux (`memory`), so that the face can be tested in-process.
#[cfg(not(test))]
pub type DaemonTmux = TmuxDriver;
#[cfg(test)]
pub use memory::DaemonTmux;

/// The outcome of a tmux call.
pub type Result<T, E = TmuxError> = std::result::Result<T, E>;

/// What the session rules ask of tmux. `TmuxDriver` is the real one; unit tests put an
/// in-memory tmux (`memory`) behind the same seam.
pub trait Tmux: Send + Sync + 'static {
    fn list_sessions(&self) -> impl Future<Output = Result<Vec<String>>> + Send;
    fn pane_owner(&self, pane: &str) -> impl Future<Output = Result<Option<PaneOwner>>> + Send;
    fn is_our_server(&self, tmux_env: &str) -> impl Future<Output = bool> + Send;
    fn panes(&self, name: &SessionName) -> impl Future<Output = Result<Vec<Pane>>> + Send;
    fn new_session(
        &self,
        name: &SessionName,
        program: &Program<'_>,
    ) -> impl Future<Output = Result<Pane>> + Send;
    fn respawn_pane(
        &self,
        pane: &str,
        program: &Program<'_>,
    ) -> impl Future<Output = Result<()>> + Send;
    fn new_window(
        &self,
        name: &SessionName,
        program: &Program<'_>,
    ) -> impl Future<Output = Result<Pane>> + Send;
    fn send_text(&self, target: &str, text: &str) -> impl Future<Output = Result<()>> + Send;
    fn send_key(
        &self,
        target: &str,
        key: &str,
        literal: bool,
    ) -> impl Future<Output = Result<()>> + Send;
    fn capture(&self, target: &str, lines: u32) -> impl Future<Output = Result<String>> + Send;
    fn kill_session(&self, name: &SessionName) -> impl Future<Output = Result<()>> + Send;
}

/// Runs tmux commands against one server.
#[derive(Debug, Clone)]
pub struct TmuxDriver {
    bin: PathBuf,
    socket: Option<PathBuf>,
    /// `socket`, or the default server's when none is configured.
    server_socket: PathBuf,
    timeout: Duration,
    under_systemd: bool,
}

/// The socket of the tmux server a daemon with `cfg` drives: the configured one, else that of
/// tmux's default server, `$TMUX_TMPDIR` (or /tmp), `tmux-<uid>/default`.
pub fn server_socket(cfg: &Config) -> PathBuf {
    if let Some(socket) = &cfg.tmux_socket {
        return socket.clone();
    }
    let dir = std::env::var_os("TMUX_TMPDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    dir.join(format!("tmux-{}", rustix::process::getuid().as_raw()))
        .join("default")
}

/// The command list that starts `argv` in a new pane in `dir` and prints that pane. The window
/// keeps its pane (dead) after the program exits, set in the same invocation so that a program
/// exiting at once still leaves it; `session` names the target when it is not the current one.
fn spawn_commands(
    command: &[&str],
    program: &Program<'_>,
    session: Option<&SessionName>,
) -> Vec<Vec<String>> {
    let mut spawn: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    spawn.extend(["-c".into(), start_dir(program.dir)]);
    spawn.extend(program.env_args());
    spawn.extend(["-P".into(), "-F".into()]);
    spawn.extend([PANE_FORMAT, "--"].map(String::from));
    spawn.extend(program.argv.iter().cloned());
    let mut option: Vec<String> = vec!["set-option".into(), "-w".into()];
    if let Some(name) = session {
        option.extend(["-t".to_owned(), session_target(name.as_str())]);
    }
    option.extend(["remain-on-exit", "on"].map(String::from));
    vec![spawn, option]
}

/// What a pane runs: a program and its arguments, in a directory, with environment of its own
/// (`-e`, for that pane only: never the server's global environment).
#[derive(Debug, Clone, Copy)]
pub struct Program<'a> {
    pub dir: &'a str,
    pub env: &'a [(String, String)],
    pub argv: &'a [String],
}

impl Program<'_> {
    fn env_args(&self) -> impl Iterator<Item = String> + '_ {
        self.env
            .iter()
            .flat_map(|(k, v)| ["-e".to_owned(), format!("{k}={v}")])
    }
}

/// The first pane tmux reported.
fn first_pane(panes: Vec<Pane>) -> Result<Pane> {
    panes
        .into_iter()
        .next()
        .ok_or_else(|| TmuxError::Failed("tmux did not report the new pane.".into()))
}

impl TmuxDriver {
    pub fn new(cfg: &Config) -> Self {
        TmuxDriver {
            bin: cfg.tmux_bin.clone(),
            socket: cfg.tmux_socket.clone(),
            server_socket: server_socket(cfg),
            timeout: cfg.tmux_timeout,
            under_systemd: cfg.under_systemd,
        }
    }

    /// Runs one tmux command and returns its stdout.
    async fn run<S: AsRef<str>>(&self, command: &[S]) -> Result<String> {
        self.run_list(&[command], None).await
    }

    /// Runs a list of tmux commands in one invocation (tmux runs them in order and stops at
    /// the first failure), with `input` on tmux's stdin, and returns its stdout.
    async fn run_list<C: AsRef<[S]>, S: AsRef<str>>(
        &self,
        commands: &[C],
        input: Option<&[u8]>,
    ) -> Result<String> {
        let mut cmd = Command::new(&self.bin);
        self.exec(&mut cmd, commands, input).await
    }

    /// Runs tmux through `systemd-run --user` as a transient service of its own, so that a tmux
    /// server it starts lives outside the daemon's cgroup and sandbox (a scope would inherit
    /// no_new_privs, seccomp filters and namespaces). Its stdout, the `-P` line (the panes are
    /// read with list-panes then), would only land in the journal.
    async fn run_as_service(&self, commands: &[Vec<String>]) -> Result<()> {
        let mut cmd = Command::new("systemd-run");
        cmd.args([
            "--user",
            "--quiet",
            "--collect",
            "--property=Type=forking",
            "--property=StandardOutput=null",
            "--description=tmux server started by trusty-mpm",
            "--",
        ])
        .arg(&self.bin);
        self.exec(&mut cmd, commands, None).await.map(drop)
    }

    async fn exec<C: AsRef<[S]>, S: AsRef<str>>(
        &self,
        cmd: &mut Command,
        commands: &[C],
        input: Option<&[u8]>,
    ) -> Result<String> {
        // `-u`: tmux prints exactly what it has (tabs between fields, UTF-8 paths and screens)
        // whatever the locale; under LANG=C it would print every byte outside printable ASCII
        // as `_`.
        cmd.arg("-u");
        if let Some(sock) = &self.socket {
            cmd.arg("-S").arg(sock);
        }
        cmd.args(command_list(commands))
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for var in crate::systemd::PRIVATE_ENV {
            cmd.env_remove(var);
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                TmuxError::Unavailable(format!(
                    "The program {:?} is not installed or not on PATH.",
                    cmd.as_std().get_program()
                ))
            } else if e.raw_os_error() == Some(rustix::io::Errno::TOOBIG.raw_os_error()) {
                TmuxError::TooLong
            } else {
                TmuxError::Unavailable(format!("tmux could not be started: {e}."))
            }
        })?;
        let stdin = child.stdin.take();
        let feed = async move {
            if let (Some(mut stdin), Some(input)) = (stdin, input) {
                // A client that exits early closes the pipe; its exit status tells why.
                let _ = stdin.write_all(input).await;
            }
        };
        let run = async { tokio::join!(feed, child.wait_with_output()).1 };
        let out = match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(TmuxError::Failed(format!("tmux failed to run: {e}."))),
            Err(_) => return Err(TmuxError::Timeout(self.timeout)),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        // tmux 3.3 exits 0 when it cannot create its socket; only stderr tells.
        if out.status.success() && !parse::is_socket_error(&stderr) {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(parse::classify_failure(&stderr))
        }
    }
}

impl Tmux for TmuxDriver {
    /// Names of all sessions of the server. A server that is not running is `NoServer`.
    async fn list_sessions(&self) -> Result<Vec<String>> {
        let out = self
            .run(&["list-sessions", "-F", "#{session_name}"])
            .await?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// Which server and session a pane (`%N`) belongs to now; `None` when it does not exist.
    /// Pane ids are numbered per server, so a cached id must be checked before each use.
    async fn pane_owner(&self, pane: &str) -> Result<Option<PaneOwner>> {
        if pane.len() < 2
            || !pane.starts_with('%')
            || !pane[1..].bytes().all(|b| b.is_ascii_digit())
        {
            return Ok(None);
        }
        match self
            .run(&["display-message", "-p", "-t", pane, parse::OWNER_FORMAT])
            .await
        {
            Ok(out) => Ok(parse::parse_owner(&out)),
            Err(TmuxError::MissingTarget(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether a `TMUX` environment value (`socket,pid,index`) names this driver's server.
    /// An empty value cannot be checked and is accepted. Resolving the path reads the file
    /// system, so it runs on the blocking pool.
    async fn is_our_server(&self, tmux_env: &str) -> bool {
        let Some(socket) = tmux_env.split(',').next().filter(|s| !s.is_empty()) else {
            return true;
        };
        let socket = PathBuf::from(socket);
        let ours = self.server_socket.clone();
        tokio::task::spawn_blocking(move || {
            let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            canon(&socket) == canon(&ours)
        })
        .await
        .unwrap_or(false)
    }

    /// Every pane of a session, in every window.
    async fn panes(&self, name: &SessionName) -> Result<Vec<Pane>> {
        let target = session_target(name.as_str());
        let out = self
            .run(&["list-panes", "-s", "-t", &target, "-F", PANE_FORMAT])
            .await?;
        Ok(parse_panes(&out))
    }

    /// Creates a detached session in `dir` running `argv`; returns its first pane.
    /// The pane stays (dead) when its program exits, so the session can be restarted.
    async fn new_session(&self, name: &SessionName, program: &Program<'_>) -> Result<Pane> {
        let commands = spawn_commands(
            &["new-session", "-d", "-s", name.as_str()],
            program,
            Some(name),
        );
        if self.under_systemd {
            // `-N`: a server this client started would live in the daemon's cgroup. Where
            // none runs, the service starts it; asking first would cost one more tmux run.
            let mut cmd = Command::new(&self.bin);
            cmd.arg("-N");
            match self.exec(&mut cmd, &commands, None).await {
                Err(TmuxError::NoServer(_)) => {
                    self.run_as_service(&commands).await?;
                    return first_pane(self.panes(name).await?);
                }
                out => return first_pane(parse_panes(&out?)),
            }
        }
        first_pane(parse_panes(&self.run_list(&commands, None).await?))
    }

    /// Starts `argv` again in a pane whose program has exited.
    async fn respawn_pane(&self, pane: &str, program: &Program<'_>) -> Result<()> {
        let mut command: Vec<String> = vec!["respawn-pane".into(), "-t".into(), pane.into()];
        command.extend(["-c".into(), start_dir(program.dir)]);
        command.extend(program.env_args());
        command.push("--".into());
        command.extend(program.argv.iter().cloned());
        self.run(&command).await.map(drop)
    }

    /// Opens a new window in the session running `argv`; returns its pane.
    async fn new_window(&self, name: &SessionName, program: &Program<'_>) -> Result<Pane> {
        let target = session_target(name.as_str());
        let commands = spawn_commands(&["new-window", "-t", &target], program, None);
        first_pane(parse_panes(&self.run_list(&commands, None).await?))
    }

    /// Pastes `text` as one unit (bracketed when the application asked for it), then presses
    /// Enter, in one tmux invocation: tmux stops at the first command that fails, so the text
    /// lands whole and is followed by Enter, or nothing is typed. The text goes through stdin,
    /// so its size is not bound by tmux's message size.
    async fn send_text(&self, target: &str, text: &str) -> Result<()> {
        let enter = vec!["send-keys", "-t", target, "Enter"];
        if text.is_empty() {
            return self.run(&enter).await.map(drop);
        }
        let buffer = format!("trusty-mpm-{}", uuid::Uuid::new_v4().simple());
        let commands = vec![
            vec!["load-buffer", "-b", &buffer, "-"],
            vec!["paste-buffer", "-d", "-p", "-b", &buffer, "-t", target],
            enter,
        ];
        self.run_list(&commands, Some(text.as_bytes()))
            .await
            .map(drop)
    }

    /// Presses one named key (already allow-listed) or types one literal character.
    async fn send_key(&self, target: &str, key: &str, literal: bool) -> Result<()> {
        if literal {
            self.run(&["send-keys", "-t", target, "-l", "--", key])
                .await
        } else {
            self.run(&["send-keys", "-t", target, "--", key]).await
        }
        .map(drop)
    }

    /// The last `lines` non-blank-tailed lines of the pane (history included, wrapped lines joined).
    async fn capture(&self, target: &str, lines: u32) -> Result<String> {
        let start = format!("-{lines}");
        let out = self
            .run(&["capture-pane", "-p", "-J", "-S", &start, "-t", target])
            .await?;
        Ok(tail_lines(&out, lines as usize))
    }

    /// Kills a session; a session that is already gone (or its whole server) is not an error.
    async fn kill_session(&self, name: &SessionName) -> Result<()> {
        match self
            .run(&["kill-session", "-t", &session_target(name.as_str())])
            .await
        {
            Ok(_) => Ok(()),
            Err(TmuxError::MissingTarget(_) | TmuxError::NoServer(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
