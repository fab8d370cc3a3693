//! Requests as state: `ListRequests` shows what claude asks with its full detail, suggestions
//! and questions, and `AnswerRequest` answers it (allow, deny, remember a suggestion, answer
//! questions); the relay prints Claude Code's decision. Payloads have Claude Code's shapes.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use zbus::{OwnedVariant, Variant};

use crate::harness::*;
use crate::hooks::env_with_config;

const CLAUDE_ID: &str = "c0ffee00-0000-4000-8000-0000000000aa";

const SUGGESTION: &str = r#"{"type":"addRules","rules":[{"toolName":"Bash","ruleContent":"npm test:*"}],"behavior":"allow","destination":"localSettings"}"#;

fn permission_request(command: &str) -> String {
    format!(
        r#"{{"session_id":"{CLAUDE_ID}","transcript_path":"/tmp/t.jsonl","cwd":"/tmp","permission_mode":"default","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{{"command":"{command}","description":"Run the tests"}},"permission_suggestions":[{SUGGESTION},{{"type":"addDirectories","directories":["/srv/data"],"destination":"session"}}]}}"#
    )
}

const QUESTIONS: &str = r#"[{"question":"Which database?","header":"Database","options":[{"label":"Postgres","description":"Relational"},{"label":"SQLite","description":"One file"}],"multiSelect":false},{"question":"Which features?","header":"Features","options":[{"label":"Auth","description":"Log in"},{"label":"Search","description":"Full text"},{"label":"Export","description":"CSV"}],"multiSelect":true}]"#;

fn ask_user_question(event: &str) -> String {
    format!(
        r#"{{"session_id":"{CLAUDE_ID}","transcript_path":"/tmp/t.jsonl","cwd":"/tmp","hook_event_name":"{event}","tool_name":"AskUserQuestion","tool_input":{{"questions":{QUESTIONS}}},"tool_use_id":"toolu_01"}}"#
    )
}

