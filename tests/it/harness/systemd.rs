//! systemd's side of a test: a notify socket standing in for the service manager's, what
//! arrived on it, and a stopped process woken again whatever happens.

use super::*;

/// A datagram socket standing in for systemd's notify socket (`NOTIFY_SOCKET`).
pub struct FakeSystemd {
    _dir: tempfile::TempDir,
    sock: std::os::unix::net::UnixDatagram,
    pub path: String,
}

impl FakeSystemd {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        FakeSystemd {
            path: path.to_string_lossy().into_owned(),
            _dir: dir,
            sock,
        }
    }

    /// Every message received within `window`.
    #[cfg(feature = "test-faults")] // the watchdog test alone
    pub fn collect(&self, window: Duration) -> Vec<String> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.sock.recv(&mut buf) {
                out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        out
    }

    /// Waits up to 10 s for a message containing `needle`; returns it and what came before.
    pub fn wait_for(&self, needle: &str) -> (String, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut before = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.contains(needle) {
                    return (msg, before);
                }
                before.push(msg);
            }
        }
        panic!("no notify message with {needle:?}; got {before:?}");
    }
}

impl FakeSystemd {
    /// Reads every message from now on in a background thread, noting when it came, so the
    /// daemon never blocks on a full queue (`net.unix.max_dgram_qlen` is often 10). Messages
    /// it reads are no longer seen by `collect` and `wait_for`.
    pub fn record(&self) -> NotifyRecorder {
        let sock = self.sock.try_clone().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::spawn({
            let (stop, log) = (stop.clone(), log.clone());
            move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(n) = sock.recv(&mut buf) {
                        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                        log.lock().unwrap().push((Instant::now(), msg));
                    }
                }
            }
        });
        NotifyRecorder {
            stop,
            log,
            thread: Some(thread),
        }
    }
}

/// The notify messages a `FakeSystemd::record` thread read, with their arrival times.
pub struct NotifyRecorder {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NotifyRecorder {
    /// Watchdog pings that arrived in `from..to`.
    pub fn pings_between(&self, from: Instant, to: Instant) -> usize {
        let log = self.log.lock().unwrap();
        let msgs: Vec<String> = log
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
            .map(|(_, m)| m.clone())
            .collect();
        pings(&msgs)
    }
}

impl Drop for NotifyRecorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How many of `msgs` are watchdog pings.
pub fn pings(msgs: &[String]) -> usize {
    msgs.iter()
        .filter(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        .count()
}

/// SIGCONTs a process (the tmux server) when dropped, so that no failure leaves it stopped.
pub struct Thaw(pub u32);

impl Drop for Thaw {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}
