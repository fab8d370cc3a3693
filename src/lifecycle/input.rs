//! Talking to a session's pane: send text, press keys, capture output. Every call first checks
//! that the recorded pane still belongs to the session on the same tmux server (pane ids are
//! numbered per server, so after a tmux restart they name other sessions' panes).

use std::time::Duration;

use super::summary::Compression;
use super::{SessionService, printable};
use crate::config::{DEFAULT_CAPTURE_LINES, MAX_CAPTURE_LINES, MAX_COMMAND_BYTES};
use crate::error::{Error, Result};
use crate::model::{Session, SessionId, Status};
use crate::tmux::{self, Tmux, TmuxError};

/// Key names `SendKeys` passes to tmux; anything else must be one printable character.
pub const KEY_NAMES: [&str; 10] = [
    "Enter", "Escape", "Tab", "Up", "Down", "Left", "Right", "BSpace", "C-c", "C-d",
];

/// How long claude may take to take a prompt (report it, or clear its input line).
const PROMPT_WAIT: Duration = Duration::from_secs(3);
/// How often the input line is looked at meanwhile.
const SCREEN_STEP: Duration = Duration::from_millis(100);
/// The bottom lines of a pane that hold claude's input box.
const INPUT_LINES: u32 = 20;

/// Whether `screen` shows `text` waiting in claude's input line: the lowest line that starts
/// with a prompt sign (`❯`, or `>` of older releases) holds the start of the text, or the
/// marker Claude Code shows for a paste of many lines.
fn shows_in_input(screen: &str, text: &str) -> bool {
    let first: String = text
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(24)
        .collect();
    let input = screen.lines().rev().find_map(|line| {
        let line = line.trim_matches(|c: char| c.is_whitespace() || c == '│');
        line.strip_prefix('❯').or_else(|| line.strip_prefix('>'))
    });
    input.is_some_and(|input| {
        let input = input.trim_start();
        input.starts_with("[Pasted text") || (!first.is_empty() && input.starts_with(&first))
    })
}

/// Most keys one `SendKeys` call may press.
const MAX_KEYS: usize = 256;

/// Checks `SendCommand` text: bounded, and no control characters but tab and newline (a
/// control character would act as a key, e.g. C-c, outside the SendKeys allow-list).
fn check_text(text: &str) -> Result<()> {
    if text.len() > MAX_COMMAND_BYTES {
        return Err(Error::invalid(format!(
            "The text is {} bytes; at most {MAX_COMMAND_BYTES} are allowed.",
            text.len()
        )));
    }
    if let Some(c) = text
        .chars()
        .find(|&c| (c.is_ascii_control() && c != '\t' && c != '\n') || c == '\u{7f}')
    {
        return Err(Error::invalid(format!(
            "The text contains the control character U+{:04X}; send keys with SendKeys instead.",
            c as u32
        )));
    }
    Ok(())
}

impl<T: Tmux> SessionService<T> {
    /// The tmux target of a session's pane, checked against tmux now: the recorded pane must
    /// exist on the server it was recorded on and belong to this session's tmux session.
    pub(super) async fn live_target(&self, s: &Session) -> Result<String> {
        if s.pane.is_empty() {
            return Ok(tmux::session_target(s.name.as_str()));
        }
        match self.tmux.pane_owner(&s.pane).await? {
            Some(o)
                if o.session == s.name.as_str()
                    && (s.pane_server == 0 || o.server_pid == s.pane_server) =>
            {
                Ok(s.pane.clone())
            }
            _ => Err(pane_gone(s)),
        }
    }

    /// A copy of a session that lives in tmux, or `InvalidState`.
    fn tmux_session(&self, id: SessionId) -> Result<Session> {
        let s = self.session(id)?;
        if !s.in_tmux {
            return Err(Error::InvalidState(format!(
                "Session '{}' is registered without tmux; it has no pane.",
                s.name
            )));
        }
        Ok(s)
    }

