//! Claude Code's own settings files (`.claude/settings*.json`: read, written whole and
//! atomically, permission rules added beside every other key) and the permission suggestions
//! it sends with a request, in words and as the settings file and rules they name. Both hooks
//! (installing the relay) and the lifecycle (a denial remembered) write these files.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::store::write_atomic;

pub(crate) fn read(path: &Path) -> Result<Map<String, Value>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!(
            "{} is not a JSON object; not touching it",
            path.display()
        )),
        Err(e) => Err(format!(
            "{} is not valid JSON ({e}); not touching it",
            path.display()
        )),
    }
}

pub(crate) fn write(path: &Path, root: &Map<String, Value>) -> Result<(), String> {
    let mut bytes = serde_json::to_vec_pretty(root).expect("JSON serializes");
    bytes.push(b'\n');
    write_atomic(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Adds permission rules (`permissions.<behavior>`, e.g. `deny`: `["Bash(npm test:*)"]`) to a
/// settings file as Claude Code would, keeping every other key; a rule already there is not
/// added twice. Returns how many were added.
pub fn add_rules(path: &Path, behavior: &str, rules: &[String]) -> Result<usize, String> {
    let mut root = read(path)?;
    let permissions = match root.entry("permissions").or_insert_with(|| json!({})) {
        Value::Object(m) => m,
        _ => return Err("its \"permissions\" is not an object; not touching it".into()),
    };
    let Some(list) = permissions
        .entry(behavior)
        .or_insert_with(|| json!([]))
        .as_array_mut()
    else {
        return Err(format!(
            "its permissions.{behavior} is not a list; not touching it"
        ));
    };
    let mut added = 0;
    for rule in rules {
        if !list.iter().any(|r| r == rule.as_str()) {
            list.push(json!(rule));
            added += 1;
        }
    }
    if added > 0 {
        write(path, &root)?;
    }
    Ok(added)
}

/// What remembering a suggestion does, in words: "Always allow Bash(npm test:*) in this project".
pub fn label(entry: &Value) -> String {
    let place = match str_of(entry, "destination") {
        "localSettings" => "in this project".to_owned(),
        "projectSettings" => "in this project, for everyone".to_owned(),
        "userSettings" => "in every project".to_owned(),
        "session" => "for this session".to_owned(),
        "cliArg" => "for this run".to_owned(),
        other => format!("in {other}"),
    };
    let list = |key: &str, item: &dyn Fn(&Value) -> String| {
        let items = entry.get(key).and_then(Value::as_array);
        let items: Vec<String> = items.into_iter().flatten().map(item).collect();
        items.join(", ")
    };
    match str_of(entry, "type") {
        "addRules" | "replaceRules" => {
            let verb = match str_of(entry, "behavior") {
                "deny" => "Always deny",
                "ask" => "Always ask before",
                _ => "Always allow",
            };
            format!("{verb} {} {place}", rules(entry).join(", "))
        }
        "addDirectories" => {
            let dirs = list("directories", &|d| d.as_str().unwrap_or("").to_owned());
            format!("Allow access to {dirs} {place}")
        }
        "setMode" => format!("Switch to {} mode {place}", str_of(entry, "mode")),
        other => format!("Apply {other} {place}"),
    }
}

/// A suggestion turned into the rule that denies what it would allow: the same rules at the
/// same place, with behavior "deny". Claude Code applies `updatedPermissions` only with an
/// allow (2.1.332's hook output takes a deny's message and interrupt alone), so the daemon
/// writes this rule into the settings file itself: only rules (`addRules`) kept in a settings
/// file can be denied so, not a suggestion for this session or run, a mode or directories.
pub fn deny_rule(entry: &Value) -> Result<Value, String> {
    if !matches!(str_of(entry, "type"), "addRules" | "replaceRules") || rules(entry).is_empty() {
        return Err(format!("'{}' names no rule to deny", label(entry)));
    }
    if settings_file(str_of(entry, "destination"), Path::new("/")).is_none() {
        return Err(format!(
            "'{}' lasts only while claude runs; a rule kept in a settings file can be denied",
            label(entry)
        ));
    }
    let mut rule = entry.clone();
    rule["type"] = json!("addRules");
    rule["behavior"] = json!("deny");
    Ok(rule)
}

/// An `addRules` entry's rules as settings files spell them: `Bash(npm test:*)`, `Read`.
pub fn rules(entry: &Value) -> Vec<String> {
    let all = entry.get("rules").and_then(Value::as_array);
    all.into_iter()
        .flatten()
        .filter(|r| !str_of(r, "toolName").is_empty())
        .map(|r| match str_of(r, "ruleContent") {
            "" => str_of(r, "toolName").to_owned(),
            content => format!("{}({content})", str_of(r, "toolName")),
        })
        .collect()
}

/// The settings file a suggestion's destination names for a claude working in `project`;
/// `None` for one that lives only while claude runs (`session`, `cliArg`).
pub fn settings_file(destination: &str, project: &Path) -> Option<PathBuf> {
    match destination {
        "localSettings" => Some(project.join(".claude/settings.local.json")),
        "projectSettings" => Some(project.join(".claude/settings.json")),
        "userSettings" => Some(crate::config::home().join(".claude/settings.json")),
        _ => None,
    }
}

/// A string field of a JSON object, or "".
pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_join_the_permissions_beside_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".claude/settings.local.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"permissions": {"allow": ["Bash(ls)"]}, "model": "opus"}"#,
        )
        .unwrap();
        let rules = ["Bash(rm -rf:*)".to_owned(), "WebFetch".to_owned()];
        assert_eq!(add_rules(&path, "deny", &rules).unwrap(), 2);
        assert_eq!(
            add_rules(&path, "deny", &rules[..1]).unwrap(),
            0,
            "no twice"
        );
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"permissions": {"allow": ["Bash(ls)"], "deny": ["Bash(rm -rf:*)", "WebFetch"]}, "model": "opus"})
        );
        let fresh = dir.path().join("new/.claude/settings.json");
        assert_eq!(add_rules(&fresh, "deny", &rules[1..]).unwrap(), 1);
        std::fs::write(&path, r#"{"permissions": []}"#).unwrap();
        assert!(
            add_rules(&path, "deny", &rules)
                .unwrap_err()
                .contains("not touching it")
        );
    }
}
