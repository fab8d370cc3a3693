//! The tray's menu as entries, built from what the tray knows: a title that sums up the
//! sessions, one submenu per session with what can be done to it and the answers of its
//! waiting requests, then Start session…, Open list in terminal and Quit. Labels are cut to a
//! width a menu can show; the tooltip holds each waiting request whole.

use super::state::{Action, State, Verb};
use crate::cli::draft::Draft;
use crate::cli::output::{count, cut_middle};
use crate::cli::requests::{Choice, RequestInfo};
use crate::text;

/// Most characters of a menu label (hosts make the menu as wide as its widest label).
pub const LABEL_WIDTH: usize = 56;
/// Most characters of a session's name in its label (the middle goes, as in `list`).
const NAME_WIDTH: usize = 32;

/// How an entry shows a choice (dbusmenu's toggle-type and toggle-state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    None,
    /// One of several that may all be chosen.
    Check(bool),
    /// One of several of which one is chosen.
    Radio(bool),
}

/// One menu entry as the tray shows it, before it gets its dbusmenu id.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Item {
        label: String,
        /// None: shown greyed out (unless it opens a submenu).
        action: Option<Action>,
        toggle: Toggle,
        children: Vec<Entry>,
    },
    Separator,
}

impl Entry {
    pub fn item(label: impl Into<String>, action: Option<Action>) -> Entry {
        Entry::Item {
            label: label.into(),
            action,
            toggle: Toggle::None,
            children: Vec::new(),
        }
    }

    fn toggled(mut self, t: Toggle) -> Entry {
        if let Entry::Item { toggle, .. } = &mut self {
            *toggle = t;
        }
        self
    }

    pub fn submenu(label: impl Into<String>, children: Vec<Entry>) -> Entry {
        Entry::Item {
            label: label.into(),
            action: None,
            toggle: Toggle::None,
            children,
        }
    }
}

/// A label cut to the menu's width.
fn cut(label: &str) -> String {
    text::one_line(label, LABEL_WIDTH)
}

/// The whole menu. No icons: themes draw menu icons in clashing styles and sizes, or not at
/// all (GTK's default), and a menu where only some entries have one looks ragged.
pub fn menu(st: &State) -> Vec<Entry> {
    let mut out = title(st);
    let sessions = sessions(st);
    if !sessions.is_empty() {
        out.extend(sessions);
        out.push(Entry::Separator);
    }
    out.extend(footer(st.can_choose));
    out
}

/// The title, which sums up the sessions, and its separator.
pub fn title(st: &State) -> Vec<Entry> {
    let title = match st.daemon {
        true => format!("trusty-mpm — {}", st.summary()),
        false => "trusty-mpm — not running".to_owned(),
    };
    vec![Entry::item(title, None), Entry::Separator]
}

/// A submenu per session.
pub fn sessions(st: &State) -> Vec<Entry> {
    st.sessions.iter().map(|x| session(st, x)).collect()
}

/// Start session…, Open list in terminal and Quit.
pub fn footer(can_choose: bool) -> Vec<Entry> {
    vec![
        match can_choose {
            true => Entry::item("Start session…", Some(Action::StartSession)),
            false => Entry::item("Start session… (needs xdg-desktop-portal or zenity)", None),
        },
        Entry::item("Open list in terminal", Some(Action::OpenList)),
        Entry::Separator,
        Entry::item("Quit", Some(Action::Quit)),
    ]
}

/// A session's submenu: Restart and Remove when it is stopped; else Attach, Pause or Resume,
/// and Stop; then its waiting requests.
fn session(st: &State, x: &crate::cli::output::SessionInfo) -> Entry {
    let act = |verb: Verb, on: bool| {
        on.then(|| Action::Session {
            verb,
            id: x.id.clone(),
            name: x.name.clone(),
        })
    };
    let mut children = match x.status.as_str() {
        "stopped" => vec![
            Entry::item("Restart", act(Verb::Restart, true)),
            Entry::item("Remove", act(Verb::Remove, true)),
        ],
        status => vec![
            // A session registered without tmux has nothing to attach to.
            Entry::item("Attach", act(Verb::Attach, !x.tmux_session.is_empty())),
            match status {
                "paused" => Entry::item("Resume", act(Verb::Resume, true)),
                _ => Entry::item("Pause", act(Verb::Pause, status == "active")),
            },
            Entry::item("Stop", act(Verb::Stop, true)),
        ],
    };
    for r in st.requests.iter().filter(|r| r.session_id == x.id) {
        children.push(Entry::Separator);
        children.extend(request(r, st.drafts.get(&r.request_id)));
    }
    let activity = match x.activity.as_str() {
        "unknown" | "" => String::new(),
        a => format!(", {a}"),
    };
    let name = cut_middle(&x.name, NAME_WIDTH);
    Entry::submenu(format!("{name} ({}{activity})", x.status), children)
}

