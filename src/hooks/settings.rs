//! Installing the relay into Claude Code's `settings.json`: one entry per event we listen to,
//! merged beside every other key and hook (key order kept), idempotent, written atomically.
//! `uninstall` removes exactly our entries; `status` reports them. `add_rules` writes a
//! permission rule the way Claude Code keeps one (a denied request remembered).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::requests::ASK_USER_QUESTION;
use crate::claude_settings::{read, write};

/// The events the relay is installed for.
pub const EVENTS: [&str; 12] = [
    "SessionStart",
    "SessionEnd",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PermissionRequest",
    "PermissionDenied",
    "Notification",
    "Stop",
    "StopFailure",
    "SubagentStop",
    "PreCompact",
];

/// Events whose entries take a tool matcher.
const TOOL_EVENTS: [&str; 3] = ["PreToolUse", "PostToolUse", "PermissionRequest"];

/// Seconds Claude Code lets a PermissionRequest hook run: long enough for the daemon's
/// longest permission wait.
const PERMISSION_TIMEOUT: u64 = 3600;

/// Which settings file.
#[derive(Debug, Clone)]
pub enum Scope {
    User,
    Project(PathBuf),
}

impl Scope {
    pub fn path(&self) -> PathBuf {
        match self {
            Scope::User => {
                let home = std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| "/".into());
                home.join(".claude/settings.json")
            }
            Scope::Project(dir) => dir.join(".claude/settings.json"),
        }
    }
}

/// The relay's own executable, installed beside `trusty-mpm` (`make install` puts both there).
pub const RELAY_BIN: &str = "trusty-mpm-hook";

/// The hook command for the relay of the `trusty-mpm` at `bin`, quoted for the shell Claude
/// Code runs it with: `trusty-mpm-hook` beside it when that is there (a small executable that
/// starts in a fraction of the time, for every event), else `trusty-mpm hook`.
pub fn relay_command(bin: &Path) -> String {
    let small = bin.with_file_name(RELAY_BIN);
    match small.is_file() {
        true => quoted(&small),
        false => format!("{} hook", quoted(bin)),
    }
}

fn quoted(bin: &Path) -> String {
    let s = bin.to_string_lossy();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Whether a hook command is one of ours (any install path, either form).
pub fn is_ours(command: &str) -> bool {
    let c = command.trim();
    [
        "trusty-mpm hook",
        "trusty-mpm' hook",
        "/trusty-mpm-hook",
        "/trusty-mpm-hook'",
    ]
    .iter()
    .any(|end| c.ends_with(end))
        || c == RELAY_BIN
}

fn hooks_of(root: &mut Map<String, Value>) -> Result<&mut Map<String, Value>, String> {
    match root.entry("hooks").or_insert_with(|| json!({})) {
        Value::Object(m) => Ok(m),
        _ => Err("its \"hooks\" is not an object; not touching it".into()),
    }
}

/// The command strings of our entries in one event's groups.
fn our_entries(groups: &Value) -> Vec<String> {
    groups
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g.get("hooks").and_then(Value::as_array))
        .flatten()
        .filter_map(|h| h.get("command").and_then(Value::as_str))
        .filter(|c| is_ours(c))
        .map(str::to_owned)
        .collect()
}

/// What Claude Code's spinner says while the relay holds a question back for the desktop to
/// answer (the entry's `statusMessage`). A permission request needs no such line: Claude Code
/// shows its own dialog while the hook runs, and the first answer counts.
pub const WAITING_FOR_DESKTOP: &str = "waiting for an answer from the desktop";

/// Our entries: (event, the matcher of their group, the entry). PreToolUse has two, every
/// tool and AskUserQuestion again with `WAITING_FOR_DESKTOP`: Claude Code runs one command once
/// per call however many groups name it, with the last one's status message (2.1.332; 2.1.197
/// shows none), so a question says so in claude's pane and no other tool call does.
fn entries(command: &str) -> Vec<(&'static str, Option<&'static str>, Value)> {
    let mut out = Vec::new();
    for event in EVENTS {
        let mut entry = json!({ "type": "command", "command": command });
        if event == "PermissionRequest" {
            entry["timeout"] = json!(PERMISSION_TIMEOUT);
        }
        let matcher = TOOL_EVENTS.contains(&event).then_some("*");
        out.push((event, matcher, entry));
    }
    let question = json!({
        "type": "command",
        "command": command,
        "timeout": PERMISSION_TIMEOUT,
        "statusMessage": WAITING_FOR_DESKTOP,
    });
    out.push(("PreToolUse", Some(ASK_USER_QUESTION), question));
    out
}

