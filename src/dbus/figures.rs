//! A session's resource figures (memory, CPU time, tasks) as its object shows them: read from
//! its unit or process tree when a client asks, once for all properties of one GetAll, and
//! never signalled.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::units::{self, Figures};

/// The properties computed when a client reads them, never signalled.
pub(super) const COMPUTED: [&str; 3] = ["MemoryCurrent", "CpuUsageNSec", "TasksCurrent"];

/// How long one reading of the figures answers for (the properties of one GetAll).
const FIGURES_FRESH: Duration = Duration::from_millis(100);

/// The resource figures of a session's claude `pid` and `unit`: read from the unit or the
/// process tree, off the executor.
pub(super) async fn read_figures(pid: u32, unit: String) -> Figures {
    crate::procwatch::blocking(move || units::figures(pid, &unit))
        .await
        .unwrap_or_default()
}

/// The last reading of one session's figures: when, and for which claude.
#[derive(Default)]
pub(super) struct LastReading(Mutex<Option<(Instant, u32, Figures)>>);

impl LastReading {
    /// Reads the figures of claude `pid` anew unless its reading is fresh.
    pub(super) async fn refresh(&self, pid: u32, unit: String) {
        let cached = *self.lock();
        if cached.is_some_and(|(at, of, _)| of == pid && at.elapsed() < FIGURES_FRESH) {
            return;
        }
        let f = read_figures(pid, unit).await;
        *self.lock() = Some((Instant::now(), pid, f));
    }

    /// The figures last read for claude `pid`; zeros when none were.
    pub(super) fn of(&self, pid: u32) -> Figures {
        match *self.lock() {
            Some((_, of, f)) if of == pid => f,
            _ => Figures::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, u32, Figures)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
