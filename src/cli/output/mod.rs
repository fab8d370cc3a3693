//! How the client prints: session records (table and JSON), ages, counts, colours (only on a
//! TTY and never with a non-empty NO_COLOR), errors with their exit codes, and text from the
//! daemon made inert for the terminal (every control character shown as an escape, in human
//! form and in JSON), whatever the daemon sent. One module per theme.

mod colour;
mod counts;
mod errors;
mod format;
mod inert;
mod session;
mod table;

pub use colour::{activity_colour, colour, paint, status_colour};
pub use counts::ActivityCounts;
pub use errors::{error_name, exit_code, exit_code_for, message, report};
pub use format::{age, bytes, count, grouped, token_lines, tokens};
pub use inert::{json, visible, visible_lines};
pub use session::SessionInfo;
pub use table::{cut_middle, table, terminal_width, tilde};