    /// `SendCommand`: the text pasted whole, then Enter; or nothing at all. Only a running
    /// claude takes text: typed into a paused one it would wait unseen and run at resume. When
    /// the session's claude reports its prompts (its hooks run), the call returns once claude
    /// took the text: Claude Code can leave a pasted first prompt in its input line, Enter
    /// unseen.
    pub async fn send_command(&self, id: SessionId, text: &str) -> Result<()> {
        check_text(text)?;
        let s = self.tmux_session(id)?;
        // The status first: a stopped session's pane or whole tmux server is often gone, and
        // what helps then is how to start it again.
        match s.status {
            Status::Paused => {
                return Err(Error::InvalidState(format!(
                    "Session '{0}' is paused; resume it first with `trusty-mpm resume {0}`.",
                    s.name
                )));
            }
            Status::Stopped => return Err(Error::stopped(s.name.as_str())),
            Status::Starting | Status::Active => {}
        }
        let target = self.live_target(&s).await?;
        if let Some(title) = self.dialog(&s, &target).await? {
            return Err(Self::in_dialog(&s, &title));
        }
        let before = self.prompts_taken(id);
        self.tmux
            .send_text(&target, text)
            .await
            .map_err(|e| vanished(e, &s))?;
        if let Some(before) = before {
            self.confirm_prompt(id, &target, text, before).await?;
        }
        self.record_event(id, "command", "", super::ops::first_line(text));
        Ok(())
    }

    /// How many prompts a session's claude reported taking; `None` when it reports none.
    fn prompts_taken(&self, id: SessionId) -> Option<u64> {
        self.lock().sessions.get(&id).and_then(|e| e.prompts)
    }

    /// Whether claude took a prompt just sent, within `PROMPT_WAIT`: it reported one after the
    /// `before`th (UserPromptSubmit), or its input line held the text and no longer does. Only
    /// a text still in its input line at the end counts as not taken: before claude drew the
    /// paste its input line is empty too.
    async fn taken(&self, id: SessionId, target: &str, text: &str, before: u64) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + PROMPT_WAIT;
        let mut seen = false;
        loop {
            let reported = self.prompted.notified();
            if self.prompts_taken(id).is_none_or(|n| n > before) {
                return Ok(true);
            }
            let waiting = self.waits_in_input(target, text).await?;
            if seen && !waiting {
                return Ok(true);
            }
            seen |= waiting;
            if tokio::time::Instant::now() >= deadline {
                return Ok(!waiting);
            }
            // The screen is looked at again after a while; the report ends the wait at once.
            let _ = tokio::time::timeout(SCREEN_STEP, reported).await;
        }
    }

    /// Confirms claude took a prompt just sent (see `taken`). Enter is pressed again only
    /// when the text provably waits in its input line still; when even that does not take it,
    /// the input line is cleared (Ctrl-C clears claude's input when nothing runs) and the call
    /// is a `Timeout`, so nothing stays half typed.
    async fn confirm_prompt(
        &self,
        id: SessionId,
        target: &str,
        text: &str,
        before: u64,
    ) -> Result<()> {
        if self.taken(id, target, text, before).await? {
            return Ok(());
        }
        tracing::info!(session_id = %id, "claude left the prompt in its input line; pressing Enter again");
        self.tmux.send_key(target, "Enter", false).await?;
        if self.taken(id, target, text, before).await? {
            return Ok(());
        }
        self.tmux.send_key(target, "C-c", false).await?;
        Err(Error::Timeout(format!(
            "Claude did not take the text within {} s; its input line was cleared.",
            2 * PROMPT_WAIT.as_secs()
        )))
    }

    /// Whether the pane shows `text` in claude's input line (`❯ text`, or a paste it folded as
    /// `[Pasted text …]`).
    async fn waits_in_input(&self, target: &str, text: &str) -> Result<bool> {
        let screen = self.tmux.capture(target, INPUT_LINES).await?;
        Ok(shows_in_input(&screen, text))
    }

    /// `SendKeys`: allow-listed key names or single printable characters.
    pub async fn send_keys(&self, id: SessionId, keys: &[String]) -> Result<()> {
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return Err(Error::invalid(format!(
                "Send between 1 and {MAX_KEYS} keys."
            )));
        }
        let mut parsed = Vec::with_capacity(keys.len());
        for k in keys {
            let literal = match KEY_NAMES.contains(&k.as_str()) {
                true => false,
                false if k.chars().count() == 1 && !k.chars().any(char::is_control) => true,
                false => {
                    return Err(Error::invalid(format!(
                        "'{}' is not an allowed key; use one of {} or a single printable character.",
                        printable(k),
                        KEY_NAMES.join(", ")
                    )));
                }
            };
            parsed.push((k.as_str(), literal));
        }
        let s = self.tmux_session(id)?;
        let target = self.live_target(&s).await?;
        for (key, literal) in parsed {
            self.tmux
                .send_key(&target, key, literal)
                .await
                .map_err(|e| vanished(e, &s))?;
        }
        self.record_event(id, "keys", "", keys.join(" "));
        Ok(())
    }

    /// `CaptureOutput`: the last `lines` lines of the pane (50 when 0), post-processed.
    pub async fn capture(&self, id: SessionId, lines: u32, compression: &str) -> Result<String> {
        if lines > MAX_CAPTURE_LINES {
            return Err(Error::invalid(format!(
                "At most {MAX_CAPTURE_LINES} lines can be captured."
            )));
        }
        let comp = Compression::parse(compression).ok_or_else(|| {
            Error::invalid(format!(
                "Unknown compression '{}'; use off, trim or summarise.",
                printable(compression)
            ))
        })?;
        let lines = if lines == 0 {
            DEFAULT_CAPTURE_LINES
        } else {
            lines
        };
        let s = self.tmux_session(id)?;
        let target = self.live_target(&s).await?;
        let text = self
            .tmux
            .capture(&target, lines)
            .await
            .map_err(|e| vanished(e, &s))?;
        Ok(comp.apply(&text))
    }
}

