//! The manager's signals as the clients hear them: decoded once from a message, by the
//! contract's signature of each, into `ManagerSignal`, which the tray, notify and watch match
//! on, and which `watch --json` prints.

use serde::Serialize;
use zbus::{Message, OwnedObjectPath};

use crate::contract::MANAGER_IFACE;

/// One signal of the manager (org.trusty.Mpm1), its arguments named as in the contract.
/// Serialized, it is a `watch --json` line without what watch adds (`at_usec`, and `host`
/// with hosts configured): `{"event": "StatusChanged", "id", "name", "status"}` and so on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event")]
pub enum ManagerSignal {
    SessionNew {
        id: String,
        name: String,
        path: String,
    },
    SessionRemoved {
        id: String,
        name: String,
        path: String,
    },
    StatusChanged {
        id: String,
        name: String,
        status: String,
    },
    ActivityChanged {
        id: String,
        name: String,
        activity: String,
        detail: String,
    },
    PermissionRequested {
        id: String,
        name: String,
        request_id: String,
        tool: String,
        detail: String,
    },
    PermissionResolved {
        id: String,
        name: String,
        request_id: String,
        outcome: String,
    },
    ClaudeExited {
        id: String,
        name: String,
        pid: u32,
    },
}

impl ManagerSignal {
    /// The manager signal `msg` is; `None` for any other message, and for a body that is not
    /// of the contract's signature.
    pub fn decode(msg: &Message) -> Option<ManagerSignal> {
        use ManagerSignal::*;
        let hdr = msg.header();
        if hdr.interface()?.as_str() != MANAGER_IFACE {
            return None;
        }
        let body = msg.body();
        Some(match hdr.member()?.as_str() {
            "SessionNew" => {
                let (id, name, path): (String, String, OwnedObjectPath) =
                    body.deserialize().ok()?;
                let path = path.to_string();
                SessionNew { id, name, path }
            }
            "SessionRemoved" => {
                let (id, name, path): (String, String, OwnedObjectPath) =
                    body.deserialize().ok()?;
                let path = path.to_string();
                SessionRemoved { id, name, path }
            }
            "StatusChanged" => {
                let (id, name, status) = body.deserialize().ok()?;
                StatusChanged { id, name, status }
            }
            "ActivityChanged" => {
                let (id, name, activity, detail) = body.deserialize().ok()?;
                ActivityChanged {
                    id,
                    name,
                    activity,
                    detail,
                }
            }
            "PermissionRequested" => {
                let (id, name, request_id, tool, detail) = body.deserialize().ok()?;
                PermissionRequested {
                    id,
                    name,
                    request_id,
                    tool,
                    detail,
                }
            }
            "PermissionResolved" => {
                let (id, name, request_id, outcome) = body.deserialize().ok()?;
                PermissionResolved {
                    id,
                    name,
                    request_id,
                    outcome,
                }
            }
            "ClaudeExited" => {
                let (id, name, pid) = body.deserialize().ok()?;
                ClaudeExited { id, name, pid }
            }
            _ => return None,
        })
    }

    /// The session's name.
    pub fn name(&self) -> &str {
        use ManagerSignal::*;
        match self {
            SessionNew { name, .. }
            | SessionRemoved { name, .. }
            | StatusChanged { name, .. }
            | ActivityChanged { name, .. }
            | PermissionRequested { name, .. }
            | PermissionResolved { name, .. }
            | ClaudeExited { name, .. } => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::MANAGER_PATH;

    fn signal<B>(member: &str, body: &B) -> Message
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        Message::signal(MANAGER_PATH, MANAGER_IFACE, member)
            .build(body)
            .unwrap()
    }

    #[test]
    fn each_signal_decodes_to_its_variant_and_prints_the_watch_json_keys() {
        let path = zbus::ObjectPath::try_from(format!("{MANAGER_PATH}/session/1f")).unwrap();
        let cases = [
            (
                signal("SessionNew", &("1f", "api", &path)),
                r#"{"event":"SessionNew","id":"1f","name":"api","path":"/org/trusty/Mpm1/session/1f"}"#,
            ),
            (
                signal("SessionRemoved", &("1f", "api", &path)),
                r#"{"event":"SessionRemoved","id":"1f","name":"api","path":"/org/trusty/Mpm1/session/1f"}"#,
            ),
            (
                signal("StatusChanged", &("1f", "api", "paused")),
                r#"{"event":"StatusChanged","id":"1f","name":"api","status":"paused"}"#,
            ),
            (
                signal("ActivityChanged", &("1f", "api", "working", "Bash")),
                r#"{"event":"ActivityChanged","id":"1f","name":"api","activity":"working","detail":"Bash"}"#,
            ),
            (
                signal("PermissionRequested", &("1f", "api", "r1", "Bash", "make")),
                r#"{"event":"PermissionRequested","id":"1f","name":"api","request_id":"r1","tool":"Bash","detail":"make"}"#,
            ),
            (
                signal("PermissionResolved", &("1f", "api", "r1", "expired")),
                r#"{"event":"PermissionResolved","id":"1f","name":"api","request_id":"r1","outcome":"expired"}"#,
            ),
            (
                signal("ClaudeExited", &("1f", "api", 4242u32)),
                r#"{"event":"ClaudeExited","id":"1f","name":"api","pid":4242}"#,
            ),
        ];
        for (msg, json) in cases {
            let got = ManagerSignal::decode(&msg).expect("a manager signal");
            assert_eq!(got.name(), "api");
            assert_eq!(serde_json::to_string(&got).unwrap(), json);
        }
    }

    #[test]
    fn other_messages_and_bodies_of_another_signature_are_none() {
        let unknown = signal("SessionRenamed", &("1f", "api"));
        let short = signal("StatusChanged", &("1f", "api"));
        let other_iface = Message::signal(MANAGER_PATH, "org.example.Other", "StatusChanged")
            .build(&("1f", "api", "paused"))
            .unwrap();
        for msg in [unknown, short, other_iface] {
            assert_eq!(ManagerSignal::decode(&msg), None);
        }
    }
}
