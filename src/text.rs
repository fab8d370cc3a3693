//! Text from outside the daemon (hook payloads, callers' arguments, the registry on disk) made
//! fit to store, signal and print: bounded, on one line where one line is meant, and without the
//! control characters (C0, DEL, C1) a terminal would act on. Claude session ids are UUIDs.
//! Also the plural every count shown to people uses ("1 session", "2 sessions").

use crate::model::Session;

/// Characters of a one-line detail: an activity detail, a history summary.
pub const MAX_DETAIL: usize = 200;
/// Bytes of a path (a project directory, a transcript path): PATH_MAX less its NUL.
pub const MAX_PATH: usize = 4095;
/// Bytes of a pause summary derived from the pane or the last reply.
pub const MAX_SUMMARY: usize = 16 * 1024;
/// Bytes of a status detail.
pub const MAX_STATUS_DETAIL: usize = 2048;

/// "1 session", "2 sessions".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The first line of `s` without control characters, at most `max` characters; a cut line
/// ends with `…`.
pub fn one_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    let mut chars = line.chars().filter(|c| !c.is_control());
    let mut out: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// `s` without control characters other than newline and tab, cut to at most `max` bytes at a
/// character boundary.
pub fn lines(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            continue;
        }
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// Whether `s` holds no control character but newline and tab.
pub fn is_clean(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// A Claude Code session id in its canonical form (a UUID, lowercase and hyphenated), or `None`
/// for anything else: ids reach claude's command line (`--resume ID`), so nothing else passes.
pub fn claude_id(s: &str) -> Option<String> {
    if s.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(s)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// Why a history record read back from the registry cannot be served again: the daemon only
/// ever records an event name, a tool name and a summary within these bounds.
pub fn event_problem(e: &crate::model::EventRecord) -> Option<String> {
    let line = |s: &str, max: usize| s.chars().count() <= max && !s.chars().any(char::is_control);
    let ok = line(&e.event, 64)
        && line(&e.tool, 128)
        && e.summary.len() <= MAX_SUMMARY
        && is_clean(&e.summary);
    (!ok).then(|| format!("the history record of {} is out of bounds", e.at_usec))
}

/// Why a session record cannot be kept as it is (a field over its bound, a control character,
/// a claude session id that is not a UUID), or `None` when it fits.
pub fn record_problem(s: &Session) -> Option<String> {
    let over = |what: &str, len: usize, max: usize| {
        (len > max).then(|| format!("its {what} is {len} bytes long, over the {max} allowed"))
    };
    let checks = [
        over("project directory", s.project_dir.len(), MAX_PATH),
        over("transcript path", s.transcript_path.len(), MAX_PATH),
        over("pause summary", s.pause_summary.len(), MAX_SUMMARY),
        over("status detail", s.status_detail.len(), MAX_STATUS_DETAIL),
        // A detail is at most MAX_DETAIL characters and an ellipsis, of up to 4 bytes each.
        over(
            "activity detail",
            s.activity_detail.len(),
            4 * (MAX_DETAIL + 1),
        ),
        over("pane id", s.pane.len(), 16),
        over("unit name", s.unit.len(), 256),
        over("model name", s.telemetry.model.len(), 256),
        over("claude command", s.claude_command.len(), MAX_PATH),
        over("claude version", s.claude_version.len(), 256),
        over("permission mode", s.permission_mode.len(), 64),
        over("last reply", s.last_reply.len(), MAX_SUMMARY),
        over(
            "claude arguments",
            s.args.iter().map(String::len).sum(),
            crate::config::MAX_CLAUDE_ARGS_BYTES,
        ),
        over(
            "claude environment",
            s.env.iter().map(|(k, v)| k.len() + v.len()).sum(),
            crate::config::MAX_CLAUDE_ENV_BYTES,
        ),
    ];
    if let Some(problem) = checks.into_iter().flatten().next() {
        return Some(problem);
    }
    if !s.claude_session_id.is_empty() && claude_id(&s.claude_session_id).is_none() {
        return Some("its claude session id is not a UUID".to_owned());
    }
    let one_liners = [
        &s.project_dir,
        &s.transcript_path,
        &s.activity_detail,
        &s.pane,
        &s.unit,
        &s.claude_command,
        &s.claude_version,
        &s.permission_mode,
    ];
    if one_liners.iter().any(|f| f.chars().any(char::is_control))
        || !is_clean(&s.pause_summary)
        || !is_clean(&s.status_detail)
        || !is_clean(&s.last_reply)
    {
        return Some("it holds control characters".to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SessionName;

    #[test]
    fn counts_read_as_every_view_says_them() {
        assert_eq!(count(1, "task"), "1 task");
        assert_eq!(count(0, "session"), "0 sessions");
        let status = |total, active| crate::lifecycle::Totals { total, active }.to_string();
        // systemctl status shows the same words as list and the status bar.
        assert_eq!(status(0, 0), "No sessions");
        assert_eq!(status(1, 1), "1 session, 1 active");
        assert_eq!(status(3, 2), "3 sessions, 2 active");
    }

    #[test]
    fn one_line_drops_controls_and_cuts() {
        assert_eq!(one_line("a\x1b]52;c;eA==\x07b\nsecond", 50), "a]52;c;eA==b");
        assert_eq!(one_line("x\u{9b}2Jy", 50), "x2Jy", "C1 controls go too");
        assert_eq!(
            one_line(&"é".repeat(300), 200),
            format!("{}…", "é".repeat(200))
        );
        assert_eq!(one_line("exact", 5), "exact");
    }

    #[test]
    fn lines_keep_newlines_and_cut_on_a_boundary() {
        assert_eq!(lines("a\tb\nc\x1b[2J", 100), "a\tb\nc[2J");
        assert_eq!(lines("ééé", 5), "éé");
    }

    #[test]
    fn claude_ids_are_uuids_only() {
        let id = "0F6C2B1E-8D3A-4F4B-9C1D-2A3B4C5D6E7F";
        assert_eq!(
            claude_id(id).as_deref(),
            Some("0f6c2b1e-8d3a-4f4b-9c1d-2a3b4c5d6e7f")
        );
        for bad in [
            "--dangerously-skip-permissions",
            "c0ffee",
            "",
            "0f6c2b1e8d3a4f4b9c1d2a3b4c5d6e7f",
            "{0f6c2b1e-8d3a-4f4b-9c1d-2a3b4c5d6e}",
        ] {
            assert_eq!(claude_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn records_over_bounds_are_named() {
        let mut s = Session::new(SessionName::new("a").unwrap(), "/p".into(), true);
        assert_eq!(record_problem(&s), None);
        s.pause_summary = "x".repeat(MAX_SUMMARY + 1);
        assert!(record_problem(&s).unwrap().contains("pause summary"));
        s.pause_summary.clear();
        s.claude_session_id = "-x".into();
        assert!(record_problem(&s).unwrap().contains("UUID"));
        s.claude_session_id.clear();
        s.activity_detail = "\x1b]0;title\x07".into();
        assert!(record_problem(&s).unwrap().contains("control"));
    }
}
