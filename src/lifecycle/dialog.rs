//! Claude's own dialogs: a claude that shows a dialog instead of its prompt (the folder trust
//! question, "Make auto mode your default?", a new renderer to try) sends no hook while it
//! waits, and text typed then would answer the dialog. The pane tells: a list of options with
//! `❯` at the chosen one, above "Enter to confirm". Such a session needs input, the dialog's
//! title as detail, and `SendCommand` refuses to type into it.

use std::sync::Arc;
use std::time::Duration;

use super::SessionService;
use crate::error::{Error, Result};
use crate::model::{Activity, Session, SessionId, Status};
use crate::text;
use crate::tmux::Tmux;

/// The bottom lines of a pane a dialog is looked for in.
const DIALOG_LINES: u32 = 30;
/// When a claude that has run no hook yet is looked at for a dialog, after it was found.
const LOOKS: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// The title of the dialog `screen` shows at its bottom, if it shows one: the first line after
/// the rule above it (without a closing colon), else the first line of the screen.
pub(super) fn dialog_title(screen: &str) -> Option<String> {
    let lines: Vec<&str> = screen
        .lines()
        .map(|l| l.trim_matches(|c: char| c.is_whitespace() || c == '│'))
        .collect();
    let confirm = lines
        .iter()
        .rposition(|l| l.starts_with("Enter to confirm"))?;
    let options = &lines[..confirm];
    let chosen = options.iter().rposition(|l| l.starts_with('❯'))?;
    let rule = lines[..chosen]
        .iter()
        .rposition(|l| !l.is_empty() && l.chars().all(|c| matches!(c, '─' | '╭' | '╮' | '━')));
    let start = rule.map_or(0, |r| r + 1);
    let title = lines[start..chosen].iter().find(|l| !l.is_empty())?;
    let title = text::one_line(title.trim_end_matches(':'), text::MAX_DETAIL);
    (!title.is_empty()).then_some(title)
}

impl<T: Tmux> SessionService<T> {
    /// The dialog a session's pane shows at `target`, if any; the session is then marked as
    /// needing input, the dialog's title as detail.
    pub(super) async fn dialog(&self, s: &Session, target: &str) -> Result<Option<String>> {
        let screen = self.tmux.capture(target, DIALOG_LINES).await?;
        let Some(title) = dialog_title(&screen) else {
            return Ok(None);
        };
        let _ = self.update(s.id, None, |s| {
            s.activity = Activity::NeedsInput;
            s.activity_detail = title.clone();
            Ok(())
        });
        Ok(Some(title))
    }

    /// `InvalidState` for text sent while claude shows the dialog `title`.
    pub(super) fn in_dialog(s: &Session, title: &str) -> Error {
        Error::InvalidState(format!(
            "Session '{0}' shows Claude Code's dialog \"{title}\"; answer it in its terminal \
             (`trusty-mpm attach {0}`) or with SendKeys.",
            s.name
        ))
    }

    /// Looks at a claude just found a few times for a dialog, while it has run no hook (a
    /// claude at its prompt has run SessionStart).
    pub(super) fn spawn_dialog_look(self: &Arc<Self>, id: SessionId) {
        let svc = Arc::downgrade(self);
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            for after in LOOKS {
                tokio::time::sleep_until(start + after).await;
                let Some(svc) = svc.upgrade() else { return };
                let Some(s) = svc.get(id) else { return };
                let hooked = svc
                    .lock()
                    .sessions
                    .get(&id)
                    .is_some_and(|e| e.prompts.is_some());
                if hooked || s.status != Status::Active || !s.in_tmux {
                    return;
                }
                let Ok(target) = svc.live_target(&s).await else {
                    return;
                };
                if let Ok(Some(title)) = svc.dialog(&s, &target).await {
                    tracing::info!(session_id = %id, session_name = %s.name, "claude shows a dialog: {title}");
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::dialog_title;

    #[test]
    fn claude_code_s_dialogs_are_recognised_by_their_options() {
        // The folder trust question of 2.1.332 (2.1.197 numbers its options).
        let trust = "────────────────\n Accessing workspace:\n /tmp/work/strange\n Quick safety \
                     check: Is this a project you created or one you trust?\n Security guide\n \
                     ❯ No, exit\n   Yes, I trust this folder\n Enter to confirm · Esc to cancel\n";
        assert_eq!(dialog_title(trust).as_deref(), Some("Accessing workspace"));
        let boxed = "╭──────╮\n│ Make auto mode your default permission mode? │\n│ ❯ 1. Yes │\n│   \
                     2. Not now │\n│ Enter to confirm · Esc to exit │\n";
        assert_eq!(
            dialog_title(boxed).as_deref(),
            Some("Make auto mode your default permission mode?")
        );
        // The prompt, with its footer: no dialog.
        let prompt = "● Done.\n────────\n❯ \n────────\n  ⏸ manual mode on\n";
        assert_eq!(dialog_title(prompt), None);
        assert_eq!(dialog_title("> hello\necho: hello\n> "), None);
    }
}
