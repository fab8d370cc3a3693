//! What every client subcommand shares: the manager proxy, all sessions in one call (and their
//! names for shell completion), the manager's signals (from whichever daemon serves them;
//! `signals` decodes them), and times for people in their own time zone.

use std::time::Duration;

use clap_complete::CompletionCandidate;
use zbus::message::Type;
use zbus::proxy::CacheProperties;
use zbus::{Connection, MatchRule, Message, MessageStream};

use super::output::SessionInfo;
use super::proxy::{ManagerProxy, SessionProxy};
use crate::contract::{ANSWERER_NAME, BUS_NAME, MANAGER_IFACE, MANAGER_PATH, SESSION_IFACE};

/// Offers to answer requests when config.toml lets them wait at all (`wait` > 0): owns
/// `ANSWERER_NAME` while the connection lives, queued behind another answering client, so the
/// relay waits for answers exactly while one of them runs.
pub async fn offer_answers(conn: &Connection, wait: std::time::Duration) -> zbus::Result<()> {
    if !wait.is_zero() {
        let flags = zbus::fdo::RequestNameFlags::ALLOW_REPLACEMENT;
        conn.request_name_with_flags(ANSWERER_NAME, flags).await?;
    }
    Ok(())
}

/// The manager, every property read asked of the daemon.
pub async fn manager(conn: &Connection) -> zbus::Result<ManagerProxy<'static>> {
    ManagerProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
}

/// The session object at `path`, every property read asked of the daemon.
pub async fn session_proxy(
    conn: &Connection,
    path: zbus::OwnedObjectPath,
) -> zbus::Result<SessionProxy<'static>> {
    SessionProxy::builder(conn)
        .path(path)
        .cache_properties(CacheProperties::No)
        .build()
        .await
}

/// Every session with all its properties, oldest first (one GetManagedObjects call).
pub async fn sessions(conn: &Connection) -> zbus::Result<Vec<SessionInfo>> {
    let om = zbus::fdo::ObjectManagerProxy::builder(conn)
        .destination(BUS_NAME)
        .path(MANAGER_PATH)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    let mut out: Vec<SessionInfo> = om
        .get_managed_objects()
        .await?
        .iter()
        .filter_map(|(path, ifaces)| {
            let props = ifaces.iter().find(|(i, _)| i.as_str() == SESSION_IFACE)?.1;
            Some(SessionInfo::from_props(path.as_str(), props))
        })
        .collect();
    out.sort_by_key(|s| (s.created_at, s.name.clone()));
    Ok(out)
}

/// The match rule of the manager's signals, from whichever daemon serves them.
pub fn manager_rule() -> MatchRule<'static> {
    MatchRule::builder()
        .msg_type(Type::Signal)
        .interface(MANAGER_IFACE)
        .path(MANAGER_PATH)
        .build()
        .expect("the contract's names are valid")
}

/// The manager's signals, from whichever daemon currently serves them.
pub async fn manager_signals(conn: &Connection) -> zbus::Result<MessageStream> {
    let rule = manager_rule();
    MessageStream::for_match_rule(rule, conn, Some(64.try_into().expect("non-zero"))).await
}

/// `name` appearing on or leaving the bus (NameOwnerChanged).
pub async fn owner_changes(conn: &Connection, name: &str) -> zbus::Result<MessageStream> {
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .sender("org.freedesktop.DBus")
        .member("NameOwnerChanged")
        .arg(0, name)
        .build()?;
    MessageStream::for_match_rule(rule, conn, None).await
}

/// Whether a NameOwnerChanged says the name has an owner now.
pub fn owner_appeared(msg: &Message) -> bool {
    msg.body()
        .deserialize::<(String, String, String)>()
        .is_ok_and(|(_, _, new)| !new.is_empty())
}

/// Whether `name` has an owner on the bus now.
pub async fn has_owner(conn: &Connection, name: &str) -> zbus::Result<bool> {
    let name = zbus::names::BusName::try_from(name)?;
    Ok(zbus::fdo::DBusProxy::new(conn)
        .await?
        .name_has_owner(name)
        .await?)
}

/// "HH:MM:SS" of a microsecond timestamp in the user's time zone (UTC when it is unknown).
pub fn clock(usec: u64) -> String {
    let Ok(at) = jiff::Timestamp::from_microsecond(usec as i64) else {
        return "--:--:--".into();
    };
    at.to_zoned_datetime(jiff::tz::TimeZone::system())
        .strftime("%H:%M:%S")
        .to_string()
}

/// How long a TAB may wait for the daemon's session names.
const NAMES_LIMIT: Duration = Duration::from_millis(500);

/// The names of the daemon's sessions, with their status and activity; none when the daemon
/// does not answer in time.
pub fn session_names() -> Vec<CompletionCandidate> {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let rows = rt.block_on(async {
        let names = async {
            let conn = zbus::Connection::session().await?;
            manager(&conn).await?.list_sessions().await
        };
        tokio::time::timeout(NAMES_LIMIT, names).await
    });
    let Ok(Ok(rows)) = rows else {
        return Vec::new();
    };
    rows.into_iter()
        .map(|(_, name, _, status, activity, _, _)| {
            CompletionCandidate::new(name).help(Some(format!("{status}, {activity}").into()))
        })
        .collect()
}
