//! Requests as the CLI shows and answers them: `ListRequests` rows read into plain fields,
//! printed for a person or as JSON, and `answer`'s arguments turned into AnswerRequest's
//! answers for the request's questions.

use std::collections::HashMap;

use serde::Serialize;
use zbus::{OwnedVariant, Variant};

use super::proxy::RequestRow;

/// One suggestion Claude Code offers to remember.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Suggestion {
    pub id: String,
    pub label: String,
    pub destination: String,
}

/// One question of a request.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Question {
    pub question: String,
    pub header: String,
    pub multi_select: bool,
    pub options: Vec<String>,
}

/// A waiting request, as `requests --json` prints it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RequestInfo {
    pub session_id: String,
    pub name: String,
    pub request_id: String,
    pub kind: String,
    pub tool: String,
    pub detail: String,
    pub created_usec: u64,
    pub expires_usec: u64,
    pub answerable: bool,
    pub suggestions: Vec<Suggestion>,
    pub questions: Vec<Question>,
}

/// One click that answers a request (a notification's action, a tray menu entry).
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    Allow,
    /// Allow, and have Claude Code remember the suggestion with this id.
    Remember {
        id: String,
        label: String,
    },
    Deny,
    /// Answer a lone question with one of its options.
    Choose {
        question: String,
        label: String,
    },
}

impl Choice {
    /// What the person reads: the suggestion's and the option's labels in full.
    pub fn label(&self) -> &str {
        match self {
            Choice::Allow => "Allow",
            Choice::Remember { label, .. } | Choice::Choose { label, .. } => label,
            Choice::Deny => "Deny",
        }
    }

    /// AnswerRequest's answer for this choice; `reason` is told to Claude on deny.
    pub fn answer(&self, reason: &str) -> zbus::Result<HashMap<String, OwnedVariant>> {
        match self {
            Choice::Allow => answer([("allow", true.into())]),
            Choice::Remember { id, .. } => {
                answer([("allow", true.into()), ("remember", id.clone().into())])
            }
            Choice::Deny => answer([
                ("allow", false.into()),
                ("reason", reason.to_owned().into()),
            ]),
            Choice::Choose { question, label } => {
                let chosen = HashMap::from([(question.clone(), label.clone())]);
                answer([("answers", chosen.into())])
            }
        }
    }
}

