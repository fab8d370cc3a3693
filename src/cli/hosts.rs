//! The hosts of config.toml, a client-side setting (the daemon ignores them): each names a
//! machine whose trusty-mpm the clients reach over SSH, by running a command there that joins
//! ssh's standard input and output to that user's session bus. Also where a command goes: this
//! machine (`local`) or a host, from `--host NAME` and `KEY@HOST`.
//!
//! ```toml
//! [hosts.lab]
//! ssh = "me@lab"                 # any ssh destination: user@host, a ~/.ssh/config alias, ssh://…
//! bridge = "systemd-stdio-bridge --user"   # the remote command (default: DEFAULT_BRIDGE)
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The name of this machine's daemon (the session bus of this login) among the hosts.
pub const LOCAL: &str = "local";

/// The remote command by default, run by the remote user's login shell: the bridge to the bus
/// of that user's session. `--user` would say the same, but systemd 252 (Debian 12) connects
/// to the system bus for it; and `sh -c` keeps the expansion POSIX whatever the login shell.
pub const DEFAULT_BRIDGE: &str = "sh -c 'exec systemd-stdio-bridge \
    --bus-path=unix:path=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/bus'";

/// The variable naming the ssh program and its first arguments (words split on spaces).
pub const SSH_VAR: &str = "TRUSTY_MPM_SSH";

/// One `[hosts.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    /// The ssh destination.
    pub ssh: String,
    /// The remote command, when not `DEFAULT_BRIDGE`.
    pub bridge: Option<String>,
}

impl Host {
    /// The command ssh runs on the host.
    pub fn remote_command(&self) -> &str {
        self.bridge.as_deref().unwrap_or(DEFAULT_BRIDGE)
    }
}

/// Where a daemon is: this machine's session bus, or a host.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    Local,
    Remote(Host),
}

impl Place {
    pub fn name(&self) -> &str {
        match self {
            Place::Local => LOCAL,
            Place::Remote(h) => &h.name,
        }
    }
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    hosts: BTreeMap<String, RawHost>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    ssh: String,
    #[serde(default)]
    bridge: Option<String>,
}

/// The hosts of the config file, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hosts {
    pub remote: Vec<Host>,
}

impl Hosts {
    /// Reads the config file (`config::config_file`); a missing file has no hosts.
    pub fn load() -> Result<Hosts, String> {
        Self::load_from(&crate::config::config_file())
    }

    pub fn load_from(path: &Path) -> Result<Hosts, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Hosts::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<Hosts, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        let mut remote = Vec::new();
        for (name, raw) in file.hosts {
            let bad = |why: &str| Err(format!("[hosts.{name}]: {why}"));
            if name == LOCAL {
                return bad("'local' is this machine's own name; call the host otherwise");
            }
            if name.is_empty()
                || name.len() > 64
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return bad("a host's name is letters, digits, '-', '_' and '.' (at most 64)");
            }
            let ssh = raw.ssh.trim().to_owned();
            if ssh.is_empty() || ssh.starts_with('-') || ssh.contains(char::is_whitespace) {
                return bad("ssh is an ssh destination, like \"me@lab\"");
            }
            let bridge = raw.bridge.map(|b| b.trim().to_owned());
            if bridge.as_deref() == Some("") {
                return bad("bridge is empty (leave it out for the default)");
            }
            remote.push(Host { name, ssh, bridge });
        }
        Ok(Hosts { remote })
    }

    /// Whether any host is configured: then the clients show where each session runs.
    pub fn configured(&self) -> bool {
        !self.remote.is_empty()
    }

    /// This machine, then every host by name.
    pub fn all(&self) -> Vec<Place> {
        std::iter::once(Place::Local)
            .chain(self.remote.iter().cloned().map(Place::Remote))
            .collect()
    }

    /// The place called `name`.
    pub fn place(&self, name: &str) -> Result<Place, String> {
        if name == LOCAL {
            return Ok(Place::Local);
        }
        match self.remote.iter().find(|h| h.name == name) {
            Some(h) => Ok(Place::Remote(h.clone())),
            None => {
                let known: Vec<&str> = std::iter::once(LOCAL)
                    .chain(self.remote.iter().map(|h| h.name.as_str()))
                    .collect();
                Err(format!(
                    "no host '{name}' in the config file ([hosts.{name}]); the hosts are {}",
                    known.join(", ")
                ))
            }
        }
    }

    /// Where a command goes: `--host` (`flag`) and the `@HOST` of its key, which must agree
    /// when both are given; none of them is this machine.
    pub fn target(&self, flag: Option<&str>, of_key: Option<&str>) -> Result<Place, String> {
        match (flag, of_key) {
            (Some(f), Some(k)) if f != k => Err(format!(
                "the key says host '{k}' and --host says '{f}'; give one of them"
            )),
            (Some(name), _) | (None, Some(name)) => self.place(name),
            (None, None) => Ok(Place::Local),
        }
    }
}

/// The names `--host` takes, with where each is, for the shell completion.
pub fn candidates() -> Vec<clap_complete::CompletionCandidate> {
    Hosts::load()
        .unwrap_or_default()
        .all()
        .into_iter()
        .map(|p| {
            let at = match &p {
                Place::Local => "this machine".to_owned(),
                Place::Remote(h) => h.ssh.clone(),
            };
            clap_complete::CompletionCandidate::new(p.name()).help(Some(at.into()))
        })
        .collect()
}

