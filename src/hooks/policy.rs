//! The deny rules of config.toml applied to a hook event: only a PreToolUse call can be
//! blocked, by the first rule whose tool and pattern match what the call is about.

use super::payload::Payload;
use crate::config::file::DenyRule;

/// The first deny rule matching a PreToolUse call.
pub fn denies<'a>(rules: &'a [DenyRule], p: &Payload) -> Option<&'a DenyRule> {
    if p.hook_event_name != "PreToolUse" {
        return None;
    }
    let subject = p.subject();
    rules
        .iter()
        .find(|r| (r.tool == "*" || r.tool == p.tool_name) && r.pattern.is_match(&subject))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::ConfigFile;
    use crate::hooks::payload::parse;

    #[test]
    fn rules_match_tool_and_subject() {
        let rules = ConfigFile::parse(
            r#"
            [[deny]]
            tool = "Bash"
            pattern = "rm -rf /"
            reason = "no"
            [[deny]]
            tool = "*"
            pattern = "\\.env$"
            reason = "secrets"
            "#,
        )
        .unwrap()
        .deny;
        let bash = parse(r#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"sudo rm -rf / "}}"#).unwrap();
        assert_eq!(denies(&rules, &bash).unwrap().reason, "no");
        let edit = parse(r#"{"hook_event_name":"PreToolUse","tool_name":"Edit","tool_input":{"file_path":"/p/.env"}}"#).unwrap();
        assert_eq!(denies(&rules, &edit).unwrap().reason, "secrets");
        let fine = parse(
            r#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"}}"#,
        )
        .unwrap();
        assert!(denies(&rules, &fine).is_none());
        let post = parse(r#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf /"}}"#).unwrap();
        assert!(
            denies(&rules, &post).is_none(),
            "only PreToolUse can be blocked"
        );
    }
}
