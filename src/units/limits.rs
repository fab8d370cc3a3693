//! How a session's limits become properties of its unit.

use crate::limits::Limits;

impl Limits {
    /// The unit properties that apply these limits (each a `t`, as systemd takes them).
    pub fn properties(&self) -> Vec<(&'static str, u64)> {
        [
            ("MemoryHigh", self.memory_high),
            ("MemoryMax", self.memory_max),
            ("CPUWeight", self.cpu_weight.map(u64::from)),
            ("TasksMax", self.tasks_max),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
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
                ("MemoryHigh", 1 << 30),
                ("MemoryMax", 2 << 30),
                ("CPUWeight", 50),
                ("TasksMax", 512)
            ]
        );
    }
}
