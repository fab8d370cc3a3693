//! The reliability suite's seeded random choices.

use std::time::{SystemTime, UNIX_EPOCH};

/// A small seeded generator (SplitMix64): reproducible choices without another dependency.
pub struct Rng {
    state: u64,
    pub seed: u64,
}

impl Rng {
    /// Seeded from `TRUSTY_MPM_SEED` or the clock; prints the seed for replaying a failure.
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("TRUSTY_MPM_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{test}: seed {seed} (replay with TRUSTY_MPM_SEED={seed})");
        Rng { state: seed, seed }
    }

    pub fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// An independent generator for a concurrent client, derived from this one.
    pub fn fork(&mut self) -> Rng {
        let state = self.next();
        Rng {
            state,
            seed: self.seed,
        }
    }
}