fn answer(pairs: &[(&str, Variant<'_>)]) -> HashMap<String, OwnedVariant> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.try_to_owned().unwrap()))
        .collect()
}

/// The one request `ListRequests` shows once PermissionRequested announced it.
async fn the_request(
    m: &trusty_mpm::cli::proxy::ManagerProxy<'_>,
    asked: &mut trusty_mpm::cli::proxy::PermissionRequestedStream,
) -> trusty_mpm::cli::proxy::RequestRow {
    tokio::time::timeout(Duration::from_secs(10), asked.next())
        .await
        .expect("PermissionRequested within 10 s")
        .unwrap();
    let mut rows = m.list_requests().await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.remove(0)
}

fn get<T: TryFrom<OwnedVariant>>(d: &HashMap<String, OwnedVariant>, key: &str) -> T
where
    T::Error: std::fmt::Debug,
{
    T::try_from(d[key].try_clone().unwrap()).unwrap()
}

#[tokio::test]
async fn a_permission_request_is_listed_with_its_suggestions_and_remembered() {
    let (mut env, _cfg) = env_with_config("permission_wait_secs = 30\n").await;
    let (id, path, _) = env.start_active("req").await;
    let pane = pane_of(&env, "req");
    let _answerer = env.answerer().await;
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let long = format!("npm test -- {}", "x".repeat(600));
    let payload = permission_request(&long);
    let run = relay(&env, &payload, &pane);
    let answering = async {
        let (sid, name, rid, kind, d) = the_request(&m, &mut asked).await;
        assert_eq!(
            (sid.as_str(), name.as_str(), kind.as_str()),
            (id.as_str(), "req", "permission")
        );
        assert_eq!(get::<String>(&d, "tool"), "Bash");
        assert_eq!(get::<String>(&d, "detail"), long, "the whole command");
        assert!(get::<bool>(&d, "answerable"));
        let (created, expires) = (
            get::<u64>(&d, "created_usec"),
            get::<u64>(&d, "expires_usec"),
        );
        assert!(expires >= created + 29_000_000, "{created} {expires}");
        let suggestions: Vec<HashMap<String, OwnedVariant>> = get(&d, "suggestions");
        let shown: Vec<(String, String, String)> = suggestions
            .iter()
            .map(|s| (get(s, "id"), get(s, "label"), get(s, "destination")))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "1".into(),
                    "Always allow Bash(npm test:*) in this project".into(),
                    "localSettings".into()
                ),
                (
                    "2".into(),
                    "Allow access to /srv/data for this session".into(),
                    "session".into()
                ),
            ]
        );
        let questions: Vec<HashMap<String, OwnedVariant>> = get(&d, "questions");
        assert!(questions.is_empty());

        // Answers that do not fit are refused and change nothing.
        for bad in [
            answer(&[("allow", true.into()), ("remember", "3".into())]),
            // Suggestion 2 is no rule: it cannot be denied from now on.
            answer(&[("allow", false.into()), ("remember", "2".into())]),
            answer(&[
                ("allow", false.into()),
                ("answers", HashMap::<&str, &str>::new().into()),
            ]),
            answer(&[("answers", HashMap::<&str, &str>::new().into())]),
            answer(&[("allow", "yes".into())]),
            answer(&[("allow", true.into()), ("colour", "red".into())]),
            answer(&[]),
        ] {
            assert_error(m.answer_request("req", &rid, bad).await, "InvalidArgument");
        }
        assert_eq!(m.list_requests().await.unwrap().len(), 1);
        env.session(&path)
            .await
            .answer_request(
                &rid,
                answer(&[("allow", true.into()), ("remember", "1".into())]),
            )
            .await
            .unwrap();
        assert!(m.list_requests().await.unwrap().is_empty());
        rid
    };
    let (r, rid) = tokio::join!(run, answering);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        format!(
            r#"{{"hookSpecificOutput":{{"hookEventName":"PermissionRequest","decision":{{"behavior":"allow","updatedPermissions":[{SUGGESTION}]}}}}}}"#
        )
    );
    assert_error(
        m.answer_request("req", &rid, answer(&[("allow", true.into())]))
            .await,
        "NotFound",
    );

    // A deny carries its reason; AnswerRequest on the manager works as on the session.
    let payload = permission_request("npm test");
    let run = relay(&env, &payload, &pane);
    let answering = async {
        let (.., rid, _, _) = the_request(&m, &mut asked).await;
        m.answer_request(
            "req",
            &rid,
            answer(&[("allow", false.into()), ("reason", "use make".into())]),
        )
        .await
        .unwrap();
        rid
    };
    let (r, denied) = tokio::join!(run, answering);
    assert_eq!(
        r.stdout,
        r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"use make"}}}"#
    );

    // The history says how each request ended, and so it does after a restart.
    let ended = [
        format!("allowed {rid}: remembered: Always allow Bash(npm test:*) in this project"),
        format!("denied {denied}: use make"),
    ];
    assert_eq!(outcomes(&m).await, ended);
    drop(m);
    env.restart_daemon().await;
    assert_eq!(outcomes(&env.manager().await).await, ended);
}

/// The PermissionResolved summaries in the history of session "req".
async fn outcomes(m: &trusty_mpm::cli::proxy::ManagerProxy<'_>) -> Vec<String> {
    events_of(m, "req")
        .await
        .into_iter()
        .filter(|e| e.event == "PermissionResolved")
        .map(|e| e.summary)
        .collect()
}

