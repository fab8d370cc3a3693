//! `trusty-mpm-hook`: the hook relay (`trusty_mpm::cli::relay`) as an executable of its own,
//! which `trusty-mpm hooks install` writes into Claude Code's settings; `trusty-mpm hook` runs
//! the same relay. Claude Code starts it for every event, so it starts as little as it can:
//! it links only the relay (std, rustix and the config file's reader: no zbus, tokio or clap),
//! and it is its own C `main`, which skips Rust's start-up (that reads /proc/self/maps to guard
//! the main thread's stack: about 0.15 ms of a 2 ms run). Arguments are ignored.

#![no_main]

use std::ffi::{c_char, c_int};

#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // As Rust's start-up does: a reader gone away is an error to ignore, not a signal that
    // kills the relay.
    // SAFETY: setting a signal's disposition to SIG_IGN, before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    c_int::from(trusty_mpm::cli::relay::relay_event())
}
