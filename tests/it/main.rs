//! Integration tests: the real daemon on a private bus and tmux server (see `harness`).

mod access;
mod adopt;
mod cli;
mod cli_output;
mod completion;
mod contract;
mod daemon;
mod desktop;
mod e2e_systemd;
mod errors;
mod guard;
mod harness;
mod hooks;
mod install;
mod lifecycle;
mod notify;
mod procs;
mod props;
mod readme;
mod real_life;
mod reliability;
mod signals;
mod telemetry;
mod tray;
mod units;
mod watch;
