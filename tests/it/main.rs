//! Integration tests: the real daemon on a private bus and tmux server (see `harness`).

mod access;
mod adopt;
mod cli;
mod contract;
mod daemon;
mod e2e_systemd;
mod errors;
mod guard;
mod harness;
mod hooks;
mod lifecycle;
mod notify;
mod procs;
mod props;
mod real_life;
mod reliability;
mod signals;
mod telemetry;
mod units;
mod watch;
