//! Shell completion. The scripts `trusty-mpm completions SHELL` prints hand every TAB back to
//! `trusty-mpm` itself (clap_complete's dynamic completion: `COMPLETE=SHELL trusty-mpm --
//! WORDS…`), which completes subcommands and options at any depth from the same clap
//! definitions that parse them, and a KEY with the names of the daemon's sessions.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::CompleteEnv;
use clap_complete::env::Shells;

use super::args::Cli;

/// The program the scripts complete and call: the `trusty-mpm` on PATH.
const BIN: &str = "trusty-mpm";

/// Answers a completion request (the `COMPLETE` variable is set) and exits; otherwise returns.
pub fn answer_if_asked() {
    CompleteEnv::with_factory(Cli::command)
        .bin(BIN)
        .completer(BIN)
        .complete();
}

/// Writes the completion script for `shell`.
pub fn script(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let name = shell.to_string();
    let shells = Shells::builtins();
    let completer = shells
        .completer(&name)
        .ok_or_else(|| std::io::Error::other(format!("no dynamic completion for {name}")))?;
    completer.write_registration("COMPLETE", BIN, BIN, BIN, out)?;
    if shell == clap_complete::Shell::Zsh {
        // Installed in zsh's fpath, this file is the body of `_trusty-mpm`, run at the first
        // TAB: it has just defined the completer, so it runs it too (when sourced, it does not).
        writeln!(
            out,
            "[[ ${{funcstack[1]}} = _trusty-mpm ]] && _clap_dynamic_completer_trusty_mpm \"$@\""
        )?;
    }
    Ok(())
}
