//! The tray's menu as a `com.canonical.dbusmenu` object: the host reads the layout
//! (GetLayout, GetGroupProperties, GetProperty) and reports clicks (Event, EventGroup). Every
//! new layout gets fresh item ids, so a click on an entry of a layout the host showed before
//! the last change can never run another entry's action.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zbus::object_server::SignalEmitter;
use zbus::{Connection, OwnedVariant, Structure, Type, Variant, interface};

use super::actions;
use super::entries::{Entry, Toggle};
use super::state::Action;

/// Where the menu object lives.
pub const MENU_PATH: &str = "/MenuBar";

/// One entry with its id.
#[derive(Debug, Clone)]
struct Node {
    id: i32,
    entry: Entry,
    children: Vec<Node>,
}

/// The current layout and what its entries do.
#[derive(Debug)]
pub struct Layout {
    revision: u32,
    /// The entries, from which the ids were assigned (to see whether a new menu differs).
    entries: Vec<Entry>,
    root: Node,
    actions: HashMap<i32, Action>,
    next_id: i32,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            revision: 0,
            entries: Vec::new(),
            root: Node {
                id: 0,
                entry: Entry::Separator,
                children: Vec::new(),
            },
            actions: HashMap::new(),
            next_id: 1,
        }
    }
}

impl Layout {
    /// Takes a new menu; returns the new revision when it differs from the current one.
    pub fn set(&mut self, entries: Vec<Entry>) -> Option<u32> {
        if entries == self.entries {
            return None;
        }
        self.actions.clear();
        let children = entries.iter().map(|e| self.node(e)).collect();
        self.root.children = children;
        self.entries = entries;
        self.revision += 1;
        Some(self.revision)
    }

    fn node(&mut self, entry: &Entry) -> Node {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        let children = match entry {
            Entry::Item {
                action, children, ..
            } => {
                if let Some(a) = action {
                    self.actions.insert(id, a.clone());
                }
                children.iter().map(|c| self.node(c)).collect()
            }
            Entry::Separator => Vec::new(),
        };
        Node {
            id,
            entry: entry.clone(),
            children,
        }
    }

    fn find(&self, id: i32) -> Option<&Node> {
        fn walk(n: &Node, id: i32) -> Option<&Node> {
            if n.id == id {
                return Some(n);
            }
            n.children.iter().find_map(|c| walk(c, id))
        }
        walk(&self.root, id)
    }

    pub fn action(&self, id: i32) -> Option<&Action> {
        self.actions.get(&id)
    }
}

