//! Building tmux command lines. tmux reads its argv as a command list: an element ending in `;`
//! ends a command (even after `--`), and `-c DIR` is expanded as a format. Caller text is made
//! literal here, in the one place every tmux argv is built, so no caller string can run a tmux
//! command or a format job.

/// One argument as tmux must receive it to read back exactly `arg`: a trailing `;` is escaped
/// as `\;` (tmux turns a trailing `\;` into a literal `;`).
fn literal(arg: &str) -> String {
    match arg.strip_suffix(';') {
        Some(head) => format!("{head}\\;"),
        None => arg.to_owned(),
    }
}

/// The argv of a list of tmux commands, each argument literal, commands separated by `;`.
pub fn command_list<C: AsRef<[S]>, S: AsRef<str>>(commands: &[C]) -> Vec<String> {
    let mut argv = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        if i > 0 {
            argv.push(";".to_owned());
        }
        argv.extend(command.as_ref().iter().map(|a| literal(a.as_ref())));
    }
    argv
}

/// A start directory for `-c`, which tmux expands as a format: `#` is doubled to stay literal.
pub fn start_dir(dir: &str) -> String {
    dir.replace('#', "##")
}

/// The exact target of a session (`=NAME:`): without `=` tmux accepts prefixes and patterns,
/// and without the trailing `:` a session name is also tried as a window name.
pub fn session_target(name: &str) -> String {
    format!("={name}:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_semicolons_are_escaped_everywhere() {
        let cmds = vec![
            vec!["new-session", "--", "x;", ";", "a\\;", "mid;dle"],
            vec!["set-option", "-w", "remain-on-exit", "on"],
        ];
        assert_eq!(
            command_list(&cmds),
            [
                "new-session",
                "--",
                "x\\;",
                "\\;",
                "a\\\\;",
                "mid;dle",
                ";",
                "set-option",
                "-w",
                "remain-on-exit",
                "on"
            ]
        );
    }

    #[test]
    fn start_dirs_and_targets_are_literal() {
        assert_eq!(start_dir("/p/x#(touch y)#{pid}"), "/p/x##(touch y)##{pid}");
        assert_eq!(session_target("alph"), "=alph:");
    }
}
