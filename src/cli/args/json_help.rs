//! What each `--json` prints, said by its `--help` (and so by the man pages): the shapes of
//! `list`, `requests`, `watch` and `hosts`.

use clap::Args;

pub const LIST_JSON: &str = "Print a JSON array of sessions, oldest first: {id, name, project_dir, \
status, status_detail, activity, activity_detail, pid, claude_session_id, transcript_path, \
created_at, last_seen, paused_at, pause_summary, frozen, unit, memory_bytes, cpu_usec, tasks, \
tmux_session, model, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, \
context_tokens, args, claude_command, claude_version, permission_mode, path} (times in microseconds since the epoch, 0 = unset; pid, memory, CPU and tasks \
0 = unknown; token counts 0 until the transcript was read). With hosts in the config file, each \
starts with host (local or the host's name).";

pub const REQUESTS_JSON: &str = "Print a JSON array of requests, oldest first: {session_id, name, \
request_id, kind (permission or question), tool, detail, created_usec, expires_usec (0: answered \
in the terminal), answerable, suggestions: [{id, label, destination}], questions: [{question, \
header, multi_select, options}]}.";

pub const WATCH_JSON: &str = "Print one JSON object per event: {event, at_usec, id, name} and, by \
event, path (SessionNew, SessionRemoved), status (StatusChanged), activity and detail \
(ActivityChanged), request_id, tool and detail (PermissionRequested), request_id and outcome \
(PermissionResolved), pid (ClaudeExited). With hosts in the config file, each has host too, and \
{event: HostUnreachable, host, at_usec, error} and {event: HostReachable, host, at_usec} say when \
a host is lost and back.";

pub const HOSTS_JSON: &str = "Print a JSON array, this machine first: {host, ssh (empty for local), \
reachable, error (why not), running (the daemon), hostname, version, sessions, working, \
needs_input}.";

#[derive(Args, Clone, Copy)]
pub struct Json {
    /// Print JSON instead of text (`--help` says its shape).
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_json_help_names_every_field() {
        let v = serde_json::to_value(crate::cli::output::SessionInfo::default()).unwrap();
        for key in v.as_object().unwrap().keys() {
            let word = format!("{key},");
            let last = format!("{key}}}");
            assert!(
                LIST_JSON.contains(&word) || LIST_JSON.contains(&last),
                "--json's help does not name {key}"
            );
        }
    }
}
