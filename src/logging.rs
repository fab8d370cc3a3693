//! Logging: to the journal (structured) when stderr is connected to it, else formatted text on
//! stderr; never both. `RUST_LOG` filters, `info` by default.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// Whether stderr is the journal stream systemd handed us (`JOURNAL_STREAM=dev:ino`).
fn stderr_is_journal() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let Ok(st) = rustix::fs::fstat(std::io::stderr().as_fd()) else {
        return false;
    };
    dev.parse::<u64>().ok() == Some(st.st_dev) && ino.parse::<u64>().ok() == Some(st.st_ino)
}

/// Installs the global subscriber.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if stderr_is_journal()
        && let Ok(journald) = tracing_journald::layer()
    {
        // The fields as the README documents them (`journalctl SESSION_NAME=myproj`), not
        // with tracing-journald's default `F_` prefix.
        let journald = journald.with_field_prefix(None);
        tracing_subscriber::registry()
            .with(filter)
            .with(journald)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !crate::config::no_color())
        .init();
}
