//! What the tray knows, kept from the daemon's signals: the sessions and the waiting requests
//! (a snapshot of ListSessions and ListRequests taken when the daemon appears, a session is
//! added or a request is announced, then kept up to date from the signals until each request's
//! PermissionResolved), the answers picked so far to questions that take several clicks, and
//! what that means for the icon and the tooltip (the menu is `entries`). No bus here: the
//! tray's loop feeds it and renders it.

use std::collections::HashMap;

use super::icon::Mood;
use crate::cli::desktop::escape_markup;
use crate::cli::draft::Draft;
use crate::cli::output::{ActivityCounts, SessionInfo, count};
use crate::cli::requests::{Choice, RequestInfo};
use crate::cli::signals::ManagerSignal;

/// What a session's menu entry does to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Attach,
    Pause,
    Resume,
    Stop,
    Restart,
    Remove,
}

/// What a menu entry does when clicked. Sessions are named by their id, which stays the same
/// across renames and daemon restarts.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Session {
        verb: Verb,
        id: String,
        name: String,
    },
    Answer {
        id: String,
        name: String,
        request_id: String,
        choice: Choice,
    },
    /// Picks (or toggles) an option of a question that takes several clicks.
    Pick {
        request_id: String,
        question: usize,
        label: String,
    },
    /// Sends the options picked for the request.
    Send {
        id: String,
        name: String,
        request_id: String,
    },
    /// Asks for a folder, then starts a session there.
    StartSession,
    /// `trusty-mpm list`, then `watch`, in a terminal.
    OpenList,
    Quit,
    /// An action of the place at this index of the places followed (hosts configured).
    At {
        place: usize,
        action: Box<Action>,
    },
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

/// Most characters of one request in the tooltip (a command can be 4 KiB long).
const TOOLTIP_REQUEST: usize = 1000;

#[derive(Debug, Default)]
pub struct State {
    /// Whether the daemon is on the bus.
    pub daemon: bool,
    pub sessions: Vec<SessionInfo>,
    pub requests: Vec<RequestInfo>,
    /// The options picked so far, by request id, for each request that takes several clicks.
    pub drafts: HashMap<String, Draft>,
    /// Whether a folder chooser (the desktop portal or zenity) can ask where to start a session.
    pub can_choose: bool,
}

impl State {
    /// Takes a snapshot of every session and every waiting request (the daemon is there).
    pub fn load(&mut self, sessions: Vec<SessionInfo>, requests: Vec<RequestInfo>) {
        self.daemon = true;
        self.requests = requests;
        self.requests
            .retain(|r| sessions.iter().any(|s| s.id == r.session_id));
        self.sessions = sessions;
        self.keep_drafts();
    }

    /// The daemon left the bus: its sessions and requests are unknown until it is back, and a
    /// waiting request dies with the daemon.
    pub fn daemon_gone(&mut self) {
        self.daemon = false;
        self.sessions.clear();
        self.requests.clear();
        self.drafts.clear();
    }

    /// A draft for each request that takes several clicks, none for requests that ended.
    fn keep_drafts(&mut self) {
        let requests = &self.requests;
        self.drafts
            .retain(|id, _| requests.iter().any(|r| &r.request_id == id));
        for r in requests.iter().filter(|r| r.stepwise()) {
            self.drafts
                .entry(r.request_id.clone())
                .or_insert_with(|| Draft::new(r));
        }
    }

    /// Applies one of the manager's signals.
    pub fn apply(&mut self, signal: &ManagerSignal) -> Effect {
        use ManagerSignal::*;
        match signal {
            // A snapshot brings the request whole: its suggestions, questions, answerability.
            SessionNew { .. } | PermissionRequested { .. } => return Effect::Reload,
            SessionRemoved { id, .. } => {
                self.sessions.retain(|x| &x.id != id);
                self.requests.retain(|r| &r.session_id != id);
            }
            StatusChanged { id, status, .. } => {
                self.update(id, |x| x.status = status.clone());
            }
            ActivityChanged {
                id,
                activity,
                detail,
                ..
            } => {
                self.update(id, |x| {
                    x.activity = activity.clone();
                    x.activity_detail = detail.clone();
                });
            }
            // Every request ends with exactly one of these, whatever answered it.
            PermissionResolved { request_id, .. } => {
                self.requests.retain(|r| &r.request_id != request_id);
            }
            ClaudeExited { .. } => return Effect::None,
        }
        self.keep_drafts();
        Effect::Changed
    }

