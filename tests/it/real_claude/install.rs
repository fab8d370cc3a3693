//! The real Claude Code from npm, installed once per version into a cache outside the repository
//! (`$XDG_CACHE_HOME/trusty-mpm-tests/claude-code/<version>`, else `~/.cache/…`): about 400 MB a
//! version, so it is kept across runs and checkouts, and only a version not there yet is fetched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PACKAGE: &str = "@anthropic-ai/claude-code";

/// Fails the test with a clear message when npm is missing. `make test` skips this suite then
/// (and says so); CI installs npm, so there a missing npm is always a failure.
fn require_npm() {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("npm").is_file()));
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        found,
        "`npm` is needed on PATH to install the real Claude Code{} (Debian: apt-get install \
         nodejs npm; `make test` skips tests/it/real_claude without it)",
        if ci {
            ", and CI must run this suite"
        } else {
            ""
        }
    );
}

/// The newest published version, asked of the registry once per test run.
pub fn latest() -> &'static str {
    static LATEST: OnceLock<String> = OnceLock::new();
    LATEST.get_or_init(|| {
        require_npm();
        let out = Command::new("npm")
            .args(["view", PACKAGE, "version"])
            .output()
            .expect("npm runs");
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success() && !version.is_empty(),
            "npm view {PACKAGE} version failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        version
    })
}

fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache")
        });
    base.join("trusty-mpm-tests/claude-code")
}

/// The `claude` of `version`, installed first when the cache lacks it. Tests of one version run
/// at once (and other checkouts may too): an exclusive lock on `<version>.lock` makes one of
/// them install while the others wait, and a marker written last tells a finished install from
/// one that was cut short (which is removed and done again).
pub fn claude(version: &str) -> PathBuf {
    let root = cache_root();
    std::fs::create_dir_all(&root).expect("create the Claude Code cache");
    let lock = std::fs::File::create(root.join(format!("{version}.lock"))).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("lock the cache");
    let dir = root.join(version);
    let claude = dir.join("node_modules/.bin/claude");
    let done = dir.join(".installed");
    if !done.exists() {
        require_npm();
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove a cut-short install");
        }
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(format!("{PACKAGE}@{version}"))
            .output()
            .expect("npm runs");
        assert!(
            out.status.success(),
            "npm install {PACKAGE}@{version} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        check_version(&claude, version, &dir);
        std::fs::write(&done, "").unwrap();
    }
    claude
}

/// `claude --version` names `version` (the postinstall put the native binary in place). Not
/// with the user's HOME: nothing of theirs is touched.
fn check_version(claude: &Path, version: &str, home: &Path) {
    let out = Command::new(claude)
        .arg("--version")
        .env("HOME", home)
        .env("DISABLE_AUTOUPDATER", "1")
        .output()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", claude.display()));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains(version),
        "{} --version said {said:?} ({})",
        claude.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
