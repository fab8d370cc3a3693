//! `watch`'s lines for a person: the time in the user's time zone, the session's name in a
//! column as wide as the widest seen, what happened in `list`'s colours, and for a request
//! the command that answers it.

use zbus::Connection;

use crate::cli::bus::{clock, manager};
use crate::cli::follow::QUICK;
use crate::cli::output::{activity_colour, paint, status_colour, visible};
use crate::cli::requests::RequestInfo;
use crate::cli::signals::ManagerSignal;
use crate::hooks::requests::ASK_USER_QUESTION;

/// How `watch` prints lines for a person: names padded to the widest name seen so far (the
/// sessions there were at the start, then each new one), statuses and activities in `list`'s
/// colours.
pub(super) struct Human {
    colour: bool,
    name_width: usize,
}

impl Human {
    pub(super) fn new(colour: bool, names: impl Iterator<Item = String>) -> Human {
        let mut h = Human {
            colour,
            name_width: 0,
        };
        for n in names {
            h.widen(&visible(&n));
        }
        h
    }

    pub(super) fn widen(&mut self, name: &str) {
        self.name_width = self.name_width.max(name.chars().count());
    }

    /// One signal heard at `at_usec` as a line; `key`: how to name its session in a command
    /// (NAME, or NAME@HOST on a host); `answerable`: a request the daemon waits to have
    /// answered (else the hint says where it is answered: in the session's terminal).
    pub(super) fn line(
        &mut self,
        signal: &ManagerSignal,
        at_usec: u64,
        key: &str,
        answerable: bool,
    ) -> String {
        use ManagerSignal::*;
        let name = visible(signal.name());
        self.widen(&name);
        let what = match signal {
            SessionNew { .. } => "new session".to_owned(),
            SessionRemoved { .. } => "removed".to_owned(),
            StatusChanged { status, .. } => {
                let status = visible(status);
                format!(
                    "status {}",
                    paint(&status, status_colour(&status), self.colour)
                )
            }
            ActivityChanged {
                activity, detail, ..
            } => {
                let activity = visible(activity);
                let shown = paint(&activity, activity_colour(&activity), self.colour);
                match visible(detail).as_str() {
                    "" => format!("activity {shown}"),
                    d => format!("activity {shown} ({d})"),
                }
            }
            PermissionRequested {
                request_id, detail, ..
            } => match answerable {
                true => format!(
                    "asks permission: {} (trusty-mpm approve {key} {})",
                    visible(detail),
                    visible(request_id)
                ),
                false => format!(
                    "asks: {} (answer in its terminal: trusty-mpm attach {key})",
                    visible(detail),
                ),
            },
            PermissionResolved {
                request_id,
                outcome,
                ..
            } => format!("permission {} ({})", visible(outcome), visible(request_id)),
            ClaudeExited { pid, .. } => format!("claude exited (pid {pid})"),
        };
        let pad = " ".repeat(self.name_width - name.chars().count());
        format!("{}  {name}{pad}  {what}", clock(at_usec))
    }
}

/// Whether the signal announces a permission request that `approve` and `deny` can answer:
/// the daemon waits for its answer (questions take more than a yes or no).
pub(super) async fn answerable(conn: &Connection, signal: &ManagerSignal) -> bool {
    let ManagerSignal::PermissionRequested {
        request_id, tool, ..
    } = signal
    else {
        return false;
    };
    if tool == ASK_USER_QUESTION {
        return false;
    }
    let rows = tokio::time::timeout(QUICK, async { manager(conn).await?.list_requests().await });
    let Ok(Ok(rows)) = rows.await else {
        return false;
    };
    rows.into_iter()
        .map(RequestInfo::from_row)
        .any(|r| &r.request_id == request_id && r.answerable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_line_up_and_statuses_wear_list_s_colours() {
        let mut h = Human::new(true, ["a".to_owned(), "api".to_owned()].into_iter());
        let status = ManagerSignal::StatusChanged {
            id: "1".into(),
            name: "a".into(),
            status: "paused".into(),
        };
        let line = h.line(&status, 0, "a", false);
        let painted = paint("paused", status_colour("paused"), true);
        assert!(
            line.ends_with(&format!("  a    status {painted}")),
            "{line:?}"
        );
        let busy = ManagerSignal::ActivityChanged {
            id: "2".into(),
            name: "api".into(),
            activity: "working".into(),
            detail: "Bash".into(),
        };
        let line = h.line(&busy, 0, "api", false);
        let painted = paint("working", activity_colour("working"), true);
        assert!(
            line.ends_with(&format!("  api  activity {painted} (Bash)")),
            "{line:?}"
        );
        // A longer name widens the column for the lines after it.
        let new = ManagerSignal::SessionNew {
            id: "3".into(),
            name: "backend".into(),
            path: "/org/trusty/Mpm1/session/3".into(),
        };
        assert!(
            h.line(&new, 0, "backend", false)
                .ends_with("  backend  new session")
        );
        assert!(
            h.line(&status, 0, "a", false)
                .contains("  a        status ")
        );
        let plain = Human::new(false, std::iter::empty()).line(&status, 0, "a", false);
        assert!(!plain.contains('\x1b'), "{plain:?}");
    }

    #[test]
    fn requests_say_the_command_that_answers_them_and_exits_their_pid() {
        let mut h = Human::new(false, std::iter::empty());
        let asks = ManagerSignal::PermissionRequested {
            id: "1".into(),
            name: "api".into(),
            request_id: "r7".into(),
            tool: "Bash".into(),
            detail: "make\x1b[2J deploy".into(),
        };
        let line = h.line(&asks, 0, "api@lab", true);
        assert!(
            line.ends_with("asks permission: make\\x1b[2J deploy (trusty-mpm approve api@lab r7)"),
            "{line:?}"
        );
        let line = h.line(&asks, 0, "api@lab", false);
        assert!(
            line.ends_with(
                "asks: make\\x1b[2J deploy (answer in its terminal: trusty-mpm attach api@lab)"
            ),
            "{line:?}"
        );
        let resolved = ManagerSignal::PermissionResolved {
            id: "1".into(),
            name: "api".into(),
            request_id: "r7".into(),
            outcome: "expired".into(),
        };
        assert!(
            h.line(&resolved, 0, "api", false)
                .ends_with("  api  permission expired (r7)")
        );
        let exited = ManagerSignal::ClaudeExited {
            id: "1".into(),
            name: "api".into(),
            pid: 4242,
        };
        assert!(
            h.line(&exited, 0, "api", false)
                .ends_with("  api  claude exited (pid 4242)")
        );
    }
}
