//! The shipped introspection XML is the contract: it must equal what the running daemon says,
//! and both must be read by the strict parsers clients use (expat, gdbus-codegen, busctl).
//! Set TRUSTY_MPM_BLESS=1 to rewrite the file from the live daemon after a deliberate change.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use zbus::fdo::IntrospectableProxy;

use crate::harness::*;

const XML: &str = "packaging/dbus/org.trusty.Mpm1.xml";

/// The `<interface name="NAME">…</interface>` block of an introspection document, lines trimmed.
fn interface_block(xml: &str, name: &str) -> String {
    let open = format!("<interface name=\"{name}\">");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no interface {name}"));
    let end = start + xml[start..].find("</interface>").unwrap() + "</interface>".len();
    xml[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn introspect(env: &Env, path: &str) -> String {
    IntrospectableProxy::builder(&env.conn)
        .destination("org.trusty.Mpm1")
        .path(path.to_owned())
        .build()
        .await
        .unwrap()
        .introspect()
        .await
        .unwrap()
}

#[tokio::test]
async fn live_introspection_matches_the_shipped_xml() {
    let env = Env::new().await;
    let (_, path, _) = env.start_active("xml").await;
    let manager = introspect(&env, "/org/trusty/Mpm1").await;
    let session = introspect(&env, path.as_str()).await;
    let live_mgr = interface_block(&manager, "org.trusty.Mpm1");
    let live_session = interface_block(&session, "org.trusty.Mpm1.Session");
    assert!(manager.contains("org.freedesktop.DBus.ObjectManager"));

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(XML);
    if std::env::var_os("TRUSTY_MPM_BLESS").is_some() {
        let doc = format!(
            "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n \
             \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n\
             <!-- org.trusty.Mpm1: the public D-Bus API of trusty-mpm.\n     \
             The manager lives at /org/trusty/Mpm1 (with org.freedesktop.DBus.ObjectManager);\n     \
             each session at /org/trusty/Mpm1/session/<uuid as 32 hex digits>.\n     \
             Errors: org.trusty.Mpm1.Error.{{NotFound,InvalidState,InvalidArgument,AlreadyExists,\n     \
             TmuxUnavailable,TmuxFailed,Timeout,AccessDenied,Internal}}.\n     \
             Only the daemon's own user may call methods, read properties or GetManagedObjects;\n     \
             others get AccessDenied (zbus lets Properties.GetAll say it only as\n     \
             org.freedesktop.DBus.Error.AccessDenied).\n     \
             Generated from the running daemon; tests/it/contract.rs keeps the two equal. -->\n\
             <node>\n{}\n{}\n</node>\n",
            indent(&live_mgr),
            indent(&live_session)
        );
        std::fs::write(&file, doc).unwrap();
    }
    let shipped = std::fs::read_to_string(&file).expect("packaging XML exists");
    assert_eq!(
        interface_block(&shipped, "org.trusty.Mpm1"),
        live_mgr,
        "manager interface drifted from {XML}"
    );
    assert_eq!(
        interface_block(&shipped, "org.trusty.Mpm1.Session"),
        live_session,
        "session interface drifted from {XML}"
    );
}

/// Re-indents a trimmed block by XML depth for the shipped file.
fn indent(block: &str) -> String {
    let mut depth = 1usize;
    let mut out = Vec::new();
    let mut in_comment = false;
    for line in block.lines() {
        let closing = line.starts_with("</");
        if closing {
            depth = depth.saturating_sub(1);
        }
        let pad = if in_comment && !line.starts_with("-->") {
            depth + 1
        } else {
            depth
        };
        out.push(format!("{}{}", "  ".repeat(pad), line));
        if line.starts_with("<!--") && !line.ends_with("-->") {
            in_comment = true;
        } else if line.ends_with("-->") {
            in_comment = false;
        } else if !in_comment && line.starts_with('<') && !closing && !line.ends_with("/>") {
            depth += 1;
        }
    }
    out.join("\n")
}

/// Panics unless `xml` is well-formed for expat, the parser of gdbus-codegen and of Python's
/// D-Bus bindings (it refuses, for one, `--` inside a comment).
fn assert_well_formed(what: &str, xml: &str) {
    require("python3");
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.parsers.expat\n\
             xml.parsers.expat.ParserCreate().Parse(sys.stdin.buffer.read(), True)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} is not well-formed XML: {}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
    );
}

#[test]
fn shipped_xml_is_well_formed_and_gdbus_codegen_reads_it() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(XML);
    assert_well_formed(XML, &std::fs::read_to_string(&file).unwrap());
    require("gdbus-codegen");
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new("gdbus-codegen")
        .arg("--output-directory")
        .arg(out_dir.path())
        .args([
            "--interface-prefix",
            "org.trusty.",
            "--generate-c-code",
            "mpm",
        ])
        .arg(&file)
        .output()
        .expect("gdbus-codegen runs");
    assert!(
        out.status.success(),
        "gdbus-codegen {XML}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out_dir.path().join("mpm.h").is_file());
}

/// Every node the daemon serves, from the root down to a session object, introspects as
/// well-formed XML, and `busctl tree`, which introspects them all, has nothing to warn about.
#[tokio::test]
async fn every_node_introspects_cleanly() {
    let env = Env::new().await;
    let (_, path, _) = env.start_active("nodes").await;
    let nodes = [
        "/",
        "/org",
        "/org/trusty",
        "/org/trusty/Mpm1",
        "/org/trusty/Mpm1/session",
        path.as_str(),
    ];
    for node in nodes {
        assert_well_formed(node, &introspect(&env, node).await);
    }

    require("busctl");
    let out = Command::new("busctl")
        .arg(format!("--address={}", env.bus.address))
        .args(["tree", "org.trusty.Mpm1"])
        .output()
        .expect("busctl runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "busctl tree: {stderr}");
    assert!(stdout.contains(path.as_str()), "busctl tree: {stdout}");
    assert!(stderr.is_empty(), "busctl tree warned:\n{stderr}");
}
