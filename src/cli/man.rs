//! The man pages: trusty-mpm(1) and one page per subcommand (trusty-mpm-list(1),
//! trusty-mpm-hooks-install(1), …), made from the clap definitions by clap_mangen, each with
//! the ENVIRONMENT, FILES and EXIT STATUS sections that apply to it.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Command, CommandFactory, Subcommand};
use clap_mangen::Man;
use roff::{Roff, bold, roman};

use super::args::{Cli, ClientCommand};

/// A line of ENVIRONMENT, FILES or EXIT STATUS and the pages it belongs on: "" is the main
/// page, "client" every client subcommand, any other word the subcommand of that name (and the
/// pages below it), two words one page of a nested subcommand.
struct Note {
    tag: &'static str,
    text: &'static str,
    pages: &'static [&'static str],
}

const DAEMON_SIDE: &[&str] = &["", "daemon"];
/// What the daemon reads and `config` shows.
const SHOWN_BY_CONFIG: &[&str] = &["", "daemon", "config"];
/// Every client reads the config file's hosts; notify and the tray more of it.
const CONFIG_READERS: &[&str] = &["", "daemon", "config", "hooks check", "client"];

const ENVIRONMENT: &[Note] = &[
    Note {
        tag: "DBUS_SESSION_BUS_ADDRESS",
        text: "The session bus the daemon serves and the clients call.",
        pages: &["", "daemon", "hook", "client"],
    },
    Note {
        tag: "NO_COLOR",
        text: "When set to a non-empty value, no colours on a terminal.",
        pages: &["", "list"],
    },
    Note {
        tag: "TRUSTY_MPM_STATE_DIR",
        text: "Where the registry (and the list of settings files the relay went into) lives \
               (default $XDG_STATE_HOME/trusty-mpm).",
        pages: &["", "daemon", "config", "hooks"],
    },
    Note {
        tag: "TRUSTY_MPM_TMUX_SOCKET",
        text: "The tmux server's socket (default: tmux's default server).",
        pages: SHOWN_BY_CONFIG,
    },
    Note {
        tag: "TRUSTY_MPM_TMUX_BIN",
        text: "The tmux program (default: tmux on PATH).",
        pages: DAEMON_SIDE,
    },
    Note {
        tag: "TRUSTY_MPM_TMUX_TIMEOUT_MS",
        text: "How long a tmux call may take (default 5000).",
        pages: SHOWN_BY_CONFIG,
    },
    Note {
        tag: "TRUSTY_MPM_CLAUDE_COMMAND",
        text: "The program new sessions run (overrides claude_command in config.toml).",
        pages: SHOWN_BY_CONFIG,
    },
    Note {
        tag: "TRUSTY_MPM_CONFIG",
        text: "The config file (default $XDG_CONFIG_HOME/trusty-mpm/config.toml).",
        pages: CONFIG_READERS,
    },
    Note {
        tag: "TRUSTY_MPM_SSH",
        text: "The ssh program and its first arguments, words split on spaces, that reach the \
               hosts of config.toml (default ssh).",
        pages: &["", "client"],
    },
    Note {
        tag: "RUST_LOG",
        text: "The log filter (default info).",
        pages: SHOWN_BY_CONFIG,
    },
    Note {
        tag: "TMUX, TMUX_PANE",
        text: "Forwarded to the daemon, which finds the hook's session by them.",
        pages: &["hook"],
    },
    Note {
        tag: "TMUX",
        text: "Inside a client of the daemon's tmux server, attach switches that client to the \
               session; inside another tmux server, it attaches a nested client.",
        pages: &["attach"],
    },
    Note {
        tag: "HOME",
        text: "Where the user's Claude Code settings are (~/.claude/settings.json).",
        pages: &["hooks"],
    },
    Note {
        tag: "COMPLETE",
        text: "Set by the completion script when it asks trusty-mpm to complete a command line.",
        pages: &["completions"],
    },
];

