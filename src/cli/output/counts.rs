//! Sessions counted by activity, as the status bar and the tray's tooltip summarise them.

use super::format::count;

/// Sessions counted by activity, the live ones (not stopped) only, as the status bar and the
/// tray's tooltip summarise them.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ActivityCounts {
    pub sessions: usize,
    pub working: usize,
    pub needs_input: usize,
    pub ready: usize,
}

impl ActivityCounts {
    /// ActivityCounts `(status, activity)` pairs.
    pub fn of<'a>(sessions: impl IntoIterator<Item = (&'a str, &'a str)>) -> ActivityCounts {
        let mut c = ActivityCounts::default();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_say_one_session_and_skip_stopped_ones() {
        assert_eq!(
            ActivityCounts::of([("active", "unknown")]).text(),
            "1 session"
        );
        assert_eq!(ActivityCounts::of([]).text(), "No sessions");
        let c = ActivityCounts::of([
            ("active", "working"),
            ("paused", "needs-input"),
            ("active", "working"),
            ("stopped", "ready"),
        ]);
        assert_eq!(c.sessions, 4);
        assert_eq!(c.text(), "2 working · 1 needs input");
    }
}
