//! What the tray knows, kept from the daemon's signals: the sessions and the waiting requests
//! (a snapshot of ListSessions and ListRequests taken when the daemon appears, a session is
//! added or a request is announced, then kept up to date from the signals until each request's
//! PermissionResolved), and what that means for the icon, the tooltip and the menu. No bus here: the tray's loop feeds it and renders it.

use serde_json::Value;

use crate::cli::output::{Counts, SessionInfo, count};
use crate::cli::requests::{Choice, RequestInfo};
use crate::text;

/// What a menu entry does when clicked. Sessions are named by their id, which stays the same
/// across renames and daemon restarts.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Attach {
        id: String,
        name: String,
    },
    Pause {
        id: String,
        name: String,
    },
    Resume {
        id: String,
        name: String,
    },
    Stop {
        id: String,
        name: String,
    },
    Answer {
        id: String,
        name: String,
        request_id: String,
        choice: Choice,
    },
}

/// One menu entry as the tray shows it, before it gets its dbusmenu id.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Item {
        label: String,
        icon: &'static str,
        action: Option<Action>,
        children: Vec<Entry>,
    },
    Separator,
}

impl Entry {
    fn item(label: impl Into<String>, icon: &'static str, action: Option<Action>) -> Entry {
        Entry::Item {
            label: label.into(),
            icon,
            action,
            children: Vec::new(),
        }
    }
}

/// The StatusNotifierItem status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passive,
    Active,
    NeedsAttention,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passive => "Passive",
            Status::Active => "Active",
            Status::NeedsAttention => "NeedsAttention",
        }
    }
}

/// What the tray's loop must do after a signal.
#[derive(Debug, PartialEq)]
pub enum Effect {
    /// Nothing the tray shows changed.
    None,
    /// The state changed; render it again.
    Changed,
    /// A session appeared: take a new snapshot of every session, then render.
    Reload,
}

#[derive(Debug, Default)]
pub struct State {
    /// Whether the daemon is on the bus.
    pub daemon: bool,
    pub sessions: Vec<SessionInfo>,
    pub requests: Vec<RequestInfo>,
}

impl State {
    /// Takes a snapshot of every session and every waiting request (the daemon is there).
    pub fn load(&mut self, sessions: Vec<SessionInfo>, requests: Vec<RequestInfo>) {
        self.daemon = true;
        self.requests = requests;
        self.requests
            .retain(|r| sessions.iter().any(|s| s.id == r.session_id));
        self.sessions = sessions;
    }

    /// The daemon left the bus: its sessions and requests are unknown until it is back, and a
    /// waiting request dies with the daemon.
    pub fn daemon_gone(&mut self) {
        *self = State::default();
    }

    /// Applies one of the manager's signals, in the JSON shape of `watch --json`.
    pub fn apply(&mut self, v: &Value) -> Effect {
        let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
        let id = s("id");
        match v["event"].as_str().unwrap_or("") {
            // A snapshot brings the request whole: its suggestions, questions, answerability.
            "SessionNew" | "PermissionRequested" => return Effect::Reload,
            "SessionRemoved" => {
                self.sessions.retain(|x| x.id != id);
                self.requests.retain(|r| r.session_id != id);
            }
            "StatusChanged" => {
                let status = s("status");
                self.update(&id, |x| x.status = status);
            }
            "ActivityChanged" => {
                let (activity, detail) = (s("activity"), s("detail"));
                self.update(&id, |x| {
                    x.activity = activity;
                    x.activity_detail = detail;
                });
            }
            // Every request ends with exactly one of these, whatever answered it.
            "PermissionResolved" => {
                let request_id = s("request_id");
                self.requests.retain(|r| r.request_id != request_id);
            }
            _ => return Effect::None,
        }
        Effect::Changed
    }

    fn update(&mut self, id: &str, f: impl FnOnce(&mut SessionInfo)) {
        if let Some(x) = self.sessions.iter_mut().find(|x| x.id == id) {
            f(x);
        }
    }

    fn counts(&self) -> Counts {
        Counts::of(
            self.sessions
                .iter()
                .map(|x| (x.status.as_str(), x.activity.as_str())),
        )
    }

    /// Passive with no sessions, NeedsAttention while a request waits or a session needs
    /// input, Active otherwise.
    pub fn status(&self) -> Status {
        if self.sessions.is_empty() {
            Status::Passive
        } else if !self.requests.is_empty() || self.counts().needs_input > 0 {
            Status::NeedsAttention
        } else {
            Status::Active
        }
    }

