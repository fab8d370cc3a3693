//! Everything Claude asks, answered over D-Bus: a question (the AskUserQuestion tool) shows in
//! ListRequests with its options, and the answer given with AnswerRequest reaches the model
//! in the tool's result.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use zbus::OwnedVariant;

use super::api::{Reply, Usage};
use super::{Version, World};

const QUESTION: &str = "Which database should the service use?";

/// The model's reply that asks `QUESTION` with AskUserQuestion.
fn asks_the_database() -> Reply {
    let input = json!({"questions": [{
        "question": QUESTION,
        "header": "Database",
        "multiSelect": false,
        "options": [
            {"label": "Postgres", "description": "The team's default"},
            {"label": "SQLite", "description": "One file"},
        ],
    }]});
    Reply::tool("AskUserQuestion", input, Usage::new(900, 30, 0, 0))
}

pub async fn a_question_is_answered_over_dbus(version: Version) {
    let w = World::new(version, &["ask"]).await;
    let m = w.env.manager().await;
    let _answerer = w.env.answerer().await;
    w.start("ask").await;
    let question = QUESTION;
    w.api.push(asks_the_database());
    w.api
        .push(Reply::text("Postgres it is.", Usage::new(950, 5, 0, 900)));
    m.send_command("ask", "set up the database").await.unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let request = loop {
        let waiting = m.list_requests().await.unwrap();
        if let Some(r) = waiting.iter().find(|r| r.3 == "question") {
            break r.2.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no question in ListRequests; the pane shows:\n{}",
            w.screen("ask")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let answers = HashMap::from([(question.to_owned(), "Postgres".to_owned())]);
    let answer = HashMap::from([(
        "answers".to_owned(),
        OwnedVariant::try_from(zbus::Variant::from(answers)).unwrap(),
    )]);
    m.answer_request("ask", &request, answer).await.unwrap();

    let turns = w.turns("ask", 2).await;
    let (result, is_error) = turns[1]
        .tool_result(&turns[0].tool_use_id)
        .expect("the question's result goes back to the model");
    assert!(!is_error && result.contains("Postgres"), "{result:?}");
}

/// A suggestion as ListRequests lists it.
type Offered = HashMap<String, OwnedVariant>;

fn field(s: &Offered, key: &str) -> String {
    String::try_from(s[key].try_clone().unwrap()).unwrap()
}

/// Session `name` of `w` runs `command` twice, a prompt each. The first call is answered with
/// `allow`, remembering the suggestion `pick` chooses (`what` names it for a failure); once
/// `settled` returns, the second prompt goes. Returns the second call's result (text, is it an
/// error), having checked that it asked nothing.
async fn run_twice_remembering<F, Fut>(
    w: &World,
    name: &str,
    command: &str,
    (what, pick): (&str, fn(&Offered) -> bool),
    allow: bool,
    settled: F,
) -> (String, bool)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let m = w.env.manager().await;
    let _answerer = w.env.answerer().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    w.start(name).await;
    for n in 0..2 {
        w.api
            .push(Reply::bash(command, Usage::new(900 + n, 30, 0, 0)));
        w.api
            .push(Reply::text("Noted.", Usage::new(950 + n, 5, 0, 900)));
    }
    m.send_command(name, "run it").await.unwrap();
    let request = tokio::time::timeout(Duration::from_secs(30), asked.next())
        .await
        .unwrap_or_else(|_| panic!("no request; the pane shows:\n{}", w.screen(name)))
        .unwrap()
        .args()
        .unwrap()
        .request_id
        .to_owned();
    let waiting = m.list_requests().await.unwrap();
    let row = waiting.iter().find(|r| r.2 == request).expect("listed");
    let offered: Vec<Offered> = row.4["suggestions"]
        .try_clone()
        .unwrap()
        .try_into()
        .unwrap();
    let chosen = offered.iter().find(|s| pick(s));
    let chosen = chosen.unwrap_or_else(|| panic!("no suggestion {what} among {offered:?}"));
    let answer = HashMap::from([
        ("allow".to_owned(), OwnedVariant::from(allow)),
        (
            "remember".to_owned(),
            OwnedVariant::try_from(zbus::Variant::from(field(chosen, "id"))).unwrap(),
        ),
    ]);
    m.answer_request(name, &request, answer).await.unwrap();
    w.turns(name, 2).await;
    settled().await;
    m.send_command(name, "run it again").await.unwrap();
    let turns = w.turns(name, 4).await;
    let result = turns[3]
        .tool_result(&turns[2].tool_use_id)
        .expect("the second call's result");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), asked.next())
            .await
            .is_err(),
        "the same command asked again"
    );
    result
}

