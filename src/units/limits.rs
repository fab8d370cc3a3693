//! How a session's limits become properties of its unit.

use crate::limits::Limits;

impl Limits {
    /// The unit properties (`-p NAME=VALUE`) that apply these limits.
    pub fn properties(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(v) = self.memory_high {
            out.push(format!("MemoryHigh={v}"));
        }
        if let Some(v) = self.memory_max {
            out.push(format!("MemoryMax={v}"));
        }
        if let Some(v) = self.cpu_weight {
            out.push(format!("CPUWeight={v}"));
        }
        if let Some(v) = self.tasks_max {
            out.push(format!("TasksMax={v}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_written_as_unit_properties() {
        let l = Limits {
            memory_high: Some(1 << 30),
            memory_max: Some(2 << 30),
            cpu_weight: Some(50),
            tasks_max: Some(512),
        };
        assert_eq!(
            l.properties(),
            [
                "MemoryHigh=1073741824",
                "MemoryMax=2147483648",
                "CPUWeight=50",
                "TasksMax=512"
            ]
        );
    }
}