    /// The tooltip's text under the title.
    pub fn tooltip(&self) -> String {
        if !self.daemon {
            return "trusty-mpm is not running".into();
        }
        if self.sessions.is_empty() {
            return "No sessions".into();
        }
        let counts = self.counts();
        let mut text = count(counts.sessions, "session");
        let detail = counts.text();
        if detail != text {
            text = format!("{text}: {detail}");
        }
        match self.requests.len() {
            0 => text,
            n => format!("{text}\n{} waiting", count(n, "permission request")),
        }
    }

    /// The menu: one submenu per session with what can be done to it.
    pub fn menu(&self) -> Vec<Entry> {
        if !self.daemon {
            return vec![Entry::item("trusty-mpm is not running", "", None)];
        }
        if self.sessions.is_empty() {
            return vec![Entry::item("No sessions", "", None)];
        }
        self.sessions.iter().map(|x| self.session_menu(x)).collect()
    }

    fn session_menu(&self, x: &SessionInfo) -> Entry {
        let (id, name) = (x.id.clone(), x.name.clone());
        // A session registered without tmux has nothing to attach to.
        let mut children = vec![Entry::item(
            "Attach",
            "utilities-terminal",
            (!x.tmux_session.is_empty()).then(|| Action::Attach {
                id: id.clone(),
                name: name.clone(),
            }),
        )];
        children.push(match x.status.as_str() {
            "paused" => Entry::item(
                "Resume",
                "media-playback-start",
                Some(Action::Resume {
                    id: id.clone(),
                    name: name.clone(),
                }),
            ),
            status => Entry::item(
                "Pause",
                "media-playback-pause",
                (status == "active").then(|| Action::Pause {
                    id: id.clone(),
                    name: name.clone(),
                }),
            ),
        });
        children.push(Entry::item(
            "Stop",
            "process-stop",
            (x.status != "stopped").then(|| Action::Stop {
                id: id.clone(),
                name: name.clone(),
            }),
        ));
        for r in self.requests.iter().filter(|r| r.session_id == x.id) {
            children.push(Entry::Separator);
            let what = text::one_line(&format!("{}: {}", r.tool, r.detail), 80);
            children.push(Entry::item(
                format!("Asks: {what}"),
                "dialog-question",
                None,
            ));
            // Only where an answer can work: the daemon waits for it.
            for choice in r.choices() {
                let icon = match choice {
                    Choice::Deny => "process-stop-symbolic",
                    Choice::Choose { .. } => "go-next-symbolic",
                    Choice::Allow | Choice::Remember { .. } => "emblem-ok-symbolic",
                };
                let action = Action::Answer {
                    id: id.clone(),
                    name: name.clone(),
                    request_id: r.request_id.clone(),
                    choice: choice.clone(),
                };
                children.push(Entry::item(choice.label(), icon, Some(action)));
            }
        }
        let activity = match x.activity.as_str() {
            "unknown" | "" => String::new(),
            a => format!(", {a}"),
        };
        Entry::Item {
            label: format!("{name} ({}{activity})", x.status),
            icon: "",
            action: None,
            children,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(id: &str, status: &str, activity: &str) -> SessionInfo {
        SessionInfo {
            id: id.into(),
            name: format!("n{id}"),
            status: status.into(),
            activity: activity.into(),
            tmux_session: format!("n{id}"),
            ..Default::default()
        }
    }

    fn resolved(id: &str, request: &str) -> Value {
        json!({"event": "PermissionResolved", "id": id, "name": "n", "request_id": request,
               "outcome": "allowed"})
    }

    fn asked(id: &str, request: &str) -> Value {
        json!({"event": "PermissionRequested", "id": id, "name": "n", "request_id": request,
               "tool": "Bash", "detail": "Bash: make deploy"})
    }

    /// A waiting request of session `id`, as ListRequests shows it.
    fn request(id: &str, request: &str, answerable: bool) -> RequestInfo {
        RequestInfo {
            session_id: id.into(),
            request_id: request.into(),
            kind: "permission".into(),
            tool: "Bash".into(),
            detail: "make deploy".into(),
            answerable,
            ..RequestInfo::default()
        }
    }

    fn labels(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                Entry::Item { label, action, .. } => {
                    format!("{label}{}", if action.is_some() { "" } else { " (off)" })
                }
                Entry::Separator => "--".into(),
            })
            .collect()
    }