/// A waiting request: what it asks, then its answers where an answer can work (the daemon
/// waits for it): one click each, or the questions' options to pick and then Send.
fn request(r: &RequestInfo, draft: Option<&Draft>) -> Vec<Entry> {
    let draft = draft.filter(|_| r.stepwise());
    let what = match (r.kind.as_str(), draft) {
        // Each question has its own submenu below.
        ("question", Some(_)) => format!("Asks {}:", count(r.questions.len(), "question")),
        ("question", None) => format!("Asks: {}", r.detail),
        _ => format!("Asks: {}: {}", r.tool, r.detail),
    };
    let mut out = vec![Entry::item(cut(&what), None)];
    let Some(draft) = draft else {
        out.extend(r.choices().into_iter().map(|choice| {
            let label = cut(choice.label());
            let action = answer(r, choice);
            Entry::item(label, Some(action))
        }));
        return out;
    };
    for (q, question) in r.questions.iter().enumerate() {
        let options = question.options.iter().map(|o| {
            let chosen = draft.has(q, o);
            let toggle = match question.multi_select {
                true => Toggle::Check(chosen),
                false => Toggle::Radio(chosen),
            };
            let pick = Action::Pick {
                request_id: r.request_id.clone(),
                question: q,
                label: o.clone(),
            };
            Entry::item(cut(o), Some(pick)).toggled(toggle)
        });
        let several = if question.multi_select {
            " (several)"
        } else {
            ""
        };
        let label = cut(&format!("{}. {}{several}", q + 1, question.question));
        out.push(Entry::submenu(label, options.collect()));
    }
    let send = draft.complete().then(|| Action::Send {
        id: r.session_id.clone(),
        name: r.name.clone(),
        request_id: r.request_id.clone(),
    });
    out.push(Entry::item("Send answers", send));
    out
}