/// The properties of a node that differ from dbusmenu's defaults, filtered by `names` (all
/// when empty).
fn properties(n: &Node, names: &[String]) -> HashMap<String, OwnedVariant> {
    let mut p: Vec<(&str, Variant<'static>)> = Vec::new();
    if n.id == 0 {
        p.push(("children-display", Variant::from("submenu")));
    } else {
        match &n.entry {
            Entry::Separator => p.push(("type", Variant::from("separator"))),
            Entry::Item {
                label,
                action,
                toggle,
                children,
            } => {
                // A single underscore marks an access key in dbusmenu labels.
                p.push(("label", Variant::from(label.replace('_', "__"))));
                if action.is_none() && children.is_empty() {
                    p.push(("enabled", Variant::from(false)));
                }
                let (kind, on) = match toggle {
                    Toggle::None => ("", false),
                    Toggle::Check(on) => ("checkmark", *on),
                    Toggle::Radio(on) => ("radio", *on),
                };
                if !kind.is_empty() {
                    p.push(("toggle-type", Variant::from(kind)));
                    p.push(("toggle-state", Variant::from(i32::from(on))));
                }
                if !children.is_empty() {
                    p.push(("children-display", Variant::from("submenu")));
                }
            }
        }
    }
    p.into_iter()
        .filter(|(k, _)| names.is_empty() || names.iter().any(|n| n == k))
        .filter_map(|(k, v)| Some((k.to_owned(), OwnedVariant::try_from(v).ok()?)))
        .collect()
}

/// A node as dbusmenu's `(ia{sv}av)`, its children `depth` levels down (all when negative).
#[derive(Debug, serde::Serialize, Type)]
pub struct Tree(i32, HashMap<String, OwnedVariant>, Vec<OwnedVariant>);

fn tree(n: &Node, depth: i32, names: &[String]) -> Tree {
    let children = if depth == 0 {
        Vec::new()
    } else {
        n.children
            .iter()
            .filter_map(|c| {
                let Tree(id, props, kids) = tree(c, depth - 1, names);
                let s = Structure::from((id, props, kids));
                OwnedVariant::try_from(Variant::from(s)).ok()
            })
            .collect()
    };
    Tree(n.id, properties(n, names), children)
}

fn unknown(id: i32) -> zbus::fdo::Error {
    zbus::fdo::Error::InvalidArgs(format!(
        "No menu item {id}; the menu has changed since it was read."
    ))
}

/// The `com.canonical.dbusmenu` object.
pub struct Menu {
    pub layout: Arc<Mutex<Layout>>,
    /// Clicks on what the tray's loop does itself (picks, Send, Quit, a place's actions).
    pub local: tokio::sync::mpsc::UnboundedSender<Action>,
}

impl Menu {
    fn layout(&self) -> std::sync::MutexGuard<'_, Layout> {
        self.layout.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the action of a clicked item; other events (hovered, opened, closed) do nothing.
    async fn clicked(&self, conn: &Connection, id: i32, event: &str) -> zbus::fdo::Result<()> {
        let action = {
            let layout = self.layout();
            if layout.find(id).is_none() {
                return Err(unknown(id));
            }
            match event {
                "clicked" => layout.action(id).cloned(),
                _ => None,
            }
        };
        match action {
            Some(
                a @ (Action::Pick { .. } | Action::Send { .. } | Action::Quit | Action::At { .. }),
            ) => {
                // The loop has gone only when the tray is ending anyway.
                let _ = self.local.send(a);
                Ok(())
            }
            Some(a) => actions::run(conn, conn, &a).await,
            None => Ok(()),
        }
    }
}

#[interface(name = "com.canonical.dbusmenu")]
impl Menu {
    fn get_layout(
        &self,
        parent_id: i32,
        recursion_depth: i32,
        property_names: Vec<String>,
    ) -> zbus::fdo::Result<(u32, Tree)> {
        let layout = self.layout();
        let node = layout.find(parent_id).ok_or_else(|| unknown(parent_id))?;
        Ok((
            layout.revision,
            tree(node, recursion_depth, &property_names),
        ))
    }

    fn get_group_properties(
        &self,
        ids: Vec<i32>,
        property_names: Vec<String>,
    ) -> Vec<(i32, HashMap<String, OwnedVariant>)> {
        let layout = self.layout();
        let mut out = Vec::new();
        let mut push = |n: &Node| out.push((n.id, properties(n, &property_names)));
        if ids.is_empty() {
            fn all<'n>(n: &'n Node, f: &mut impl FnMut(&'n Node)) {
                f(n);
                n.children.iter().for_each(|c| all(c, f));
            }
            all(&layout.root, &mut push);
        } else {
            ids.iter().filter_map(|id| layout.find(*id)).for_each(push);
        }
        out
    }

    fn get_property(&self, id: i32, name: String) -> zbus::fdo::Result<OwnedVariant> {
        let layout = self.layout();
        let node = layout.find(id).ok_or_else(|| unknown(id))?;
        properties(node, std::slice::from_ref(&name))
            .remove(&name)
            .ok_or_else(|| {
                zbus::fdo::Error::InvalidArgs(format!("Menu item {id} has no property {name}."))
            })
    }

    async fn event(
        &self,
        #[zbus(connection)] conn: &Connection,
        id: i32,
        event_id: String,
        _data: OwnedVariant,
        _timestamp: u32,
    ) -> zbus::fdo::Result<()> {
        self.clicked(conn, id, &event_id).await
    }

    /// Runs each event; returns the ids that are not in the menu.
    async fn event_group(
        &self,
        #[zbus(connection)] conn: &Connection,
        events: Vec<(i32, String, OwnedVariant, u32)>,
    ) -> zbus::fdo::Result<Vec<i32>> {
        let mut errors = Vec::new();
        for (id, event, _, _) in events {
            if self.layout().find(id).is_none() {
                errors.push(id);
            } else {
                self.clicked(conn, id, &event).await?;
            }
        }
        Ok(errors)
    }

    /// The menu is always up to date: nothing to do before it is shown.
    fn about_to_show(&self, _id: i32) -> bool {
        false
    }

    fn about_to_show_group(&self, ids: Vec<i32>) -> (Vec<i32>, Vec<i32>) {
        let layout = self.layout();
        let errors = ids
            .into_iter()
            .filter(|id| layout.find(*id).is_none())
            .collect();
        (Vec::new(), errors)
    }

    #[zbus(property)]
    fn version(&self) -> u32 {
        3
    }

    #[zbus(property)]
    fn text_direction(&self) -> &str {
        "ltr"
    }

    #[zbus(property)]
    fn status(&self) -> &str {
        "normal"
    }

    #[zbus(property)]
    fn icon_theme_path(&self) -> Vec<String> {
        Vec::new()
    }

    #[zbus(signal)]
    pub async fn layout_updated(
        emitter: &SignalEmitter<'_>,
        revision: u32,
        parent: i32,
    ) -> zbus::Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(label: &str, action: Option<Action>, children: Vec<Entry>) -> Entry {
        Entry::Item {
            label: label.into(),
            action,
            toggle: Toggle::None,
            children,
        }
    }

    fn stop(id: &str) -> Option<Action> {
        Some(Action::Session {
            verb: super::super::state::Verb::Stop,
            id: id.into(),
            name: id.into(),
        })
    }

    #[test]
    fn ids_are_fresh_for_every_new_layout() {
        let mut l = Layout::default();
        let menu = vec![item("a_b", None, vec![item("Stop", stop("1"), vec![])])];
        assert_eq!(l.set(menu.clone()), Some(1));
        assert_eq!(l.set(menu.clone()), None, "the same menu is no new layout");
        let t = tree(&l.root, -1, &[]);
        assert_eq!(t.0, 0);
        assert_eq!(t.2.len(), 1);
        let sub = l.find(1).unwrap();
        assert_eq!(
            properties(sub, &[]).get("label").cloned(),
            Some(OwnedVariant::try_from(Variant::from("a__b")).unwrap()),
            "underscores are doubled"
        );
        assert_eq!(l.action(2), stop("1").as_ref());
        l.set(vec![item("b", None, vec![item("Stop", stop("2"), vec![])])]);
        assert!(
            l.find(2).is_none() && l.action(2).is_none(),
            "old ids are gone"
        );
        assert_eq!(l.action(4), stop("2").as_ref());
        assert_eq!(tree(&l.root, 0, &[]).2.len(), 0, "depth 0 has no children");
    }
}
