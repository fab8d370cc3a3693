//! `HandleHook`, the hook relay's call: what only the relay sees (its context) and who called
//! (the bus names the caller's pid) go with the event to the hook service.

use std::collections::HashMap;

use zbus::OwnedVariant;
use zbus::message::Header;

use super::Manager;
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
        self.backend
            .call(hdr, || async {
                let mut ctx = hook_context(context)?;
                ctx.caller_pid = self.backend.access.caller_pid(hdr).await?;
                let r = self.backend.hooks.handle(payload_json, &ctx).await?;
                Ok((r.stdout, r.exit_code, r.stderr))
            })
            .await
    }
}