/// A KEY as typed, `NAME@HOST` or `NAME`: the key the daemon gets and the host, if any (a
/// session's name and id never hold '@').
pub fn split_key(key: &str) -> (&str, Option<&str>) {
    match key.rsplit_once('@') {
        Some((k, host)) => (k, Some(host)),
        None => (key, None),
    }
}

/// How a command names session `name` (its name or id) of the place called `host`: `NAME`
/// here, `NAME@HOST` on a host (`split_key`'s other way).
pub fn join_key(name: &str, host: &str) -> String {
    match host {
        LOCAL => name.to_owned(),
        host => format!("{name}@{host}"),
    }
}

/// The ssh program and its first arguments: `TRUSTY_MPM_SSH` (as `ssh -F ~/other_config`),
/// else `ssh`.
pub fn ssh_program() -> Vec<String> {
    let words: Vec<String> = std::env::var(SSH_VAR)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    match words.is_empty() {
        true => vec!["ssh".to_owned()],
        false => words,
    }
}

/// The ssh command line that joins its standard input and output to `host`'s bus. Batch mode:
/// a client asks no password or passphrase (it may run in the background, and reach several
/// hosts at once), so the keys come from the agent or unencrypted files.
pub fn bridge_argv(host: &Host) -> Vec<String> {
    let mut argv = ssh_program();
    argv.extend(
        ["-x", "-T", "-o", "BatchMode=yes"]
            .into_iter()
            .map(str::to_owned),
    );
    argv.push(host.ssh.clone());
    argv.push(host.remote_command().to_owned());
    argv
}

/// `s` quoted for a POSIX shell, as one word (for a command ssh hands the remote shell).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_and_checked() {
        let h = Hosts::parse(
            "permission_wait_secs = 5\n[hosts.lab]\nssh = \"me@lab\"\n\
             [hosts.cloud]\nssh = \"ssh://me@cloud:2222\"\nbridge = \"systemd-stdio-bridge --user\"\n",
        )
        .unwrap();
        let names: Vec<String> = h.all().iter().map(|p| p.name().to_owned()).collect();
        assert_eq!(names, ["local", "cloud", "lab"]);
        let Place::Remote(lab) = h.place("lab").unwrap() else {
            panic!("lab is remote")
        };
        assert_eq!(lab.remote_command(), DEFAULT_BRIDGE);
        let Place::Remote(cloud) = h.place("cloud").unwrap() else {
            panic!("cloud is remote")
        };
        assert_eq!(cloud.remote_command(), "systemd-stdio-bridge --user");
        assert!(
            h.place("nowhere")
                .unwrap_err()
                .contains("local, cloud, lab")
        );
        assert!(Hosts::parse("").unwrap().remote.is_empty());

        for (bad, why) in [
            ("[hosts.local]\nssh = \"x\"", "this machine's own name"),
            ("[hosts.\"a b\"]\nssh = \"x\"", "letters, digits"),
            ("[hosts.\"a@b\"]\nssh = \"x\"", "letters, digits"),
            ("[hosts.a]\nssh = \"-oProxyCommand=x\"", "ssh destination"),
            ("[hosts.a]\nssh = \"\"", "ssh destination"),
            ("[hosts.a]\nssh = \"x\"\nbridge = \" \"", "bridge is empty"),
            ("[hosts.a]\nssh = \"x\"\nbrige = \"y\"", "unknown field"),
            ("[hosts.a]\nbridge = \"y\"", "missing field"),
        ] {
            let e = Hosts::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn keys_and_flags_name_one_place() {
        let h = Hosts::parse("[hosts.lab]\nssh = \"lab\"").unwrap();
        assert_eq!(split_key("api@lab"), ("api", Some("lab")));
        assert_eq!(split_key("api"), ("api", None));
        assert_eq!(join_key("api", "lab"), "api@lab");
        assert_eq!(join_key("api", LOCAL), "api");
        assert_eq!(h.target(None, None).unwrap(), Place::Local);
        assert_eq!(h.target(Some("local"), None).unwrap(), Place::Local);
        assert_eq!(h.target(None, Some("lab")).unwrap().name(), "lab");
        assert_eq!(h.target(Some("lab"), Some("lab")).unwrap().name(), "lab");
        assert!(h.target(Some("local"), Some("lab")).is_err());
        assert!(h.target(None, Some("elsewhere")).is_err());
    }

    #[test]
    fn the_bridge_runs_through_ssh_in_batch_mode() {
        let host = Host {
            name: "lab".into(),
            ssh: "me@lab".into(),
            bridge: None,
        };
        let argv = bridge_argv(&host);
        assert_eq!(argv[argv.len() - 2..], ["me@lab", DEFAULT_BRIDGE]);
        assert!(argv.windows(2).any(|w| w == ["-o", "BatchMode=yes"]));
        assert_eq!(shell_quote("=api:"), "=api:");
        assert_eq!(shell_quote("/tmp/a b/it's"), r"'/tmp/a b/it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
