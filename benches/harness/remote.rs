//! Figure 13, remote hosts (issue 22): clients reaching the daemon through ssh and
//! `systemd-stdio-bridge`, against the transport's floor measured in the same run: `ssh lab
//! true` over a ControlMaster connection, plus a Ping over a bridge connection made through it.
//! The host is this machine seen through a private `sshd` on 127.0.0.1 at a free port (the
//! run's own host and user keys, logging in as the user running the bench), whose bridge (the
//! host's `bridge` setting) reaches the run's private bus.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use trusty_mpm::cli::proxy::{ManagerProxy, PermissionRequestedStream};

use crate::cpu::ThreadCpu;
use crate::report::{Row, percentile, sorted};
use crate::world::{MANAGER_PATH, Owned, World, kill_at_end, require};
use crate::{Cfg, log};

const SSHD: &str = "/usr/sbin/sshd";
const ROUNDS: usize = 40;
const ANSWERS: usize = 20;

/// The ssh side of the run: sshd, and the files the client uses.
struct Ssh {
    dir: PathBuf,
    _sshd: Owned,
}

impl Ssh {
    fn config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// A `trusty-mpm` client command with `config` (a config.toml in `dir`) and this ssh.
    fn client(&self, w: &World, config: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(&w.bin);
        cmd.args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &w.bus_addr)
            .env("TRUSTY_MPM_CONFIG", self.dir.join(config))
            .env(
                "TRUSTY_MPM_SSH",
                format!("ssh -F {}", self.config().display()),
            )
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd
    }

    fn ssh(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd
    }
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ssh-keygen {}", path.display());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// sshd on a free port, the client's ssh config (`lab` over a ControlMaster, `lab1`…`lab5`
/// each a connection of its own, as five hosts would be) and the config.toml files.
fn setup(w: &World) -> Ssh {
    require("ssh");
    require("ssh-keygen");
    require("systemd-stdio-bridge");
    assert!(
        Path::new(SSHD).is_file(),
        "{SSHD} is needed (Debian: apt-get install openssh-server)"
    );
    let dir = w.dir.path().join("ssh");
    std::fs::create_dir_all(&dir).expect("ssh dir");
    keygen(&dir.join("host_key"));
    keygen(&dir.join("id"));
    std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).expect("authorized_keys");
    let user = String::from_utf8_lossy(&Command::new("id").arg("-un").output().expect("id").stdout)
        .trim()
        .to_owned();
    let port = free_port();
    let d = dir.display();
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/host_key\nPidFile none\n\
             UsePAM no\nStrictModes no\nAuthorizedKeysFile {d}/authorized_keys\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nAllowUsers {user}\n"
        ),
    )
    .expect("sshd_config");
    // sshd's privilege separation directory, which Debian's ssh.service creates.
    std::fs::create_dir_all("/run/sshd").expect("/run/sshd (sshd runs as root)");
    let log_file = dir.join("sshd.log");
    let sshd = Owned::spawn(
        Command::new(SSHD)
            .args(["-D", "-f"])
            .arg(dir.join("sshd_config"))
            .arg("-E")
            .arg(&log_file)
            .stdin(Stdio::null()),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log_file)
        .unwrap_or_default()
        .contains("Server listening")
    {
        assert!(
            Instant::now() < deadline,
            "sshd does not listen (see {})",
            log_file.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let host_key = std::fs::read_to_string(dir.join("host_key.pub")).expect("host key");
    std::fs::write(
        dir.join("known_hosts"),
        format!("[127.0.0.1]:{port} {host_key}"),
    )
    .expect("known_hosts");
    let common = format!(
        "  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {d}/id\n  \
         IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile {d}/known_hosts\n  \
         StrictHostKeyChecking yes\n  BatchMode yes\n"
    );
    std::fs::write(
        dir.join("ssh_config"),
        format!(
            "Host lab\n{common}  ControlMaster auto\n  ControlPath {d}/cm-%C\n  \
             ControlPersist yes\nHost lab1 lab2 lab3 lab4 lab5\n{common}  ControlMaster no\n"
        ),
    )
    .expect("ssh_config");
    let bridge = format!(
        "systemd-stdio-bridge --bus-path=unix:path={}",
        w.dir.path().join("bus").display()
    );
    let host = |name: &str| format!("[hosts.{name}]\nssh = \"{name}\"\nbridge = \"{bridge}\"\n");
    std::fs::write(dir.join("lab.toml"), host("lab")).expect("config");
    std::fs::write(dir.join("follow1.toml"), host("lab1")).expect("config");
    let five: String = (1..=5).map(|i| host(&format!("lab{i}"))).collect();
    std::fs::write(dir.join("follow5.toml"), five).expect("config");
    Ssh { dir, _sshd: sshd }
}

fn timed(mut cmd: Command, what: &str) -> f64 {
    let t = Instant::now();
    let out = cmd.stderr(Stdio::piped()).output().expect(what);
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed().as_secs_f64() * 1000.0
}

/// Median ms of `n` Pings over one bridge connection through the ControlMaster.
async fn ping_over_the_bridge(ssh: &Ssh, w: &World, n: usize) -> Vec<f64> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    let out = theirs.try_clone().expect("socket pair");
    let bridge = format!(
        "systemd-stdio-bridge --bus-path=unix:path={}",
        w.dir.path().join("bus").display()
    );
    let _child = tokio::process::Command::new("ssh")
        .arg("-F")
        .arg(ssh.config())
        .args(["-xT", "lab", &bridge])
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(out)))
        .kill_on_drop(true)
        .spawn()
        .expect("ssh to the bridge");
    let conn = zbus::connection::Builder::unix_stream(ours)
        .build()
        .await
        .expect("a bus connection through ssh");
    let mut ms = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        conn.call_method(
            Some("org.trusty.Mpm1"),
            MANAGER_PATH,
            Some("org.freedesktop.DBus.Peer"),
            "Ping",
            &(),
        )
        .await
        .expect("Ping over the bridge");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    sorted(ms)
}

