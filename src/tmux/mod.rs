//! `TmuxDriver`: the only code that runs `tmux`. It picks the server socket, passes every
//! argument as argv (never through a shell), bounds every call with a timeout, types text
//! literally, and turns tmux's exit status and stderr into core errors.

mod parse;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use parse::{PANE_FORMAT, parse_panes, tail_lines};
pub use parse::{Pane, is_missing_target, is_no_server};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::SessionName;

/// Environment the daemon must not hand down to tmux servers and agents: systemd's notify and
/// watchdog hooks, the journal stream and the service's identity belong to the daemon alone.
pub const PRIVATE_ENV: [&str; 8] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
    "INVOCATION_ID",
    "MANAGERPID",
    "SYSTEMD_EXEC_PID",
    "TRUSTY_MPM_TEST_FAULTS",
];

/// Runs tmux commands against one server.
#[derive(Debug, Clone)]
pub struct TmuxDriver {
    bin: PathBuf,
    socket: Option<PathBuf>,
    timeout: Duration,
    under_systemd: bool,
}

/// The socket of tmux's default server: `$TMUX_TMPDIR` (or /tmp), `tmux-<uid>/default`.
fn default_socket() -> PathBuf {
    let dir = std::env::var_os("TMUX_TMPDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    dir.join(format!("tmux-{}", rustix::process::getuid().as_raw()))
        .join("default")
}

/// Arguments of a command that starts `argv` in a new pane in `dir` and prints that pane. The
/// window keeps its pane (dead) after the program exits, set in the same invocation so that a
/// program exiting at once still leaves it; `session` names the target when it is not the
/// current one.
fn spawn_args(
    command: &[&str],
    dir: &str,
    argv: &[String],
    session: Option<&SessionName>,
) -> Vec<String> {
    let mut args: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    args.extend(["-c", dir, "-P", "-F", PANE_FORMAT, "--"].map(String::from));
    args.extend(argv.iter().cloned());
    args.extend([";", "set-option", "-w"].map(String::from));
    if let Some(name) = session {
        args.extend(["-t".to_owned(), format!("={name}:")]);
    }
    args.extend(["remain-on-exit", "on"].map(String::from));
    args
}

/// The first pane tmux reported.
fn first_pane(panes: Vec<Pane>) -> Result<Pane> {
    panes
        .into_iter()
        .next()
        .ok_or_else(|| Error::TmuxFailed("tmux did not report the new pane.".into()))
}

/// Where a command is aimed: a pane id (`%N`) when known, else the session's active pane.
pub fn target(name: &SessionName, pane: &str) -> String {
    if pane.starts_with('%') {
        pane.to_owned()
    } else {
        // `=` asks for an exact name match; tmux would otherwise accept prefixes and patterns.
        format!("={name}:")
    }
}

impl TmuxDriver {
    pub fn new(cfg: &Config) -> Self {
        TmuxDriver {
            bin: cfg.tmux_bin.clone(),
            socket: cfg.tmux_socket.clone(),
            timeout: cfg.tmux_timeout,
            under_systemd: cfg.under_systemd,
        }
    }

    /// Runs one tmux invocation and returns its stdout.
    async fn run<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut cmd = Command::new(&self.bin);
        self.exec(&mut cmd, args).await
    }

    /// Runs tmux through `systemd-run --user` as a transient service of its own, so that a tmux
    /// server it starts lives outside the daemon's cgroup and sandbox (a scope would inherit
    /// no_new_privs, seccomp filters and namespaces). Its stdout goes to the journal.
    async fn run_as_service<I, S>(&self, args: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut cmd = Command::new("systemd-run");
        cmd.args([
            "--user",
            "--quiet",
            "--collect",
            "--property=Type=forking",
            "--description=tmux server started by trusty-mpm",
            "--",
        ])
        .arg(&self.bin);
        self.exec(&mut cmd, args).await.map(drop)
    }

    async fn exec<I, S>(&self, cmd: &mut Command, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        if let Some(sock) = &self.socket {
            cmd.arg("-S").arg(sock);
        }
        cmd.args(args.into_iter().map(Into::into))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for var in PRIVATE_ENV {
            cmd.env_remove(var);
        }
        let child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::TmuxUnavailable(format!(
                    "The program {:?} is not installed or not on PATH.",
                    cmd.as_std().get_program()
                ))
            } else {
                Error::TmuxUnavailable(format!("tmux could not be started: {e}."))
            }
        })?;
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(Error::TmuxFailed(format!("tmux failed to run: {e}."))),
            Err(_) => {
                return Err(Error::Timeout(format!(
                    "tmux did not answer within {} ms.",
                    self.timeout.as_millis()
                )));
            }
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        // tmux 3.3 exits 0 when it cannot create its socket; only stderr tells.
        if out.status.success() && !parse::is_socket_error(&stderr) {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(parse::classify_failure(&String::from_utf8_lossy(
                &out.stderr,
            )))
        }
    }

    /// Names of all sessions of the server. A server that is not running is `TmuxUnavailable`.
    pub async fn list_sessions(&self) -> Result<Vec<String>> {
        let out = self.run(["list-sessions", "-F", "#{session_name}"]).await?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// The session a pane (`%N`) belongs to; `None` when the pane does not exist.
    pub async fn session_of_pane(&self, pane: &str) -> Result<Option<String>> {
        if !pane.starts_with('%')
            || !pane[1..].bytes().all(|b| b.is_ascii_digit())
            || pane.len() < 2
        {
            return Ok(None);
        }
        match self
            .run(["display-message", "-p", "-t", pane, "#{session_name}"])
            .await
        {
            Ok(out) => Ok(Some(out.trim_end_matches('\n').to_owned())),
            Err(Error::TmuxFailed(m)) if is_missing_target(&m) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether a `TMUX` environment value (`socket,pid,index`) names this driver's server.
    /// An empty value cannot be checked and is accepted.
    pub fn is_our_server(&self, tmux_env: &str) -> bool {
        let Some(socket) = tmux_env.split(',').next().filter(|s| !s.is_empty()) else {
            return true;
        };
        let ours = match &self.socket {
            Some(p) => p.clone(),
            None => default_socket(),
        };
        let canon =
            |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        canon(std::path::Path::new(socket)) == canon(&ours)
    }

    /// Every pane of a session, in every window.
    pub async fn panes(&self, name: &SessionName) -> Result<Vec<Pane>> {
        let out = self
            .run([
                "list-panes",
                "-s",
                "-t",
                &format!("={name}"),
                "-F",
                PANE_FORMAT,
            ])
            .await?;
        Ok(parse_panes(&out))
    }

    /// Creates a detached session in `dir` running `argv`; returns its first pane.
    /// The pane stays (dead) when its program exits, so the session can be restarted.
    pub async fn new_session(
        &self,
        name: &SessionName,
        dir: &str,
        argv: &[String],
    ) -> Result<Pane> {
        let args = spawn_args(
            &["new-session", "-d", "-s", name.as_str()],
            dir,
            argv,
            Some(name),
        );
        if self.under_systemd && !self.server_running().await? {
            self.run_as_service(args).await?;
            return first_pane(self.panes(name).await?);
        }
        first_pane(parse_panes(&self.run(args).await?))
    }

    /// Whether a server answers on the socket.
    async fn server_running(&self) -> Result<bool> {
        match self.list_sessions().await {
            Ok(_) => Ok(true),
            Err(Error::TmuxUnavailable(m)) if is_no_server(&m) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Starts `argv` again in a pane whose program has exited.
    pub async fn respawn_pane(&self, pane: &str, dir: &str, argv: &[String]) -> Result<()> {
        let mut args: Vec<String> = vec![
            "respawn-pane".into(),
            "-t".into(),
            pane.into(),
            "-c".into(),
            dir.into(),
            "--".into(),
        ];
        args.extend(argv.iter().cloned());
        self.run(args).await.map(drop)
    }

    /// Opens a new window in the session running `argv`; returns its pane.
    pub async fn new_window(&self, name: &SessionName, dir: &str, argv: &[String]) -> Result<Pane> {
        let target = format!("={name}:");
        let args = spawn_args(&["new-window", "-t", &target], dir, argv, None);
        first_pane(parse_panes(&self.run(args).await?))
    }

    /// Types `text` literally, then presses Enter as a separate key.
    pub async fn send_text(&self, target: &str, text: &str) -> Result<()> {
        if !text.is_empty() {
            self.run(["send-keys", "-t", target, "-l", "--", text])
                .await?;
        }
        self.run(["send-keys", "-t", target, "Enter"])
            .await
            .map(drop)
    }

    /// Presses one named key (already allow-listed) or types one literal character.
    pub async fn send_key(&self, target: &str, key: &str, literal: bool) -> Result<()> {
        if literal {
            self.run(["send-keys", "-t", target, "-l", "--", key]).await
        } else {
            self.run(["send-keys", "-t", target, "--", key]).await
        }
        .map(drop)
    }

    /// The last `lines` non-blank-tailed lines of the pane (history included, wrapped lines joined).
    pub async fn capture(&self, target: &str, lines: u32) -> Result<String> {
        let start = format!("-{lines}");
        let out = self
            .run(["capture-pane", "-p", "-J", "-S", &start, "-t", target])
            .await?;
        Ok(tail_lines(&out, lines as usize))
    }

    /// Kills a session; a session that is already gone is not an error.
    pub async fn kill_session(&self, name: &SessionName) -> Result<()> {
        match self.run(["kill-session", "-t", &format!("={name}")]).await {
            Ok(_) => Ok(()),
            Err(Error::TmuxFailed(m)) if is_missing_target(&m) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
