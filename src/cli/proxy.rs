//! Typed proxies generated from the contract's signatures.

use std::collections::HashMap;

use zbus::{OwnedObjectPath, OwnedVariant, Variant, proxy};

/// One row of `ListSessions`: id, name, project_dir, status, activity, pid, path.
pub type SessionRow = (String, String, String, String, String, u32, OwnedObjectPath);

pub use crate::contract::RequestRow;

/// One event of `GetEvents`: at_usec, event, tool, summary.
pub type EventRow = (u64, String, String, String);

#[proxy(
    interface = "org.trusty.Mpm1",
    default_service = "org.trusty.Mpm1",
    default_path = "/org/trusty/Mpm1"
)]
pub trait Manager {
    fn list_sessions(&self) -> zbus::Result<Vec<SessionRow>>;
    fn get_session(&self, key: &str) -> zbus::Result<OwnedObjectPath>;
    fn start_session(
        &self,
        project_dir: &str,
        name: &str,
        options: HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<(String, String, OwnedObjectPath)>;
    fn register_session(
        &self,
        project_dir: &str,
        name: &str,
    ) -> zbus::Result<(String, String, OwnedObjectPath)>;
    fn adopt_session(&self, tmux_name: &str) -> zbus::Result<(String, OwnedObjectPath)>;
    fn discover_sessions(&self) -> zbus::Result<Vec<String>>;
    fn pause_session(&self, key: &str, note: &str, freeze: bool) -> zbus::Result<String>;
    fn resume_session(&self, key: &str) -> zbus::Result<()>;
    fn stop_session(&self, key: &str, force: bool) -> zbus::Result<()>;
    fn restart_session(&self, key: &str) -> zbus::Result<()>;
    fn remove_session(&self, key: &str, kill_tmux: bool) -> zbus::Result<()>;
    fn send_command(&self, key: &str, text: &str) -> zbus::Result<()>;
    fn send_keys(&self, key: &str, keys: &[&str]) -> zbus::Result<()>;
    fn capture_output(&self, key: &str, lines: u32, compression: &str) -> zbus::Result<String>;
    fn reap_dead_sessions(&self) -> zbus::Result<(u32, Vec<String>, u32)>;
    fn set_session_pid(&self, key: &str, pid: u32) -> zbus::Result<()>;
    fn get_events(&self, key: &str, limit: u32) -> zbus::Result<Vec<EventRow>>;
    fn handle_hook(
        &self,
        payload_json: &str,
        context: HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<(String, i32, String)>;
    fn answer_permission(
        &self,
        key: &str,
        request_id: &str,
        allow: bool,
        reason: &str,
    ) -> zbus::Result<()>;
    fn list_requests(&self) -> zbus::Result<Vec<RequestRow>>;
    fn answer_request(
        &self,
        key: &str,
        request_id: &str,
        answer: HashMap<String, OwnedVariant>,
    ) -> zbus::Result<()>;

    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn session_count(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn tmux_socket(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn hostname(&self) -> zbus::Result<String>;

    #[zbus(signal)]
    fn session_new(&self, id: &str, name: &str, path: zbus::ObjectPath<'_>) -> zbus::Result<()>;
    #[zbus(signal)]
    fn session_removed(&self, id: &str, name: &str, path: zbus::ObjectPath<'_>)
    -> zbus::Result<()>;
    #[zbus(signal)]
    fn status_changed(&self, id: &str, name: &str, status: &str) -> zbus::Result<()>;
    #[zbus(signal)]
    fn activity_changed(
        &self,
        id: &str,
        name: &str,
        activity: &str,
        detail: &str,
    ) -> zbus::Result<()>;
    #[zbus(signal)]
    fn permission_requested(
        &self,
        id: &str,
        name: &str,
        request_id: &str,
        tool: &str,
        detail: &str,
    ) -> zbus::Result<()>;
    #[zbus(signal)]
    fn permission_resolved(
        &self,
        id: &str,
        name: &str,
        request_id: &str,
        outcome: &str,
    ) -> zbus::Result<()>;
    #[zbus(signal)]
    fn claude_exited(&self, id: &str, name: &str, pid: u32) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.trusty.Mpm1.Session",
    default_service = "org.trusty.Mpm1"
)]
pub trait Session {
    fn pause(&self, note: &str, freeze: bool) -> zbus::Result<String>;
    fn resume(&self) -> zbus::Result<()>;
    fn stop(&self, force: bool) -> zbus::Result<()>;
    fn restart(&self) -> zbus::Result<()>;
    fn remove(&self, kill_tmux: bool) -> zbus::Result<()>;
    fn send_command(&self, text: &str) -> zbus::Result<()>;
    fn send_keys(&self, keys: &[&str]) -> zbus::Result<()>;
    fn capture_output(&self, lines: u32, compression: &str) -> zbus::Result<String>;
    fn get_events(&self, limit: u32) -> zbus::Result<Vec<EventRow>>;
    fn answer_permission(&self, request_id: &str, allow: bool, reason: &str) -> zbus::Result<()>;
    fn answer_request(
        &self,
        request_id: &str,
        answer: HashMap<String, OwnedVariant>,
    ) -> zbus::Result<()>;

    #[zbus(property)]
    fn id(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn name(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn project_dir(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn status(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn activity(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn activity_detail(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn pid(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn claude_session_id(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn transcript_path(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn created_at(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn last_seen(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn paused_at(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn pause_summary(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn frozen(&self) -> zbus::Result<bool>;
    #[zbus(property)]
    fn status_detail(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn unit(&self) -> zbus::Result<String>;
    #[zbus(property(emits_changed_signal = "false"))]
    fn memory_current(&self) -> zbus::Result<u64>;
    #[zbus(property(emits_changed_signal = "false"))]
    fn cpu_usage_n_sec(&self) -> zbus::Result<u64>;
    #[zbus(property(emits_changed_signal = "false"))]
    fn tasks_current(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn tmux_session(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn model(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn input_tokens(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn output_tokens(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn cache_creation_tokens(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn cache_read_tokens(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn context_tokens(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn args(&self) -> zbus::Result<Vec<String>>;
    #[zbus(property)]
    fn claude_command(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn claude_version(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn permission_mode(&self) -> zbus::Result<String>;
}
