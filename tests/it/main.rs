//! Integration tests: the real daemon on a private bus and tmux server (see `harness`).

mod harness;
mod lifecycle;
