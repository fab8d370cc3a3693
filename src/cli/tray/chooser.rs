//! "Start session…": a folder chooser, the desktop portal's FileChooser (what Wayland and
//! sandboxed desktops offer, asked over the session bus) or else zenity, then StartSession in
//! the chosen folder. Without either the menu entry says what to install.

use std::collections::HashMap;
use std::path::PathBuf;

use futures_util::StreamExt;
use zbus::{Connection, ObjectPath, OwnedObjectPath, OwnedVariant, Variant, proxy};

use crate::cli::bus::has_owner;
use crate::cli::desktop::on_path;

/// The portal's bus name.
pub const PORTAL: &str = "org.freedesktop.portal.Desktop";
/// The chooser's title.
const TITLE: &str = "Start a Claude Code session in…";

#[proxy(
    interface = "org.freedesktop.portal.FileChooser",
    default_service = "org.freedesktop.portal.Desktop",
    default_path = "/org/freedesktop/portal/desktop"
)]
trait FileChooser {
    fn open_file(
        &self,
        parent_window: &str,
        title: &str,
        options: HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<OwnedObjectPath>;
}

#[proxy(
    interface = "org.freedesktop.portal.Request",
    default_service = "org.freedesktop.portal.Desktop"
)]
trait Request {
    #[zbus(signal)]
    fn response(&self, response: u32, results: HashMap<String, OwnedVariant>) -> zbus::Result<()>;
}

/// Whether the portal runs or can be started on the bus.
async fn portal(conn: &Connection) -> bool {
    if has_owner(conn, PORTAL).await.unwrap_or(false) {
        return true;
    }
    let Ok(dbus) = zbus::fdo::DBusProxy::new(conn).await else {
        return false;
    };
    let names = dbus.list_activatable_names().await.unwrap_or_default();
    names.iter().any(|n| n.as_str() == PORTAL)
}

fn zenity() -> bool {
    on_path("zenity")
}

/// Whether a folder chooser can be shown.
pub async fn available(conn: &Connection) -> bool {
    zenity() || portal(conn).await
}

/// What to do when no chooser works.
pub const NONE: &str = "No folder chooser: install xdg-desktop-portal (with a backend such as xdg-desktop-portal-gtk) or zenity, or run `trusty-mpm start DIR` in a terminal.";

/// Asks for a folder: `Ok(None)` when the person cancelled.
pub async fn choose(conn: &Connection) -> Result<Option<PathBuf>, String> {
    if portal(conn).await {
        match with_portal(conn).await {
            Ok(chosen) => return Ok(chosen),
            // A portal without a FileChooser backend: zenity may still do.
            Err(e) if zenity() => {
                eprintln!("trusty-mpm tray: the portal's chooser failed ({e}); trying zenity.")
            }
            Err(e) => return Err(format!("The desktop portal's folder chooser failed: {e}")),
        }
    }
    if zenity() {
        return with_zenity().await;
    }
    Err(NONE.to_owned())
}

/// The portal's OpenFile for a directory; its answer comes as a Response signal on a request
/// object whose path follows from the handle token, so it is subscribed to before the call.
async fn with_portal(conn: &Connection) -> zbus::Result<Option<PathBuf>> {
    let token = format!("trusty_mpm_{}", std::process::id());
    let sender = conn
        .unique_name()
        .map(|n| n.trim_start_matches(':').replace('.', "_"))
        .unwrap_or_default();
    let path = format!("/org/freedesktop/portal/desktop/request/{sender}/{token}");
    let at = ObjectPath::try_from(path.as_str())?;
    let request = RequestProxy::builder(conn).path(at).build().await?;
    let mut responses = request.receive_response().await?;
    let options = HashMap::from([
        ("handle_token", Variant::from(token.as_str())),
        ("directory", Variant::from(true)),
        ("modal", Variant::from(true)),
        ("accept_label", Variant::from("Start")),
    ]);
    let handle = FileChooserProxy::new(conn)
        .await?
        .open_file("", TITLE, options)
        .await?;
    // An older portal picks the path itself.
    if handle.as_str() != path {
        let request = RequestProxy::builder(conn).path(handle).build().await?;
        responses = request.receive_response().await?;
    }
    let response = responses
        .next()
        .await
        .ok_or_else(|| zbus::Error::Failure("the portal went away".into()))?;
    let args = response.args()?;
    if args.response != 0 {
        return Ok(None);
    }
    let uris: Vec<String> = args
        .results
        .get("uris")
        .and_then(|v| v.try_clone().ok())
        .and_then(|v| Vec::<String>::try_from(v).ok())
        .unwrap_or_default();
    let uri = uris
        .first()
        .ok_or_else(|| zbus::Error::Failure("the portal chose nothing".into()))?;
    file_path(uri)
        .map(Some)
        .ok_or_else(|| zbus::Error::Failure(format!("'{uri}' is not a local folder")))
}

/// The local path of a `file://` URI, percent-escapes decoded.
fn file_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let path = rest.get(rest.find('/')?..)?;
    let mut bytes = Vec::with_capacity(path.len());
    let mut it = path.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next()?, it.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

/// zenity's folder chooser: the folder on its stdout, exit status 1 when cancelled.
async fn with_zenity() -> Result<Option<PathBuf>, String> {
    let out = tokio::process::Command::new("zenity")
        .args(["--file-selection", "--directory", "--title", TITLE])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run zenity: {e}"))?;
    match out.status.code() {
        Some(0) => {
            let mut path = out.stdout;
            if path.last() == Some(&b'\n') {
                path.pop();
            }
            use std::os::unix::ffi::OsStringExt;
            Ok(Some(PathBuf::from(std::ffi::OsString::from_vec(path))))
        }
        Some(1) => Ok(None),
        _ => Err(format!(
            "zenity failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_become_paths() {
        assert_eq!(
            file_path("file:///home/me/my%20project"),
            Some(PathBuf::from("/home/me/my project"))
        );
        assert_eq!(
            file_path("file://host/srv/x"),
            Some(PathBuf::from("/srv/x"))
        );
        assert_eq!(file_path("https://example.org/x"), None);
        assert_eq!(file_path("file:///bad%4"), None);
    }
}
