//! What notify's notifications say, shaped to what the server can do: a request's (its whole
//! command, answers as actions or else the command line that answers it), the steps of a
//! question that takes several clicks, the note that replaces an expired request, and the
//! "finished" note. No bus here.

use crate::cli::desktop::Capabilities;
use crate::cli::draft::Draft;
use crate::cli::requests::{Choice, RequestInfo};

/// A notification's text and its actions (key, label); the body is plain text.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub summary: String,
    pub body: String,
    pub actions: Vec<(String, String)>,
}

/// The action that opens the session in a terminal (a click on the body).
fn open() -> (String, String) {
    ("default".into(), "Open".into())
}

/// The action keys of a request's one-click answers: allow, remember, deny, option:N.
pub fn keyed(choices: Vec<Choice>) -> Vec<(String, Choice)> {
    let mut options = 0..;
    choices
        .into_iter()
        .map(|c| {
            let key = match &c {
                Choice::Allow => "allow".to_owned(),
                Choice::Remember { .. } => "remember".to_owned(),
                Choice::Deny => "deny".to_owned(),
                Choice::Choose { .. } => format!("option:{}", options.next().unwrap_or_default()),
            };
            (key, c)
        })
        .collect()
}

/// Each question with its options, one line each.
fn questions(r: &RequestInfo) -> Vec<String> {
    let several = |multi: bool| if multi { " (several)" } else { "" };
    r.questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let n = if r.questions.len() > 1 {
                format!("{}. ", i + 1)
            } else {
                String::new()
            };
            let (text, multi) = (&q.question, q.multi_select);
            format!("{n}{text}{}: {}", several(multi), q.options.join(" | "))
        })
        .collect()
}

/// A request shown whole, with its one-click answers as actions where the server has actions
/// (`choices`: their keys and what they answer), else the command line that answers it.
pub fn request(r: &RequestInfo, caps: Capabilities) -> (Text, Vec<(String, Choice)>) {
    let choices = match caps.actions {
        true => keyed(r.choices()),
        false => Vec::new(),
    };
    let (summary, mut body) = match (r.kind.as_str(), r.questions.as_slice()) {
        ("question", [q]) if !choices.is_empty() => {
            (format!("{} asks: {}", r.name, q.question), vec![])
        }
        ("question", [q]) => (format!("{} asks: {}", r.name, q.question), questions(r)),
        ("question", qs) => (
            format!("{} asks {} questions", r.name, qs.len()),
            questions(r),
        ),
        // The tool is in the summary; the body is the command, whole (the server wraps it).
        _ => (
            format!("{} asks to use {}", r.name, r.tool),
            vec![r.detail.clone()],
        ),
    };
    let how = match (caps.actions, r.answerable) {
        (true, true) if !choices.is_empty() => None,
        (_, true) => Some(format!("Answer with: {}", r.how_to_answer())),
        (true, false) => Some("Answer in its terminal: click to open it.".to_owned()),
        (false, false) => Some(format!(
            "Answer in its terminal: trusty-mpm attach {}",
            r.name
        )),
    };
    body.extend(how);
    let actions = [open()]
        .into_iter()
        .chain(
            choices
                .iter()
                .map(|(k, c)| (k.clone(), c.label().to_owned())),
        )
        .collect();
    let text = Text {
        summary,
        body: body.join("\n"),
        actions,
    };
    (text, choices)
}

/// Question `at` of a request answered step by step: its options as actions (`option:N`),
/// toggles for a multi-select one, then Next (or Send at the last question) once one is chosen.
pub fn step(r: &RequestInfo, draft: &Draft, at: usize) -> Text {
    let Some(q) = r.questions.get(at) else {
        return Text {
            summary: format!("{} asks", r.name),
            body: String::new(),
            actions: vec![open()],
        };
    };
    let n = r.questions.len();
    let summary = match n {
        1 => format!("{} asks: {}", r.name, q.question),
        _ => format!("{} asks ({}/{n}): {}", r.name, at + 1, q.question),
    };
    let mut body: Vec<String> = r.questions[..at]
        .iter()
        .enumerate()
        .map(|(i, earlier)| format!("{} {}", earlier.question, draft.chosen(r, i)))
        .collect();
    let last = at + 1 == n;
    let next = if last { "Send" } else { "Next" };
    body.push(match q.multi_select {
        true => format!("Choose one or more, then {next}."),
        false => "Choose one.".to_owned(),
    });
    let mut actions = vec![open()];
    for (i, o) in q.options.iter().enumerate() {
        let label = match (q.multi_select, draft.has(at, o)) {
            (false, _) => o.clone(),
            (true, true) => format!("☑ {o}"),
            (true, false) => format!("☐ {o}"),
        };
        actions.push((format!("option:{i}"), label));
    }
    if q.multi_select && draft.answered(at) {
        actions.push(("next".into(), next.into()));
    }
    Text {
        summary,
        body: body.join("\n"),
        actions,
    }
}

