//! Failed calls for people: the daemon's sentence (or how to start it) and the documented exit
//! code of each contract error.

use std::process::ExitCode;

use super::inert::visible;

/// Exit code for a D-Bus error name (see `--help`): the contract's kinds have theirs
/// (`crate::error::KINDS`), 3 when the daemon is not running, 1 for anything else.
pub fn exit_code_for(error_name: &str) -> u8 {
    if is_not_running(error_name) {
        return 3;
    }
    crate::error::exit_code(error_name).unwrap_or(1)
}

fn is_not_running(error_name: &str) -> bool {
    matches!(
        error_name,
        "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner"
    )
}

const START_HINT: &str = "start it with `systemctl --user start trusty-mpm` (after `make install`) or run `trusty-mpm daemon`";

/// A failed call as a person wants to read it: the daemon's sentence, or how to start it.
pub fn message(e: &zbus::Error) -> String {
    let text = match error_name(e) {
        Some((name, _)) if is_not_running(&name) => {
            format!("the daemon is not running; {START_HINT}.")
        }
        Some((name, msg)) if msg.is_empty() => name,
        Some((_, msg)) => msg,
        None => e.to_string(),
    };
    visible(&text)
}

/// The D-Bus error name and message of a failed call, when the peer answered with an error.
pub fn error_name(e: &zbus::Error) -> Option<(String, String)> {
    use zbus::DBusError;
    match e {
        zbus::Error::MethodError(name, msg, _) => {
            Some((name.to_string(), msg.clone().unwrap_or_default()))
        }
        zbus::Error::FDO(f) => Some((
            f.name().to_string(),
            f.description().unwrap_or_default().to_owned(),
        )),
        _ => None,
    }
}

/// Prints a failed call the way a person wants to read it and picks the exit code.
pub fn report(e: &zbus::Error) -> ExitCode {
    eprintln!("trusty-mpm: {}", message(e));
    exit_code(e)
}

/// The exit code of a failed call.
pub fn exit_code(e: &zbus::Error) -> ExitCode {
    match error_name(e) {
        Some((name, _)) => ExitCode::from(exit_code_for(&name)),
        None => ExitCode::FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_ones() {
        // The README's table: 10 NotFound ... 18 Internal, 3 when the daemon is not running.
        for (code, kind) in [
            (10, "NotFound"),
            (11, "InvalidState"),
            (12, "InvalidArgument"),
            (13, "AlreadyExists"),
            (14, "TmuxUnavailable"),
            (15, "TmuxFailed"),
            (16, "Timeout"),
            (17, "AccessDenied"),
            (18, "Internal"),
        ] {
            assert_eq!(
                exit_code_for(&format!("org.trusty.Mpm1.Error.{kind}")),
                code
            );
        }
        assert_eq!(
            exit_code_for("org.freedesktop.DBus.Error.ServiceUnknown"),
            3
        );
        assert_eq!(exit_code_for("org.example.Other"), 1);
    }
}