/// AnswerRequest's answer dictionary from its entries.
pub fn answer<const N: usize>(
    entries: [(&str, Variant<'static>); N],
) -> zbus::Result<HashMap<String, OwnedVariant>> {
    entries
        .into_iter()
        .map(|(k, v)| Ok((k.to_owned(), OwnedVariant::try_from(v)?)))
        .collect()
}

/// The value of `key` in a details dictionary, or the type's default when it is missing or of
/// another type (a newer daemon may add keys; an older one may lack some).
fn field<T: TryFrom<OwnedVariant> + Default>(d: &HashMap<String, OwnedVariant>, key: &str) -> T {
    d.get(key)
        .and_then(|v| v.try_clone().ok())
        .and_then(|v| T::try_from(v).ok())
        .unwrap_or_default()
}

impl RequestInfo {
    pub fn from_row((session_id, name, request_id, kind, d): RequestRow) -> Self {
        let dicts = |key: &str| -> Vec<HashMap<String, OwnedVariant>> { field(&d, key) };
        RequestInfo {
            session_id,
            name,
            request_id,
            kind,
            tool: field(&d, "tool"),
            detail: field(&d, "detail"),
            created_usec: field(&d, "created_usec"),
            expires_usec: field(&d, "expires_usec"),
            answerable: field(&d, "answerable"),
            suggestions: dicts("suggestions")
                .iter()
                .map(|s| Suggestion {
                    id: field(s, "id"),
                    label: field(s, "label"),
                    destination: field(s, "destination"),
                })
                .collect(),
            questions: dicts("questions")
                .iter()
                .map(|q| Question {
                    question: field(q, "question"),
                    header: field(q, "header"),
                    multi_select: field(q, "multi_select"),
                    options: field(q, "options"),
                })
                .collect(),
        }
    }

    /// The request for a person: a head line, then its detail, suggestions or questions, and
    /// how to answer it.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{}  {}  {} {}",
            self.name, self.request_id, self.kind, self.tool
        )];
        out.extend(self.detail.lines().map(|l| format!("    {l}")));
        for s in &self.suggestions {
            out.push(format!("    {}  {}", s.id, s.label));
        }
        for (i, q) in self.questions.iter().enumerate() {
            let several = if q.multi_select { " (several)" } else { "" };
            out.push(format!(
                "    {}. {}{several}: {}",
                i + 1,
                q.question,
                q.options.join(" | ")
            ));
        }
        out.push(format!("    {}", self.how_to_answer()));
        out
    }

    /// The command line that answers the request, as the CLI spells it.
    pub fn how_to_answer(&self) -> String {
        let (name, id) = (&self.name, &self.request_id);
        match (self.answerable, self.kind.as_str()) {
            (false, _) => format!("answer in its terminal: trusty-mpm attach {name}"),
            (true, "question") => format!("trusty-mpm answer {name} {id} [--option LABEL | TEXT]…"),
            (true, _) if self.suggestions.is_empty() => {
                format!("trusty-mpm approve {name} {id} · trusty-mpm deny {name} {id}")
            }
            (true, _) => format!(
                "trusty-mpm approve {name} {id} [--remember N] · trusty-mpm deny {name} {id} [--remember N]"
            ),
        }
    }

    /// The one-click answers: Allow, Always allow (the first suggestion Claude Code offers)
    /// and Deny; or a lone single-choice question's options. None for a request nobody waits
    /// on: no click could answer it.
    pub fn choices(&self) -> Vec<Choice> {
        match (
            self.answerable,
            self.kind.as_str(),
            self.questions.as_slice(),
        ) {
            (false, ..) => Vec::new(),
            (true, "question", [q]) if !q.multi_select => {
                let choose = |o: &String| Choice::Choose {
                    question: q.question.clone(),
                    label: o.clone(),
                };
                q.options.iter().map(choose).collect()
            }
            (true, "question", _) => Vec::new(),
            (true, ..) => {
                let remember = self.suggestions.first().map(|s| Choice::Remember {
                    id: s.id.clone(),
                    label: s.label.clone(),
                });
                [Some(Choice::Allow), remember, Some(Choice::Deny)]
                    .into_iter()
                    .flatten()
                    .collect()
            }
        }
    }

    /// AnswerRequest's answers from `answer`'s arguments: one per question, in order;
    /// `--option LABEL` must name options of its question (comma-joined for several).
    pub fn answers(&self, args: &[String]) -> Result<HashMap<String, String>, String> {
        let mut given = Vec::new();
        let mut args = args.iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--option" => {
                    let label = args.next().ok_or("--option needs a LABEL after it.")?;
                    given.push((label, true));
                }
                _ => given.push((a, false)),
            }
        }
        if given.len() != self.questions.len() {
            return Err(format!(
                "Request {} asks {} question(s); {} answer(s) were given.",
                self.request_id,
                self.questions.len(),
                given.len()
            ));
        }
        self.questions
            .iter()
            .zip(given)
            .map(|(q, (answer, option))| {
                let known = |l: &str| q.options.iter().any(|o| o == l.trim());
                if option && !answer.split(',').all(known) {
                    return Err(format!(
                        "'{answer}' is not an option of \"{}\"; it has {}.",
                        q.question,
                        q.options.join(", ")
                    ));
                }
                Ok((q.question.clone(), answer.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::draft::tests::two_questions as asked;

    #[test]
    fn answers_follow_the_questions_and_options_must_exist() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = asked().answers(&args(&["--option", "SQLite", "whatever is small"]));
        let want: HashMap<String, String> = [
            ("Which database?".to_owned(), "SQLite".to_owned()),
            ("Which extras?".to_owned(), "whatever is small".to_owned()),
        ]
        .into();
        assert_eq!(got, Ok(want));
        let several = asked().answers(&args(&["--option", "SQLite", "--option", "Redis,Nats"]));
        assert_eq!(several.unwrap()["Which extras?"], "Redis,Nats");
        assert!(
            asked()
                .answers(&args(&["--option", "Oracle", "x"]))
                .is_err()
        );
        assert!(asked().answers(&args(&["SQLite"])).is_err());
        assert!(asked().answers(&args(&["SQLite", "--option"])).is_err());
    }
}
