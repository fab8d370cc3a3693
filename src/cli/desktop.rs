//! The desktop's side of `trusty-mpm notify` and the tray: the org.freedesktop.Notifications
//! server (what it can do, notifications shaped to it, closing them, one warning while none
//! answers), and running trusty-mpm in the user's terminal (a session, or the list).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use zbus::proxy::CacheProperties;
use zbus::{Connection, Variant, proxy};

use crate::config::Config;

#[proxy(
    interface = "org.freedesktop.Notifications",
    default_service = "org.freedesktop.Notifications",
    default_path = "/org/freedesktop/Notifications"
)]
pub trait Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: &str,
        replaces_id: u32,
        app_icon: &str,
        summary: &str,
        body: &str,
        actions: &[&str],
        hints: HashMap<&str, Variant<'_>>,
        expire_timeout: i32,
    ) -> zbus::Result<u32>;

    fn close_notification(&self, id: u32) -> zbus::Result<()>;

    fn get_capabilities(&self) -> zbus::Result<Vec<String>>;
}

/// The name notifications carry, and the desktop entry (`trusty-mpm.desktop`) they belong to.
const APP: &str = "trusty-mpm";

/// A notification to show.
pub struct Note<'a> {
    pub icon: &'a str,
    pub summary: &'a str,
    /// Plain text; escaped here when the server reads markup.
    pub body: &'a str,
    /// Action keys and labels, shown only when the server has actions.
    pub actions: &'a [(&'a str, &'a str)],
    /// `x-trusty-mpm.CLASS.NAME`, the spec's form of a vendor category.
    pub category: &'a str,
    /// Critical and kept until closed (a question), or normal and expiring.
    pub critical: bool,
}

/// The notification server, as far as it answers.
pub struct Desktop {
    proxy: NotificationsProxy<'static>,
    /// Whether the last attempt found no server (warned once until one answers again).
    missing: bool,
}

/// What a notification server said it can do.
#[derive(Debug, Default, Clone, Copy)]
pub struct Capabilities {
    pub actions: bool,
    pub markup: bool,
}

