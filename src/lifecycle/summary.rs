//! Turning raw pane text into something a person can read: ANSI escapes stripped, blank runs
//! collapsed, and (for summaries) the TUI's box-drawing borders dropped and the tail kept.

use crate::config::SUMMARY_CHARS;

/// How `CaptureOutput` post-processes pane text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Off,
    Trim,
    Summarise,
}

impl Compression {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Compression::Off),
            "trim" => Some(Compression::Trim),
            "summarise" => Some(Compression::Summarise),
            _ => None,
        }
    }

    pub fn apply(self, text: &str) -> String {
        match self {
            Compression::Off => text.to_owned(),
            Compression::Trim => trim(text),
            Compression::Summarise => summarise(text),
        }
    }
}

/// Removes terminal escape sequences (CSI, OSC, DCS, character-set selections: a terminal
/// parser does it, `strip-ansi-escapes` over `vte`) and other control characters but newlines
/// and tabs.
pub fn strip_ansi(s: &str) -> String {
    strip_ansi_escapes::strip_str(s)
        .chars()
        .filter(|&c| !c.is_control() || c == '\n' || c == '\t')
        .collect()
}

/// Lines with trailing space removed and runs of blank lines folded into one.
fn collapse(lines: impl Iterator<Item = String>) -> String {
    let mut out = String::new();
    let mut blank_run = true; // also drops leading blank lines
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() {
            if !blank_run {
                out.push('\n');
            }
            blank_run = true;
        } else {
            out.push_str(line);
            out.push('\n');
            blank_run = false;
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// `trim` compression: escapes stripped, trailing space and blank runs removed.
pub fn trim(text: &str) -> String {
    collapse(strip_ansi(text).lines().map(str::to_owned))
}

fn is_border(c: char) -> bool {
    // Box drawing and block elements, as the TUI draws its frames with them.
    ('\u{2500}'..='\u{259F}').contains(&c)
}

/// A reply as one paragraph for a pause summary: its words on one line, at most
/// `SUMMARY_CHARS` characters of its end (a reply ends with what it came to).
pub fn paragraph(reply: &str) -> String {
    let words: Vec<&str> = reply.split_whitespace().collect();
    let line = words.join(" ");
    let count = line.chars().count();
    if count <= SUMMARY_CHARS {
        return line;
    }
    let tail: String = line.chars().skip(count - SUMMARY_CHARS + 1).collect();
    format!("…{tail}")
}

/// `summarise` compression and the derived pause summary: borders dropped, each line trimmed,
/// and the last `SUMMARY_CHARS` characters of what is left, cut at a line start where possible.
pub fn summarise(text: &str) -> String {
    // What strip_ansi leaves of other control characters (BEL, C1) would reach terminals.
    let lines = crate::text::lines(&strip_ansi(text), usize::MAX)
        .lines()
        .map(|l| {
            let kept: String = l.chars().filter(|c| !is_border(*c)).collect();
            kept.trim().to_owned()
        })
        .collect::<Vec<_>>();
    let body = collapse(lines.into_iter());
    let body = body.trim_end();
    let count = body.chars().count();
    if count <= SUMMARY_CHARS {
        return body.to_owned();
    }
    let cut = body
        .char_indices()
        .nth(count - SUMMARY_CHARS)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let tail = &body[cut..];
    // Prefer to start at a whole line unless that would drop most of the budget.
    match tail.find('\n') {
        Some(nl) if nl < SUMMARY_CHARS / 2 => tail[nl + 1..].to_owned(),
        _ => tail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_sequences_are_stripped() {
        let s = "\x1b[1;32mgreen\x1b[0m \x1b]0;title\x07text\x1b]8;;http://x\x1b\\link\x1b(B\r";
        assert_eq!(strip_ansi(s), "green textlink");
    }

    #[test]
    fn summary_drops_borders_and_blank_runs() {
        let pane = "╭──────────╮\n│ > hello  │\n╰──────────╯\n\n\n\nDone: 3 files changed\n\n";
        assert_eq!(summarise(pane), "> hello\n\nDone: 3 files changed");
    }

    #[test]
    fn summary_keeps_the_last_500_chars() {
        let pane: String = (0..100).map(|i| format!("line number {i:03}\n")).collect();
        let s = summarise(&pane);
        assert!(s.chars().count() <= SUMMARY_CHARS);
        assert!(s.ends_with("line number 099"));
        assert!(s.starts_with("line number"), "cut mid-line: {s:.40}");
    }

    #[test]
    fn trim_keeps_borders_but_folds_blanks() {
        assert_eq!(trim("│ a │   \n\n\n\nb\n\n"), "│ a │\n\nb\n");
        assert_eq!(Compression::parse("zip"), None);
        assert_eq!(Compression::parse(""), None);
    }
}
