//! The desktop side with real parts: the real `trusty-mpm notify` and hook relay against the
//! daemon, with a stand-in notification server on the private bus that records every call
//! (Notify, CloseNotification, GetCapabilities) and clicks like a person (ActionInvoked); and
//! `trusty-mpm attach` in real tmux clients.

mod attach;
mod notifications;
mod outcomes;
mod packaging;
mod requests;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use zbus::object_server::SignalEmitter;
use zbus::{Connection, OwnedVariant};

use crate::harness::*;
use trusty_mpm::cli::proxy::{PermissionRequestedStream, PermissionResolvedStream};

/// One Notify call as the server received it.
#[derive(Clone, Debug)]
pub struct Shown {
    pub id: u32,
    pub summary: String,
    pub body: String,
    pub actions: Vec<String>,
    pub hints: HashMap<String, OwnedVariant>,
}

impl Shown {
    pub fn hint_str(&self, key: &str) -> String {
        String::try_from(self.hints[key].clone()).unwrap()
    }
}

/// What the stand-in server saw.
#[derive(Default)]
pub struct Log {
    pub shown: Vec<Shown>,
    pub closed: Vec<u32>,
    pub caps_asked: usize,
}

/// A stand-in org.freedesktop.Notifications with the capabilities a test gives it.
#[derive(Clone)]
pub struct NotifyServer {
    log: Arc<Mutex<Log>>,
    caps: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl NotifyServer {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        _app_name: &str,
        _replaces_id: u32,
        _app_icon: &str,
        summary: &str,
        body: &str,
        actions: Vec<String>,
        hints: HashMap<String, OwnedVariant>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut log = self.log.lock().unwrap();
        let id = log.shown.len() as u32 + 1;
        log.shown.push(Shown {
            id,
            summary: summary.to_owned(),
            body: body.to_owned(),
            actions,
            hints,
        });
        id
    }

    async fn close_notification(
        &self,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
        id: u32,
    ) -> zbus::fdo::Result<()> {
        self.log.lock().unwrap().closed.push(id);
        // 3: closed by a call to CloseNotification.
        Self::notification_closed(&emitter, id, 3).await?;
        Ok(())
    }

    fn get_capabilities(&self) -> Vec<String> {
        self.log.lock().unwrap().caps_asked += 1;
        self.caps.lock().unwrap().clone()
    }

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn notification_closed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        reason: u32,
    ) -> zbus::Result<()>;
}

/// The stand-in server on the test's bus with `caps`: its connection, what it saw, and its
/// capabilities (a test may change them).
pub async fn serve_notifications(
    env: &Env,
    caps: &[&str],
) -> (Connection, Arc<Mutex<Log>>, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let caps = Arc::new(Mutex::new(caps.iter().map(|c| c.to_string()).collect()));
    let server = NotifyServer {
        log: log.clone(),
        caps: Arc::clone(&caps),
    };
    let server = zbus::connection::Builder::address(env.bus.address.as_str())
        .serve_at("/org/freedesktop/Notifications", server)
        .name("org.freedesktop.Notifications")
        .build()
        .await
        .unwrap();
    (server, log, caps)
}

/// The person clicks `action` of notification `id` of the stand-in server (`server`: its
/// connection, from `serve_notifications`).
pub async fn click(server: &Connection, id: u32, action: &str) {
    let emitter = SignalEmitter::new(server, "/org/freedesktop/Notifications").unwrap();
    NotifyServer::action_invoked(&emitter, id, action)
        .await
        .unwrap();
}

/// A daemon reading `config`, the stand-in server, a listening `trusty-mpm notify` and an
/// active session "n" whose pane the relay speaks for.
pub struct Desk {
    pub env: Env,
    config_dir: tempfile::TempDir,
    pub log: Arc<Mutex<Log>>,
    pub caps: Arc<Mutex<Vec<String>>>,
    pub notify: tokio::process::Child,
    server: Connection,
    pub pane: String,
}

