//! `HandleHook`, the hook relay's call: what only the relay sees (its context) and who called
//! (the bus, or the hook socket, names the caller's pid) go with the event to the hook service.

use std::collections::HashMap;

use zbus::OwnedVariant;
use zbus::message::Header;

use super::Manager;
use crate::dbus::Backend;
use crate::dbus::options::hook_context;
use crate::error::Error;

impl Manager {
    /// What the relay prints on stdout, its exit code and its stderr.
    pub(super) async fn relay_hook(
        &self,
        hdr: &Header<'_>,
        payload_json: &str,
        context: HashMap<String, OwnedVariant>,
    ) -> Result<(String, i32, String), Error> {
        let b = &self.backend;
        b.call(hdr, || async {
            let pid = b.access.caller_pid(hdr).await?;
            b.hook(pid, payload_json, context).await
        })
        .await
    }
}

impl Backend {
    /// `HandleHook` for an admitted caller whose process is `caller_pid` (0: not known).
    pub(in crate::dbus) async fn hook(
        &self,
        caller_pid: u32,
        payload_json: &str,
        context: HashMap<String, OwnedVariant>,
    ) -> Result<(String, i32, String), Error> {
        let mut ctx = hook_context(context)?;
        ctx.caller_pid = caller_pid;
        let r = self.hooks.handle(payload_json, &ctx).await?;
        Ok((r.stdout, r.exit_code, r.stderr))
    }
}
