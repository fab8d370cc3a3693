//! Answers to waiting requests: `AnswerPermission` (allow or deny) and `AnswerRequest` (the
//! whole answer dictionary, decoded and checked before the request is touched).

use std::collections::HashMap;

use zbus::OwnedVariant;
use zbus::message::Header;

use super::Manager;
use crate::dbus::requests;
use crate::error::Error;

impl Manager {
    /// `AnswerPermission`.
    pub(super) async fn allow_or_deny(
        &self,
        hdr: &Header<'_>,
        key: &str,
        request_id: &str,
        allow: bool,
        reason: &str,
    ) -> Result<(), Error> {
        let svc = &self.backend.svc;
        self.backend
            .call_key(hdr, key, |id| async move {
                svc.answer_permission(id, request_id, allow, reason).await
            })
            .await
    }

    /// `AnswerRequest`.
    pub(super) async fn answer(
        &self,
        hdr: &Header<'_>,
        key: &str,
        request_id: &str,
        answer: HashMap<String, OwnedVariant>,
    ) -> Result<(), Error> {
        self.backend
            .call_key(hdr, key, |id| async move {
                let reply = requests::reply(answer)?;
                self.backend.svc.answer_request(id, request_id, reply).await
            })
            .await
    }
}