/// `trusty-mpm notify` with the config file and runtime directory in `dir`.
fn spawn_notify(env: &Env, dir: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(DAEMON)
        .args(["notify", "--min-work-secs", "0"])
        .env("DBUS_SESSION_BUS_ADDRESS", &env.bus.address)
        .env("TRUSTY_MPM_CONFIG", dir.join("config.toml"))
        .env("XDG_RUNTIME_DIR", dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Every capability a full server (GNOME, KDE, dunst, mako) has that notify looks at.
pub const FULL: &[&str] = &["actions", "body", "body-markup"];

impl Desk {
    pub async fn new(config: &str, caps: &[&str]) -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).unwrap();
        let config_path = config_path.to_str().unwrap().to_owned();
        let env = Env::with_env(&[("TRUSTY_MPM_CONFIG", &config_path)]).await;
        let (server, log, caps) = serve_notifications(&env, caps).await;
        let notify = spawn_notify(&env, dir.path());
        env.start_active("n").await;
        let pane = pane_of(&env, "n");
        let desk = Desk {
            env,
            config_dir: dir,
            log,
            caps,
            notify,
            server,
            pane,
        };
        desk.until_listening().await;
        desk
    }

    /// Stops notify (as a crash or a restart of its service would) and starts it again.
    pub async fn restart_notify(&mut self) {
        self.notify.start_kill().unwrap();
        self.notify.wait().await.unwrap();
        self.notify = spawn_notify(&self.env, self.config_dir.path());
    }

    /// Work/ready cycles until notify shows a "finished" note: then it follows the signals.
    /// (More finished notes may follow from cycles it was still catching up with.)
    async fn until_listening(&self) {
        for _ in 0..200 {
            self.hook("UserPromptSubmit", r#","prompt":"x""#).await;
            self.hook("Stop", "").await;
            if !self.log.lock().unwrap().shown.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("notify never showed a finished note");
    }

    /// Runs the relay for one hook event of session "n"; returns what it printed.
    pub async fn hook(&self, event: &str, extra: &str) -> String {
        let payload = format!(r#"{{"session_id":"c","hook_event_name":"{event}"{extra}}}"#);
        let r = relay(&self.env, &payload, &self.pane).await;
        assert_eq!(r.code, 0, "{payload}");
        r.stdout
    }

    /// A PermissionRequest for `command` in the background, as Claude Code's hook runs it.
    pub fn ask(&self, command: &str) -> tokio::task::JoinHandle<String> {
        self.relay_in_background(format!(
            r#"{{"session_id":"c","hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{{"command":{}}}}}"#,
            serde_json::Value::from(command)
        ))
    }

    /// The relay of session "n" with `payload` in the background; what it printed.
    pub fn relay_in_background(&self, payload: String) -> tokio::task::JoinHandle<String> {
        let (bus, socket, pane) = (
            self.env.bus.address.clone(),
            self.env.tmux_socket().display().to_string(),
            self.pane.clone(),
        );
        tokio::spawn(async move { relay_with(&bus, &socket, &payload, &pane).await.stdout })
    }

    /// Waits for the `n`th permission request notification (1-based) and returns it.
    pub async fn asking(&self, n: usize) -> Shown {
        let nth = || {
            let log = self.log.lock().unwrap();
            let mut asking = log
                .shown
                .iter()
                .filter(|s| s.summary.contains(" asks to use "));
            asking.nth(n - 1).cloned()
        };
        wait_for("a permission notification", || async { nth().is_some() }).await;
        nth().unwrap()
    }

    /// Waits until notification `id` was closed with CloseNotification.
    pub async fn closed(&self, id: u32) {
        wait_for("the notification closed", || async {
            self.log.lock().unwrap().closed.contains(&id)
        })
        .await;
    }

    /// The person clicks `action` of notification `id`.
    pub async fn click(&self, id: u32, action: &str) {
        click(&self.server, id, action).await;
    }

    /// The person clicks `action` of notification `id` on a server that closes a notification
    /// when one of its actions is clicked (dunst does): both signals at once.
    pub async fn click_and_close(&self, id: u32, action: &str) {
        let emitter = SignalEmitter::new(&self.server, "/org/freedesktop/Notifications").unwrap();
        NotifyServer::action_invoked(&emitter, id, action)
            .await
            .unwrap();
        // 2: dismissed by the user.
        NotifyServer::notification_closed(&emitter, id, 2)
            .await
            .unwrap();
    }

    /// What notify wrote on stderr so far (it is stopped to read it).
    pub async fn notify_stderr(mut self) -> String {
        self.notify.start_kill().unwrap();
        let out = self.notify.wait_with_output().await.unwrap();
        String::from_utf8(out.stderr).unwrap()
    }
}

/// Follows the daemon's PermissionRequested and PermissionResolved signals.
pub struct Requests {
    asked: PermissionRequestedStream,
    ended: PermissionResolvedStream,
}

impl Requests {
    pub async fn new(env: &Env) -> Self {
        let m = env.manager().await;
        Requests {
            asked: m.receive_permission_requested().await.unwrap(),
            ended: m.receive_permission_resolved().await.unwrap(),
        }
    }

    /// The request id of the next PermissionRequested.
    pub async fn asked(&mut self) -> String {
        let sig = tokio::time::timeout(Duration::from_secs(10), self.asked.next())
            .await
            .expect("a PermissionRequested within 10 s")
            .unwrap();
        sig.args().unwrap().request_id().to_string()
    }

    /// The next PermissionResolved: (request id, outcome).
    pub async fn ended(&mut self) -> (String, String) {
        let sig = tokio::time::timeout(Duration::from_secs(10), self.ended.next())
            .await
            .expect("a PermissionResolved within 10 s")
            .unwrap();
        let a = sig.args().unwrap();
        (a.request_id().to_string(), a.outcome().to_string())
    }

    /// Asserts that no request ends within `window`.
    pub async fn none_ended_for(&mut self, window: Duration) {
        if let Ok(Some(sig)) = tokio::time::timeout(window, self.ended.next()).await {
            let a = sig.args().unwrap();
            panic!("{} ended: {}", a.request_id(), a.outcome());
        }
    }
}

/// What a waiting relay printed, once it returned (within 10 s).
pub async fn returned(pending: tokio::task::JoinHandle<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("the relay returned")
        .unwrap()
}
