//! The client side of the contract: the command line definitions (with their completions and
//! man pages), typed zbus proxies, the client subcommands (list, control, attach, watch,
//! notify, tray), the `hooks` settings commands, and the hook relay Claude Code runs.

pub mod args;
pub mod attach;
pub mod bus;
pub mod client;
pub mod complete;
pub mod config;
pub mod desktop;
pub mod draft;
pub mod guards;
pub mod hooks;
pub mod man;
pub mod notify;
pub mod output;
pub mod proxy;
pub mod relay;
pub mod requests;
pub mod tray;
pub mod watch;