const FILES: &[Note] = &[
    Note {
        tag: "$XDG_STATE_HOME/trusty-mpm/registry.json",
        text: "The sessions the daemon manages, written before every reply.",
        pages: DAEMON_SIDE,
    },
    Note {
        tag: "$XDG_CONFIG_HOME/trusty-mpm/config.toml",
        text: "Optional settings: permission_wait_secs, auto_adopt, claude_command, \
               restore_on_start, memory_high, memory_max, cpu_weight, tasks_max, slice, \
               slice_memory_max, terminal_command, [[deny]] rules; and the hosts the clients \
               reach over ssh, [hosts.NAME] with ssh (the destination) and bridge.",
        pages: CONFIG_READERS,
    },
    Note {
        tag: "~/.claude/settings.json, DIR/.claude/settings.json",
        text: "Claude Code's settings, where `hooks install` puts the relay.",
        pages: &["", "hooks"],
    },
    Note {
        tag: "$XDG_STATE_HOME/trusty-mpm/hooks.list",
        text: "The settings files `hooks install` wrote, for `hooks uninstall --everywhere`.",
        pages: &["hooks"],
    },
    Note {
        tag: "~/.local/share/systemd/user/trusty-mpm.service",
        text: "The user unit of the daemon (make install).",
        pages: DAEMON_SIDE,
    },
    Note {
        tag: "~/.local/share/systemd/user/trusty-mpm.slice",
        text: "The slice the sessions' units run in (slice_memory_max limits it).",
        pages: DAEMON_SIDE,
    },
    Note {
        tag: "~/.local/share/systemd/user/trusty-mpm-notify.service",
        text: "The user unit of the notifications.",
        pages: &["", "notify"],
    },
    Note {
        tag: "~/.local/share/applications/trusty-mpm.desktop",
        text: "The desktop entry notifications name (with its icon, trusty-mpm.svg).",
        pages: &["", "notify"],
    },
    Note {
        tag: "~/.local/share/systemd/user/trusty-mpm-tray.service",
        text: "The user unit of the tray icon.",
        pages: &["", "tray"],
    },
    Note {
        tag: "~/.local/share/icons/hicolor/scalable/status/trusty-mpm-*.svg",
        text: "The tray's icon for each state (down, idle, running, attention).",
        pages: &["", "tray"],
    },
    Note {
        tag: "~/.local/share/dbus-1/interfaces/org.trusty.Mpm1.xml",
        text: "The D-Bus contract, with a comment on every member.",
        pages: &["", "daemon", "client"],
    },
];

const EXIT_STATUS: &[Note] = &[
    Note {
        tag: "0",
        text: "Success.",
        pages: &["", "client", "daemon", "hooks", "completions", "man"],
    },
    Note {
        tag: "0",
        text: "The event was passed on, or the daemon could not be reached (the relay fails open).",
        pages: &["hook"],
    },
    Note {
        tag: "1",
        text: "Any other failure.",
        pages: &["", "client", "daemon", "completions", "man"],
    },
    Note {
        tag: "1",
        text: "The settings file or the config file could not be read or written, or (check) is broken.",
        pages: &["hooks"],
    },
    Note {
        tag: "2",
        text: "A bad command line.",
        pages: &["", "client", "daemon", "hooks", "completions", "man"],
    },
    Note {
        tag: "2",
        text: "The daemon blocks the tool call (a deny rule); its reason is on stderr for Claude.",
        pages: &["hook"],
    },
    Note {
        tag: "3",
        text: "The daemon is not running, or the session bus or a host is unreachable.",
        pages: &["", "client"],
    },
    Note {
        tag: "10 to 18",
        text: "The daemon refused: NotFound (10), InvalidState (11), InvalidArgument (12), \
               AlreadyExists (13), TmuxUnavailable (14), TmuxFailed (15), Timeout (16), \
               AccessDenied (17), Internal (18).",
        pages: &["", "client"],
    },
];

/// Whether a note belongs on the page of `path` (the subcommand's words).
fn applies(note: &Note, path: &[&str], clients: &[String]) -> bool {
    let page = path.join(" ");
    note.pages.iter().any(|p| match *p {
        "" => path.is_empty(),
        "client" => path.first().is_some_and(|c| clients.iter().any(|n| n == c)),
        p if p.contains(' ') => p == page,
        p => path.first() == Some(&p),
    })
}

fn section(roff: &mut Roff, title: &str, notes: &[Note], path: &[&str], clients: &[String]) {
    roff.control("SH", [title]);
    let notes: Vec<&Note> = notes.iter().filter(|n| applies(n, path, clients)).collect();
    if notes.is_empty() {
        roff.text([roman("None.")]);
    }
    for n in notes {
        roff.control("TP", []);
        roff.text([bold(n.tag)]);
        roff.text([roman(n.text)]);
    }
}

