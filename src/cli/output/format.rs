//! Figures for people: ages, byte and token counts, thousands separators, plurals.

use super::session::SessionInfo;
use crate::model::now_usec;
pub use crate::text::count;

/// A duration in microseconds as `42s`, `5m`, `3h`, `2d`.
pub fn age(since_usec: u64) -> String {
    if since_usec == 0 {
        return "-".into();
    }
    let secs = now_usec().saturating_sub(since_usec) / 1_000_000;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A byte count as `812K`, `1.2G` (powers of 1024); `-` when unknown.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    if n == 0 {
        return "-".into();
    }
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if v < 10.0 && i > 0 {
        format!("{v:.1}{}", UNITS[i])
    } else {
        format!("{v:.0}{}", UNITS[i])
    }
}

/// A token count for a glance: `850`, `47k`, `1.2M`; `-` for none.
pub fn tokens(n: u64) -> String {
    match n {
        0 => "-".into(),
        n if n < 1_000 => n.to_string(),
        n if n < 999_500 => format!("{}k", (n + 500) / 1_000),
        n => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// An exact count with thousands separators: `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `status`'s token lines: the context and the sums, empty when nothing was read.
pub fn token_lines(s: &SessionInfo) -> [(&'static str, String); 2] {
    let sums = [
        s.input_tokens,
        s.output_tokens,
        s.cache_creation_tokens,
        s.cache_read_tokens,
    ];
    let context = match s.context_tokens {
        0 => String::new(),
        n => format!("{} tokens", grouped(n)),
    };
    let totals = if sums.iter().all(|n| *n == 0) {
        String::new()
    } else {
        format!(
            "{} in · {} out · {} cache write · {} cache read",
            grouped(sums[0]),
            grouped(sums[1]),
            grouped(sums[2]),
            grouped(sums[3])
        )
    };
    [("Context", context), ("Tokens", totals)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_read_at_a_glance() {
        let cases = [
            (0, "-"),
            (850, "850"),
            (999, "999"),
            (1_000, "1k"),
            (47_300, "47k"),
            (47_600, "48k"),
            (999_499, "999k"),
            (999_500, "1.0M"),
            (1_234_567, "1.2M"),
        ];
        for (n, want) in cases {
            assert_eq!(tokens(n), want, "{n}");
        }
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