    fn update(&mut self, id: &str, f: impl FnOnce(&mut SessionInfo)) {
        if let Some(x) = self.sessions.iter_mut().find(|x| x.id == id) {
            f(x);
        }
    }

    /// Picks an option of a request that takes several clicks; false when nothing changed.
    pub fn pick(&mut self, request_id: &str, question: usize, label: &str) -> bool {
        let r = self.requests.iter().find(|r| r.request_id == request_id);
        match (r, self.drafts.get_mut(request_id)) {
            (Some(r), Some(d)) => d.pick(r, question, label),
            _ => false,
        }
    }

    /// The answers picked for a request, when every question has one.
    pub fn picked(&self, request_id: &str) -> Option<HashMap<String, String>> {
        let r = self.requests.iter().find(|r| r.request_id == request_id)?;
        let d = self.drafts.get(request_id).filter(|d| d.complete())?;
        Some(d.answers(r))
    }

    fn counts(&self) -> ActivityCounts {
        ActivityCounts::of(
            self.sessions
                .iter()
                .map(|x| (x.status.as_str(), x.activity.as_str())),
        )
    }

    /// Down while the daemon is away, Attention while a request waits or a live session needs
    /// input, Running while a session runs (active), Idle otherwise (none, or all stopped or
    /// paused).
    pub fn mood(&self) -> Mood {
        if !self.daemon {
            Mood::Down
        } else if !self.requests.is_empty() || self.counts().needs_input > 0 {
            Mood::Attention
        } else if self.sessions.iter().any(|x| x.status == "active") {
            Mood::Running
        } else {
            Mood::Idle
        }
    }

    /// One line on the sessions: the tooltip's first line and the menu's title.
    pub fn summary(&self) -> String {
        if !self.daemon {
            return "trusty-mpm is not running".into();
        }
        let counts = self.counts();
        let mut text = counts.text();
        let total = count(counts.sessions, "session");
        if counts.sessions > 0 && text != total {
            text = format!("{total}: {text}");
        }
        // Why the icon is grey although there are sessions.
        if counts.sessions > 0 && self.mood() == Mood::Idle {
            text = format!("{text}, none running");
        }
        text
    }

