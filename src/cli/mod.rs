//! The client side of the contract: the command line definitions, typed zbus proxies, the
//! client subcommands (list, control, watch, notify) and the `hooks` settings commands.

pub mod args;
pub mod client;
pub mod hooks;
pub mod notify;
pub mod output;
pub mod proxy;
pub mod watch;
