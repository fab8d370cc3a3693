//! `trusty-mpm attach KEY`: puts this terminal on a session's tmux session, found through the
//! contract's `TmuxSocket` and `TmuxSession` as any applet would: `tmux -S SOCKET attach -t
//! =NAME:` from a plain terminal, `switch-client` from inside a client of that same tmux
//! server, and a nested attach (TMUX unset) from inside another tmux server. A session on a
//! host is shown through `ssh -t` running that same tmux attach there (only tmux is needed on
//! the host, which is on the PATH of any ssh command, unlike ~/.local/bin).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitCode;

use zbus::Connection;

use super::bus::{manager, session_proxy};
use super::hosts::{Place, shell_quote, ssh_program};
use crate::error::Error;

/// The tmux command line that shows `session` of the server at `socket` in this terminal,
/// given this process's `TMUX` (empty outside tmux); true when TMUX must be unset for it.
pub fn command(socket: &str, session: &str, tmux_env: &str) -> (Vec<String>, bool) {
    let target = format!("={session}:");
    let inside = !tmux_env.is_empty();
    let verb = if inside && same_server(tmux_env, socket) {
        "switch-client"
    } else {
        "attach"
    };
    let argv = ["-S", socket, verb, "-t", &target]
        .map(String::from)
        .to_vec();
    (argv, inside && verb == "attach")
}

/// Whether a `TMUX` value (`socket,server pid,session index`) names the server at `socket`.
fn same_server(tmux_env: &str, socket: &str) -> bool {
    // The socket path itself may contain commas: the last two fields are numbers.
    let Some(theirs) = tmux_env.rsplitn(3, ',').nth(2) else {
        return false;
    };
    let canon = |p: &str| std::fs::canonicalize(p).unwrap_or_else(|_| Path::new(p).to_owned());
    canon(theirs) == canon(socket)
}

/// The ssh command line that shows `session` of the tmux server at `socket` on the host at
/// ssh destination `dest`, in this terminal.
pub fn remote_command(dest: &str, socket: &str, session: &str) -> Vec<String> {
    let (tmux, _) = command(socket, session, "");
    let words: Vec<String> = std::iter::once("tmux".to_owned())
        .chain(tmux.iter().map(|w| shell_quote(w)))
        .collect();
    let mut argv = ssh_program();
    argv.extend(["-t".to_owned(), dest.to_owned(), words.join(" ")]);
    argv
}

/// Replaces this process with tmux (or ssh, for a session on a host) showing the session;
/// returns only when that fails.
pub async fn run(conn: &Connection, key: &str, place: &Place) -> zbus::Result<ExitCode> {
    let m = manager(conn).await?;
    let path = m.get_session(key).await?;
    let proxy = session_proxy(conn, path).await?;
    let session = proxy.tmux_session().await?;
    if session.is_empty() {
        eprintln!(
            "trusty-mpm: session '{key}' has no tmux session (it was registered without one)."
        );
        return Ok(ExitCode::from(11));
    }
    // A stopped session's tmux session may be gone: tmux would only say "can't find session".
    if proxy.status().await? == "stopped" {
        eprintln!("trusty-mpm: {}", Error::stopped(&proxy.name().await?));
        return Ok(ExitCode::from(11));
    }
    let socket = m.tmux_socket().await?;
    if let Place::Remote(host) = place {
        let argv = remote_command(&host.ssh, &socket, &session);
        let err = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
        eprintln!("trusty-mpm: cannot run {}: {err}", argv[0]);
        return Ok(ExitCode::FAILURE);
    }
    let (argv, unset_tmux) = command(
        &socket,
        &session,
        &std::env::var("TMUX").unwrap_or_default(),
    );
    let mut tmux = std::process::Command::new("tmux");
    tmux.args(&argv);
    if unset_tmux {
        // tmux refuses to nest a client while TMUX names another server.
        tmux.env_remove("TMUX").env_remove("TMUX_PANE");
    }
    let err = tmux.exec();
    eprintln!("trusty-mpm: cannot run tmux: {err}");
    Ok(ExitCode::from(14))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_switch_or_nest() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s,ock");
        std::fs::write(&sock, "").unwrap();
        let sock = sock.to_str().unwrap();
        let want = |verb: &str, unset: bool| {
            let argv = ["-S", sock, verb, "-t", "=my-proj:"].map(String::from);
            (argv.to_vec(), unset)
        };
        assert_eq!(command(sock, "my-proj", ""), want("attach", false));
        // Inside a client of the same server, named by another spelling of its path.
        let same = format!("{}/./s,ock,4242,3", dir.path().display());
        assert_eq!(
            command(sock, "my-proj", &same),
            want("switch-client", false)
        );
        let other = "/tmp/tmux-1/default,4242,0";
        assert_eq!(command(sock, "my-proj", other), want("attach", true));
    }

    #[test]
    fn a_session_on_a_host_is_attached_through_ssh() {
        let argv = remote_command("me@lab", "/run/user/1000/trusty mpm.sock", "api");
        assert_eq!(
            argv[argv.len() - 3..],
            [
                "-t",
                "me@lab",
                "tmux -S '/run/user/1000/trusty mpm.sock' attach -t =api:"
            ]
        );
    }
}
