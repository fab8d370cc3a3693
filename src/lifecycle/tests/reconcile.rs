//! What the service concludes from tmux: a gone tmux session stops its session (only an
//! explicit reap forgets it), an unreachable tmux decides nothing, and after a reboot the
//! sessions that ran are stopped and listed for restoring.

use super::{rig, rig_with};
use crate::model::{Session, SessionName, Status};
use crate::tmux::Tmux;
use crate::tmux::memory::MemoryTmux;

#[tokio::test]
async fn gone_tmux_sessions_stop_and_only_an_explicit_reap_forgets() {
    let r = rig();
    let a = r.start("a").await;
    let b = r.start("b").await;
    r.tmux.kill_session(&a.name).await.unwrap();
    r.wait_status(&a, Status::Stopped).await;

    let (reaped, _, _) = r.svc.reap_with(false).await.unwrap();
    assert_eq!(reaped, 0, "the periodic reaper forgets nothing");
    let a_now = r.svc.get(a.id).unwrap();
    assert_eq!(a_now.status_detail, "the tmux session is gone");
    assert_eq!(r.svc.get(b.id).unwrap().status, Status::Active);

    let (reaped, names, _) = r.svc.reap().await.unwrap();
    assert_eq!((reaped, names), (1, vec!["a".to_owned()]));
    assert!(r.svc.get(a.id).is_none());
}

#[tokio::test]
async fn an_unreachable_tmux_decides_nothing() {
    let r = rig();
    let a = r.start("a").await;
    r.tmux.world().unreachable = true;
    let (reaped, _, stopped) = r.svc.reap().await.unwrap();
    assert_eq!((reaped, stopped), (0, 0));
    assert_eq!(r.svc.get(a.id).unwrap().status, Status::Active);
    assert!(r.svc.reconcile().await.unwrap().is_empty());
    assert_eq!(r.svc.get(a.id).unwrap().status, Status::Active);
}

#[tokio::test]
async fn after_a_reboot_lost_sessions_are_stopped_and_listed() {
    let mut running = Session::new(SessionName::new("agent").unwrap(), "/".into(), true);
    running.status = Status::Active;
    running.pane = "%3".into();
    let mut idle = Session::new(SessionName::new("idle").unwrap(), "/".into(), true);
    idle.status = Status::Stopped;
    let r = rig_with(vec![running.clone(), idle.clone()], MemoryTmux::default());
    let lost = r.svc.reconcile().await.unwrap();
    assert_eq!(lost, [running.id], "only what was running is restored");
    for s in [&running, &idle] {
        let now = r.svc.get(s.id).unwrap();
        assert_eq!(now.status, Status::Stopped);
        assert_eq!(now.status_detail, "the tmux server is gone");
    }
}