impl Desktop {
    pub async fn new(conn: &Connection) -> zbus::Result<Self> {
        let proxy = NotificationsProxy::builder(conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        Ok(Desktop {
            proxy,
            missing: false,
        })
    }

    /// What the server can do, asked each time (the user may switch servers); `None`, with one
    /// warning per outage, when no server answers.
    pub async fn capabilities(&mut self) -> Option<Capabilities> {
        match self.proxy.get_capabilities().await {
            Ok(caps) => {
                self.missing = false;
                let has = |c: &str| caps.iter().any(|x| x == c);
                Some(Capabilities {
                    actions: has("actions"),
                    markup: has("body-markup"),
                })
            }
            Err(e) => {
                if !self.missing {
                    eprintln!(
                        "trusty-mpm: no notification server answers on the session bus ({e}); nothing is shown until one does."
                    );
                }
                self.missing = true;
                None
            }
        }
    }

    /// Shows `note` as a server with `caps` can; returns its id, `None` when it refused.
    pub async fn show(&self, note: &Note<'_>, caps: Capabilities) -> Option<u32> {
        let body = match caps.markup {
            true => escape_markup(note.body),
            false => note.body.to_owned(),
        };
        let actions: Vec<&str> = match caps.actions {
            true => note.actions.iter().flat_map(|(k, l)| [*k, *l]).collect(),
            false => Vec::new(),
        };
        let mut hints: HashMap<&str, Variant<'_>> = HashMap::new();
        hints.insert("desktop-entry", Variant::from(APP));
        hints.insert("category", Variant::from(note.category));
        hints.insert(
            "urgency",
            Variant::from(if note.critical { 2u8 } else { 1u8 }),
        );
        if note.critical {
            // Stays after a click (e.g. on the body, which opens the session): it is closed
            // when its question is settled.
            hints.insert("resident", Variant::from(true));
        }
        let expire = if note.critical { 0 } else { -1 };
        let shown = self.proxy.notify(
            APP,
            0,
            note.icon,
            note.summary,
            &body,
            &actions,
            hints,
            expire,
        );
        match shown.await {
            Ok(id) => Some(id),
            Err(e) => {
                eprintln!("trusty-mpm: cannot show a notification: {e}");
                None
            }
        }
    }

    /// Closes a notification an earlier notify left on screen; it may be long gone (the
    /// server then answers with an error, which tells nothing worth saying).
    pub async fn close_left(&self, id: u32) {
        let _ = self.proxy.close_notification(id).await;
    }

    /// Takes a notification off the screen.
    pub async fn close(&self, id: u32) {
        if let Err(e) = self.proxy.close_notification(id).await {
            eprintln!("trusty-mpm: cannot close notification {id}: {e}");
        }
    }
}

/// `text` safe in a body the server reads as markup: what it shows is what was sent.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The terminals tried when config.toml names none: the freedesktop proposal
/// (`xdg-terminal-exec`), then Debian's alternative (`x-terminal-emulator -e`).
const DEFAULT_TERMINALS: [&[&str]; 2] = [&["xdg-terminal-exec"], &["x-terminal-emulator", "-e"]];

/// Whether `program` is a file on PATH (or a path to one).
pub fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// The command line that runs `program` in the terminal `words`. Under systemd (the notify or
/// tray user service) the terminal goes into a scope of its own, outside the service's cgroup,
/// so that a restart of the service does not close it.
fn command(words: &[&str], program: Vec<OsString>, under_systemd: bool) -> Vec<OsString> {
    let mut argv: Vec<OsString> = Vec::new();
    if under_systemd {
        argv.extend(
            [
                "systemd-run",
                "--user",
                "--scope",
                "--collect",
                "--quiet",
                "--",
            ]
            .map(OsString::from),
        );
    }
    argv.extend(words.iter().map(OsString::from));
    argv.extend(program);
    argv
}

/// This very binary, to run again in a terminal.
fn exe() -> OsString {
    std::env::current_exe()
        .unwrap_or_else(|_| PathBuf::from("trusty-mpm"))
        .into()
}

/// Runs `trusty-mpm attach KEY` in a new terminal.
pub fn open_session(terminal: &[String], key: &str) -> Result<(), String> {
    open_in_terminal(terminal, vec![exe(), "attach".into(), key.into()])
}

/// Runs `trusty-mpm list`, then `trusty-mpm watch`, in a new terminal: the sessions now, then
/// what happens to them.
pub fn open_list(terminal: &[String]) -> Result<(), String> {
    let script = r#""$0" list; exec "$0" watch"#;
    open_in_terminal(
        terminal,
        vec!["sh".into(), "-c".into(), script.into(), exe()],
    )
}

/// Runs `program` in a new terminal: `terminal` (config `terminal_command`), or the first
/// default terminal on PATH. Says why when there is none or it cannot start.
fn open_in_terminal(terminal: &[String], program: Vec<OsString>) -> Result<(), String> {
    let words: Vec<&str> = if terminal.is_empty() {
        DEFAULT_TERMINALS
            .iter()
            .find(|w| on_path(w[0]))
            .ok_or("no terminal found to open the session in; set terminal_command in config.toml (e.g. \"foot -e\")")?
            .to_vec()
    } else {
        terminal.iter().map(String::as_str).collect()
    };
    let argv = command(&words, program, Config::from_env().under_systemd);
    tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        // The new terminal is not inside whatever tmux notify or the tray was started from.
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .stdin(std::process::Stdio::null())
        .spawn()
        // Tokio reaps it when it exits.
        .map(drop)
        .map_err(|e| format!("cannot run the terminal {:?}: {e}", words[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_to_plain_text() {
        assert_eq!(
            escape_markup(r#"cat <Cargo.toml> && echo "<b>it's</b>""#),
            "cat &lt;Cargo.toml&gt; &amp;&amp; echo &quot;&lt;b&gt;it&apos;s&lt;/b&gt;&quot;"
        );
        assert_eq!(escape_markup("plain"), "plain");
    }

    #[test]
    fn the_terminal_runs_attach_in_a_scope_of_its_own_under_systemd() {
        let attach = || ["/bin/t", "attach", "api"].map(OsString::from).to_vec();
        let plain = command(&["foot", "-e"], attach(), false);
        assert_eq!(plain, ["foot", "-e", "/bin/t", "attach", "api"]);
        let scoped = command(&["gnome-terminal", "--"], attach(), true);
        assert_eq!(
            scoped[..5],
            ["systemd-run", "--user", "--scope", "--collect", "--quiet"]
        );
        assert_eq!(
            scoped[5..],
            ["--", "gnome-terminal", "--", "/bin/t", "attach", "api"]
        );
    }
}
