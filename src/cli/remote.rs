//! Reaching a daemon: this login's session bus, or a host's through ssh. The ssh process's
//! standard input and output are one end of a socket pair and the D-Bus connection is the other
//! (the `unixexec:` transport would leave ssh's standard error on the terminal, where neither a
//! clear error nor a quiet retry could be made of it). Every remote call has a timeout, and a
//! host that cannot be reached is one sentence naming it, with what ssh said and what to do.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;
use zbus::Connection;

use super::hosts::{Host, Place, bridge_argv};

/// How long ssh may take to log in and reach the remote bus.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long any call of a remote daemon may take (its longest, a graceful stop, takes ~11 s).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of ssh's standard error kept for a message.
const SAID_LIMIT: usize = 4096;

/// A connection to a place's bus.
pub struct Link {
    pub conn: Connection,
    /// For a host: resolves once ssh ended, with what it said last.
    pub closed: Option<oneshot::Receiver<String>>,
}

/// Why a place cannot be reached; shown as one line for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreachable {
    pub host: String,
    /// The ssh destination, for a host.
    pub dest: Option<String>,
    pub why: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.dest {
            Some(dest) => write!(f, "cannot reach host {} ({dest}): {}", self.host, self.why),
            None => f.write_str(&self.why),
        }
    }
}

/// Connects to the bus of `place`.
pub async fn connect(place: &Place) -> Result<Link, Unreachable> {
    match place {
        Place::Local => match Connection::session().await {
            Ok(conn) => Ok(Link { conn, closed: None }),
            Err(e) => Err(Unreachable {
                host: place.name().to_owned(),
                dest: None,
                why: format!(
                    "cannot reach the session bus ({e}); is DBUS_SESSION_BUS_ADDRESS right?"
                ),
            }),
        },
        Place::Remote(host) => ssh(host).await.map_err(|why| Unreachable {
            host: host.name.clone(),
            dest: Some(host.ssh.clone()),
            why,
        }),
    }
}

/// What ssh wrote to its standard error, gathered as it comes (so ssh never waits on it).
fn gather(mut stderr: tokio::process::ChildStderr) -> (Arc<Mutex<String>>, oneshot::Receiver<()>) {
    let said = Arc::new(Mutex::new(String::new()));
    let (done, ended) = oneshot::channel();
    let into = said.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = stderr.read(&mut buf).await {
            let mut s = into.lock().unwrap_or_else(|e| e.into_inner());
            s.push_str(&String::from_utf8_lossy(&buf[..n]));
            if s.len() > SAID_LIMIT {
                let mut cut = s.len() - SAID_LIMIT;
                while !s.is_char_boundary(cut) {
                    cut += 1;
                }
                s.drain(..cut);
            }
        }
        let _ = done.send(());
    });
    (said, ended)
}

/// What ssh said once it has ended (its standard error may outlive it a little, in a
/// ControlMaster it started).
async fn last_words(said: &Mutex<String>, ended: oneshot::Receiver<()>) -> String {
    let _ = tokio::time::timeout(Duration::from_millis(500), ended).await;
    said.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

async fn ssh(host: &Host) -> Result<Link, String> {
    let argv = bridge_argv(host);
    let (ours, theirs) =
        std::os::unix::net::UnixStream::pair().map_err(|e| format!("no socket pair: {e}"))?;
    let theirs_out = theirs
        .try_clone()
        .map_err(|e| format!("no socket pair: {e}"))?;
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(theirs_out)))
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
    let (said, ended) = gather(child.stderr.take().expect("piped"));
    let build = zbus::connection::Builder::unix_stream(ours)
        .method_timeout(CALL_TIMEOUT)
        .build();
    match tokio::time::timeout(CONNECT_TIMEOUT, build).await {
        Ok(Ok(conn)) => {
            let (tell, closed) = oneshot::channel();
            tokio::spawn(async move {
                let _ = child.wait().await;
                let _ = tell.send(last_words(&said, ended).await);
            });
            Ok(Link {
                conn,
                closed: Some(closed),
            })
        }
        Ok(Err(e)) => {
            // Whoever ended it (ssh, or the remote command) has said why by the time ssh ends.
            if tokio::time::timeout(Duration::from_secs(2), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
            }
            Err(explain(&last_words(&said, ended).await, &host.ssh, &e))
        }
        Err(_) => {
            let _ = child.start_kill();
            let words = last_words(&said, ended).await;
            Err(match tidy(&words) {
                w if w.is_empty() => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                w => format!("no answer within {} s ({w})", CONNECT_TIMEOUT.as_secs()),
            })
        }
    }
}

/// ssh's messages on one line, without its notes that are no failure.
fn tidy(said: &str) -> String {
    said.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why the connection failed, from what ssh (or the remote command) said, with what to do.
pub fn explain(said: &str, dest: &str, e: &zbus::Error) -> String {
    let words = tidy(said);
    let hint = if words.contains("Host key verification failed") {
        format!(
            "its host key is not known here, or changed; check it and accept it by logging in \
             once with `ssh {dest}`"
        )
    } else if words.contains("Permission denied") || words.contains("Too many authentication") {
        "ssh cannot log in: the client runs ssh in batch mode, so it needs a key the host \
         accepts from ssh-agent or a key file without passphrase"
            .to_owned()
    } else if words.contains("Failed to start bus client")
        || words.contains("not found")
        || words.contains("No such file")
    {
        "the remote command cannot reach the user's bus; is trusty-mpm set up there (a user \
         session bus), or does the host need a `bridge` setting?"
            .to_owned()
    } else {
        String::new()
    };
    match (words.is_empty(), hint.is_empty()) {
        (true, _) => format!("ssh ended without a word ({e})"),
        (false, true) => words,
        (false, false) => format!("{words} ({hint})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_failures_say_what_to_do() {
        let e = zbus::Error::InputOutput(std::sync::Arc::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        let key = explain(
            "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict \
             checking.\r\nHost key verification failed.\r\n",
            "me@lab",
            &e,
        );
        assert!(key.starts_with("No ED25519 host key is known"), "{key}");
        assert!(key.contains("`ssh me@lab`"), "{key}");
        let login = explain("me@lab: Permission denied (publickey).\r\n", "me@lab", &e);
        assert!(login.contains("batch mode"), "{login}");
        let bus = explain(
            "Failed to start bus client: No such file or directory\n",
            "x",
            &e,
        );
        assert!(bus.contains("`bridge` setting"), "{bus}");
        assert!(explain("", "x", &e).starts_with("ssh ended without a word ("));
        let warned = "Warning: Permanently added 'x' (ED25519) to the list of known hosts.\r\n\
                      ssh: connect to host x port 22: Connection refused\r\n";
        assert_eq!(
            explain(warned, "x", &e),
            "ssh: connect to host x port 22: Connection refused"
        );
    }
}
