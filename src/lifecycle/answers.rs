//! What an answer means for its request: whether it fits what was asked (`fit`), the rule a
//! denial remembers, written into its settings file before claude is told (`remember_denial`),
//! and how the history tells the outcome (`describe`).

use std::collections::HashMap;
use std::path::Path;

use super::asks::{Answer, Ask, Kind, Outcome, Question, Reply};
use super::printable;
use crate::claude_settings::{add_rules, deny_rule, label, rules, settings_file};
use crate::config::MAX_NOTE_BYTES;
use crate::error::{Error, Result};
use crate::text;

/// Writes the rule a denial remembers (from `deny_rule`) into the settings file its
/// destination names for a claude working in `project`, as Claude Code would have, so the
/// same call is denied from now on without asking. The file is left as it was when it cannot
/// be changed (not JSON, say), and the request waits on.
pub(super) async fn remember_denial(rule: &serde_json::Value, project: &str) -> Result<()> {
    let destination = rule["destination"].as_str().unwrap_or("");
    let path = settings_file(destination, Path::new(project))
        .ok_or_else(|| Error::invalid("That rule cannot be kept in a settings file."))?;
    let rules = rules(rule);
    let written = tokio::task::spawn_blocking(move || add_rules(&path, "deny", &rules))
        .await
        .map_err(|e| Error::internal("remembering a denial", e))?;
    written.map(drop).map_err(|why| {
        Error::InvalidState(format!(
            "The rule could not be remembered: {why}; deny without remembering, or fix the file."
        ))
    })
}

/// The answer `reply` gives to a request asking `ask`, or why it does not fit.
pub(super) fn fit(ask: &Ask, reply: Reply) -> Result<Answer> {
    let Reply {
        allow,
        reason,
        remember,
        answers,
    } = reply;
    if allow == Some(false) {
        return match (ask.kind, remember, answers) {
            (_, None, None) => Ok(Answer::Deny {
                reason,
                remember: None,
            }),
            (Kind::Permission, Some(id), None) => Ok(Answer::Deny {
                reason,
                remember: Some(deny_rule(&remembered(ask, &id)?).map_err(|why| {
                    Error::invalid(format!("Suggestion {}: {why}.", printable(&id)))
                })?),
            }),
            _ => Err(Error::invalid(
                "A denied request answers no question, and only a permission request remembers a rule.",
            )),
        };
    }
    match (ask.kind, allow, remember, answers) {
        (Kind::Permission, _, _, Some(_)) => Err(Error::invalid(
            "A permission request takes allow, reason and remember, not answers.",
        )),
        (Kind::Permission, None, ..) => Err(Error::invalid(
            "Say whether to allow: the answer needs 'allow' (b).",
        )),
        (Kind::Permission, Some(_), remember, None) => Ok(Answer::Allow {
            remember: remember.map(|id| remembered(ask, &id)).transpose()?,
        }),
        (Kind::Question, None, None, Some(answers)) => answered(ask, answers),
        (Kind::Question, ..) => Err(Error::invalid(
            "A question is answered with 'answers' (a{ss}) alone, or declined with allow false.",
        )),
    }
}

/// The suggestion entry with this id, for Claude Code to apply.
fn remembered(ask: &Ask, id: &str) -> Result<serde_json::Value> {
    match ask.suggestions.iter().find(|s| s.id == id) {
        Some(s) => Ok(s.entry.clone()),
        None => Err(Error::invalid(format!(
            "This request has no suggestion '{}'; it has {}.",
            printable(id),
            match ask.suggestions.len() {
                0 => "none".to_owned(),
                n => format!("1 to {n}"),
            }
        ))),
    }
}

/// Every question of `ask` with its answer from `answers`, which must answer each of them and
/// nothing else.
fn answered(ask: &Ask, mut answers: HashMap<String, String>) -> Result<Answer> {
    let out = ask
        .questions
        .iter()
        .map(|q| {
            let given = answers.remove(&q.question).ok_or_else(|| {
                Error::invalid(format!(
                    "The question '{}' has no answer.",
                    printable(&q.question)
                ))
            })?;
            Ok((q.raw.clone(), chosen(q, &given)?))
        })
        .collect::<Result<Vec<_>>>()?;
    match answers.keys().next() {
        Some(extra) => Err(Error::invalid(format!(
            "The request asks no question '{}'.",
            printable(extra)
        ))),
        None => Ok(Answer::Answers(out)),
    }
}

/// A question's answer as Claude Code reads it: option labels of a multi-select joined with
/// ", " however the caller separated them, else the text as given.
fn chosen(q: &Question, given: &str) -> Result<String> {
    if given.trim().is_empty() || given.len() > MAX_NOTE_BYTES || !text::is_clean(given) {
        return Err(Error::invalid(format!(
            "The answer to '{}' must be 1 to {MAX_NOTE_BYTES} bytes of text.",
            printable(&q.question)
        )));
    }
    let labels: Vec<&str> = given.split(',').map(str::trim).collect();
    let all_options = labels.iter().all(|l| q.options.iter().any(|o| o == l));
    Ok(match q.multi_select && all_options {
        true => labels.join(", "),
        false => given.to_owned(),
    })
}

/// The outcome an answer gives its request and what it says in the history.
pub(super) fn describe(ask: &Ask, answer: &Answer) -> (Outcome, String) {
    match answer {
        Answer::Allow { remember: None } => (Outcome::Allowed, String::new()),
        Answer::Allow {
            remember: Some(entry),
        } => {
            let label = ask
                .suggestions
                .iter()
                .find(|s| &s.entry == entry)
                .map_or("", |s| s.label.as_str());
            (Outcome::Allowed, format!("remembered: {label}"))
        }
        Answer::Deny {
            reason,
            remember: None,
        } => (Outcome::Denied, reason.clone()),
        Answer::Deny {
            reason,
            remember: Some(rule),
        } => {
            let note = format!("remembered: {}", label(rule));
            match reason.as_str() {
                "" => (Outcome::Denied, note),
                reason => (Outcome::Denied, format!("{note}; {reason}")),
            }
        }
        Answer::Answers(answers) => {
            let said: Vec<String> = ask
                .questions
                .iter()
                .zip(answers)
                .map(|(q, (_, a))| format!("{} {a}", q.question))
                .collect();
            (Outcome::Allowed, format!("answered {}", said.join("; ")))
        }
    }
}
