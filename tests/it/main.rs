//! Integration tests: the real daemon on a private bus and tmux server (see `harness`).

mod contract;
mod daemon;
mod harness;
mod lifecycle;
mod signals;
