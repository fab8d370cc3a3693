//! Which claude a session runs: the version its executable reports with `--version`, asked in
//! the background after a launch, once per executable (again when the file changed, as after an
//! update), so a start never waits for it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::SessionService;
use crate::model::SessionId;
use crate::text;
use crate::tmux::Tmux;

/// How long `claude --version` may take (a cold node start on a loaded machine).
const VERSION_TIMEOUT: Duration = Duration::from_secs(15);

/// Versions already asked, by executable, with the file's modification time then.
pub(super) type Versions =
    std::sync::Mutex<std::collections::HashMap<String, (SystemTime, String)>>;

impl<T: Tmux> SessionService<T> {
    /// Sets `ClaudeVersion` of a session just launched from `command`, in the background.
    pub(super) fn learn_version(self: &Arc<Self>, id: SessionId, command: String) {
        let svc = Arc::clone(self);
        tokio::spawn(async move {
            let Some(version) = svc.version_of(&command).await else {
                return;
            };
            let set = svc.update(id, None, |s| {
                let ours = s.claude_command == command && s.claude_version != version;
                if ours {
                    s.claude_version = version;
                }
                Ok(ours)
            });
            if set.unwrap_or(false)
                && let Err(e) = svc.persist().await
            {
                tracing::error!("could not save the registry: {e}");
            }
        });
    }

    async fn version_of(&self, command: &str) -> Option<String> {
        let stamp = tokio::fs::metadata(command).await.ok()?.modified().ok()?;
        let known = self
            .versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(command)
            .cloned();
        if let Some((at, version)) = known
            && at == stamp
        {
            return Some(version);
        }
        let run = tokio::process::Command::new(command)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(VERSION_TIMEOUT, run).await {
            Ok(Ok(out)) if out.status.success() => out,
            Ok(Ok(out)) => {
                tracing::info!("{command} --version failed ({})", out.status);
                return None;
            }
            Ok(Err(e)) => {
                tracing::info!("cannot run {command} --version: {e}");
                return None;
            }
            Err(_) => {
                tracing::info!("{command} --version did not answer in {VERSION_TIMEOUT:?}");
                return None;
            }
        };
        let version = text::one_line(&String::from_utf8_lossy(&out.stdout), 128);
        if version.is_empty() {
            return None;
        }
        self.versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(command.to_owned(), (stamp, version.clone()));
        Some(version)
    }
}
