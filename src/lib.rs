//! trusty-mpm: a systemd user service that runs and watches Claude Code sessions in tmux and
//! exposes their lifecycle over D-Bus as `org.trusty.Mpm1`. `docs/architecture.md` is the map.

pub mod bus_address;
pub mod claude_settings;
pub mod cli;
pub mod config;
pub mod contract;
pub mod daemon;
pub mod dbus;
pub mod error;
pub mod hooks;
pub mod lifecycle;
pub mod limits;
pub mod logging;
pub mod model;
pub mod procwatch;
pub mod store;
pub mod systemd;
pub mod telemetry;
pub mod text;
pub mod tmux;
pub mod units;