/// The page of `cmd` (built, at `path` below the main command).
fn render(cmd: &Command, path: &[&str], out: &mut dyn Write) -> std::io::Result<()> {
    let man = Man::new(cmd.clone())
        .source(concat!("trusty-mpm ", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(out)?;
    }
    let clients: Vec<String> = ClientCommand::augment_subcommands(Command::new("clients"))
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    let mut roff = Roff::new();
    section(&mut roff, "ENVIRONMENT", ENVIRONMENT, path, &clients);
    section(&mut roff, "FILES", FILES, path, &clients);
    section(&mut roff, "EXIT STATUS", EXIT_STATUS, path, &clients);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(if path.is_empty() {
        "The README and packaging/dbus/org.trusty.Mpm1.xml in the source; systemctl(1), tmux(1)."
    } else {
        "trusty-mpm(1)"
    })]);
    roff.to_writer(out)?;
    if cmd.get_version().is_some() {
        man.render_version_section(out)?;
    }
    Ok(())
}

/// The whole command tree, built as the pages show it (no `help` subcommand).
fn tree() -> Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Every page: the subcommand path and the command.
fn pages() -> Vec<(Vec<String>, Command)> {
    fn walk(cmd: &Command, path: Vec<String>, out: &mut Vec<(Vec<String>, Command)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let mut p = path.clone();
            p.push(sub.get_name().to_owned());
            walk(sub, p, out);
        }
        out.push((path, cmd.clone()));
    }
    let mut out = Vec::new();
    walk(&tree(), Vec::new(), &mut out);
    out
}

fn file_name(path: &[String]) -> String {
    std::iter::once("trusty-mpm")
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("-")
        + ".1"
}

/// Prints the page of the subcommand at `path` (the main page when empty).
pub fn print(path: &[String]) -> Result<(), String> {
    let (p, cmd) = pages()
        .into_iter()
        .find(|(p, _)| p == path)
        .ok_or_else(|| format!("no man page for `{}`", path.join(" ")))?;
    let words: Vec<&str> = p.iter().map(String::as_str).collect();
    render(&cmd, &words, &mut std::io::stdout().lock()).map_err(|e| e.to_string())
}

/// Writes every page into `dir`; returns their paths.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (p, cmd) in pages() {
        let file = dir.join(file_name(&p));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        let words: Vec<&str> = p.iter().map(String::as_str).collect();
        render(&cmd, &words, &mut out)?;
        out.flush()?;
        written.push(file);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(path: &[&str]) -> String {
        let (p, cmd) = pages()
            .into_iter()
            .find(|(p, _)| p.iter().map(String::as_str).eq(path.iter().copied()))
            .unwrap();
        let words: Vec<&str> = p.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        render(&cmd, &words, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_page_per_subcommand_with_the_sections_that_apply() {
        let names: Vec<String> = pages().iter().map(|(p, _)| file_name(p)).collect();
        for (p, _) in pages() {
            let words: Vec<&str> = p.iter().map(String::as_str).collect();
            // groff reads bytes, not UTF-8, unless a preprocessor converts them first.
            assert!(page(&words).is_ascii(), "{} is not ASCII", file_name(&p));
        }
        for n in [
            "trusty-mpm.1",
            "trusty-mpm-list.1",
            "trusty-mpm-hooks-install.1",
            "trusty-mpm-tray.1",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help")));
        let list = page(&["list"]);
        for s in [
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH \"EXIT STATUS\"",
            ".SH OPTIONS",
        ] {
            assert!(list.contains(s), "{s} missing:\n{list}");
        }
        assert!(list.contains("NO_COLOR") && list.contains("NotFound (10)"));
        assert!(list.contains("oldest first"), "--json says its shape");
        let hook = page(&["hook"]);
        assert!(hook.contains("TMUX, TMUX_PANE") && hook.contains("fails open"));
        assert!(!hook.contains("NotFound (10)"));
        let check = page(&["hooks", "check"]);
        assert!(check.contains("config.toml") && check.contains("TRUSTY_MPM_CONFIG"));
    }
}