#[tokio::test]
async fn a_question_is_listed_and_answered_at_pre_tool_use() {
    let (env, _cfg) = env_with_config("permission_wait_secs = 30\n").await;
    let (id, _, _) = env.start_active("ask").await;
    let pane = pane_of(&env, "ask");
    let _answerer = env.answerer().await;
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let mut resolved = m.receive_permission_resolved().await.unwrap();
    let payload = ask_user_question("PreToolUse");
    let run = relay(&env, &payload, &pane);
    let answering = async {
        let (sid, _, rid, kind, d) = the_request(&m, &mut asked).await;
        assert_eq!((sid.as_str(), kind.as_str()), (id.as_str(), "question"));
        assert_eq!(get::<String>(&d, "tool"), "AskUserQuestion");
        let suggestions: Vec<HashMap<String, OwnedVariant>> = get(&d, "suggestions");
        assert!(suggestions.is_empty());
        let questions: Vec<HashMap<String, OwnedVariant>> = get(&d, "questions");
        let shown: Vec<(String, String, bool, Vec<String>)> = questions
            .iter()
            .map(|q| {
                (
                    get(q, "question"),
                    get(q, "header"),
                    get(q, "multi_select"),
                    get(q, "options"),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "Which database?".into(),
                    "Database".into(),
                    false,
                    vec!["Postgres".into(), "SQLite".into()]
                ),
                (
                    "Which features?".into(),
                    "Features".into(),
                    true,
                    vec!["Auth".into(), "Search".into(), "Export".into()]
                ),
            ]
        );
        let answers = |pairs: &[(&str, &str)]| {
            let a: HashMap<&str, &str> = pairs.iter().copied().collect();
            answer(&[("answers", a.into())])
        };
        // A person takes longer than an ordinary hook call may (a second).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        for bad in [
            answers(&[("Which database?", "Postgres")]),
            answers(&[
                ("Which colour?", "red"),
                ("Which database?", "Postgres"),
                ("Which features?", "Auth"),
            ]),
            answer(&[("allow", true.into())]),
        ] {
            assert_error(m.answer_request("ask", &rid, bad).await, "InvalidArgument");
        }
        m.answer_request(
            "ask",
            &rid,
            answers(&[
                ("Which database?", "SQLite"),
                ("Which features?", "Auth,Export"),
            ]),
        )
        .await
        .unwrap();
        rid
    };
    let (r, rid) = tokio::join!(run, answering);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        format!(
            r#"{{"hookSpecificOutput":{{"hookEventName":"PreToolUse","permissionDecision":"allow","updatedInput":{{"questions":{QUESTIONS},"answers":{{"Which database?":"SQLite","Which features?":"Auth, Export"}}}}}}}}"#
        )
    );
    let end = tokio::time::timeout(Duration::from_secs(10), resolved.next()).await;
    let end = end.unwrap().unwrap();
    let end = end.args().unwrap();
    assert_eq!(
        (*end.request_id(), *end.outcome()),
        (rid.as_str(), "allowed")
    );
}

