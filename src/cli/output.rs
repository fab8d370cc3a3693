//! How the client prints: session records (table and JSON), ages, counts, colours (only on a
//! TTY and never with a non-empty NO_COLOR), errors with their exit codes, and text from the
//! daemon made inert for the terminal (every control character shown as an escape, in human
//! form and in JSON), whatever the daemon sent.

use std::collections::HashMap;
use std::fmt::Write;
use std::io::IsTerminal;
use std::process::ExitCode;

use serde::Serialize;
use zbus::OwnedVariant;

use crate::model::now_usec;

/// One session as `list --json` and `status --json` print it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SessionInfo {
    pub id: String,
    pub name: String,
    pub project_dir: String,
    pub status: String,
    pub status_detail: String,
    pub activity: String,
    pub activity_detail: String,
    pub pid: u32,
    pub claude_session_id: String,
    pub transcript_path: String,
    pub created_at: u64,
    pub last_seen: u64,
    pub paused_at: u64,
    pub pause_summary: String,
    pub frozen: bool,
    /// The systemd unit claude runs in; empty when none.
    pub unit: String,
    /// Memory, CPU time (µs) and tasks of the session now; 0 when unknown.
    pub memory_bytes: u64,
    pub cpu_usec: u64,
    pub tasks: u64,
    pub tmux_session: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
    pub context_tokens: u64,
    /// The extra claude arguments the session was started with.
    pub args: Vec<String>,
    /// The claude executable, its --version and its permission mode; empty until known.
    pub claude_command: String,
    pub claude_version: String,
    pub permission_mode: String,
    pub path: String,
}

impl SessionInfo {
    /// Builds a record from a session object's properties (GetAll or GetManagedObjects).
    pub fn from_props(path: &str, p: &HashMap<String, OwnedVariant>) -> Self {
        let s = |k: &str| {
            p.get(k)
                .and_then(|v| String::try_from(v.clone()).ok())
                .unwrap_or_default()
        };
        let t = |k: &str| {
            p.get(k)
                .and_then(|v| u64::try_from(v.clone()).ok())
                .unwrap_or(0)
        };
        SessionInfo {
            id: s("Id"),
            name: s("Name"),
            project_dir: s("ProjectDir"),
            status: s("Status"),
            status_detail: s("StatusDetail"),
            activity: s("Activity"),
            activity_detail: s("ActivityDetail"),
            pid: p
                .get("Pid")
                .and_then(|v| u32::try_from(v.clone()).ok())
                .unwrap_or(0),
            claude_session_id: s("ClaudeSessionId"),
            transcript_path: s("TranscriptPath"),
            created_at: t("CreatedAt"),
            last_seen: t("LastSeen"),
            paused_at: t("PausedAt"),
            pause_summary: s("PauseSummary"),
            frozen: p
                .get("Frozen")
                .and_then(|v| bool::try_from(v.clone()).ok())
                .unwrap_or(false),
            unit: s("Unit"),
            memory_bytes: t("MemoryCurrent"),
            cpu_usec: t("CpuUsageNSec") / 1000,
            tasks: t("TasksCurrent"),
            tmux_session: s("TmuxSession"),
            model: s("Model"),
            input_tokens: t("InputTokens"),
            output_tokens: t("OutputTokens"),
            cache_creation_tokens: t("CacheCreationTokens"),
            cache_read_tokens: t("CacheReadTokens"),
            context_tokens: t("ContextTokens"),
            args: p
                .get("Args")
                .and_then(|v| Vec::<String>::try_from(v.clone()).ok())
                .unwrap_or_default(),
            claude_command: s("ClaudeCommand"),
            claude_version: s("ClaudeVersion"),
            permission_mode: s("PermissionMode"),
            path: path.to_owned(),
        }
    }
}

/// Text from the daemon as a terminal may show it: every control character (C0, DEL, C1) as an
/// escape (`\x1b`, `\u{9b}`), so none acts on the terminal (a title change, a screen clear, an
/// OSC 52 clipboard write).
pub fn visible(text: &str) -> String {
    escaped(text, false)
}

/// `visible` for a value printed on several lines: its newlines stay.
pub fn visible_lines(text: &str) -> String {
    escaped(text, true)
}

