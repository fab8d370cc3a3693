//! The client side of the contract: the command line definitions (with their completions and
//! man pages), typed zbus proxies, the client subcommands (list, control, attach, watch,
//! notify, tray), the hosts they reach over SSH, the `hooks` settings commands, and the hook
//! relay Claude Code runs.

pub mod across;
pub mod args;
pub mod attach;
pub mod bus;
pub mod client;
pub mod complete;
pub mod config;
pub mod desktop;
pub mod draft;
pub mod follow;
pub mod guards;
pub mod hook_setup;
pub mod hosts;
pub mod man;
pub mod notify;
pub mod output;
pub mod proxy;
pub mod relay;
pub mod remote;
pub mod requests;
pub mod signals;
pub mod status;
pub mod tray;
pub mod watch;
