//! The tray icon as an `org.kde.StatusNotifierItem` (the protocol of KDE's tray, waybar's tray,
//! xfce4-panel's and GNOME's AppIndicator extension): status, icon and tooltip, with the menu
//! at `/MenuBar`, and its registration with the host's `org.kde.StatusNotifierWatcher`. The
//! status is never `Passive` (hosts hide passive items, so "not running" would never be seen):
//! `NeedsAttention` while something waits for a person, `Active` otherwise; the icon tells the
//! rest. Hosts draw the themed icon when `make install` put it in the icon theme, else the
//! same icon as pixmaps.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use zbus::object_server::SignalEmitter;
use zbus::{ObjectPath, interface, proxy};

use super::icon::{APP_ICON, Mood, Pixmap, pixmaps};
use super::menu::MENU_PATH;

/// Where the item object lives (the path hosts look at by default).
pub const ITEM_PATH: &str = "/StatusNotifierItem";
/// The host's watcher.
pub const WATCHER: &str = "org.kde.StatusNotifierWatcher";

#[proxy(
    interface = "org.kde.StatusNotifierWatcher",
    default_service = "org.kde.StatusNotifierWatcher",
    default_path = "/StatusNotifierWatcher"
)]
pub trait Watcher {
    fn register_status_notifier_item(&self, service: &str) -> zbus::Result<()>;
}

/// What the item shows; the tray's loop updates it and then emits the New* signals.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub mood: Mood,
    /// The tooltip's text, in the markup hosts read there (escaped).
    pub tooltip: String,
}

impl Default for Look {
    fn default() -> Self {
        Look {
            mood: Mood::Down,
            tooltip: String::new(),
        }
    }
}

impl Look {
    /// The StatusNotifierItem status.
    pub fn status(&self) -> &'static str {
        match self.mood {
            Mood::Attention => "NeedsAttention",
            _ => "Active",
        }
    }
}

/// Where hosts find the themed icons, if `make install` put them anywhere.
#[derive(Debug, Clone, Default)]
pub struct Theme {
    /// Whether the icon theme has them: then the item names them.
    pub installed: bool,
    /// A theme directory to add to the host's search path (icons installed beside the binary,
    /// under a PREFIX off the data directories), or empty.
    pub path: String,
}

impl Theme {
    /// Looks in the XDG data directories (the theme's search path), then beside the binary
    /// (PREFIX/bin/trusty-mpm, PREFIX/share/icons).
    pub fn find() -> Theme {
        let icon = "hicolor/scalable/status/trusty-mpm-running.svg";
        let home = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
        let dirs = std::env::var("XDG_DATA_DIRS")
            .ok()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/usr/local/share:/usr/share".into());
        let data = home.into_iter().chain(dirs.split(':').map(PathBuf::from));
        if data
            .map(|d| d.join("icons"))
            .any(|d| d.join(icon).is_file())
        {
            return Theme {
                installed: true,
                path: String::new(),
            };
        }
        let exe = std::env::current_exe().ok();
        let beside = exe
            .as_deref()
            .and_then(|e| Some(e.parent()?.parent()?.join("share/icons")));
        match beside.filter(|d| d.join(icon).is_file()) {
            Some(d) => Theme {
                installed: true,
                path: d.display().to_string(),
            },
            None => Theme::default(),
        }
    }

    /// `name` when the theme has it, else empty (the host then draws the pixmap).
    fn name(&self, name: &'static str) -> &'static str {
        if self.installed { name } else { "" }
    }
}

/// The `org.kde.StatusNotifierItem` object.
pub struct Item {
    pub look: Arc<Mutex<Look>>,
    pub theme: Theme,
}

impl Item {
    fn look(&self) -> Look {
        self.look.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The host shows the menu itself (ItemIsMenu); Activate and ContextMenu answer UnknownMethod,
/// which is what tells GNOME's AppIndicator extension to open the menu on a click.
fn menu_only() -> zbus::fdo::Error {
    zbus::fdo::Error::UnknownMethod("The tray icon has only a menu.".into())
}

#[interface(name = "org.kde.StatusNotifierItem")]
impl Item {
    fn activate(&self, _x: i32, _y: i32) -> zbus::fdo::Result<()> {
        Err(menu_only())
    }

    fn context_menu(&self, _x: i32, _y: i32) -> zbus::fdo::Result<()> {
        Err(menu_only())
    }

    fn secondary_activate(&self, _x: i32, _y: i32) {}

    fn scroll(&self, _delta: i32, _orientation: &str) {}

    #[zbus(property)]
    fn category(&self) -> &str {
        "ApplicationStatus"
    }

    #[zbus(property)]
    fn id(&self) -> &str {
        "trusty-mpm"
    }

    #[zbus(property)]
    fn title(&self) -> &str {
        "trusty-mpm"
    }

    #[zbus(property)]
    fn status(&self) -> &'static str {
        self.look().status()
    }

    #[zbus(property)]
    fn window_id(&self) -> i32 {
        0
    }

    #[zbus(property)]
    fn icon_theme_path(&self) -> &str {
        &self.theme.path
    }

    #[zbus(property)]
    fn menu(&self) -> ObjectPath<'static> {
        ObjectPath::from_static_str_unchecked(MENU_PATH)
    }

    #[zbus(property)]
    fn item_is_menu(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn icon_name(&self) -> &str {
        self.theme.name(self.look().mood.icon_name())
    }

    #[zbus(property)]
    fn icon_pixmap(&self) -> Vec<Pixmap> {
        pixmaps(self.look().mood)
    }

    #[zbus(property)]
    fn overlay_icon_name(&self) -> &str {
        ""
    }

    #[zbus(property)]
    fn overlay_icon_pixmap(&self) -> Vec<Pixmap> {
        Vec::new()
    }

    #[zbus(property)]
    fn attention_icon_name(&self) -> &str {
        self.theme.name(Mood::Attention.icon_name())
    }

    #[zbus(property)]
    fn attention_icon_pixmap(&self) -> Vec<Pixmap> {
        pixmaps(Mood::Attention)
    }

    #[zbus(property)]
    fn attention_movie_name(&self) -> &str {
        ""
    }

    /// Icon name, icon, title and text.
    #[zbus(property)]
    fn tool_tip(&self) -> (String, Vec<Pixmap>, String, String) {
        (
            self.theme.name(APP_ICON).into(),
            Vec::new(),
            "trusty-mpm".into(),
            self.look().tooltip,
        )
    }

    #[zbus(signal)]
    pub async fn new_icon(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn new_tool_tip(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    pub async fn new_status(emitter: &SignalEmitter<'_>, status: &str) -> zbus::Result<()>;
}
