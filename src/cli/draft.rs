//! Answers to a question request collected one click at a time, where one click cannot answer
//! it: several questions, or a question that takes several options. The tray's menu keeps one
//! per request (radio and check items, then Send) and notify steps through the questions (one
//! notification each, options as actions, toggles for multi-select). Sent as AnswerRequest's
//! `answers`: each question's chosen labels, joined with ", " where it takes several (as Claude
//! Code reads them; the daemon accepts that form).

use std::collections::HashMap;

use super::requests::RequestInfo;

/// The options chosen so far, per question of the request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft {
    chosen: Vec<Vec<String>>,
}

impl RequestInfo {
    /// Whether answering takes more than one click: an answerable question request with
    /// several questions or a multi-select one (a lone single-choice question's options each
    /// answer it at once).
    pub fn stepwise(&self) -> bool {
        self.answerable
            && self.kind == "question"
            && match self.questions.as_slice() {
                [] => false,
                [q] => q.multi_select,
                _ => true,
            }
    }
}

impl Draft {
    pub fn new(r: &RequestInfo) -> Draft {
        Draft {
            chosen: vec![Vec::new(); r.questions.len()],
        }
    }

    /// Picks option `label` of question `q`: the only choice of a single-choice question,
    /// toggled in or out of a multi-select one's. False when there is no such option.
    pub fn pick(&mut self, r: &RequestInfo, q: usize, label: &str) -> bool {
        let (Some(question), Some(chosen)) = (r.questions.get(q), self.chosen.get_mut(q)) else {
            return false;
        };
        if !question.options.iter().any(|o| o == label) {
            return false;
        }
        if !question.multi_select {
            *chosen = vec![label.to_owned()];
        } else if let Some(at) = chosen.iter().position(|c| c == label) {
            chosen.remove(at);
        } else {
            chosen.push(label.to_owned());
        }
        true
    }

    /// Whether option `label` of question `q` is chosen.
    pub fn has(&self, q: usize, label: &str) -> bool {
        self.chosen
            .get(q)
            .is_some_and(|c| c.iter().any(|x| x == label))
    }

    /// Whether question `q` has an answer.
    pub fn answered(&self, q: usize) -> bool {
        self.chosen.get(q).is_some_and(|c| !c.is_empty())
    }

    /// Whether every question has an answer.
    pub fn complete(&self) -> bool {
        (0..self.chosen.len()).all(|q| self.answered(q))
    }

    /// The options chosen for question `q`, joined with ", " in the order the request lists
    /// them (as Claude Code reads several).
    pub fn chosen(&self, r: &RequestInfo, q: usize) -> String {
        let options = r
            .questions
            .get(q)
            .map(|x| x.options.as_slice())
            .unwrap_or_default();
        let labels: Vec<&str> = options
            .iter()
            .filter(|o| self.has(q, o))
            .map(String::as_str)
            .collect();
        labels.join(", ")
    }

    /// AnswerRequest's `answers`: question → its chosen options.
    pub fn answers(&self, r: &RequestInfo) -> HashMap<String, String> {
        let questions = r.questions.iter().enumerate();
        questions
            .map(|(q, question)| (question.question.clone(), self.chosen(r, q)))
            .collect()
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::cli::requests::Question;

    /// An answerable request of two questions, the second multi-select (Redis, Kafka, Nats).
    pub fn two_questions() -> RequestInfo {
        RequestInfo {
            name: "api".into(),
            session_id: "1".into(),
            request_id: "r1".into(),
            kind: "question".into(),
            detail: "Which database?\nWhich extras?".into(),
            answerable: true,
            questions: vec![
                Question {
                    question: "Which database?".into(),
                    options: vec!["Postgres".into(), "SQLite".into()],
                    ..Question::default()
                },
                Question {
                    question: "Which extras?".into(),
                    multi_select: true,
                    options: vec!["Redis".into(), "Kafka".into(), "Nats".into()],
                    ..Question::default()
                },
            ],
            ..RequestInfo::default()
        }
    }

    #[test]
    fn single_choice_replaces_and_multi_select_toggles() {
        let r = two_questions();
        let mut d = Draft::new(&r);
        assert!(!d.complete());
        assert!(d.pick(&r, 0, "Postgres") && d.pick(&r, 0, "SQLite"));
        assert!(d.has(0, "SQLite") && !d.has(0, "Postgres"));
        assert!(!d.complete(), "the second question has no answer yet");
        for label in ["Nats", "Redis", "Kafka", "Kafka"] {
            assert!(d.pick(&r, 1, label));
        }
        assert!(!d.pick(&r, 1, "Oracle") && !d.pick(&r, 2, "Redis"));
        assert!(d.complete());
        let want: HashMap<String, String> = [
            ("Which database?".to_owned(), "SQLite".to_owned()),
            ("Which extras?".to_owned(), "Redis, Nats".to_owned()),
        ]
        .into();
        assert_eq!(d.answers(&r), want, "labels in the request's order");
    }

    #[test]
    fn only_questions_that_one_click_cannot_answer_are_stepwise() {
        let mut r = two_questions();
        assert!(r.stepwise());
        r.answerable = false;
        assert!(!r.stepwise(), "nobody waits for an answer");
        r.answerable = true;
        r.questions.truncate(1);
        assert!(!r.stepwise(), "a lone single-choice question");
        r.questions[0].multi_select = true;
        assert!(r.stepwise());
    }
}
