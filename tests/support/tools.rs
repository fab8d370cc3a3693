//! Checks for the outside tools the tests and the benchmark drive. A missing tool fails loudly,
//! never a silent skip.

/// Panics with a clear message when `tool` is not on PATH.
pub fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is needed on PATH (Debian: apt-get install tmux dbus-daemon systemd \
         libglib2.0-bin libglib2.0-dev-bin python3 python3-gi util-linux desktop-file-utils zsh fish); \
         .ci/run installs what is missing"
    );
}