/// Whether a group is the one of AskUserQuestion's entry.
fn for_questions(group: &Value) -> bool {
    group.get("matcher").and_then(Value::as_str) == Some(ASK_USER_QUESTION)
}

/// Adds (or updates) our entries for every event. Returns the events that changed.
pub fn install(path: &Path, command: &str) -> Result<Vec<&'static str>, String> {
    let mut root = read(path)?;
    let hooks = hooks_of(&mut root)?;
    let mut changed = Vec::new();
    for (event, matcher, entry) in entries(command) {
        let groups = hooks.entry(event).or_insert_with(|| json!([]));
        let Some(list) = groups.as_array_mut() else {
            return Err(format!("hooks.{event} is not an array; not touching it"));
        };
        let questions = matcher == Some(ASK_USER_QUESTION);
        let ours = list
            .iter_mut()
            .filter(|g| for_questions(g) == questions)
            .filter_map(|g| g.get_mut("hooks").and_then(Value::as_array_mut))
            .flatten()
            .filter(|h| {
                h.get("command")
                    .and_then(Value::as_str)
                    .is_some_and(is_ours)
            });
        let mut found = false;
        for h in ours {
            found = true;
            // What we set (a new path, the status message); the user's other keys stay.
            for (k, v) in entry.as_object().into_iter().flatten() {
                if h.get(k) != Some(v) {
                    h[k.as_str()] = v.clone();
                    changed.push(event);
                }
            }
        }
        if !found {
            let mut group = Map::new();
            if let Some(m) = matcher {
                group.insert("matcher".into(), json!(m));
            }
            group.insert("hooks".into(), json!([entry]));
            list.push(Value::Object(group));
            changed.push(event);
        }
    }
    let mut events: Vec<&'static str> = Vec::new();
    for event in changed {
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if !events.is_empty() {
        write(path, &root)?;
    }
    Ok(events)
}

/// Removes our entries (and groups or events left empty by that). Returns how many.
pub fn uninstall(path: &Path) -> Result<usize, String> {
    if !path.exists() {
        return Ok(0);
    }
    let mut root = read(path)?;
    let Some(Value::Object(hooks)) = root.get_mut("hooks") else {
        return Ok(0);
    };
    let mut removed = 0;
    for groups in hooks.values_mut() {
        let Some(list) = groups.as_array_mut() else {
            continue;
        };
        for g in list.iter_mut() {
            if let Some(hs) = g.get_mut("hooks").and_then(Value::as_array_mut) {
                let before = hs.len();
                hs.retain(|h| {
                    !h.get("command")
                        .and_then(Value::as_str)
                        .is_some_and(is_ours)
                });
                removed += before - hs.len();
            }
        }
        list.retain(|g| {
            g.get("hooks")
                .and_then(Value::as_array)
                .is_none_or(|h| !h.is_empty())
        });
    }
    hooks.retain(|_, v| v.as_array().is_none_or(|a| !a.is_empty()));
    if hooks.is_empty() {
        root.remove("hooks");
    }
    if removed > 0 {
        write(path, &root)?;
    }
    Ok(removed)
}

