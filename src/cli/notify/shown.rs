//! What notify has on screen: each notification and what its actions do (`Asked`), and how a
//! request or a note is put there.

use super::notes::{self, Text};
use crate::cli::desktop::{Desktop, Note};
use crate::cli::draft::Draft;
use crate::cli::requests::{Choice, RequestInfo};

/// A notification on screen, with what its actions do.
pub(super) struct Asked {
    /// The place (an index of the follower's places) whose daemon its actions answer.
    pub(super) place: usize,
    /// The session's id on that place.
    pub(super) session: String,
    /// The session's name as a command names it (NAME@HOST on a host).
    pub(super) name: String,
    /// The request its actions answer; empty for a note that only opens the session.
    pub(super) request_id: String,
    /// Each one-click answer's action key and what it answers.
    pub(super) choices: Vec<(String, Choice)>,
    /// A question answered one notification per question.
    pub(super) steps: Option<Steps>,
    /// What the request is about, for the note that replaces it when its wait runs out.
    pub(super) detail: String,
}

/// A question request answered step by step: the options picked so far, the question shown.
pub(super) struct Steps {
    pub(super) request: RequestInfo,
    pub(super) draft: Draft,
    pub(super) at: usize,
}

impl Asked {
    /// A note that answers nothing: Open is all it does.
    pub(super) fn opener(place: usize, session: String, name: String) -> Asked {
        Asked {
            place,
            session,
            name,
            request_id: String::new(),
            choices: Vec::new(),
            steps: None,
            detail: String::new(),
        }
    }
}

/// Shows `text`; its id, `None` when no server showed it.
pub(super) async fn put(
    desktop: &mut Desktop,
    text: &Text,
    critical: bool,
    icon: &str,
    category: &str,
) -> Option<u32> {
    let caps = desktop.capabilities().await?;
    let actions: Vec<(&str, &str)> = text
        .actions
        .iter()
        .map(|(k, l)| (k.as_str(), l.as_str()))
        .collect();
    let note = Note {
        icon,
        summary: &text.summary,
        body: &text.body,
        actions: &actions,
        category,
        critical,
    };
    desktop.show(&note, caps).await
}

pub(super) const REQUEST: &str = "x-trusty-mpm.permission.request";

/// Shows a request's notification (its first question, when it is answered step by step);
/// its id and what its actions do.
pub(super) async fn show(
    desktop: &mut Desktop,
    place: usize,
    r: RequestInfo,
) -> Option<(u32, Asked)> {
    let caps = desktop.capabilities().await?;
    let (text, choices, steps) = match caps.actions && r.stepwise() {
        true => {
            let draft = Draft::new(&r);
            let text = notes::step(&r, &draft, 0);
            (
                text,
                Vec::new(),
                Some(Steps {
                    request: r.clone(),
                    draft,
                    at: 0,
                }),
            )
        }
        false => {
            let (text, choices) = notes::request(&r, caps);
            (text, choices, None)
        }
    };
    let id = put(desktop, &text, true, "dialog-question", REQUEST).await?;
    let asked = Asked {
        place,
        choices,
        steps,
        detail: notes::about(&r),
        session: r.session_id,
        name: r.name,
        request_id: r.request_id,
    };
    Some((id, asked))
}
