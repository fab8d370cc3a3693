//! Figures, the printed table and `target/bench/report.json`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

/// One line of the report: a measured value beside the baseline measured in the same run.
#[derive(Serialize)]
pub struct Row {
    /// Figure number: 1–8 of issue 6, then 9 (resource figures), 10 (transcript reads), 11
    /// (a change as the registry grows) and 12 (StartSession beside tmux new-session).
    pub figure: u8,
    pub what: String,
    pub unit: &'static str,
    pub value: f64,
    pub baseline: Option<f64>,
    pub baseline_what: String,
    /// value / baseline.
    pub ratio: Option<f64>,
    /// Empty when the row is informational.
    pub target: String,
    /// PASS / MISS / "" (no target) / "n/a" (no ratio to judge).
    pub result: String,
    pub note: String,
}

impl Row {
    pub fn new(figure: u8, what: impl Into<String>, unit: &'static str, value: f64) -> Row {
        Row {
            figure,
            what: what.into(),
            unit,
            value,
            baseline: None,
            baseline_what: String::new(),
            ratio: None,
            target: String::new(),
            result: String::new(),
            note: String::new(),
        }
    }

    pub fn against(mut self, baseline: f64, what: impl Into<String>) -> Row {
        self.baseline = Some(baseline);
        self.baseline_what = what.into();
        self.ratio = Some(if baseline > 0.0 {
            self.value / baseline
        } else {
            f64::NAN
        });
        self
    }

    /// Target on the ratio: ratio ≤ limit (or ≥ when `at_least`).
    pub fn ratio_target(mut self, text: &str, limit: f64, at_least: bool) -> Row {
        self.target = text.into();
        let pass = self.ratio.map(|r| {
            if at_least {
                r >= limit
            } else {
                r.is_finite() && r <= limit
            }
        });
        self.result = verdict(pass);
        self
    }

    /// Target on the value: value ≤ limit.
    pub fn value_target(mut self, text: &str, limit: f64) -> Row {
        self.target = text.into();
        self.result = verdict(Some(self.value <= limit));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }
}

fn verdict(pass: Option<bool>) -> String {
    match pass {
        Some(true) => "PASS".into(),
        Some(false) => "MISS".into(),
        None => "n/a".into(),
    }
}

fn fmt(v: Option<f64>, unit: &str) -> String {
    let Some(v) = v else {
        return "—".into();
    };
    let num = match unit {
        "calls/s" => format!("{v:.0}"),
        _ if v >= 100.0 => format!("{v:.0}"),
        _ if v >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    };
    if unit.is_empty() {
        num
    } else {
        format!("{num} {unit}")
    }
}

/// The table as printed and as pasted into docs/performance.md (a Markdown table).
pub fn table(rows: &[Row]) -> String {
    let head = [
        "#", "figure", "measured", "baseline", "ratio", "target", "result",
    ];
    let mut cells: Vec<[String; 7]> = vec![head.map(str::to_owned)];
    for r in rows {
        let baseline = match r.baseline {
            Some(_) => format!("{} ({})", fmt(r.baseline, r.unit), r.baseline_what),
            None if !r.baseline_what.is_empty() => r.baseline_what.clone(),
            None => "—".into(),
        };
        let measured = fmt(Some(r.value), r.unit);
        cells.push([
            r.figure.to_string(),
            r.what.clone(),
            measured,
            baseline,
            r.ratio
                .map(|x| {
                    if x > 0.0 && x < 0.01 {
                        format!("{x:.1e}×")
                    } else {
                        format!("{x:.2}×")
                    }
                })
                .unwrap_or_else(|| "—".into()),
            if r.target.is_empty() {
                "—".into()
            } else {
                r.target.clone()
            },
            if r.result.is_empty() {
                "—".into()
            } else {
                r.result.clone()
            },
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |c: &[String; 7]| {
        let parts: Vec<String> = c
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s}{}", " ".repeat(w - s.chars().count())))
            .collect();
        format!("| {} |", parts.join(" | "))
    };
    let mut out = String::new();
    out.push_str(&line(&cells[0]));
    out.push('\n');
    let sep: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("|-{}-|\n", sep.join("-|-")));
    for c in &cells[1..] {
        out.push_str(&line(c));
        out.push('\n');
    }
    let notes: Vec<&Row> = rows.iter().filter(|r| !r.note.is_empty()).collect();
    if !notes.is_empty() {
        out.push('\n');
        for r in notes {
            out.push_str(&format!("- {} {}: {}\n", r.figure, r.what, r.note));
        }
    }
    out
}

/// `<target dir>/bench`: from the running bench binary (`<target>/release/deps/harness-…`),
/// else `CARGO_TARGET_DIR`, else `./target`.
pub fn out_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe()
        && let Some(target) = exe.ancestors().nth(3)
        && exe.parent().and_then(Path::file_name) == Some("deps".as_ref())
    {
        return target.join("bench");
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench")
}

/// Percentile by nearest rank of an ascending slice.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "no samples");
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The distribution of an ascending slice of µs for report.json.
pub fn summary(sorted_us: &[f64]) -> Value {
    json!({
        "n": sorted_us.len(),
        "p50": percentile(sorted_us, 50.0),
        "p90": percentile(sorted_us, 90.0),
        "p99": percentile(sorted_us, 99.0),
        "max": sorted_us[sorted_us.len() - 1],
        "mean": mean(sorted_us),
    })
}
