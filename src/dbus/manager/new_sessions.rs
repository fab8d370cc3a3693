//! How sessions come to be managed: `StartSession` (a new tmux session running claude),
//! `RegisterSession` (bookkeeping only) and `AdoptSession` (an existing tmux session).

use std::collections::HashMap;

use zbus::message::Header;
use zbus::{OwnedObjectPath, OwnedVariant};

use super::Manager;
use crate::dbus::options::start_options;
use crate::dbus::session_path;
use crate::error::Error;
use crate::model::Session;

/// `StartSession`'s and `RegisterSession`'s reply: id, name, path.
type Created = (String, String, OwnedObjectPath);

fn created(s: Session) -> Created {
    (s.id.to_string(), s.name.to_string(), session_path(s.id))
}

impl Manager {
    /// `StartSession`: the options are decoded and checked before anything is created.
    pub(super) async fn start(
        &self,
        hdr: &Header<'_>,
        project_dir: &str,
        name: &str,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<Created, Error> {
        self.backend
            .call(hdr, || async {
                let opts = start_options(options)?;
                Ok(created(
                    self.backend.svc.start(project_dir, name, opts).await?,
                ))
            })
            .await
    }

    /// `RegisterSession`.
    pub(super) async fn register(
        &self,
        hdr: &Header<'_>,
        project_dir: &str,
        name: &str,
    ) -> Result<Created, Error> {
        self.backend
            .call(hdr, || async {
                Ok(created(self.backend.svc.register(project_dir, name).await?))
            })
            .await
    }

    /// `AdoptSession`: id and path.
    pub(super) async fn adopt(
        &self,
        hdr: &Header<'_>,
        tmux_name: &str,
    ) -> Result<(String, OwnedObjectPath), Error> {
        self.backend
            .call(hdr, || async {
                let s = self.backend.svc.adopt(tmux_name).await?;
                Ok((s.id.to_string(), session_path(s.id)))
            })
            .await
    }
}
