//! What a start is given, checked before anything is created: the project directory, the
//! claude arguments, environment and session id to resume; and the claude command, found on
//! PATH or where its installers put it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{SessionService, printable};
use crate::config::{MAX_CLAUDE_ARGS, MAX_CLAUDE_ARGS_BYTES, MAX_DIR_BYTES, home};
use crate::error::{Error, Result};
use crate::text;
use crate::tmux::Tmux;

/// Checks a session's environment for claude (`config::check_env`).
pub(super) fn check_env(env: BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    crate::config::check_env(env)
        .map_err(|e| Error::invalid(format!("The environment for claude is refused: {e}.")))
}

/// Checks that `dir` is an absolute path to an existing directory.
pub(super) async fn check_project_dir(dir: &str) -> Result<()> {
    if !dir.starts_with('/') {
        return Err(Error::invalid(format!(
            "The project directory must be an absolute path, not '{}'.",
            printable(dir)
        )));
    }
    if dir.len() > MAX_DIR_BYTES {
        return Err(Error::invalid(format!(
            "The project directory is {} bytes long; at most {MAX_DIR_BYTES} are allowed.",
            dir.len()
        )));
    }
    if dir.chars().any(char::is_control) {
        return Err(Error::invalid(
            "The project directory must not contain control characters.",
        ));
    }
    match tokio::fs::metadata(dir).await {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::invalid(format!("'{dir}' is not a directory."))),
        Err(_) => Err(Error::invalid(format!(
            "The directory '{dir}' does not exist."
        ))),
    }
}

/// Checks a Claude Code session id before it becomes an argument: a UUID, which no other
/// session holds (two sessions resuming one conversation would write one transcript).
pub(super) fn check_claude_id<T: Tmux>(svc: &SessionService<T>, id: &str) -> Result<String> {
    let id = text::claude_id(id).ok_or_else(|| {
        Error::invalid(format!(
            "The resume id {:?} is not a Claude Code session id (a UUID).",
            text::one_line(id, 80)
        ))
    })?;
    match svc.holder_of(&id) {
        Some(name) => Err(Error::AlreadyExists(format!(
            "Session '{name}' already holds the Claude Code session {id}."
        ))),
        None => Ok(id),
    }
}

/// Checks the extra claude arguments: no NUL, and small enough for one tmux message.
pub(super) fn check_args(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a.contains('\0')) {
        return Err(Error::invalid("Claude arguments must not contain NUL."));
    }
    let bytes: usize = args.iter().map(|a| a.len() + 1).sum();
    if args.len() > MAX_CLAUDE_ARGS || bytes > MAX_CLAUDE_ARGS_BYTES {
        return Err(Error::invalid(format!(
            "At most {MAX_CLAUDE_ARGS} claude arguments of {MAX_CLAUDE_ARGS_BYTES} bytes in all are allowed."
        )));
    }
    Ok(())
}

/// Where Claude Code installs itself when it is not on the service's PATH (a user service's
/// PATH usually lacks `~/.local/bin`): its native installer, its old local install, and npm's
/// global prefixes.
fn install_dirs() -> Vec<PathBuf> {
    let home = home();
    let mut dirs = vec![home.join(".local/bin"), home.join(".claude/local")];
    if let Some(prefix) = std::env::var_os("NPM_CONFIG_PREFIX").filter(|p| !p.is_empty()) {
        dirs.push(PathBuf::from(prefix).join("bin"));
    }
    dirs.extend([
        home.join(".npm-global/bin"),
        home.join(".local/share/npm/bin"),
        PathBuf::from("/usr/local/bin"),
    ]);
    dirs
}

/// Whether `p` is a file its owner may execute.
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program to run as claude: `command` itself when it is a path, else the first match on
/// the daemon's PATH, then in Claude Code's install places. Blocking (reads the file system).
pub fn resolve_claude(command: Option<&str>) -> Result<String> {
    let name = command.unwrap_or("claude");
    let how = "set claude_command in config.toml or TRUSTY_MPM_CLAUDE_COMMAND";
    if name.contains('/') {
        return if is_executable(Path::new(name)) {
            Ok(name.to_owned())
        } else {
            Err(Error::invalid(format!(
                "The claude command '{}' is not an executable file; {how}.",
                printable(name)
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(install_dirs())
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .map(|p| p.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::invalid(format!(
                "The claude command '{}' was not found on PATH, in ~/.local/bin, ~/.claude/local or npm's bin; {how}.",
                printable(name)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_paths_must_be_executable_files() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("claude");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let path = plain.to_str().unwrap();
        let err = resolve_claude(Some(path)).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        assert!(err.to_string().contains("claude_command"), "{err}");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(resolve_claude(Some(path)).unwrap(), path);
        let missing = resolve_claude(Some("surely-no-such-claude-build")).unwrap_err();
        assert!(
            missing.to_string().contains("was not found on PATH"),
            "{missing}"
        );
    }

    #[test]
    fn args_are_bounded() {
        assert!(check_args(&["--model".into(), "opus".into()]).is_ok());
        assert!(check_args(&["a\0b".into()]).is_err());
        assert!(check_args(&["x".repeat(MAX_CLAUDE_ARGS_BYTES)]).is_err());
        assert!(check_args(&vec!["a".to_owned(); MAX_CLAUDE_ARGS + 1]).is_err());
    }
}