fn escaped(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' if keep_newlines => out.push(c),
            c if c.is_control() && c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// `v` as JSON (`pretty`: indented) with no raw control character: serde_json escapes C0 but
/// writes DEL and C1 as they are, so those become `\u` escapes too (the text reads back the
/// same). Outside strings serde_json writes no control character but the newlines of `pretty`.
pub fn json(v: &impl Serialize, pretty: bool) -> String {
    let text = match pretty {
        true => serde_json::to_string_pretty(v),
        false => serde_json::to_string(v),
    }
    .expect("JSON serializes");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether to colour stdout: on a terminal, unless NO_COLOR says not to.
pub fn colour() -> bool {
    std::io::stdout().is_terminal() && !crate::config::no_color()
}

/// Wraps `text` in an ANSI colour when colouring.
pub fn paint(text: &str, code: &str, on: bool) -> String {
    if on && !code.is_empty() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn status_colour(status: &str) -> &'static str {
    match status {
        "active" => "32",
        "paused" => "33",
        "stopped" => "2",
        _ => "",
    }
}

fn activity_colour(activity: &str) -> &'static str {
    match activity {
        "needs-input" => "1;35",
        "working" => "36",
        "ready" => "32",
        _ => "",
    }
}

/// A duration in microseconds as `42s`, `5m`, `3h`, `2d`.
pub fn age(since_usec: u64) -> String {
    if since_usec == 0 {
        return "-".into();
    }
    let secs = now_usec().saturating_sub(since_usec) / 1_000_000;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A byte count as `812K`, `1.2G` (powers of 1024); `-` when unknown.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    if n == 0 {
        return "-".into();
    }
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if v < 10.0 && i > 0 {
        format!("{v:.1}{}", UNITS[i])
    } else {
        format!("{v:.0}{}", UNITS[i])
    }
}

/// A token count for a glance: `850`, `47k`, `1.2M`; `-` for none.
pub fn tokens(n: u64) -> String {
    match n {
        0 => "-".into(),
        n if n < 1_000 => n.to_string(),
        n if n < 999_500 => format!("{}k", (n + 500) / 1_000),
        n => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// An exact count with thousands separators: `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `status`'s token lines: the context and the sums, empty when nothing was read.
pub fn token_lines(s: &SessionInfo) -> [(&'static str, String); 2] {
    let sums = [
        s.input_tokens,
        s.output_tokens,
        s.cache_creation_tokens,
        s.cache_read_tokens,
    ];
    let context = match s.context_tokens {
        0 => String::new(),
        n => format!("{} tokens", grouped(n)),
    };
    let totals = if sums.iter().all(|n| *n == 0) {
        String::new()
    } else {
        format!(
            "{} in · {} out · {} cache write · {} cache read",
            grouped(sums[0]),
            grouped(sums[1]),
            grouped(sums[2]),
            grouped(sums[3])
        )
    };
    [("Context", context), ("Tokens", totals)]
}

/// The columns that give way when the table is wider than the terminal, first PROJECT, then
/// NAME, with the fewest characters each keeps.
const SHRINKABLE: [(usize, usize); 2] = [(7, 16), (0, 10)];

/// The `list` table, columns aligned, projects with `~` for `home`; at most `max_width`
/// characters wide when that is given (names and projects then cut in the middle).
pub fn table(
    sessions: &[SessionInfo],
    colour: bool,
    max_width: Option<usize>,
    home: Option<&str>,
) -> String {
    let header = [
        "NAME", "STATUS", "ACTIVITY", "CTX", "PID", "MEM", "AGE", "PROJECT",
    ];
    let mut rows: Vec<[String; 8]> = sessions
        .iter()
        .map(|s| {
            [
                visible(&s.name),
                visible(&s.status),
                visible(&s.activity),
                tokens(s.context_tokens),
                if s.pid == 0 {
                    "-".into()
                } else {
                    s.pid.to_string()
                },
                bytes(s.memory_bytes),
                age(s.created_at),
                visible(&tilde(&s.project_dir, home)),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    if let Some(max) = max_width {
        for (col, least) in SHRINKABLE {
            let total = width.iter().sum::<usize>() + 2 * (width.len() - 1);
            let keep = least.min(width[col]);
            width[col] = width[col]
                .saturating_sub(total.saturating_sub(max))
                .max(keep);
            for r in &mut rows {
                r[col] = cut_middle(&r[col], width[col]);
            }
        }
    }
    let line = |cells: [String; 8], paint_cells: bool| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(width[i] - c.chars().count());
            let code = match (paint_cells, i) {
                (true, 1) => status_colour(c),
                (true, 2) => activity_colour(c),
                _ => "",
            };
            out.push_str(&paint(c, code, colour));
            if i + 1 < cells.len() {
                out.push_str(&pad);
                out.push_str("  ");
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(header.map(String::from), false);
    for r in rows {
        out.push_str(&line(r, true));
    }
    out
}

/// `path` with `~` for the home directory it is in.
pub fn tilde(path: &str, home: Option<&str>) -> String {
    let home = home
        .map(|h| h.trim_end_matches('/'))
        .filter(|h| !h.is_empty());
    match home.and_then(|h| path.strip_prefix(h)) {
        Some("") => "~".into(),
        Some(rest) if rest.starts_with('/') => format!("~{rest}"),
        _ => path.to_owned(),
    }
}

/// `s` in at most `max` characters: the start and the end, joined by `…` (the end of a path,
/// the folder, says most).
pub fn cut_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    let head = max.saturating_sub(1) / 2;
    let tail = max.saturating_sub(1) - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// How wide the terminal is: `COLUMNS` when set (as systemctl reads it), else the width of
/// the terminal on stdout; `None` when output goes elsewhere (nothing is cut for a pipe).
pub fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(n);
    }
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// "1 session", "2 sessions".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Sessions counted by activity, the live ones (not stopped) only, as the status bar and the
/// tray's tooltip summarise them.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Counts {
    pub sessions: usize,
    pub working: usize,
    pub needs_input: usize,
    pub ready: usize,
}

impl Counts {
    /// Counts `(status, activity)` pairs.
    pub fn of<'a>(sessions: impl IntoIterator<Item = (&'a str, &'a str)>) -> Counts {
        let mut c = Counts::default();
        for (status, activity) in sessions {
            c.sessions += 1;
            if status == "stopped" {
                continue;
            }
            match activity {
                "working" => c.working += 1,
                "needs-input" => c.needs_input += 1,
                "ready" => c.ready += 1,
                _ => {}
            }
        }
        c
    }

    /// "2 working · 1 needs input · 1 ready", or the number of sessions when none of them is
    /// in one of those.
    pub fn text(&self) -> String {
        let parts: Vec<String> = [
            (self.working, "working"),
            (self.needs_input, "needs input"),
            (self.ready, "ready"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if self.sessions == 0 {
            "No sessions".into()
        } else if parts.is_empty() {
            count(self.sessions, "session")
        } else {
            parts.join(" · ")
        }
    }
}

/// Exit code for a contract error name (see `--help`): 10 and up in the order of the
/// contract's error names, 3 when the daemon is not running, 1 for anything else.
pub fn exit_code_for(error_name: &str) -> u8 {
    if is_not_running(error_name) {
        return 3;
    }
    let kind = error_name.rsplit('.').next().unwrap_or("");
    crate::error::Error::NAMES
        .iter()
        .position(|n| *n == kind)
        .map_or(1, |i| 10 + i as u8)
}

fn is_not_running(error_name: &str) -> bool {
    matches!(
        error_name,
        "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner"
    )
}

const START_HINT: &str = "start it with `systemctl --user start trusty-mpm` (after `make install`) or run `trusty-mpm daemon`";

/// A failed call as a person wants to read it: the daemon's sentence, or how to start it.
pub fn message(e: &zbus::Error) -> String {
    let text = match error_name(e) {
        Some((name, _)) if is_not_running(&name) => {
            format!("the daemon is not running; {START_HINT}.")
        }
        Some((name, msg)) if msg.is_empty() => name,
        Some((_, msg)) => msg,
        None => e.to_string(),
    };
    visible(&text)
}

/// The D-Bus error name and message of a failed call, when the peer answered with an error.
pub fn error_name(e: &zbus::Error) -> Option<(String, String)> {
    use zbus::DBusError;
    match e {
        zbus::Error::MethodError(name, msg, _) => {
            Some((name.to_string(), msg.clone().unwrap_or_default()))
        }
        zbus::Error::FDO(f) => Some((
            f.name().to_string(),
            f.description().unwrap_or_default().to_owned(),
        )),
        _ => None,
    }
}

/// Prints a failed call the way a person wants to read it and picks the exit code.
pub fn report(e: &zbus::Error) -> ExitCode {
    eprintln!("trusty-mpm: {}", message(e));
    exit_code(e)
}

/// The exit code of a failed call.
pub fn exit_code(e: &zbus::Error) -> ExitCode {
    match error_name(e) {
        Some((name, _)) => ExitCode::from(exit_code_for(&name)),
        None => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, status: &str) -> SessionInfo {
        SessionInfo {
            id: "i".into(),
            name: name.into(),
            project_dir: "/p".into(),
            status: status.into(),
            status_detail: String::new(),
            activity: "working".into(),
            activity_detail: String::new(),
            pid: 0,
            claude_session_id: String::new(),
            transcript_path: String::new(),
            created_at: now_usec() - 125_000_000,
            last_seen: 0,
            paused_at: 0,
            pause_summary: String::new(),
            frozen: false,
            unit: String::new(),
            memory_bytes: 5 << 20,
            cpu_usec: 0,
            tasks: 0,
            tmux_session: name.into(),
            model: String::new(),
            input_tokens: 0,
            output_tokens: 0,
            cache_creation_tokens: 0,
            cache_read_tokens: 0,
            context_tokens: 0,
            args: Vec::new(),
            claude_command: String::new(),
            claude_version: String::new(),
            permission_mode: String::new(),
            path: "/x".into(),
        }
    }

    #[test]
    fn table_aligns_and_colours_only_when_asked() {
        let mut busy = info("longer-name", "stopped");
        busy.context_tokens = 47_300;
        let t = table(&[info("a", "active"), busy], false, None, None);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "NAME         STATUS   ACTIVITY  CTX  PID  MEM   AGE  PROJECT"
        );
        assert_eq!(
            lines[1],
            "a            active   working   -    -    5.0M  2m   /p"
        );
        assert_eq!(
            lines[2],
            "longer-name  stopped  working   47k  -    5.0M  2m   /p"
        );
        assert!(!t.contains('\x1b'));
        assert!(table(&[info("a", "active")], true, None, None).contains("\x1b[32mactive"));
    }

    #[test]
    fn control_characters_are_shown_not_sent() {
        let hostile = "t\x1b]0;x\x07\tq\u{9b}2J\x7f\nz é";
        assert_eq!(visible(hostile), r"t\x1b]0;x\x07\x09q\u{9b}2J\x7f\x0az é");
        assert_eq!(
            visible_lines(hostile),
            "t\\x1b]0;x\\x07\\x09q\\u{9b}2J\\x7f\nz é"
        );
        let mut s = info("a", "active");
        s.name = hostile.into();
        let t = table(&[s.clone()], true, None, None);
        assert!(!t.contains('\u{9b}') && t.contains(r"t\x1b]0;x"), "{t}");
        for pretty in [false, true] {
            let text = json(&s, pretty);
            assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back["name"], hostile);
        }
    }

    #[test]
    fn token_counts_read_at_a_glance() {
        let cases = [
            (0, "-"),
            (850, "850"),
            (999, "999"),
            (1_000, "1k"),
            (47_300, "47k"),
            (47_600, "48k"),
            (999_499, "999k"),
            (999_500, "1.0M"),
            (1_234_567, "1.2M"),
        ];
        for (n, want) in cases {
            assert_eq!(tokens(n), want, "{n}");
        }
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn projects_and_names_give_way_in_the_middle() {
        assert_eq!(tilde("/home/me/src/p", Some("/home/me/")), "~/src/p");
        assert_eq!(tilde("/home/me", Some("/home/me")), "~");
        assert_eq!(tilde("/home/meow/p", Some("/home/me")), "/home/meow/p");
        assert_eq!(tilde("/srv/p", None), "/srv/p");
        assert_eq!(cut_middle("abcdefghij", 10), "abcdefghij");
        assert_eq!(cut_middle("abcdefghij", 6), "ab…hij");
        let mut s = info(&"n".repeat(30), "active");
        s.project_dir = format!("/home/me/{}", "p".repeat(100));
        let t = table(&[s], false, Some(80), Some("/home/me"));
        assert!(t.lines().all(|l| l.chars().count() <= 80), "{t}");
        assert!(t.contains(" ~/pp") && t.contains('…'), "{t}");
    }

    #[test]
    fn counts_say_one_session_and_skip_stopped_ones() {
        assert_eq!(Counts::of([("active", "unknown")]).text(), "1 session");
        assert_eq!(Counts::of([]).text(), "No sessions");
        let c = Counts::of([
            ("active", "working"),
            ("paused", "needs-input"),
            ("active", "working"),
            ("stopped", "ready"),
        ]);
        assert_eq!(c.sessions, 4);
        assert_eq!(c.text(), "2 working · 1 needs input");
    }

    #[test]
    fn exit_codes_are_the_documented_ones() {
        // The README's table: 10 NotFound ... 18 Internal, 3 when the daemon is not running.
        for (code, kind) in [
            (10, "NotFound"),
            (11, "InvalidState"),
            (12, "InvalidArgument"),
            (13, "AlreadyExists"),
            (14, "TmuxUnavailable"),
            (15, "TmuxFailed"),
            (16, "Timeout"),
            (17, "AccessDenied"),
            (18, "Internal"),
        ] {
            assert_eq!(
                exit_code_for(&format!("org.trusty.Mpm1.Error.{kind}")),
                code
            );
        }
        assert_eq!(
            exit_code_for("org.freedesktop.DBus.Error.ServiceUnknown"),
            3
        );
        assert_eq!(exit_code_for("org.example.Other"), 1);
    }
}