    #[test]
    fn status_follows_sessions_and_requests() {
        let mut st = State::default();
        assert_eq!(st.status(), Status::Passive);
        assert_eq!(st.tooltip(), "trusty-mpm is not running");
        st.load(vec![], vec![]);
        assert_eq!(
            (st.status(), st.tooltip().as_str()),
            (Status::Passive, "No sessions")
        );
        st.load(vec![session("1", "active", "working")], vec![]);
        assert_eq!(st.status(), Status::Active);
        assert_eq!(st.tooltip(), "1 session: 1 working");
        assert_eq!(st.apply(&asked("1", "r1")), Effect::Reload);
        st.load(
            vec![session("1", "active", "working")],
            vec![request("1", "r1", true)],
        );
        assert_eq!(st.status(), Status::NeedsAttention);
        assert_eq!(
            st.tooltip(),
            "1 session: 1 working\n1 permission request waiting"
        );
        // Only the request's own PermissionResolved ends it.
        let both = vec![request("1", "r1", true), request("1", "r2", true)];
        st.load(vec![session("1", "active", "working")], both);
        st.apply(&resolved("1", "r1"));
        assert_eq!(st.requests.len(), 1);
        assert_eq!(st.status(), Status::NeedsAttention);
        st.apply(&resolved("1", "r2"));
        assert!(st.requests.is_empty());
        assert_eq!(st.status(), Status::Active);
        st.apply(&json!({"event": "ActivityChanged", "id": "1", "activity": "needs-input", "detail": ""}));
        assert_eq!(st.status(), Status::NeedsAttention, "a session needs input");
        st.apply(&json!({"event": "SessionRemoved", "id": "1"}));
        assert_eq!(st.status(), Status::Passive);
        assert_eq!(
            st.apply(&json!({"event": "SessionNew", "id": "2"})),
            Effect::Reload
        );
    }

    #[test]
    fn a_removed_session_or_a_gone_daemon_drops_requests() {
        let mut st = State::default();
        st.load(
            vec![
                session("1", "active", "working"),
                session("2", "active", "working"),
            ],
            vec![request("1", "r1", true), request("2", "r2", true)],
        );
        st.apply(&json!({"event": "SessionRemoved", "id": "1"}));
        assert_eq!(st.requests.len(), 1);
        st.daemon_gone();
        assert!(st.requests.is_empty() && st.sessions.is_empty() && !st.daemon);
    }

    #[test]
    fn no_allow_or_deny_where_no_answer_can_work() {
        let mut st = State::default();
        st.load(
            vec![session("1", "active", "working")],
            vec![request("1", "r1", false)],
        );
        let Entry::Item { children, .. } = &st.menu()[0] else {
            panic!("a session item")
        };
        assert_eq!(
            labels(children),
            [
                "Attach",
                "Pause",
                "Stop",
                "--",
                "Asks: Bash: make deploy (off)"
            ]
        );
    }

    #[test]
    fn menu_offers_what_each_session_allows() {
        let mut st = State::default();
        assert_eq!(labels(&st.menu()), ["trusty-mpm is not running (off)"]);
        st.load(vec![], vec![]);
        assert_eq!(labels(&st.menu()), ["No sessions (off)"]);
        let registered = SessionInfo {
            tmux_session: String::new(),
            ..session("3", "stopped", "unknown")
        };
        let mut remembering = request("1", "r1", true);
        remembering.suggestions = vec![crate::cli::requests::Suggestion {
            id: "1".into(),
            label: "Always allow Bash(make deploy) in this project".into(),
            destination: "localSettings".into(),
        }];
        st.load(
            vec![
                session("1", "active", "working"),
                session("2", "paused", "unknown"),
                registered,
            ],
            vec![remembering],
        );
        let menu = st.menu();
        assert_eq!(
            labels(&menu),
            [
                "n1 (active, working) (off)",
                "n2 (paused) (off)",
                "n3 (stopped) (off)"
            ]
        );
        let children = |i: usize| match &menu[i] {
            Entry::Item { children, .. } => labels(children),
            Entry::Separator => panic!("separator"),
        };
        assert_eq!(
            children(0),
            [
                "Attach",
                "Pause",
                "Stop",
                "--",
                "Asks: Bash: make deploy (off)",
                "Allow",
                "Always allow Bash(make deploy) in this project",
                "Deny"
            ]
        );
        assert_eq!(children(1), ["Attach", "Resume", "Stop"]);
        assert_eq!(children(2), ["Attach (off)", "Pause (off)", "Stop (off)"]);
        let Entry::Item { children, .. } = &menu[0] else {
            panic!()
        };
        let Entry::Item { action, .. } = &children[5] else {
            panic!()
        };
        assert_eq!(
            action.as_ref().unwrap(),
            &Action::Answer {
                id: "1".into(),
                name: "n1".into(),
                request_id: "r1".into(),
                choice: Choice::Allow
            }
        );
    }
}
