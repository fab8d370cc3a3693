//! A private dbus-daemon, shared by the integration tests and the benchmark harness: a session
//! bus configuration on a socket in `dir` that admits every user (so a test can call as another
//! uid), activates the services whose files are in `dir/services`, and reports its address on
//! stdout. Its limits are those of the session bus a desktop runs (Debian's session.conf), not
//! dbus-daemon's built-in ones: those allow a connection only 512 match rules and 128 pending
//! replies, and a client with hundreds of GDBusProxies (two rules each) silently lost the
//! signals of the ones past the 512th rule.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The `dbus-daemon` command for a private bus in `dir` (its configuration is written there).
pub fn command(dir: &Path) -> Command {
    let conf = dir.join("bus.conf");
    let services = dir.join("services");
    std::fs::create_dir_all(&services).expect("create the bus's service directory");
    std::fs::write(
        &conf,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <servicedir>{}</servicedir>
  <auth>EXTERNAL</auth>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_message_size">1000000000</limit>
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_incomplete_connections">10000</limit>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_names_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <limit name="max_replies_per_connection">50000</limit>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            dir.join("bus").display(),
            services.display()
        ),
    )
    .expect("write the bus configuration");
    let mut cmd = Command::new("dbus-daemon");
    cmd.arg(format!("--config-file={}", conf.display()))
        .args(["--nofork", "--print-address"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// The address a bus started with `command` prints once it listens.
pub fn address(bus: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(bus.stdout.take().expect("bus stdout"))
        .read_line(&mut line)
        .expect("read the bus address");
    assert!(!line.trim().is_empty(), "dbus-daemon printed no address");
    line.trim().to_owned()
}
