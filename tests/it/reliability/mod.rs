//! The reliability suite (issue 6): the real daemon under crashes, a wedged tmux server, bad
//! input, load, and callers of another uid.
//!
//! - `crash`: `kill -9` at random points of a 1,000-mutation storm from 8 clients; after every
//!   restart each acknowledged mutation is still there.
//! - `wedged_tmux`: a SIGSTOPped tmux server costs tmux-bound calls a `Timeout` and nothing
//!   more; reads and the watchdog carry on, and all works again after SIGCONT.
//! - `fuzz`: 10,000 random and malformed calls over every method of the contract XML
//!   (`fuzz_calls` builds the calls, `fuzz_strings` the strings and payloads in them).
//! - `load`: 16 clients × 2,000 mixed calls while sessions start and stop.
//! - `other_users`: uid 65534 is refused by every method and changes nothing.
//!
//! `support` holds what they share: raw calls, error checks and the contract's methods.
//! The randomised tests print their seed; `TRUSTY_MPM_SEED=<n>` replays the same choices (the
//! interleaving of concurrent clients still varies from run to run; see `rng`).

mod crash;
mod fuzz;
mod fuzz_calls;
mod fuzz_strings;
mod load;
mod other_users;
mod rng;
mod support;
mod wedged_tmux;
