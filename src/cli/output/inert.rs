//! Text from the daemon made inert for the terminal: every control character shown as an
//! escape, in human form and in JSON, whatever the daemon sent.

use std::fmt::Write;

use serde::Serialize;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::SessionInfo;

    #[test]
    fn control_characters_are_shown_not_sent() {
        let hostile = "t\x1b]0;x\x07\tq\u{9b}2J\x7f\nz é";
        assert_eq!(visible(hostile), r"t\x1b]0;x\x07\x09q\u{9b}2J\x7f\x0az é");
        assert_eq!(
            visible_lines(hostile),
            "t\\x1b]0;x\\x07\\x09q\\u{9b}2J\\x7f\nz é"
        );
        let s = SessionInfo {
            name: hostile.into(),
            ..Default::default()
        };
        for pretty in [false, true] {
            let text = json(&s, pretty);
            assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back["name"], hostile);
        }
    }
}
