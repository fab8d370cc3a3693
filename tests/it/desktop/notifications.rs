//! What a permission notification looks like to each kind of server, what clicking its body
//! does (opens the session in a terminal, never denies), the "finished" note, and the one
//! warning while no server answers.

use std::time::Duration;

use super::*;

/// A command whose text a markup-reading server would render or swallow.
const TRICKY: &str = r#"cat <Cargo.toml> && echo "<b>it's</b>""#;

#[tokio::test]
async fn bodies_are_escaped_for_markup_and_buttons_need_actions() {
    let desk = Desk::new("permission_wait_secs = 30\n", FULL).await;
    let mut req = Requests::new(&desk.env).await;

    let _pending = desk.ask(TRICKY);
    req.asked().await;
    let note = desk.asking(1).await;
    // The tool is in the summary; the body is the command alone.
    assert_eq!(note.summary, "n asks to use Bash");
    assert_eq!(
        note.body,
        "cat &lt;Cargo.toml&gt; &amp;&amp; echo &quot;&lt;b&gt;it&apos;s&lt;/b&gt;&quot;"
    );
    assert_eq!(
        note.actions,
        ["default", "Open", "allow", "Allow", "deny", "Deny"]
    );
    assert_eq!(note.hint_str("desktop-entry"), "trusty-mpm");
    assert_eq!(note.hint_str("category"), "x-trusty-mpm.permission.request");
    assert_eq!(u8::try_from(note.hints["urgency"].clone()).unwrap(), 2);
    assert!(bool::try_from(note.hints["resident"].clone()).unwrap());

    // A plain-text server without actions: the text as it is, and how to answer instead.
    *desk.caps.lock().unwrap() = vec!["body".into()];
    let _pending = desk.ask(TRICKY);
    let rid = req.asked().await;
    let note = desk.asking(2).await;
    assert!(note.actions.is_empty(), "{:?}", note.actions);
    assert_eq!(
        note.body,
        format!("{TRICKY}\nAnswer with: trusty-mpm approve n {rid} · trusty-mpm deny n {rid}")
    );
    // Capabilities are asked for each notification: the user may switch servers.
    assert!(desk.log.lock().unwrap().caps_asked >= 2);

    // A long command, on several lines, shows whole (the server wraps it).
    let long = format!(
        "cargo build --release \\\n  && {}",
        "./deploy.sh --verbose ".repeat(60)
    );
    let _pending = desk.ask(&long);
    let rid = req.asked().await;
    let note = desk.asking(3).await;
    assert_eq!(
        note.body,
        format!("{long}\nAnswer with: trusty-mpm approve n {rid} · trusty-mpm deny n {rid}")
    );
}

#[tokio::test]
async fn clicking_the_body_opens_the_session_in_a_terminal_and_never_denies() {
    // The "terminal": records its argv, then runs it in a pane of a tmux server of its own,
    // as a terminal window would run it.
    let dir = tempfile::tempdir().unwrap();
    let outer = dir.path().join("outer.sock");
    let argv_file = dir.path().join("argv");
    let term = dir.path().join("term");
    std::fs::write(
        &term,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nexec tmux -S '{}' -f /dev/null new-session -d -x 100 -y 30 -- \"$@\"\n",
            argv_file.display(),
            outer.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&term, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _outer = Terminal(outer.clone());
    let config = format!(
        "permission_wait_secs = 30\nterminal_command = \"{}\"\n",
        term.display()
    );
    let desk = Desk::new(&config, FULL).await;
    let mut req = Requests::new(&desk.env).await;
    let id = desk.env.manager().await.get_session("n").await.unwrap();
    let id = desk.env.session(&id).await.id().await.unwrap();

    let pending = desk.ask("make deploy");
    let rid = req.asked().await;
    let note = desk.asking(1).await;
    desk.click(note.id, "default").await;
    wait_for("the terminal ran", || async { argv_file.exists() }).await;
    let argv = std::fs::read_to_string(&argv_file).unwrap();
    assert_eq!(argv, format!("{DAEMON}\nattach\n{id}\n"));
    // The attach in that terminal became a client of the session's tmux session.
    wait_for("a client on session n", || async {
        let out = desk.env.tmux(&["list-clients", "-F", "#{client_session}"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "n")
    })
    .await;
    // Nothing was answered: the request still waits and its notification stays.
    req.none_ended_for(Duration::from_millis(500)).await;
    assert!(!pending.is_finished());
    assert!(desk.log.lock().unwrap().closed.is_empty());
    desk.click(note.id, "allow").await;
    assert_eq!(req.ended().await, (rid, "allowed".to_owned()));
    desk.closed(note.id).await;

    // The "finished" note opens the session the same way.
    std::fs::remove_file(&argv_file).unwrap();
    let before = desk.log.lock().unwrap().shown.len();
    desk.hook("UserPromptSubmit", r#","prompt":"x""#).await;
    desk.hook("Stop", "").await;
    let finished = || {
        let log = desk.log.lock().unwrap();
        log.shown[before..]
            .iter()
            .find(|s| s.summary == "n finished")
            .cloned()
    };
    wait_for("the finished note", || async { finished().is_some() }).await;
    desk.click(finished().unwrap().id, "default").await;
    wait_for("the terminal ran again", || async { argv_file.exists() }).await;
    wait_for("its arguments", || async {
        std::fs::read_to_string(&argv_file).unwrap() == format!("{DAEMON}\nattach\n{id}\n")
    })
    .await;
}

#[tokio::test]
async fn finished_notes_and_one_warning_while_no_server_answers() {
    // Requests nobody waits for: each relay returns at once.
    let desk = Desk::new("permission_wait_secs = 0\n", FULL).await;
    // What showed while notify started listening: "finished" notes of the probe's cycles.
    let note = desk.log.lock().unwrap().shown[0].clone();
    assert_eq!(note.summary, "n finished");
    assert_eq!(note.actions, ["default", "Open"], "it opens the session");
    // Worked for 0 s (or 1 s on a loaded machine): seconds as "N s".
    let worked = note.body.strip_prefix("Worked for ").unwrap_or_default();
    let secs = worked
        .strip_suffix(" s and is ready for you.")
        .unwrap_or_default();
    assert!(secs.parse::<u64>().is_ok(), "{}", note.body);
    assert_eq!(note.hint_str("category"), "x-trusty-mpm.session.finished");
    assert_eq!(u8::try_from(note.hints["urgency"].clone()).unwrap(), 1);

    // The server leaves the bus; three requests come and go unseen.
    let name = "org.freedesktop.Notifications";
    desk.server.release_name(name).await.unwrap();
    let mut req = Requests::new(&desk.env).await;
    for _ in 0..3 {
        desk.ask("ls").await.unwrap();
        req.asked().await;
    }
    // It comes back: the next request shows, so notify has handled everything before it.
    desk.server.request_name(name).await.unwrap();
    desk.ask("ls").await.unwrap();
    assert_eq!(
        desk.asking(1).await.body,
        "ls\nAnswer in its terminal: click to open it."
    );
    let stderr = desk.notify_stderr().await;
    assert_eq!(
        stderr.matches("no notification server answers").count(),
        1,
        "{stderr}"
    );
}
