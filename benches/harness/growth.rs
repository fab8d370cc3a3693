//! Figure 11: what one change costs as the registry grows. One client registers 10,000
//! sessions one call at a time (each reply means the change is on disk); the time of the last
//! 1,000 calls beside the first 1,000.

use std::time::Instant;

use serde_json::{Value, json};
use trusty_mpm::cli::proxy::ManagerProxy;

use crate::registered::reg_name;
use crate::report::{Row, percentile, sorted, summary};
use crate::world::World;
use crate::{Cfg, log};

/// Figure 11 against a daemon with a fresh state dir (stopped again afterwards).
pub async fn registry_growth(
    w: &mut World,
    cfg: &Cfg,
    rows: &mut Vec<Row>,
    raw: &mut serde_json::Map<String, Value>,
) {
    let total = cfg.growth_sessions;
    let block = total / 10;
    let state = w.state_dir("state-growth");
    w.start_daemon(&state).await;
    let m = ManagerProxy::new(&w.conn).await.expect("manager proxy");
    let project = w.project("growth");
    log(format!(
        "registry growth: {total} RegisterSession calls, one at a time"
    ));
    let mut blocks_s = Vec::new();
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for b in 0..10 {
        let t = Instant::now();
        for i in b * block..(b + 1) * block {
            let c = Instant::now();
            m.register_session(&project, &reg_name(i))
                .await
                .unwrap_or_else(|e| panic!("RegisterSession {}: {e}", reg_name(i)));
            let us = c.elapsed().as_secs_f64() * 1e6;
            match b {
                0 => first.push(us),
                9 => last.push(us),
                _ => {}
            }
        }
        blocks_s.push(t.elapsed().as_secs_f64());
        log(format!(
            "  {} sessions: the last {block} took {:.2} s",
            (b + 1) * block,
            blocks_s[b]
        ));
    }
    let state_bytes: u64 = std::fs::read_dir(&state)
        .expect("state dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    w.stop_daemon();
    let (first, last) = (sorted(first), sorted(last));
    rows.push(
        Row::new(
            11,
            format!(
                "RegisterSession ×{block}, from {} to {total} sessions",
                total - block
            ),
            "s",
            blocks_s[9],
        )
        .against(blocks_s[0], format!("the first {block}"))
        .ratio_target("≤ 1.25×", 1.25, false),
    );
    rows.push(
        Row::new(
            11,
            format!("RegisterSession p50 at {}–{total} sessions", total - block),
            "µs",
            percentile(&last, 50.0),
        )
        .against(percentile(&first, 50.0), "p50 of the first")
        .note(format!(
            "state dir {:.1} MiB at {total} sessions",
            state_bytes as f64 / (1 << 20) as f64
        )),
    );
    raw.insert(
        "registry_growth".into(),
        json!({
            "sessions": total,
            "block_s": blocks_s,
            "first_block_us": summary(&first),
            "last_block_us": summary(&last),
            "state_dir_bytes": state_bytes,
        }),
    );
}
