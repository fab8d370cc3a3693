//! Requests on the wire: `ListRequests` rows and `AnswerRequest`'s answer dictionary.

use std::collections::HashMap;

use zbus::{OwnedVariant, Variant};

use crate::error::{Error, Result};
use crate::lifecycle::{Reply, Waiting, printable};

pub use crate::contract::RequestRow;

/// A waiting request as a `ListRequests` row.
pub fn row(w: Waiting) -> RequestRow {
    let ask = w.ask;
    let suggestions: Vec<HashMap<String, OwnedVariant>> = ask
        .suggestions
        .into_iter()
        .map(|s| {
            dict([
                ("id", s.id.into()),
                ("label", s.label.into()),
                ("destination", s.destination.into()),
            ])
        })
        .collect();
    let questions: Vec<HashMap<String, OwnedVariant>> = ask
        .questions
        .into_iter()
        .map(|q| {
            dict([
                ("question", q.question.into()),
                ("header", q.header.into()),
                ("multi_select", q.multi_select.into()),
                ("options", q.options.into()),
            ])
        })
        .collect();
    let details = dict([
        ("tool", ask.tool.into()),
        ("detail", ask.detail.into()),
        ("created_usec", w.created_usec.into()),
        ("expires_usec", w.expires_usec.into()),
        ("answerable", (w.expires_usec != 0).into()),
        ("suggestions", suggestions.into()),
        ("questions", questions.into()),
    ]);
    (
        w.session_id.to_string(),
        w.session_name,
        w.request_id,
        ask.kind.as_str().to_owned(),
        details,
    )
}

/// A dictionary of variants from plain values.
fn dict<const N: usize>(pairs: [(&str, Variant<'static>); N]) -> HashMap<String, OwnedVariant> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            let v = OwnedVariant::try_from(v).expect("plain values hold no file descriptor");
            (k.to_owned(), v)
        })
        .collect()
}

/// Reads `AnswerRequest`'s answer, refusing unknown keys and wrong types.
pub fn reply(answer: HashMap<String, OwnedVariant>) -> Result<Reply> {
    let mut out = Reply::default();
    for (key, value) in answer {
        let bad = |ty: &str| Error::invalid(format!("Answer '{key}' must be of type {ty}."));
        match key.as_str() {
            "allow" => out.allow = Some(bool::try_from(value).map_err(|_| bad("b"))?),
            "reason" => out.reason = String::try_from(value).map_err(|_| bad("s"))?,
            "remember" => out.remember = Some(String::try_from(value).map_err(|_| bad("s"))?),
            "answers" => {
                let answers = HashMap::<String, String>::try_from(value);
                out.answers = Some(answers.map_err(|_| bad("a{ss}"))?);
            }
            other => {
                return Err(Error::invalid(format!(
                    "Unknown answer key '{}'; an answer takes allow, reason, remember and answers.",
                    printable(other)
                )));
            }
        }
    }
    Ok(out)
}