/// Our installed entries: (event, command).
pub fn status(path: &Path) -> Result<Vec<(String, String)>, String> {
    let root = read(path)?;
    let mut out = Vec::new();
    if let Some(Value::Object(hooks)) = root.get("hooks") {
        for (event, groups) in hooks {
            for c in our_entries(groups) {
                out.push((event.clone(), c));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OTHER: &str = r#"{
  "model": "opus",
  "permissions": { "allow": ["Bash(ls)"] },
  "hooks": {
    "PreToolUse": [ { "matcher": "Bash", "hooks": [ { "type": "command", "command": "my-linter" } ] } ],
    "Custom": [ { "hooks": [ { "type": "command", "command": "x" } ] } ]
  },
  "zzz": 1
}"#;

    #[test]
    fn install_merges_idempotently_and_uninstall_removes_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".claude/settings.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, OTHER).unwrap();

        let cmd = relay_command(Path::new("/opt/bin/trusty-mpm"));
        assert_eq!(install(&path, &cmd).unwrap().len(), EVENTS.len());
        assert!(
            install(&path, &cmd).unwrap().is_empty(),
            "second install changes nothing"
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["model", "permissions", "hooks", "zzz"],
            "key order kept"
        );
        let pre = v["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(pre.len(), 3);
        assert_eq!(pre[0]["hooks"][0]["command"], "my-linter");
        assert_eq!(pre[1]["matcher"], "*");
        assert_eq!(pre[1]["hooks"][0].get("statusMessage"), None);
        // The questions' group last: Claude Code shows the last one's status message.
        assert_eq!(
            pre[2],
            json!({"matcher": "AskUserQuestion", "hooks": [{"type": "command", "command": cmd,
                   "timeout": PERMISSION_TIMEOUT, "statusMessage": WAITING_FOR_DESKTOP}]})
        );
        // PreToolUse twice: every tool, and questions with their status message.
        assert_eq!(status(&path).unwrap().len(), EVENTS.len() + 1);

        // A new install path replaces ours in place.
        let moved = relay_command(Path::new("/usr/local/bin/trusty-mpm"));
        assert_eq!(install(&path, &moved).unwrap().len(), EVENTS.len());
        assert!(status(&path).unwrap().iter().all(|(_, c)| *c == moved));

        assert_eq!(uninstall(&path).unwrap(), EVENTS.len() + 1);
        let back: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(OTHER).unwrap());
        assert_eq!(uninstall(&path).unwrap(), 0);
    }

    #[test]
    fn an_older_install_gains_the_questions_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let cmd = "/b/trusty-mpm hook";
        let old = json!({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": cmd}]}]}});
        std::fs::write(&path, old.to_string()).unwrap();
        let changed = install(&path, cmd).unwrap();
        assert_eq!(changed.iter().filter(|e| **e == "PreToolUse").count(), 1);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let pre = v["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(pre.len(), 2, "{pre:?}");
        assert_eq!(pre[1]["hooks"][0]["statusMessage"], WAITING_FOR_DESKTOP);
    }

    #[test]
    fn fresh_file_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/settings.json");
        install(&path, "/b/trusty-mpm hook").unwrap();
        assert_eq!(uninstall(&path).unwrap(), EVENTS.len() + 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), "{}");

        std::fs::write(&path, "{ broken").unwrap();
        assert!(
            install(&path, "/b/trusty-mpm hook")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{ broken",
            "never overwritten"
        );
        std::fs::write(&path, r#"{"hooks": []}"#).unwrap();
        assert!(install(&path, "/b/trusty-mpm hook").is_err());
        assert_eq!(
            relay_command(Path::new("/my dir/trusty-mpm")),
            "'/my dir/trusty-mpm' hook"
        );
        assert!(is_ours("'/my dir/trusty-mpm' hook"));
        assert!(!is_ours("trusty-mpm hooks"));
    }

    /// Settings get the relay's own executable when it is installed beside `trusty-mpm`, and an
    /// install made with either form is replaced by the other in place.
    #[test]
    fn the_small_relay_is_preferred_when_installed_beside() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("my bin/trusty-mpm");
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        let alias = relay_command(&bin);
        assert_eq!(alias, format!("'{}' hook", bin.display()));
        std::fs::write(bin.with_file_name(RELAY_BIN), "").unwrap();
        let small = relay_command(&bin);
        assert_eq!(
            small,
            format!("'{}'", bin.with_file_name(RELAY_BIN).display())
        );
        for c in [
            &alias,
            &small,
            "/usr/bin/trusty-mpm-hook",
            "trusty-mpm-hook",
        ] {
            assert!(is_ours(c), "{c}");
        }
        assert!(!is_ours("/usr/bin/not-trusty-mpm-hook"));

        let path = dir.path().join("settings.json");
        install(&path, &alias).unwrap();
        assert_eq!(install(&path, &small).unwrap().len(), EVENTS.len());
        assert!(status(&path).unwrap().iter().all(|(_, c)| *c == small));
        assert_eq!(uninstall(&path).unwrap(), EVENTS.len() + 1);
    }
}