fn pane_gone(s: &Session) -> Error {
    Error::InvalidState(format!("The tmux pane of session '{}' is gone.", s.name))
}

/// A pane that vanished between the check and the call is gone all the same.
fn vanished(e: TmuxError, s: &Session) -> Error {
    match e {
        TmuxError::MissingTarget(_) => pane_gone(s),
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_refuses_control_characters_but_tab_and_newline() {
        assert!(check_text("cargo test\n\tand more").is_ok());
        for bad in ["stop\x03", "\x1b[A", "a\rb", "del\x7f", "nul\0"] {
            let e = check_text(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidArgument(_)), "{bad:?}: {e:?}");
        }
        assert!(check_text(&"x".repeat(MAX_COMMAND_BYTES)).is_ok());
        assert!(check_text(&"x".repeat(MAX_COMMAND_BYTES + 1)).is_err());
    }

    #[test]
    fn the_lowest_prompt_line_is_the_input() {
        // Claude Code 2.1.x after a paste it did not submit, the footer below its input box.
        let waiting = "> run the tests\n  ⎿  earlier output\n\n❯ run the tests and fix what fails\n  ⏸ manual mode on\n";
        assert!(shows_in_input(waiting, "run the tests and fix what fails"));
        // Taken: the conversation shows it, the input line is empty or shows a hint.
        let taken = "❯ run the tests and fix what fails\n● Running…\n\n❯ Try \"edit <file>\"\n";
        assert!(!shows_in_input(taken, "run the tests and fix what fails"));
        // A paste of many lines, folded.
        let folded = "│ > [Pasted text #1 +12 lines] │\n";
        assert!(shows_in_input(folded, "a\nb\nc"));
        // The stand-in claude: the typed line, then its echo and a new empty prompt.
        assert!(!shows_in_input("> hello\necho: hello\n> ", "hello"));
        assert!(!shows_in_input("no prompt at all", "hello"));
    }
}
