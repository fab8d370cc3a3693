//! The tray icon as an `org.kde.StatusNotifierItem` (the protocol of KDE's tray, waybar's tray
//! and GNOME's AppIndicator extension): status, icon and tooltip, with the menu at
//! `/MenuBar`, and its registration with the host's `org.kde.StatusNotifierWatcher`.

use std::sync::{Arc, Mutex};

use zbus::object_server::SignalEmitter;
use zbus::{ObjectPath, interface, proxy};

use super::menu::MENU_PATH;
use super::state::Status;

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

/// One icon image: width, height and ARGB32 pixels in network byte order.
pub type Pixmap = (i32, i32, Vec<u8>);

/// A filled disc in the status's colour, at the sizes trays draw: grey while there is nothing
/// to run, green while sessions run, orange while one waits for a person.
pub fn icon(status: Status) -> Vec<Pixmap> {
    let (r, g, b) = match status {
        Status::Passive => (0x80, 0x80, 0x80),
        Status::Active => (0x2e, 0x9e, 0x44),
        Status::NeedsAttention => (0xe0, 0x7b, 0x00),
    };
    [16, 22, 32, 48]
        .into_iter()
        .map(|size| {
            let mut px = Vec::with_capacity((size * size * 4) as usize);
            let c = (size as f32 - 1.0) / 2.0;
            let radius = size as f32 * 0.4;
            for y in 0..size {
                for x in 0..size {
                    let d = ((x as f32 - c).powi(2) + (y as f32 - c).powi(2)).sqrt();
                    // One pixel of soft edge.
                    let alpha = (radius + 0.5 - d).clamp(0.0, 1.0);
                    px.extend_from_slice(&[(alpha * 255.0) as u8, r, g, b]);
                }
            }
            (size, size, px)
        })
        .collect()
}

/// What the item shows; the tray's loop updates it and then emits the New* signals.
#[derive(Debug, Clone)]
pub struct Look {
    pub status: Status,
    pub tooltip: String,
}

impl Default for Look {
    fn default() -> Self {
        Look {
            status: Status::Passive,
            tooltip: String::new(),
        }
    }
}

/// The `org.kde.StatusNotifierItem` object.
pub struct Item {
    pub look: Arc<Mutex<Look>>,
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
        self.look().status.as_str()
    }

    #[zbus(property)]
    fn window_id(&self) -> i32 {
        0
    }

    #[zbus(property)]
    fn icon_theme_path(&self) -> &str {
        ""
    }

    #[zbus(property)]
    fn menu(&self) -> ObjectPath<'static> {
        ObjectPath::from_static_str_unchecked(MENU_PATH)
    }

    #[zbus(property)]
    fn item_is_menu(&self) -> bool {
        true
    }

    /// Empty, so that hosts draw IconPixmap (the icon needs no theme).
    #[zbus(property)]
    fn icon_name(&self) -> &str {
        ""
    }

    #[zbus(property)]
    fn icon_pixmap(&self) -> Vec<Pixmap> {
        icon(self.look().status)
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
        ""
    }

    #[zbus(property)]
    fn attention_icon_pixmap(&self) -> Vec<Pixmap> {
        icon(Status::NeedsAttention)
    }

    #[zbus(property)]
    fn attention_movie_name(&self) -> &str {
        ""
    }

    /// Icon name, icon, title and text.
    #[zbus(property)]
    fn tool_tip(&self) -> (String, Vec<Pixmap>, String, String) {
        (
            String::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icons_are_argb32_discs_in_the_status_colour() {
        for (w, h, px) in icon(Status::NeedsAttention) {
            assert_eq!(px.len(), (w * h * 4) as usize);
            let centre = ((h / 2 * w + w / 2) * 4) as usize;
            assert_eq!(&px[centre..centre + 4], &[255, 0xe0, 0x7b, 0x00]);
            assert_eq!(px[0], 0, "the corners are transparent");
        }
    }
}
