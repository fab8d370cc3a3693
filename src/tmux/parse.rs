//! Parsing of tmux output and error text, kept pure so it can be unit tested and fuzzed.

use super::TmuxError;

/// The `-F` format whose lines `parse_panes` reads.
/// A program killed by a signal has no `pane_dead_status`, only `pane_dead_signal`: that field
/// reads `sigN` then.
pub const PANE_FORMAT: &str = "#{pane_id}\t#{pane_pid}\t#{pane_dead}\t#{?pane_dead_signal,sig#{pane_dead_signal},#{pane_dead_status}}\t#{pane_active}\t#{pid}\t#{pane_current_path}";

/// One tmux pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pane {
    pub id: String,
    pub pid: u32,
    pub dead: bool,
    /// The exit status of a dead pane's program, as a shell gives it: 128 + N when signal N
    /// killed it (a launcher that systemd stopped with its scope, say).
    pub dead_status: Option<i32>,
    pub active: bool,
    /// The pid of the tmux server the pane lives in: pane ids are only unique per server.
    pub server_pid: u32,
    /// The pane's working directory (may be empty).
    pub current_path: String,
}

/// Where a pane lives now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneOwner {
    pub server_pid: u32,
    /// The pid of the pane's own process.
    pub pane_pid: u32,
    pub session: String,
}

/// The format `parse_owner` reads: the session's name comes last and keeps any tabs.
pub const OWNER_FORMAT: &str = "#{pid}\t#{pane_pid}\t#{session_name}";

/// Parses `OWNER_FORMAT`.
pub fn parse_owner(out: &str) -> Option<PaneOwner> {
    let mut f = out.trim_end_matches('\n').splitn(3, '\t');
    Some(PaneOwner {
        server_pid: f.next()?.parse().ok()?,
        pane_pid: f.next()?.parse().ok()?,
        session: f.next()?.to_owned(),
    })
}

/// Parses lines printed with `PANE_FORMAT`; malformed lines are skipped.
pub fn parse_panes(out: &str) -> Vec<Pane> {
    out.lines()
        .filter_map(|line| {
            // The path comes last and keeps any tabs it contains.
            let mut f = line.splitn(7, '\t');
            let id = f.next()?;
            let pid = f.next()?.parse().ok()?;
            let dead = f.next()? == "1";
            let status = f.next()?;
            let dead_status = match status.strip_prefix("sig") {
                Some(signal) => signal.parse::<i32>().ok().map(|n| 128 + n),
                None => status.parse().ok(),
            };
            let active = f.next()? == "1";
            let server_pid = f.next()?.parse().ok()?;
            let current_path = f.next().unwrap_or("").to_owned();
            id.starts_with('%').then(|| Pane {
                id: id.to_owned(),
                pid,
                dead,
                dead_status,
                active,
                server_pid,
                current_path,
            })
        })
        .collect()
}

/// The last `n` lines of `s` once trailing blank lines (the unused rows of the visible screen)
/// are dropped, joined with `\n` and ending in `\n` when not empty.
pub fn tail_lines(s: &str, n: usize) -> String {
    let s = s.trim_end();
    if s.is_empty() || n == 0 {
        return String::new();
    }
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(n);
    let mut out = lines[start..].join("\n");
    out.push('\n');
    out
}

/// Whether tmux's stderr says its socket could not be created or reached.
pub fn is_socket_error(stderr: &str) -> bool {
    stderr.contains("error creating") || stderr.contains("error connecting to")
}

/// What a failed tmux call's stderr says went wrong: the only place tmux's English is read.
pub fn classify_failure(stderr: &str) -> TmuxError {
    let msg = one_line(stderr);
    let has = |s: &str| msg.contains(s);
    if has("no server running") || has("error connecting to") {
        TmuxError::NoServer(format!("The tmux server is not reachable: {msg}."))
    } else if has("error creating") || has("server exited unexpectedly") {
        TmuxError::Unavailable(format!("The tmux server is not reachable: {msg}."))
    } else if has("can't find session")
        || has("can't find window")
        || has("can't find pane")
        || has("session not found")
    {
        TmuxError::MissingTarget(format!("tmux failed: {msg}."))
    } else if has("duplicate session") {
        TmuxError::DuplicateSession(format!("tmux failed: {msg}."))
    } else if msg.is_empty() {
        TmuxError::Failed("tmux failed without saying why.".into())
    } else {
        TmuxError::Failed(format!("tmux failed: {msg}."))
    }
}

/// tmux's stderr as one short line, free of control characters.
fn one_line(stderr: &str) -> String {
    let joined = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let clean: String = joined
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    clean.trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_parse_and_skip_garbage() {
        let out = "%1\t100\t0\t\t1\t9\t/home/a b\n%2\t200\t1\t127\t0\t9\t/x\ty\ngarbage\n%x\tnotapid\t0\t0\n%3\t300\t1\tsig9\t0\t9\t/\n";
        let pane = |id: &str, pid, dead, dead_status, active, path: &str| Pane {
            id: id.into(),
            pid,
            dead,
            dead_status,
            active,
            server_pid: 9,
            current_path: path.into(),
        };
        assert_eq!(
            parse_panes(out),
            vec![
                pane("%1", 100, false, None, true, "/home/a b"),
                pane("%2", 200, true, Some(127), false, "/x\ty"),
                pane("%3", 300, true, Some(137), false, "/"),
            ]
        );
        assert_eq!(
            parse_owner("42\t43\tmy\tproj\n"),
            Some(PaneOwner {
                server_pid: 42,
                pane_pid: 43,
                session: "my\tproj".into()
            })
        );
        assert_eq!(parse_owner("garbage"), None);
        assert_eq!(parse_owner("42\tmy\tproj"), None);
    }

    #[test]
    fn tail_keeps_exactly_the_last_lines() {
        let screen = "a\nb\nc\nd\n\n\n\n";
        assert_eq!(tail_lines(screen, 2), "c\nd\n");
        assert_eq!(tail_lines(screen, 10), "a\nb\nc\nd\n");
        assert_eq!(tail_lines("\n\n", 5), "");
    }

    #[test]
    fn failures_are_classified_once() {
        use TmuxError::*;
        let kind = |stderr: &str| std::mem::discriminant(&classify_failure(stderr));
        for (stderr, want) in [
            ("no server running on /tmp/x\n", NoServer(String::new())),
            (
                "error connecting to /nope/sock (No such file or directory)",
                NoServer(String::new()),
            ),
            (
                "error creating /nope/sock (No such file or directory)",
                Unavailable(String::new()),
            ),
            ("can't find pane: %9", MissingTarget(String::new())),
            ("duplicate session: api", DuplicateSession(String::new())),
            ("", Failed(String::new())),
            ("unknown command: frob", Failed(String::new())),
        ] {
            assert_eq!(kind(stderr), std::mem::discriminant(&want), "{stderr:?}");
        }
        assert_eq!(
            classify_failure("can't find session: y\n").to_string(),
            "tmux failed: can't find session: y."
        );
        let core: crate::error::Error = classify_failure("no server running on /tmp/x").into();
        assert_eq!(core.kind(), "TmuxUnavailable");
        let core: crate::error::Error = classify_failure("duplicate session: a").into();
        assert_eq!(core.kind(), "TmuxFailed");
    }
}
