//! The `list` table: columns aligned and coloured, projects with `~`, and cut in the middle to
//! fit the terminal.

use super::colour::{activity_colour, paint, status_colour};
use super::format::{age, bytes, tokens};
use super::inert::visible;
use super::session::SessionInfo;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::now_usec;

    fn info(name: &str, status: &str) -> SessionInfo {
        SessionInfo {
            id: "i".into(),
            name: name.into(),
            project_dir: "/p".into(),
            status: status.into(),
            activity: "working".into(),
            created_at: now_usec() - 125_000_000,
            memory_bytes: 5 << 20,
            tmux_session: name.into(),
            path: "/x".into(),
            ..Default::default()
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
    fn control_characters_in_cells_are_shown_not_sent() {
        let s = info("t\x1b]0;x\x07\tq\u{9b}2J", "active");
        let t = table(&[s], true, None, None);
        assert!(!t.contains('\u{9b}') && t.contains(r"t\x1b]0;x"), "{t}");
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
}
