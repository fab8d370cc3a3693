//! The user's service manager, `org.freedesktop.systemd1` on the session bus, through a typed
//! proxy: transient scopes for sessions, stopping, freezing and thawing their units, and the
//! slice's memory limit. A job (starting or stopping a unit) is followed by its JobRemoved
//! signal, subscribed to before the call that queues it, so nothing polls.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use zbus::proxy::CacheProperties;
use zbus::{OwnedObjectPath, Variant, proxy};

use crate::error::{Error, Result};
use crate::limits::Limits;

/// How long a call to the manager (and the job it queues) may take.
const TIMEOUT: Duration = Duration::from_secs(5);

#[proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Variant<'_>)],
        aux: &[(&str, Vec<(&str, Variant<'_>)>)],
    ) -> zbus::Result<OwnedObjectPath>;
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn freeze_unit(&self, name: &str) -> zbus::Result<()>;
    fn thaw_unit(&self, name: &str) -> zbus::Result<()>;
    fn set_unit_properties(
        &self,
        name: &str,
        runtime: bool,
        properties: &[(&str, Variant<'_>)],
    ) -> zbus::Result<()>;
    /// Without a subscriber the manager sends no signals.
    fn subscribe(&self) -> zbus::Result<()>;
    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;
}

/// The manager, on a connection of this module's own (made at first use, kept while the
/// daemon runs).
async fn manager() -> Result<&'static ManagerProxy<'static>> {
    static MANAGER: tokio::sync::OnceCell<ManagerProxy<'static>> =
        tokio::sync::OnceCell::const_new();
    MANAGER
        .get_or_try_init(|| async {
            let conn = zbus::connection::Builder::session().build().await?;
            let m = ManagerProxy::builder(&conn)
                .cache_properties(CacheProperties::No)
                .build()
                .await?;
            m.subscribe().await?;
            Ok::<_, zbus::Error>(m)
        })
        .await
        .map_err(|e| {
            Error::Internal(format!(
                "The user's service manager cannot be reached: {e}."
            ))
        })
}

/// `call` bounded in time; its D-Bus error as an `Internal` error saying what failed.
async fn bounded<T>(what: &str, call: impl Future<Output = zbus::Result<T>>) -> Result<T> {
    tokio::time::timeout(TIMEOUT, call)
        .await
        .map_err(|_| Error::Timeout(format!("systemd did not {what} within 5 s.")))?
        .map_err(|e| Error::Internal(format!("systemd could not {what}: {}.", reason(&e))))
}

/// What the manager said, without the error's name.
fn reason(e: &zbus::Error) -> String {
    use zbus::DBusError;
    let text = match e {
        zbus::Error::MethodError(_, Some(text), _) => Some(text.as_str()),
        zbus::Error::FDO(e) => e.description(),
        _ => None,
    };
    match text {
        Some(text) => text.trim_end_matches('.').to_owned(),
        None => e.to_string(),
    }
}

/// Queues a job with `call` and waits for it to end; `Ok` when it ended `done`.
async fn job(
    m: &ManagerProxy<'static>,
    what: &str,
    call: impl Future<Output = zbus::Result<OwnedObjectPath>>,
) -> Result<()> {
    // Subscribed first: the job may end before its path is known here.
    let mut removed = bounded(what, m.receive_job_removed()).await?;
    bounded(what, async {
        let job = call.await?;
        while let Some(signal) = removed.next().await {
            let args = signal.args()?;
            if args.job == job {
                return Ok(args.result);
            }
        }
        Err(zbus::Error::InvalidReply)
    })
    .await
    .and_then(|result| match result.as_str() {
        "done" => Ok(()),
        other => Err(Error::Internal(format!(
            "systemd could not {what}: the job ended '{other}'."
        ))),
    })
}

/// A transient scope of processes that already run.
pub struct Scope<'a> {
    pub unit: &'a str,
    pub slice: &'a str,
    pub description: &'a str,
    pub limits: Limits,
    pub pids: &'a [u32],
}

/// Starts `scope` with accounting on and its limits, once its processes are in it.
pub async fn start_scope(scope: Scope<'_>) -> Result<()> {
    let m = manager().await?;
    let mut props: Vec<(&str, Variant<'_>)> = vec![
        ("Slice", scope.slice.into()),
        ("Description", scope.description.into()),
        ("CollectMode", "inactive-or-failed".into()),
        ("PIDs", scope.pids.to_vec().into()),
        ("MemoryAccounting", true.into()),
        ("CPUAccounting", true.into()),
        ("TasksAccounting", true.into()),
    ];
    props.extend(
        scope
            .limits
            .properties()
            .into_iter()
            .map(|(k, v)| (k, v.into())),
    );
    let what = format!("start {}", scope.unit);
    job(
        m,
        &what,
        m.start_transient_unit(scope.unit, "fail", &props, &[]),
    )
    .await
}

/// Ends what an earlier launch left in `unit` (a tool claude started that outlived it), so the
/// name is free for the next launch. A unit that is not there is fine.
pub async fn clear(unit: &str) {
    let stopped = async {
        let m = manager().await?;
        if m.get_unit(unit).await.is_err() {
            // Not loaded: nothing to stop.
            return Ok(());
        }
        job(m, &format!("stop {unit}"), m.stop_unit(unit, "replace")).await
    };
    if let Err(e) = stopped.await {
        tracing::debug!("stopping leftover unit {unit}: {e}");
    }
}

/// Freezes every process of `unit` (systemd's freezer; cgroup v2 only).
pub async fn freeze_unit(unit: &str) -> Result<()> {
    let m = manager().await?;
    bounded(&format!("freeze {unit}"), m.freeze_unit(unit)).await
}

/// Thaws what `freeze_unit` froze.
pub async fn thaw_unit(unit: &str) -> Result<()> {
    let m = manager().await?;
    bounded(&format!("thaw {unit}"), m.thaw_unit(unit)).await
}

/// Limits the memory of every process in `slice` together, until the manager restarts.
pub async fn limit_slice(slice: &str, memory_max: u64) -> Result<()> {
    let m = manager().await?;
    let props = [("MemoryMax", Variant::from(memory_max))];
    bounded(
        &format!("limit {slice}"),
        m.set_unit_properties(slice, true, &props),
    )
    .await
}
