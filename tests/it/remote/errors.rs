//! A host that cannot be reached is one clear line naming it, with what ssh said and what to
//! do, and exit code 3, while the other hosts still answer: an unknown host key, a login the
//! host refuses, a remote command that finds no bus, and a host that does not listen.

use super::Two;

/// `list` across both hosts with lab failing: local's rows still come, lab's error is the
/// one line on stderr, which says `wants`.
fn lab_fails(two: &Two, wants: &[&str]) {
    let out = two.cli(&["list"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("local  here"), "{stdout}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("trusty-mpm: cannot reach host lab (lab): "),
        "{err}"
    );
    for w in wants {
        assert!(err.contains(w), "no {w:?} in {err}");
    }
    // Named alone, it fails the same way.
    let (code, alone) = two.fails(&["list", "--host", "lab"]);
    assert_eq!((code, alone.as_str()), (3, &*err));
}

#[tokio::test]
async fn an_unknown_host_key_is_a_clear_error() {
    let two = Two::new("").await;
    two.env.start_active("here").await;
    std::fs::write(two.lab.client.path().join("known_hosts"), "").unwrap();
    lab_fails(
        &two,
        &[
            "Host key verification failed",
            "accept it by logging in once with `ssh lab`",
        ],
    );
}

#[tokio::test]
async fn a_refused_login_is_a_clear_error() {
    let two = Two::new("").await;
    two.env.start_active("here").await;
    let keys = two.lab.user.home.join(".ssh/authorized_keys");
    two.lab.user.write(&keys, "", false);
    lab_fails(&two, &["Permission denied (publickey)", "batch mode"]);
}

#[tokio::test]
async fn a_bridge_that_finds_no_bus_is_a_clear_error() {
    let hosts = "[hosts.lab]\nssh = \"lab\"\n\
                 bridge = \"systemd-stdio-bridge --bus-path=unix:path=/nonexistent/bus\"\n";
    let two = Two::with_hosts("", hosts).await;
    two.env.start_active("here").await;
    lab_fails(&two, &["Failed to start bus client", "`bridge` setting"]);
}

#[tokio::test]
async fn a_host_that_does_not_listen_is_a_clear_error() {
    let mut two = Two::new("").await;
    two.env.start_active("here").await;
    two.lab.kill_sshd();
    lab_fails(&two, &["Connection refused"]);
    let out = two.cli(&["hosts", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let hosts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hosts[0]["reachable"], true);
    assert_eq!(hosts[1]["reachable"], false);
    assert!(
        hosts[1]["error"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{hosts}"
    );
    let text = two.cli(&["hosts"]);
    assert_eq!(text.status.code(), Some(3));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines()
            .nth(2)
            .unwrap()
            .starts_with("lab    lab  unreachable: ssh: connect"),
        "{text}"
    );
}
