//! Method calls timed from the client: one call sent raw, sequential and interleaved series,
//! throughput of concurrent clients, and the CPU a call costs each process on its way.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zbus::{Connection, OwnedObjectPath};

use crate::cpu::ThreadCpu;
use crate::report::sorted;
use crate::world::{BUS_NAME, MANAGER_PATH, World};

/// One method call, sent raw so that every call (Ping included) goes the same way and nothing
/// but the reply's arrival is timed (the body is not decoded).
#[derive(Clone)]
pub struct Call {
    path: String,
    iface: &'static str,
    member: &'static str,
    arg: Option<String>,
}

impl Call {
    pub fn ping() -> Call {
        Call {
            path: MANAGER_PATH.into(),
            iface: "org.freedesktop.DBus.Peer",
            member: "Ping",
            arg: None,
        }
    }

    pub fn get_session(key: &str) -> Call {
        Call {
            path: MANAGER_PATH.into(),
            iface: "org.trusty.Mpm1",
            member: "GetSession",
            arg: Some(key.into()),
        }
    }

    pub fn get_all(path: &OwnedObjectPath) -> Call {
        Call {
            path: path.to_string(),
            iface: "org.freedesktop.DBus.Properties",
            member: "GetAll",
            arg: Some("org.trusty.Mpm1.Session".into()),
        }
    }

    pub fn list() -> Call {
        Call {
            path: MANAGER_PATH.into(),
            iface: "org.trusty.Mpm1",
            member: "ListSessions",
            arg: None,
        }
    }

    async fn once(&self, conn: &Connection) -> zbus::Result<zbus::Message> {
        let dest = Some(BUS_NAME);
        let path = self.path.as_str();
        match &self.arg {
            None => {
                conn.call_method(dest, path, Some(self.iface), self.member, &())
                    .await
            }
            Some(a) => {
                conn.call_method(dest, path, Some(self.iface), self.member, &(a.as_str(),))
                    .await
            }
        }
    }

    /// µs for one call.
    pub async fn timed(&self, conn: &Connection) -> f64 {
        let t = Instant::now();
        self.once(conn)
            .await
            .unwrap_or_else(|e| panic!("{}.{}: {e}", self.iface, self.member));
        t.elapsed().as_secs_f64() * 1e6
    }
}

/// CPU µs per call spent by the daemon, the dbus-daemon and this process over `n` calls
/// (from the threads' schedstat), beside the wall time per call.
pub async fn cpu_split(w: &World, call: &Call, n: usize) -> Value {
    let mut cpu = [w.daemon_pid(), w.bus_pid(), std::process::id()].map(ThreadCpu::start);
    let t = Instant::now();
    for i in 0..n {
        call.timed(&w.conn).await;
        if i % 100 == 99 {
            cpu.iter_mut().for_each(ThreadCpu::sample);
        }
    }
    let wall = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let ns = cpu.map(|mut c| c.ns());
    let per = |i: usize| ns[i] as f64 / 1e3 / n as f64;
    json!({ "calls": n, "wall": wall, "daemon": per(0), "dbus_daemon": per(1), "client": per(2) })
}

/// `n` sequential calls after a warm-up; sorted µs.
pub async fn time_calls(conn: &Connection, call: &Call, n: usize) -> Vec<f64> {
    for _ in 0..(n / 10).clamp(10, 500) {
        call.timed(conn).await;
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(call.timed(conn).await);
    }
    sorted(v)
}

/// `n` sequential calls of each of `calls`, in 10 rotating blocks; sorted µs per call kind.
pub async fn interleaved(conn: &Connection, calls: &[Call], n: usize) -> Vec<Vec<f64>> {
    for c in calls {
        for _ in 0..200 {
            c.timed(conn).await;
        }
    }
    let blocks = 10;
    let mut out: Vec<Vec<f64>> = calls.iter().map(|_| Vec::with_capacity(n)).collect();
    for b in 0..blocks {
        let per = n / blocks + usize::from(b < n % blocks);
        for (c, v) in calls.iter().zip(out.iter_mut()) {
            for _ in 0..per {
                v.push(c.timed(conn).await);
            }
        }
    }
    out.into_iter().map(sorted).collect()
}

/// Calls per second of `clients` threads, each with its own runtime and bus connection,
/// calling back to back for `secs`.
pub fn throughput(addr: &str, call: &Call, clients: usize, secs: f64) -> f64 {
    let barrier = Barrier::new(clients);
    let dur = Duration::from_secs_f64(secs);
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("client runtime");
                    let conn = rt.block_on(async {
                        let conn = zbus::connection::Builder::address(addr)
                            .build()
                            .await
                            .expect("client connection");
                        for _ in 0..50 {
                            call.timed(&conn).await;
                        }
                        conn
                    });
                    barrier.wait();
                    rt.block_on(async {
                        let end = Instant::now() + dur;
                        let mut n = 0u64;
                        while Instant::now() < end {
                            call.timed(&conn).await;
                            n += 1;
                        }
                        n
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .sum()
    });
    total as f64 / secs
}