/// "Always allow": the request is allowed remembering the suggestion Claude Code makes for
/// such a command (accept edits from now on), and the same command then runs again without
/// asking.
pub async fn always_allow_remembers(version: Version) {
    let w = World::new(version, &["always"]).await;
    let edits: (&str, fn(&Offered) -> bool) = ("to accept edits", |s| {
        field(s, "label").contains("acceptEdits")
    });
    let (_, is_error) = run_twice_remembering(
        &w,
        "always",
        "touch remembered.txt",
        edits,
        true,
        || async {},
    )
    .await;
    assert!(!is_error, "the second call ran");
}

/// While the desktop may answer: a question is held back, and claude's spinner says so (the
/// status message of the relay's AskUserQuestion entry; 2.1.197 shows no status message), with
/// one relay call although two groups of the settings name it; a permission request shows
/// Claude Code's own dialog at once, beside the desktop's buttons, and says nothing more.
pub async fn the_pane_says_what_waits_for_the_desktop(version: Version) {
    use trusty_mpm::hooks::settings::WAITING_FOR_DESKTOP;
    let w = World::new(version, &["pane"]).await;
    let m = w.env.manager().await;
    let _answerer = w.env.answerer().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    w.start("pane").await;
    let question = QUESTION;
    w.api.push(asks_the_database());
    w.api
        .push(Reply::bash("touch asked.txt", Usage::new(950, 30, 0, 900)));
    w.api.push(Reply::text("Done.", Usage::new(990, 5, 0, 950)));
    m.send_command("pane", "set up the database").await.unwrap();
    let mut next_request = async || {
        tokio::time::timeout(Duration::from_secs(30), asked.next())
            .await
            .unwrap_or_else(|_| panic!("no request; the pane shows:\n{}", w.screen("pane")))
            .unwrap()
            .args()
            .unwrap()
            .request_id
            .to_owned()
    };
    let request = next_request().await;
    if version == Version::Latest {
        w.wait("pane", "the spinner saying what it waits for", || async {
            w.screen("pane").contains(WAITING_FOR_DESKTOP)
        })
        .await;
    }
    assert_eq!(m.list_requests().await.unwrap().len(), 1, "one relay call");
    let answers = HashMap::from([(question.to_owned(), "Postgres".to_owned())]);
    let answer = HashMap::from([(
        "answers".to_owned(),
        OwnedVariant::try_from(zbus::Variant::from(answers)).unwrap(),
    )]);
    m.answer_request("pane", &request, answer).await.unwrap();

    let request = next_request().await;
    w.wait(
        "pane",
        "claude's own dialog while the desktop may answer",
        || async { w.screen("pane").contains("Do you want to proceed?") },
    )
    .await;
    assert!(!w.screen("pane").contains(WAITING_FOR_DESKTOP));
    let allow = HashMap::from([("allow".to_owned(), OwnedVariant::from(true))]);
    m.answer_request("pane", &request, allow).await.unwrap();
    w.turns("pane", 3).await;
    let asked_once = crate::harness::events_of(&m, "pane").await;
    let questions = asked_once
        .iter()
        .filter(|e| e.event == "PreToolUse" && e.tool == "AskUserQuestion")
        .count();
    assert_eq!(questions, 1, "the relay ran once for the question");
}

/// "Always deny" (`deny --remember N`): Claude Code takes a rule to remember only with an
/// allow, so the daemon writes the suggestion's rule as a deny rule to the project's
/// settings.local.json; once Claude Code has read that file again (its ConfigChange hook says
/// when) the same command is denied without asking.
pub async fn always_deny_remembers(version: Version) {
    let w = World::new(version, &["never"]).await;
    let marker = w.home().join("config-changed");
    let settings = w.home().join(".claude/settings.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    v["hooks"]["ConfigChange"] = json!([{"matcher": "local_settings", "hooks": [
        {"type": "command", "command": format!("touch '{}'", marker.display())}
    ]}]);
    std::fs::write(&settings, v.to_string()).unwrap();
    // 2.1.197 notices a new settings.local.json only in a .claude directory that was there
    // when it started (2.1.332 also when the daemon makes the directory).
    if version == Version::Pinned {
        std::fs::create_dir_all(format!("{}/.claude", w.project("never"))).unwrap();
    }
    let project_rule: (&str, fn(&Offered) -> bool) = ("for this project", |s| {
        field(s, "destination") == "localSettings"
    });
    let reread = || async {
        w.wait("never", "claude to read its settings again", || async {
            marker.exists()
        })
        .await
    };
    let (result, is_error) =
        run_twice_remembering(&w, "never", "npm test", project_rule, false, reread).await;
    assert!(is_error && result.contains("denied"), "{result:?}");
}
