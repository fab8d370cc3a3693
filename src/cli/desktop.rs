//! The desktop's side of `trusty-mpm notify`: the org.freedesktop.Notifications server (what it
//! can do, notifications shaped to it, closing them, one warning while none answers) and
//! opening a session in the user's terminal.

use std::collections::HashMap;
use std::path::PathBuf;

use zbus::proxy::CacheProperties;
use zbus::{Connection, Variant, proxy};

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

    #[zbus(signal)]
    fn action_invoked(&self, id: u32, action_key: &str) -> zbus::Result<()>;

    #[zbus(signal)]
    fn notification_closed(&self, id: u32, reason: u32) -> zbus::Result<()>;
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

    pub fn proxy(&self) -> &NotificationsProxy<'static> {
        &self.proxy
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
                        "trusty-mpm notify: no notification server answers on the session bus ({e}); nothing is shown until one does."
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
                eprintln!("trusty-mpm notify: cannot show a notification: {e}");
                None
            }
        }
    }

    /// Takes a notification off the screen.
    pub async fn close(&self, id: u32) {
        if let Err(e) = self.proxy.close_notification(id).await {
            eprintln!("trusty-mpm notify: cannot close notification {id}: {e}");
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

/// Runs `trusty-mpm attach KEY` in a new terminal: `terminal` (config `terminal_command`), or
/// the first default terminal found.
pub fn open_session(terminal: &[String], key: &str) {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("trusty-mpm"));
    let configured: Vec<&str> = terminal.iter().map(String::as_str).collect();
    let choices: Vec<&[&str]> = match configured.is_empty() {
        true => DEFAULT_TERMINALS.to_vec(),
        false => vec![&configured],
    };
    for words in choices {
        let mut cmd = tokio::process::Command::new(words[0]);
        cmd.args(&words[1..])
            .arg(&exe)
            .args(["attach", key])
            // The new terminal is not inside whatever tmux notify was started from.
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .stdin(std::process::Stdio::null());
        match cmd.spawn() {
            // Tokio reaps it when it exits.
            Ok(_) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && terminal.is_empty() => {}
            Err(e) => {
                eprintln!(
                    "trusty-mpm notify: cannot run the terminal {:?}: {e}",
                    words[0]
                );
                return;
            }
        }
    }
    eprintln!(
        "trusty-mpm notify: no terminal found to open the session in; set terminal_command in config.toml (e.g. \"foot -e\")."
    );
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
}