fn answer(r: &RequestInfo, choice: Choice) -> Action {
    Action::Answer {
        id: r.session_id.clone(),
        name: r.name.clone(),
        request_id: r.request_id.clone(),
        choice,
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::tests::{request, session};
    use super::*;
    use crate::cli::draft::tests::two_questions;
    use crate::cli::requests::Suggestion;

    /// Labels, "(off)" for greyed-out entries, "[x]"/"[ ]" and "(x)"/"( )" for toggles.
    fn labels(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                Entry::Item {
                    label,
                    action,
                    children,
                    toggle,
                    ..
                } => {
                    let mark = match toggle {
                        Toggle::None => "",
                        Toggle::Check(true) => "[x] ",
                        Toggle::Check(false) => "[ ] ",
                        Toggle::Radio(true) => "(x) ",
                        Toggle::Radio(false) => "( ) ",
                    };
                    let off = action.is_none() && children.is_empty();
                    format!("{mark}{label}{}", if off { " (off)" } else { "" })
                }
                Entry::Separator => "--".into(),
            })
            .collect()
    }

    fn children(e: &Entry) -> &[Entry] {
        match e {
            Entry::Item { children, .. } => children,
            Entry::Separator => panic!("a separator"),
        }
    }

    const FOOTER: [&str; 4] = ["Start session…", "Open list in terminal", "--", "Quit"];

    #[test]
    fn a_title_and_the_footer_whatever_the_state() {
        let mut st = State {
            can_choose: true,
            ..State::default()
        };
        let head = |m: &[Entry]| labels(m)[..2].to_vec();
        assert_eq!(head(&menu(&st)), ["trusty-mpm — not running (off)", "--"]);
        assert_eq!(labels(&menu(&st))[2..], FOOTER);
        st.load(vec![], vec![]);
        assert_eq!(head(&menu(&st)), ["trusty-mpm — No sessions (off)", "--"]);
        st.can_choose = false;
        assert_eq!(
            labels(&menu(&st))[2],
            "Start session… (needs xdg-desktop-portal or zenity) (off)"
        );
    }

    #[test]
    fn each_session_offers_what_its_status_allows() {
        let mut st = State::default();
        let registered = crate::cli::output::SessionInfo {
            tmux_session: String::new(),
            ..session("4", "paused", "unknown")
        };
        let mut long = session("5", "active", "working");
        long.name = "a-very-long-session-name-that-goes-on-and-on-forever".into();
        st.load(
            vec![
                session("1", "active", "working"),
                session("2", "paused", "unknown"),
                session("3", "stopped", "unknown"),
                registered,
                long,
            ],
            vec![],
        );
        let menu = menu(&st);
        assert_eq!(
            labels(&menu)[2..7],
            [
                "n1 (active, working)",
                "n2 (paused)",
                "n3 (stopped)",
                "n4 (paused)",
                "a-very-long-ses…n-and-on-forever (active, working)"
            ]
        );
        assert_eq!(labels(children(&menu[2])), ["Attach", "Pause", "Stop"]);
        assert_eq!(labels(children(&menu[3])), ["Attach", "Resume", "Stop"]);
        assert_eq!(labels(children(&menu[4])), ["Restart", "Remove"]);
        assert_eq!(
            labels(children(&menu[5])),
            ["Attach (off)", "Resume", "Stop"]
        );
        let Entry::Item { action, .. } = &children(&menu[4])[1] else {
            panic!()
        };
        assert_eq!(
            action.as_ref().unwrap(),
            &Action::Session {
                verb: Verb::Remove,
                id: "3".into(),
                name: "n3".into()
            }
        );
    }

    #[test]
    fn requests_offer_their_answers_where_an_answer_can_work() {
        let mut st = State::default();
        let mut remembering = request("1", "r1", true);
        remembering.detail = format!("cargo build --release && {}", "x".repeat(80));
        remembering.suggestions = vec![Suggestion {
            id: "1".into(),
            label: "Always allow Bash(make deploy) in this project".into(),
            destination: "localSettings".into(),
        }];
        st.load(
            vec![
                session("1", "active", "needs-input"),
                session("2", "active", "needs-input"),
            ],
            vec![remembering, request("2", "r2", false)],
        );
        let menu = menu(&st);
        let asks = format!("Asks: Bash: cargo build --release && {}…", "x".repeat(19));
        assert_eq!(asks.chars().count(), LABEL_WIDTH + 1);
        assert_eq!(
            labels(children(&menu[2]))[3..],
            [
                "--".to_owned(),
                format!("{asks} (off)"),
                "Allow".into(),
                "Always allow Bash(make deploy) in this project".into(),
                "Deny".into()
            ]
        );
        assert_eq!(
            labels(children(&menu[3]))[3..],
            ["--", "Asks: Bash: make deploy (off)"],
            "no Allow or Deny where no answer can work"
        );
    }

    #[test]
    fn several_questions_are_picked_then_sent() {
        let mut st = State::default();
        let q = two_questions();
        st.load(vec![session("1", "active", "needs-input")], vec![q]);
        let asked = |st: &State| children(&menu(st)[2]).to_vec();
        assert_eq!(
            labels(&asked(&st))[3..],
            [
                "--",
                "Asks 2 questions: (off)",
                "1. Which database?",
                "2. Which extras? (several)",
                "Send answers (off)"
            ]
        );
        assert_eq!(
            labels(children(&asked(&st)[5])),
            ["( ) Postgres", "( ) SQLite"]
        );
        st.pick("r1", 0, "SQLite");
        st.pick("r1", 1, "Kafka");
        st.pick("r1", 1, "Redis");
        let now = asked(&st);
        assert_eq!(labels(children(&now[5])), ["( ) Postgres", "(x) SQLite"]);
        assert_eq!(
            labels(children(&now[6])),
            ["[x] Redis", "[x] Kafka", "[ ] Nats"]
        );
        let Entry::Item { action, .. } = &now[7] else {
            panic!()
        };
        assert_eq!(
            action.as_ref().unwrap(),
            &Action::Send {
                id: "1".into(),
                name: "api".into(),
                request_id: "r1".into()
            }
        );
        assert_eq!(st.picked("r1").unwrap()["Which extras?"], "Redis, Kafka");
    }
}