#[tokio::test]
async fn an_unanswered_question_is_one_request_and_does_not_hold_the_dialog() {
    let (env, _cfg) = env_with_config("permission_wait_secs = 1\n").await;
    env.start_active("once").await;
    let pane = pane_of(&env, "once");
    let _answerer = env.answerer().await;
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let mut resolved = m.receive_permission_resolved().await.unwrap();
    let r = relay(&env, &ask_user_question("PreToolUse"), &pane).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    let within = Duration::from_secs(10);
    let asked = tokio::time::timeout(within, asked.next()).await.unwrap();
    let rid = asked.unwrap().args().unwrap().request_id().to_string();
    let end = tokio::time::timeout(within, resolved.next()).await.unwrap();
    let end = end.unwrap();
    assert_eq!(
        (
            *end.args().unwrap().request_id(),
            *end.args().unwrap().outcome()
        ),
        (rid.as_str(), "expired")
    );
    // Claude Code shows its dialog and fires PermissionRequest: the same question, no wait.
    let t = std::time::Instant::now();
    let r = relay(&env, &ask_user_question("PermissionRequest"), &pane).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(m.list_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn answers_are_awaited_by_default_only_while_an_answering_client_runs() {
    let env = Env::new().await;
    env.start_active("dflt").await;
    let pane = pane_of(&env, "dflt");
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let payload = permission_request("npm test");
    let mut watch = Watch::start(&env).await;

    // Nobody could answer: the relay returns at once and the request is the terminal's.
    let t = std::time::Instant::now();
    let r = relay(&env, &payload, &pane).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(
        watch.asks().await.ends_with(
            "dflt asks: Bash: npm test (answer in its terminal: trusty-mpm attach dflt)"
        )
    );
    let (.., rid, _, d) = the_request(&m, &mut asked).await;
    assert!(!get::<bool>(&d, "answerable"));
    assert_eq!(get::<u64>(&d, "expires_usec"), 0);
    assert_error(
        m.answer_request("dflt", &rid, answer(&[("allow", true.into())]))
            .await,
        "InvalidState",
    );
    let moved_on = format!(
        r#"{{"session_id":"{CLAUDE_ID}","hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{{"command":"npm test"}}}}"#
    );
    relay(&env, &moved_on, &pane).await;

    // With an answering client on the bus the relay waits the default two minutes.
    let _answerer = env.answerer().await;
    let run = relay(&env, &payload, &pane);
    let answering = async {
        let (.., rid, _, d) = the_request(&m, &mut asked).await;
        assert!(get::<bool>(&d, "answerable"));
        let (created, expires) = (
            get::<u64>(&d, "created_usec"),
            get::<u64>(&d, "expires_usec"),
        );
        assert_eq!(expires - created, 120_000_000);
        let hint = format!("dflt asks permission: Bash: npm test (trusty-mpm approve dflt {rid})");
        assert!(watch.asks().await.ends_with(&hint));
        m.answer_request("dflt", &rid, answer(&[("allow", true.into())]))
            .await
            .unwrap();
    };
    let (r, ()) = tokio::join!(run, answering);
    assert_eq!(
        r.stdout,
        r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}}"#
    );
}

/// `trusty-mpm watch` as a person runs it, followed line by line.
struct Watch {
    _child: tokio::process::Child,
    out: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Watch {
    /// Starts watch and returns once it follows the signals (it shows a probe session).
    async fn start(env: &Env) -> Watch {
        use tokio::io::AsyncBufReadExt;
        let mut child = crate::cli::spawn_cli(env, &["watch"]);
        let out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut w = Watch { _child: child, out };
        let m = env.manager().await;
        for n in 0.. {
            let probe = format!("probe{n}");
            m.register_session(&env.project(&probe), &probe)
                .await
                .unwrap();
            let line = tokio::time::timeout(Duration::from_millis(500), w.out.next_line());
            if let Ok(line) = line.await {
                assert!(line.unwrap().unwrap().contains("new session"));
                break;
            }
        }
        w
    }

    /// The next line announcing a request, its columns' padding squeezed to one space.
    async fn asks(&mut self) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.out.next_line()).await;
            let line = line.expect("a line within 10 s").unwrap().unwrap();
            if line.contains(" asks") {
                return line
                    .split(' ')
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
            }
        }
    }
}

