//! Colours: only on a terminal and never with a non-empty NO_COLOR; one colour per status and
//! per activity, the same in every view (`list`, `watch`).

use std::io::IsTerminal;

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

/// The colour of a session status.
pub fn status_colour(status: &str) -> &'static str {
    match status {
        "active" => "32",
        "paused" => "33",
        "stopped" => "2",
        _ => "",
    }
}

/// The colour of a session activity.
pub fn activity_colour(activity: &str) -> &'static str {
    match activity {
        "needs-input" => "1;35",
        "working" => "36",
        "ready" => "32",
        _ => "",
    }
}