/// What a request is about, on one line: `Bash: make deploy`.
pub fn about(r: &RequestInfo) -> String {
    crate::text::one_line(
        &format!("{}: {}", r.tool, r.detail),
        crate::text::MAX_DETAIL,
    )
}

/// The note that replaces a request nobody answered in time.
pub fn moved(name: &str, detail: &str) -> Text {
    Text {
        summary: format!("{name}: the question is now in its terminal"),
        body: format!(
            "{detail}\nNobody answered in time: answer in its terminal, click to open it."
        ),
        actions: vec![open()],
    }
}

/// The note of a session that worked `secs` seconds and is ready.
pub fn finished(name: &str, secs: u64) -> Text {
    Text {
        summary: format!("{name} finished"),
        body: format!("Worked for {} and is ready for you.", took(secs)),
        actions: vec![open()],
    }
}

/// A duration as people say it: "45 s", "12 min", "1 h 5 min".
pub fn took(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => match (s / 3600, s % 3600 / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::draft::tests::two_questions;

    const ACTIONS: Capabilities = Capabilities {
        actions: true,
        markup: false,
    };
    const PLAIN: Capabilities = Capabilities {
        actions: false,
        markup: false,
    };

    fn asked(kind: &str) -> RequestInfo {
        RequestInfo {
            name: "api".into(),
            request_id: "r1".into(),
            kind: kind.into(),
            tool: "Bash".into(),
            detail: "cargo build --release \\\n  && ./deploy.sh".into(),
            answerable: true,
            ..RequestInfo::default()
        }
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(took(0), "0 s");
        assert_eq!(took(45), "45 s");
        assert_eq!(took(12 * 60 + 59), "12 min");
        assert_eq!(took(3600), "1 h");
        assert_eq!(took(3600 + 5 * 60), "1 h 5 min");
        assert_eq!(
            finished("api", 45).body,
            "Worked for 45 s and is ready for you."
        );
        assert_eq!(
            finished("api", 45).actions,
            [open()],
            "Open, whatever the server"
        );
    }

    #[test]
    fn a_permission_shows_the_whole_command_and_not_the_tool_twice() {
        let (text, choices) = request(&asked("permission"), ACTIONS);
        assert_eq!(text.summary, "api asks to use Bash");
        assert_eq!(text.body, "cargo build --release \\\n  && ./deploy.sh");
        assert_eq!(choices.len(), 2);
        let (text, choices) = request(&asked("permission"), PLAIN);
        assert!(choices.is_empty());
        assert_eq!(
            text.body,
            "cargo build --release \\\n  && ./deploy.sh\nAnswer with: trusty-mpm approve api r1 · trusty-mpm deny api r1"
        );
    }

    #[test]
    fn questions_without_actions_say_how_the_cli_answers_them() {
        let (text, choices) = request(&two_questions(), PLAIN);
        assert!(choices.is_empty());
        assert_eq!(text.summary, "api asks 2 questions");
        assert_eq!(
            text.body,
            "1. Which database?: Postgres | SQLite\n2. Which extras? (several): Redis | Kafka | Nats\nAnswer with: trusty-mpm answer api r1 [--option LABEL | TEXT]…"
        );
    }

    #[test]
    fn steps_pick_one_then_toggle_several_then_send() {
        let r = two_questions();
        let mut d = Draft::new(&r);
        let first = step(&r, &d, 0);
        assert_eq!(first.summary, "api asks (1/2): Which database?");
        assert_eq!(first.body, "Choose one.");
        let keys: Vec<&str> = first
            .actions
            .iter()
            .map(|(k, l)| if k == "default" { "Open" } else { l })
            .collect();
        assert_eq!(keys, ["Open", "Postgres", "SQLite"]);
        d.pick(&r, 0, "SQLite");
        let second = step(&r, &d, 1);
        assert_eq!(second.summary, "api asks (2/2): Which extras?");
        assert_eq!(
            second.body,
            "Which database? SQLite\nChoose one or more, then Send."
        );
        assert_eq!(
            second.actions[1..],
            [
                ("option:0".into(), "☐ Redis".into()),
                ("option:1".into(), "☐ Kafka".into()),
                ("option:2".into(), "☐ Nats".into())
            ]
        );
        d.pick(&r, 1, "Kafka");
        let second = step(&r, &d, 1);
        assert_eq!(
            second.actions[2..],
            [
                ("option:1".into(), "☑ Kafka".into()),
                ("option:2".into(), "☐ Nats".into()),
                ("next".into(), "Send".into())
            ]
        );
    }
}