/// CPU (ms) of a `watch --json` following this machine and the hosts of `config` over
/// `secs` of quiet, its ssh children included, once it follows them all.
async fn follower_cpu(ssh: &Ssh, w: &World, config: &str, hosts: usize, secs: f64) -> f64 {
    let mut cmd = tokio::process::Command::from(ssh.client(w, config, &["watch", "--json"]));
    let mut watch = cmd
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("watch");
    let pid = watch.id().expect("watch pid");
    kill_at_end(pid);
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let mut reached = 0;
    while reached < hosts + 1 {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the follower reaches its hosts within 30 s")
            .expect("watch output")
            .expect("watch runs");
        reached += usize::from(line.contains("\"HostReachable\""));
    }
    let children: Vec<u32> = procfs::process::all_processes()
        .expect("/proc")
        .flatten()
        .filter(|p| p.stat().is_ok_and(|s| s.ppid == pid as i32))
        .map(|p| p.pid as u32)
        .collect();
    assert_eq!(children.len(), hosts, "one ssh per host");
    let mut cpus: Vec<ThreadCpu> = std::iter::once(pid)
        .chain(children)
        .map(ThreadCpu::start)
        .collect();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        tokio::time::sleep((end - Instant::now()).min(Duration::from_millis(250))).await;
        cpus.iter_mut().for_each(ThreadCpu::sample);
    }
    cpus.iter_mut().map(|c| c.ns()).sum::<u64>() as f64 / 1e6
}

