//! The daemon's log under a real, private systemd-journald (in a mount namespace of its own,
//! where /run/systemd and /run/log are this test's folders): the fields the README documents
//! find a session's lines, which name the session in their text, and the daemon's start and
//! stop are logged.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::harness::*;

const JOURNALD: &str = "/lib/systemd/systemd-journald";

/// A systemd-journald of this test only, its sockets and files in the test's folders.
struct Journald {
    child: Child,
    log: PathBuf,
}

impl Journald {
    fn start(dir: &Path) -> Journald {
        for tool in ["unshare", "nsenter", "journalctl", JOURNALD] {
            require(tool);
        }
        let (run, log) = (dir.join("run-systemd"), dir.join("log"));
        std::fs::create_dir_all(run.join("journal")).unwrap();
        std::fs::create_dir_all(&log).unwrap();
        // Persistent storage, when the machine has it, is a tmpfs of the namespace too.
        let script = r#"mount --bind "$1" /run/systemd && mount --bind "$2" /run/log &&
            { [ ! -d /var/log/journal ] || mount -t tmpfs tmpfs /var/log/journal; } && exec "$3""#;
        let sd = FakeSystemd::new();
        let child = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .args([run.as_os_str(), log.as_os_str()])
            .arg(JOURNALD)
            .env("NOTIFY_SOCKET", &sd.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("unshare runs (the tests run as root)");
        sd.wait_for("READY=1");
        Journald {
            child,
            log: log.join("journal"),
        }
    }

    /// `cmd` run in the journal's mount namespace, where it logs to this journald.
    fn enter(&self, cmd: &Command) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--mount=/proc/{}/ns/mnt", self.child.id()))
            .arg("--")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    /// The entries `journalctl MATCHES` finds in this journal.
    fn query(&self, matches: &[&str]) -> Vec<Value> {
        let out = Command::new("journalctl")
            .arg("-D")
            .arg(&self.log)
            .args(["-o", "json", "--no-pager"])
            .args(matches)
            .output()
            .unwrap();
        assert!(out.status.success(), "journalctl {matches:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Journald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn messages(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["MESSAGE"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn journalctl_finds_sessions_by_the_documented_fields() {
    let mut env = Env::with_env(&[]).await;
    env.stop_daemon();
    let journald = Journald::start(env.dir.path());
    // stderr is the journal stream as systemd hands it over (JOURNAL_STREAM=dev:ino).
    let stderr = std::fs::File::create(env.dir.path().join("stderr")).unwrap();
    let meta = stderr.metadata().unwrap();
    let mut daemon = env.daemon_command();
    daemon
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env("RUST_LOG", "info");
    let child = journald.enter(&daemon).stderr(stderr).spawn().unwrap();
    env.daemon = Some(child);
    env.wait_for_name().await;

    let (id, path, pid) = env.start_active("jproj").await;
    signal(pid, "KILL");
    let s = env.session_uncached(&path).await;
    wait_for("stopped", || async {
        s.status().await.unwrap() == "stopped"
    })
    .await;
    assert!(env.stop_daemon().success());

    let lines = journald.query(&["SESSION_NAME=jproj"]);
    assert!(
        !lines.is_empty(),
        "journalctl SESSION_NAME=jproj found nothing"
    );
    for line in &lines {
        assert_eq!(line["SESSION_ID"], id.as_str(), "{line}");
    }
    let texts = messages(&lines);
    assert!(
        texts.iter().all(|m| m.starts_with("jproj: ")),
        "lines that do not name their session: {texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|m| m.contains("claude (pid") && m.contains("exited")),
        "{texts:?}"
    );
    let daemon = messages(&journald.query(&["SYSLOG_IDENTIFIER=trusty-mpm"]));
    for what in ["trusty-mpm ready", "trusty-mpm stopping"] {
        assert!(
            daemon.iter().any(|m| m.starts_with(what)),
            "no {what:?} in {daemon:?}"
        );
    }
}