    /// The tooltip's text under the title: the summary, then each waiting request in full (the
    /// menu cuts long ones), as markup (hosts read the tooltip so).
    pub fn tooltip(&self) -> String {
        let mut lines = vec![self.summary()];
        if !self.requests.is_empty() {
            lines.push(format!("{} waiting", count(self.requests.len(), "request")));
        }
        for r in &self.requests {
            let what = match r.kind.as_str() {
                // One question a line would read as separate requests.
                "question" => format!("{} asks: {}", r.name, r.detail.replace('\n', " · ")),
                _ => format!("{} asks to use {}: {}", r.name, r.tool, r.detail),
            };
            let cut: String = what.chars().take(TOOLTIP_REQUEST).collect();
            lines.push(match cut.len() < what.len() {
                true => format!("{cut}…"),
                false => cut,
            });
        }
        escape_markup(&lines.join("\n"))
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn session(id: &str, status: &str, activity: &str) -> SessionInfo {
        SessionInfo {
            id: id.into(),
            name: format!("n{id}"),
            status: status.into(),
            activity: activity.into(),
            tmux_session: format!("n{id}"),
            ..Default::default()
        }
    }

    fn resolved(id: &str, request: &str) -> ManagerSignal {
        ManagerSignal::PermissionResolved {
            id: id.into(),
            name: format!("n{id}"),
            request_id: request.into(),
            outcome: "allowed".into(),
        }
    }

    fn removed(id: &str) -> ManagerSignal {
        ManagerSignal::SessionRemoved {
            id: id.into(),
            name: format!("n{id}"),
            path: format!("/org/trusty/Mpm1/session/{id}"),
        }
    }

    /// A waiting request of session `id`, as ListRequests shows it.
    pub fn request(id: &str, request: &str, answerable: bool) -> RequestInfo {
        RequestInfo {
            session_id: id.into(),
            name: format!("n{id}"),
            request_id: request.into(),
            kind: "permission".into(),
            tool: "Bash".into(),
            detail: "make deploy".into(),
            answerable,
            ..RequestInfo::default()
        }
    }

    #[test]
    fn grey_until_a_session_runs_orange_while_someone_is_needed() {
        let mut st = State::default();
        assert_eq!(st.mood(), Mood::Down);
        assert_eq!(st.tooltip(), "trusty-mpm is not running");
        st.load(vec![], vec![]);
        assert_eq!(
            (st.mood(), st.tooltip().as_str()),
            (Mood::Idle, "No sessions")
        );
        st.load(vec![session("1", "stopped", "unknown")], vec![]);
        assert_eq!(
            (st.mood(), st.tooltip().as_str()),
            (Mood::Idle, "1 session, none running")
        );
        st.load(vec![session("1", "paused", "ready")], vec![]);
        assert_eq!(st.mood(), Mood::Idle, "a paused session does not run");
        assert_eq!(st.tooltip(), "1 session: 1 ready, none running");
        st.load(vec![session("1", "active", "working")], vec![]);
        assert_eq!(st.mood(), Mood::Running);
        assert_eq!(st.tooltip(), "1 session: 1 working");
        assert_eq!(
            st.apply(&ManagerSignal::PermissionRequested {
                id: "1".into(),
                name: "n1".into(),
                request_id: "r1".into(),
                tool: "Bash".into(),
                detail: "make deploy".into(),
            }),
            Effect::Reload
        );
        st.load(
            vec![session("1", "active", "working")],
            vec![request("1", "r1", true)],
        );
        assert_eq!(st.mood(), Mood::Attention);
        assert_eq!(
            st.tooltip(),
            "1 session: 1 working\n1 request waiting\nn1 asks to use Bash: make deploy"
        );
        // Only the request's own PermissionResolved ends it.
        let both = vec![request("1", "r1", true), request("1", "r2", true)];
        st.load(vec![session("1", "active", "working")], both);
        st.apply(&resolved("1", "r1"));
        assert_eq!((st.requests.len(), st.mood()), (1, Mood::Attention));
        st.apply(&resolved("1", "r2"));
        assert_eq!(st.mood(), Mood::Running);
        st.apply(&ManagerSignal::ActivityChanged {
            id: "1".into(),
            name: "n1".into(),
            activity: "needs-input".into(),
            detail: String::new(),
        });
        assert_eq!(st.mood(), Mood::Attention, "a session needs input");
        st.apply(&ManagerSignal::StatusChanged {
            id: "1".into(),
            name: "n1".into(),
            status: "stopped".into(),
        });
        assert_eq!(st.mood(), Mood::Idle, "a stopped session needs nobody");
        st.apply(&removed("1"));
        assert_eq!(st.mood(), Mood::Idle);
        st.daemon_gone();
        assert_eq!(st.mood(), Mood::Down);
    }

    #[test]
    fn the_tooltip_holds_long_commands_whole_and_escaped() {
        let mut st = State::default();
        let mut long = request("1", "r1", true);
        long.detail = format!("cat <in> && {}", "x".repeat(300));
        st.load(vec![session("1", "active", "working")], vec![long]);
        let tip = st.tooltip();
        assert!(tip.ends_with(&format!("cat &lt;in&gt; &amp;&amp; {}", "x".repeat(300))));
        let mut huge = request("1", "r1", true);
        huge.detail = "y".repeat(4000);
        st.load(vec![session("1", "active", "working")], vec![huge]);
        assert!(
            st.tooltip().ends_with("y…"),
            "bounded: {}",
            st.tooltip().len()
        );
        let questions = crate::cli::draft::tests::two_questions();
        st.load(vec![session("1", "active", "working")], vec![questions]);
        assert!(
            st.tooltip()
                .ends_with("\napi asks: Which database? · Which extras?"),
            "one line per request: {}",
            st.tooltip()
        );
    }

    #[test]
    fn a_removed_session_or_a_gone_daemon_drops_requests_and_drafts() {
        let mut st = State::default();
        let mut q = request("1", "r1", true);
        q.kind = "question".into();
        q.questions = vec![crate::cli::requests::Question {
            question: "Which?".into(),
            multi_select: true,
            options: vec!["A".into(), "B".into()],
            ..Default::default()
        }];
        st.load(
            vec![
                session("1", "active", "working"),
                session("2", "active", "working"),
            ],
            vec![q, request("2", "r2", true)],
        );
        assert_eq!(
            st.drafts.len(),
            1,
            "only the multi-select question takes a draft"
        );
        assert!(st.picked("r1").is_none());
        assert!(st.pick("r1", 0, "B") && !st.pick("r1", 0, "C") && !st.pick("r2", 0, "B"));
        assert_eq!(st.picked("r1").unwrap()["Which?"], "B");
        st.apply(&removed("1"));
        assert_eq!((st.requests.len(), st.drafts.len()), (1, 0));
        st.daemon_gone();
        assert!(st.requests.is_empty() && st.sessions.is_empty() && !st.daemon);
    }
}