/// One permission request of session `name`, answered by `trusty-mpm approve NAME@lab`: ms
/// from spawning the approve until the relay has written the decision (its hook runs as
/// Claude Code runs hooks, as a child of the stand-in claude: its `!hook` line, typed into the
/// pane, writes `OUT.out` and then `OUT.code`, which is polled for every millisecond).
async fn answered(
    ssh: &Ssh,
    w: &World,
    asked: &mut PermissionRequestedStream,
    name: &str,
    round: usize,
) -> f64 {
    let dir = w.dir.path().join("answers");
    std::fs::create_dir_all(&dir).expect("answers dir");
    let input = dir.join("payload.json");
    let payload = json!({
        "session_id": "00000000-0000-4000-8000-000000000011",
        "transcript_path": "",
        "cwd": "/",
        "hook_event_name": "PermissionRequest",
        "tool_name": "Bash",
        "tool_input": {"command": "make deploy"},
    });
    std::fs::write(&input, payload.to_string()).expect("the payload");
    let out = dir.join(format!("relay{round}"));
    let line = format!(
        "!hook {} {} {} {}",
        w.relay.display(),
        w.bus_addr,
        input.display(),
        out.display()
    );
    let pane = format!("={name}:");
    for keys in [&["-l", line.as_str()][..], &["Enter"]] {
        let typed = w.tmux(&[&["send-keys", "-t", &pane][..], keys].concat());
        assert!(typed.status.success(), "send-keys: {typed:?}");
    }
    let sig = tokio::time::timeout(Duration::from_secs(10), asked.next())
        .await
        .expect("PermissionRequested within 10 s")
        .expect("the signal stream");
    let id = sig.args().expect("args").request_id().to_owned();
    let t = Instant::now();
    let key = format!("{name}@lab");
    timed(ssh.client(w, "lab.toml", &["approve", &key, id]), "approve");
    let code = out.with_extension("code");
    let deadline = t + Duration::from_secs(10);
    while !code.exists() {
        assert!(Instant::now() < deadline, "the relay did not end in 10 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let decided = std::fs::read_to_string(out.with_extension("out")).expect("relay output");
    assert!(
        decided.contains(r#""behavior":"allow""#),
        "the relay printed {decided}"
    );
    ms
}

/// Figure 13 against a daemon with a fresh state dir and one live session.
pub async fn remote_hosts(
    w: &mut World,
    cfg: &Cfg,
    rows: &mut Vec<Row>,
    raw: &mut serde_json::Map<String, Value>,
) {
    log("remote hosts: a private sshd, the daemon through ssh and systemd-stdio-bridge");
    let ssh = setup(w);
    let state = w.state_dir("state-remote");
    w.start_daemon(&state).await;
    let m = ManagerProxy::new(&w.conn).await.expect("manager proxy");
    let name = "r0";
    m.start_session(&w.project(name), name, HashMap::new())
        .await
        .expect("StartSession");
    let deadline = Instant::now() + Duration::from_secs(30);
    while m.list_sessions().await.expect("ListSessions")[0].3 != "active" {
        assert!(Instant::now() < deadline, "{name} not active in 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Someone answers requests on the host (its notify, say): the relay waits for an answer.
    w.conn
        .request_name(trusty_mpm::contract::ANSWERER_NAME)
        .await
        .expect("the answerer name");

    // The ControlMaster, left running by the first connection until the run ends.
    timed(ssh.ssh(&["lab", "true"]), "ssh lab true");
    let check = ssh
        .ssh(&["-O", "check", "lab"])
        .stderr(Stdio::piped())
        .output()
        .expect("ssh -O check");
    let said = String::from_utf8_lossy(&check.stderr);
    let master: u32 = said
        .split("pid=")
        .nth(1)
        .and_then(|s| s.trim_end_matches([')', '\r', '\n']).parse().ok())
        .unwrap_or_else(|| panic!("no ControlMaster: {said}"));
    kill_at_end(master);

    log(format!(
        "remote hosts: {ROUNDS} rounds of ssh lab true and trusty-mpm --host lab list"
    ));
    let list = || {
        timed(
            ssh.client(w, "lab.toml", &["--host", "lab", "list"]),
            "list",
        )
    };
    let ssh_true = || timed(ssh.ssh(&["lab", "true"]), "ssh lab true");
    for _ in 0..5 {
        list();
        ssh_true();
    }
    let (mut t_true, mut t_list) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        t_true.push(ssh_true());
        t_list.push(list());
    }
    let (t_true, t_list) = (sorted(t_true), sorted(t_list));
    let t_ping = ping_over_the_bridge(&ssh, w, 200).await;
    let med = |v: &[f64]| percentile(v, 50.0);
    let floor = med(&t_true) + med(&t_ping);
    let floor_what = format!(
        "`ssh lab true` {:.1} ms + Ping over the bridge {:.2} ms",
        med(&t_true),
        med(&t_ping)
    );
    rows.push(
        Row::new(
            13,
            "`trusty-mpm --host lab list`, median of 40",
            "ms",
            med(&t_list),
        )
        .against(floor, floor_what.clone())
        .ratio_target("≤ 1.5× floor", 1.5, false)
        .note(format!(
            "{:.1} ms above the floor, which includes the start of the remote login \
                 shell (its rc files), as every ssh command does",
            med(&t_list) - floor
        )),
    );

    log(format!(
        "remote hosts: {ANSWERS} permission requests answered by approve KEY@lab"
    ));
    let mut asked = m.receive_permission_requested().await.expect("subscribe");
    let mut t_answer = Vec::new();
    for round in 0..ANSWERS {
        t_answer.push(answered(&ssh, w, &mut asked, name, round).await);
    }
    let t_answer = sorted(t_answer);
    rows.push(
        Row::new(
            13,
            "remote permission request answered by `approve`, median of 20",
            "ms",
            med(&t_answer),
        )
        .against(floor, floor_what)
        .ratio_target("≤ 2× floor", 2.0, false)
        .note(format!(
            "from spawning `trusty-mpm approve r0@lab ID` until the relay has the \
                 decision; {:.1} ms above the floor",
            med(&t_answer) - floor
        )),
    );

    let secs = (cfg.idle_secs / 2.0).max(5.0);
    log(format!(
        "remote hosts: follower CPU, {secs:.0} s each with 1 and 5 hosts"
    ));
    let one = follower_cpu(&ssh, w, "follow1.toml", 1, secs).await;
    let five = follower_cpu(&ssh, w, "follow5.toml", 5, secs).await;
    // Nothing runs in a follower at idle: both may be below what schedstat tells apart, so
    // under 1 ms in the window passes too (and a ratio of two zeros is not shown).
    let mut row = Row::new(
        13,
        format!("`watch` CPU with 5 hosts, idle {secs:.0} s"),
        "ms",
        five,
    );
    if one > 0.01 {
        row = row.against(one, "the same with 1 host");
    } else {
        (row.baseline, row.baseline_what) = (Some(one), "the same with 1 host".into());
    }
    rows.push(
        row.value_target("≤ 2× 1 host, or < 1 ms", (2.0 * one).max(1.0))
            .note(
                "the watch process and its ssh children (schedstat); each follows this machine too",
            ),
    );
    raw.insert(
        "remote_hosts".into(),
        json!({
            "ssh_true_ms": t_true, "ping_over_bridge_ms": t_ping, "list_ms": t_list,
            "answer_ms": t_answer, "follower_cpu_ms": {"hosts_1": one, "hosts_5": five},
            "idle_window_s": secs,
        }),
    );
    let _ = ssh
        .ssh(&["-O", "exit", "lab"])
        .stderr(Stdio::null())
        .status();
    w.stop_daemon();
}
