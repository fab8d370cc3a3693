//! Resource limits of a session: what StartSession and config.toml may ask for, checked before
//! anything starts, and the sizes config.toml writes them in. `units` applies them.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Limits for one session; `None` leaves systemd's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory above which the session is throttled and reclaimed (bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_high: Option<u64>,
    /// Memory the session may never exceed; the kernel kills inside it beyond (bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_max: Option<u64>,
    /// CPU weight against other units, 1 to 10,000 (systemd's default is 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_weight: Option<u32>,
    /// Most tasks (processes and threads) the session may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_max: Option<u64>,
}

impl Limits {
    /// Refuses values systemd would refuse or that make no sense for an agent.
    pub fn check(&self) -> Result<()> {
        for (what, v) in [
            ("memory_high", self.memory_high),
            ("memory_max", self.memory_max),
            ("tasks_max", self.tasks_max),
        ] {
            if v == Some(0) {
                return Err(Error::invalid(format!("{what} must be more than 0.")));
            }
        }
        if let Some(w) = self.cpu_weight
            && !(1..=10_000).contains(&w)
        {
            return Err(Error::invalid(format!(
                "cpu_weight is 1 to 10000, not {w}."
            )));
        }
        if let (Some(high), Some(max)) = (self.memory_high, self.memory_max)
            && high > max
        {
            return Err(Error::invalid("memory_high must not be above memory_max."));
        }
        Ok(())
    }

    /// These limits, with `defaults` for what they leave unset.
    pub fn over(self, defaults: &Limits) -> Limits {
        Limits {
            memory_high: self.memory_high.or(defaults.memory_high),
            memory_max: self.memory_max.or(defaults.memory_max),
            cpu_weight: self.cpu_weight.or(defaults.cpu_weight),
            tasks_max: self.tasks_max.or(defaults.tasks_max),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }
}

/// A size from config.toml: bytes, or a number with K, M, G or T (powers of 1024).
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is not a size"))?;
    let shift = match unit.trim() {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        other => return Err(format!("'{other}' is not a size unit (K, M, G or T)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_and_merged_over_defaults() {
        let l = Limits {
            memory_high: Some(1 << 30),
            memory_max: Some(2 << 30),
            cpu_weight: Some(50),
            tasks_max: Some(512),
        };
        assert!(l.check().is_ok());
        for bad in [
            Limits {
                cpu_weight: Some(0),
                ..l
            },
            Limits {
                cpu_weight: Some(10_001),
                ..l
            },
            Limits {
                memory_max: Some(0),
                ..l
            },
            Limits {
                memory_high: Some(3 << 30),
                ..l
            },
            Limits {
                tasks_max: Some(0),
                ..l
            },
        ] {
            assert!(
                matches!(bad.check(), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
        let asked = Limits {
            cpu_weight: Some(7),
            ..Limits::default()
        };
        let merged = asked.over(&l);
        assert_eq!(
            (merged.cpu_weight, merged.memory_max),
            (Some(7), Some(2 << 30))
        );
    }

    #[test]
    fn sizes_read_like_systemd_writes_them() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert!(parse_size("8X").is_err());
        assert!(parse_size("lots").is_err());
    }
}
