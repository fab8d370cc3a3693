//! The end of the tray's menu: Start session… with the desktop portal's folder chooser (a
//! stand-in on the private bus), with zenity (a stand-in on PATH), or greyed out saying what to
//! install when there is neither; a failed start shown as a notification; Open list in
//! terminal; and Quit, which ends the tray with success (its unit then stays stopped).

use std::time::Duration;

use zbus::object_server::SignalEmitter;
use zbus::{OwnedObjectPath, Variant};

use super::*;

/// The title and options of each OpenFile call.
type Calls = Arc<Mutex<Vec<(String, HashMap<String, OwnedVariant>)>>>;

/// A stand-in xdg-desktop-portal FileChooser that chooses `uri` at once and records the
/// options it was asked with.
#[derive(Clone)]
struct Portal {
    uri: String,
    asked: Calls,
}

#[zbus::interface(name = "org.freedesktop.portal.FileChooser")]
impl Portal {
    async fn open_file(
        &self,
        #[zbus(header)] hdr: zbus::message::Header<'_>,
        #[zbus(connection)] conn: &Connection,
        _parent_window: String,
        title: String,
        options: HashMap<String, OwnedVariant>,
    ) -> zbus::fdo::Result<OwnedObjectPath> {
        let token = options
            .get("handle_token")
            .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
            .unwrap_or_else(|| "t".into());
        let sender = hdr
            .sender()
            .unwrap()
            .trim_start_matches(':')
            .replace('.', "_");
        let path = format!("/org/freedesktop/portal/desktop/request/{sender}/{token}");
        self.asked.lock().unwrap().push((title, options));
        let results = HashMap::from([("uris", Variant::from(vec![self.uri.clone()]))]);
        let request = SignalEmitter::new(conn, path.clone()).unwrap();
        request
            .emit(
                "org.freedesktop.portal.Request",
                "Response",
                &(0u32, results),
            )
            .await?;
        Ok(OwnedObjectPath::try_from(path).unwrap())
    }
}

/// Waits until a session runs in `dir`.
async fn started_in(env: &Env, dir: &Path) {
    let m = env.manager().await;
    let want = dir.display().to_string();
    wait_for(&format!("a session in {want}"), || async {
        let rows = m.list_sessions().await.unwrap();
        rows.iter().any(|r| r.2 == want)
    })
    .await;
}

#[tokio::test]
async fn start_session_asks_for_a_folder_with_the_portal_or_zenity() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", &config)]).await;
    let (_watcher, items) = serve_watcher(&env).await;

    // Neither: the entry says what is missing.
    let tray = Tray::start(&env, &items, Setup::plain(&config, dir.path())).await;
    let footer = tray.top().await;
    assert_eq!(
        footer[footer.len() - 4..],
        [
            "Start session… (needs xdg-desktop-portal or zenity) (off)",
            "Open list in terminal",
            "--",
            "Quit"
        ]
    );
    drop(tray);

    // The portal: a folder whose name needs escaping in a URI.
    let project = dir.path().join("my project");
    std::fs::create_dir(&project).unwrap();
    let portal = Portal {
        uri: format!("file://{}", project.display()).replace(' ', "%20"),
        asked: Arc::default(),
    };
    let asked = portal.asked.clone();
    let _portal = zbus::connection::Builder::address(env.bus.address.as_str())
        .serve_at("/org/freedesktop/portal/desktop", portal)
        .name("org.freedesktop.portal.Desktop")
        .build()
        .await
        .unwrap();
    let tray = Tray::start(&env, &items, Setup::plain(&config, dir.path())).await;
    tray.click("Start session…").await.unwrap();
    started_in(&env, &project).await;
    let (title, options) = asked.lock().unwrap()[0].clone();
    assert_eq!(title, "Start a Claude Code session in…");
    assert!(bool::try_from(options["directory"].try_clone().unwrap()).unwrap());
    drop(tray);
    drop(_portal);

    // zenity on PATH, and no portal.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let args = dir.path().join("zenity-args");
    script(
        &bin,
        "zenity",
        &format!(
            "printf '%s\\n' \"$@\" > {}\necho {}",
            args.display(),
            other.display()
        ),
    );
    let setup = Setup::plain(&config, dir.path()).with("PATH", bin.display().to_string());
    let tray = Tray::start(&env, &items, setup).await;
    tray.click("Start session…").await.unwrap();
    started_in(&env, &other).await;
    let args = std::fs::read_to_string(&args).unwrap();
    assert!(
        args.starts_with("--file-selection\n--directory\n"),
        "{args}"
    );
}

#[tokio::test]
async fn a_start_that_fails_is_shown_as_a_notification() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", &config)]).await;
    let (_watcher, items) = serve_watcher(&env).await;
    let (_server, log, _) = crate::desktop::serve_notifications(&env, &["body"]).await;
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    script(&bin, "zenity", "echo /nonexistent/folder");
    let setup = Setup::plain(&config, dir.path()).with("PATH", bin.display().to_string());
    let tray = Tray::start(&env, &items, setup).await;
    tray.click("Start session…").await.unwrap();
    wait_for("the failure shows", || async {
        !log.lock().unwrap().shown.is_empty()
    })
    .await;
    let note = log.lock().unwrap().shown[0].clone();
    assert_eq!(note.summary, "trusty-mpm tray");
    assert!(
        note.body
            .starts_with("Cannot start a session in /nonexistent/folder: "),
        "{}",
        note.body
    );
}

#[tokio::test]
async fn open_list_runs_list_then_watch_and_quit_ends_the_tray() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("ran");
    let terminal = terminal(dir.path(), &record);
    let config = config(
        dir.path(),
        &format!("terminal_command = \"{} -e\"\n", terminal.display()),
    );
    let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", &config)]).await;
    let (_watcher, items) = serve_watcher(&env).await;
    let mut tray = Tray::start(&env, &items, Setup::plain(&config, dir.path())).await;
    tray.click("Open list in terminal").await.unwrap();
    wait_for("the terminal ran", || async { record.exists() }).await;
    wait_for("its arguments", || async {
        std::fs::read_to_string(&record).unwrap().lines().count() == 5
    })
    .await;
    let ran = std::fs::read_to_string(&record).unwrap();
    let ran: Vec<&str> = ran.lines().collect();
    assert_eq!(
        ran[..4],
        ["-e", "sh", "-c", r#""$0" list; exec "$0" watch"#]
    );
    assert!(ran[4].ends_with("/trusty-mpm"), "{ran:?}");

    tray.click("Quit").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), tray.child.wait())
        .await
        .expect("the tray ends on Quit")
        .unwrap();
    assert!(status.success(), "{status}");
}
