//! Each session in a systemd unit of its own: the transient scope claude is launched in (under
//! the user manager, so everything claude starts stays in it), the resource limits applied to
//! it, its resource figures (from the unit's cgroup, else from the session's process tree in
//! /proc), and freezing the whole session (systemd's freezer, else SIGSTOP to every process).
//! The manager is asked over D-Bus (`systemd`); a launcher waits at a `Gate` until its scope
//! holds it.
//!
//! Nothing here knows of sessions' rules: the lifecycle decides when; this module knows how.

mod cgroup;
mod freeze;
mod gate;
mod limits;
mod systemd;

pub use cgroup::{Figures, figures, tree};
pub use freeze::{freeze, thaw};
pub use gate::{GATE_SCRIPT, Gate, release_gates};
pub use systemd::{Scope, clear, limit_slice, start_scope};

use crate::model::SessionName;

/// The unit a session's claude runs in.
pub fn unit_name(session: &SessionName) -> String {
    format!("trusty-mpm-session-{session}.scope")
}
