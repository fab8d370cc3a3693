//! The gate a session's launcher waits at until its unit holds it: a FIFO in the daemon's
//! private state directory, which the launcher opens and reads one line from before it starts
//! anything (`GATE_SCRIPT`). The daemon moves the waiting launcher into its scope, so nothing it
//! starts can stay outside, then opens the gate. Refused (with the reason as the line), or
//! dropped unopened (the FIFO is gone, or its writer closes with nothing written), the gate
//! makes the launcher exit without starting claude; refused, it prints the reason first.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// The shell words a launcher waits at the gate with: `$1` is the gate, the rest what it then
/// runs (as `sh -c SCRIPT NAME GATE ARGV…`).
pub const GATE_SCRIPT: &str = r#"IFS= read -r go < "$1" || exit 1; [ "$go" = go ] || { printf '%s
' "$go" >&2; exit 1; }; shift; "$@"; exit $?"#;

/// The line that lets the launcher go on.
const GO: &str = "go";

/// How long the launcher may take to reach the gate (it has just been started).
const ARRIVAL: Duration = Duration::from_secs(5);

/// A FIFO a launcher waits at.
pub struct Gate {
    path: PathBuf,
}

impl Gate {
    /// A new gate in `dir` (the daemon's state directory).
    pub fn new(dir: &Path) -> Result<Gate> {
        let path = dir.join(format!("gate-{}", uuid::Uuid::new_v4().simple()));
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .map_err(|e| Error::internal("making the launcher's gate", e))?;
        Ok(Gate { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lets the launcher go on.
    pub async fn open(self) -> Result<()> {
        self.send(GO.to_owned()).await
    }

    /// Makes the launcher print `why` (on one line) and exit.
    pub async fn refuse(self, why: &str) -> Result<()> {
        let line: String = why
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let line = if line == GO { format!("{line}.") } else { line };
        self.send(line).await
    }

    /// Waits (a while) until the launcher opened the gate, then writes it `line`.
    async fn send(self, line: String) -> Result<()> {
        let path = self.path.clone();
        // Opening a FIFO for writing returns once a reader opened it: the launcher is there.
        let arrived = tokio::task::spawn_blocking(move || {
            OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&path)
        });
        match tokio::time::timeout(ARRIVAL, arrived).await {
            Ok(Ok(Ok(mut fifo))) => fifo
                .write_all(format!("{line}\n").as_bytes())
                .map_err(|e| Error::internal("opening the launcher's gate", e)),
            Ok(Ok(Err(e))) => Err(Error::internal("opening the launcher's gate", e)),
            Ok(Err(e)) => Err(Error::internal("opening the launcher's gate", e)),
            Err(_) => {
                // Unblocks the waiting open (a reader is there now), whose writer then closes.
                let _ = OpenOptions::new()
                    .read(true)
                    .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                    .open(&self.path);
                Err(Error::Timeout(
                    "The session's launcher did not start within 5 s.".into(),
                ))
            }
        }
    }
}

/// Lets go the launchers still waiting at gates of an earlier daemon (one that stopped between
/// a start and its unit): each exits, and its session stops saying how.
pub fn release_gates(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with("gate-") {
            drop(Gate { path: entry.path() });
        }
    }
}

impl Drop for Gate {
    /// A launcher already waiting is let go with nothing to read (it exits); one that comes
    /// later finds no gate (it exits too). Held open for writing while the FIFO is unlinked,
    /// so no launcher can start waiting at a gate nobody will open.
    fn drop(&mut self) {
        let writer = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(&self.path);
        let _ = std::fs::remove_file(&self.path);
        drop(writer);
    }
}