#[tokio::test]
async fn the_cli_lists_remembers_and_answers() {
    use crate::cli::{fails, json, ok};
    let (env, _cfg) = env_with_config("permission_wait_secs = 30\n").await;
    env.start_active("cli").await;
    let pane = pane_of(&env, "cli");
    let _answerer = env.answerer().await;
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    assert_eq!(ok(&env, &["requests"]), "No request is waiting.\n");

    let payload = permission_request("npm test");
    let run = relay(&env, &payload, &pane);
    let answering = async {
        let (.., rid, _, _) = the_request(&m, &mut asked).await;
        assert_eq!(
            ok(&env, &["requests"]),
            format!(
                "cli  {rid}  permission Bash\n    npm test\n    1  Always allow Bash(npm test:*) in this project\n    2  Allow access to /srv/data for this session\n    trusty-mpm approve cli {rid} [--remember N] · trusty-mpm deny cli {rid} [--remember N]\n"
            )
        );
        let v = json(&env, &["requests", "--json"]);
        assert_eq!(
            (v[0]["kind"].as_str(), v[0]["answerable"].as_bool()),
            (Some("permission"), Some(true))
        );
        assert_eq!(v[0]["suggestions"][1]["destination"], "session");
        ok(&env, &["approve", "cli", &rid, "--remember", "1"]);
    };
    let (r, ()) = tokio::join!(run, answering);
    assert_eq!(
        r.stdout,
        format!(
            r#"{{"hookSpecificOutput":{{"hookEventName":"PermissionRequest","decision":{{"behavior":"allow","updatedPermissions":[{SUGGESTION}]}}}}}}"#
        )
    );

    let payload = ask_user_question("PreToolUse");
    let run = relay(&env, &payload, &pane);
    let answering = async {
        let (.., rid, _, _) = the_request(&m, &mut asked).await;
        let listed = ok(&env, &["requests"]);
        assert!(
            listed.contains("    2. Which features? (several): Auth | Search | Export\n"),
            "{listed}"
        );
        let (code, err) = fails(&env, &["answer", "cli", &rid, "--option", "Oracle", "x"]);
        assert_eq!(code, 12, "InvalidArgument");
        assert_eq!(
            err,
            "trusty-mpm: 'Oracle' is not an option of \"Which database?\"; it has Postgres, SQLite.\n"
        );
        ok(
            &env,
            &[
                "answer",
                "cli",
                &rid,
                "--option",
                "SQLite",
                "--option",
                "Auth,Export",
            ],
        );
    };
    let (r, ()) = tokio::join!(run, answering);
    assert!(
        r.stdout.ends_with(
            r#""answers":{"Which database?":"SQLite","Which features?":"Auth, Export"}}}}"#
        ),
        "{}",
        r.stdout
    );
}

/// `deny --remember N`: Claude Code takes a rule to remember only with an allow, so the daemon
/// writes the suggestion's rule, turned to deny, into the settings file it names before claude
/// hears the denial; a suggestion that lasts only while claude runs cannot be denied so.
#[tokio::test]
async fn deny_remember_writes_the_deny_rule_where_the_suggestion_says() {
    use crate::cli::{fails, ok};
    let (env, _cfg) = env_with_config("permission_wait_secs = 30\n").await;
    env.start_active("cli").await;
    let pane = pane_of(&env, "cli");
    let _answerer = env.answerer().await;
    let m = env.manager().await;
    let mut asked = m.receive_permission_requested().await.unwrap();
    let local = std::path::Path::new(&env.project("cli")).join(".claude/settings.local.json");
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    std::fs::write(
        &local,
        r#"{"permissions": {"allow": ["Read"]}, "model": "opus"}"#,
    )
    .unwrap();
    let payload = permission_request("npm test");
    let run = relay(&env, &payload, &pane);
    let answering = async {
        let (.., rid, _, _) = the_request(&m, &mut asked).await;
        let (code, err) = fails(&env, &["deny", "cli", &rid, "--remember", "2"]);
        assert_eq!(
            (code, err.as_str()),
            (
                12,
                "trusty-mpm: Suggestion 2: 'Allow access to /srv/data for this session' names no rule to deny.\n"
            )
        );
        assert_eq!(
            ok(
                &env,
                &[
                    "deny",
                    "cli",
                    &rid,
                    "--remember",
                    "1",
                    "--reason",
                    "not in CI"
                ]
            ),
            format!("Denied {rid}; the rule of suggestion 1 denies the same from now on.\n")
        );
    };
    let (r, ()) = tokio::join!(run, answering);
    assert_eq!(
        r.stdout,
        r#"{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"not in CI"}}}"#
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&local).unwrap()).unwrap();
    assert_eq!(
        written,
        serde_json::json!({"permissions": {"allow": ["Read"], "deny": ["Bash(npm test:*)"]}, "model": "opus"})
    );
    let history = ok(&env, &["events", "cli"]);
    assert!(
        history.contains("remembered: Always deny Bash(npm test:*) in this project; not in CI"),
        "{history}"
    );
}
