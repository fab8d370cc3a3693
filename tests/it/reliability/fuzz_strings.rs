//! The fuzzer's raw material: strings (empty, printable, unicode, control characters, huge,
//! tmux and shell metacharacters, UUID look-alikes, name-like), key lists, numbers and hook
//! payloads.

use super::fuzz_calls::World;
use super::rng::Rng;
use crate::harness::HOOK_EVENTS;

pub fn random_ascii(rng: &mut Rng, max: usize) -> String {
    let len = 1 + rng.below(max);
    (0..len)
        .map(|_| (b' ' + rng.below(95) as u8) as char)
        .collect()
}

pub fn random_unicode(rng: &mut Rng) -> String {
    const RANGES: [(u32, u32); 7] = [
        (0xA0, 0x2FF),
        (0x400, 0x4FF),
        (0x2500, 0x259F),
        (0x4E00, 0x4FFF),
        (0x1F600, 0x1F64F),
        (0x202A, 0x202E),
        (0xFFF0, 0xFFFD),
    ];
    let len = 1 + rng.below(30);
    (0..len)
        .filter_map(|_| {
            let (lo, hi) = *rng.pick(&RANGES);
            char::from_u32(lo + rng.below((hi - lo + 1) as usize) as u32)
        })
        .collect()
}

pub fn control_mix(rng: &mut Rng) -> String {
    const PIECES: [&str; 20] = [
        "\n",
        "\r",
        "\t",
        "\x1b[31m",
        "\x1b]0;title\x07",
        "\x1b",
        "\x7f",
        "\x01",
        "\x03",
        "\x04",
        "\x08",
        "\u{85}",
        "\u{2028}",
        "\u{feff}",
        "\u{202e}",
        "a",
        "b",
        " ",
        "-",
        "x",
    ];
    (0..1 + rng.below(10)).map(|_| *rng.pick(&PIECES)).collect()
}

pub fn huge(rng: &mut Rng) -> String {
    let len = 1024 + rng.below(99 * 1024);
    let unit: &[u8] = match rng.below(3) {
        0 => b"abcdefghijklmnopqrstuvwxyz",
        1 => b"a\n\tb\x1b[0m ",
        _ => b"xxxxxxxx",
    };
    let mut s: String = unit.iter().cycle().take(len).map(|&b| b as char).collect();
    if rng.percent(30) {
        s.push('é');
    }
    s
}

pub fn uuid_like(rng: &mut Rng) -> String {
    let hex = format!("{:016x}{:016x}", rng.next(), rng.next());
    let hyph = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    match rng.below(7) {
        0 => hyph,
        1 => hex,
        2 => hyph.to_uppercase(),
        3 => format!("{{{hyph}}}"),
        4 => hex[..31].to_owned(),
        5 => format!("urn:uuid:{hyph}"),
        _ => format!("{hex}0"),
    }
}

pub fn valid_name(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    let len = 1 + rng.below(70);
    let mut s: String = (0..len)
        .map(|_| CHARS[rng.below(CHARS.len())] as char)
        .collect();
    if s.starts_with('-') && rng.percent(50) {
        s.replace_range(..1, "x");
    }
    s
}

/// A string from the fuzzer's mix: empty, printable, unicode, control characters, huge (up to
/// 100 KiB), tmux and shell metacharacters, UUID look-alikes, name-like.
pub fn fuzz_string(rng: &mut Rng) -> String {
    const META: [&str; 26] = [
        ":",
        ".",
        "-x",
        "--",
        "=wedge",
        "#{pane_pid}",
        "%1",
        "a;b",
        "a:b.c",
        "$(id)",
        "`id`",
        "'",
        "\"",
        "\\",
        "~",
        "*",
        "?",
        "{}",
        "%s%n%x",
        "../..",
        "/",
        "//",
        "a b",
        ";kill-server",
        "-t",
        "{0}",
    ];
    match rng.below(100) {
        0..=9 => String::new(),
        10..=31 => random_ascii(rng, 40),
        32..=44 => random_unicode(rng),
        45..=59 => control_mix(rng),
        60..=63 => huge(rng),
        64..=76 => rng.pick(&META).to_string(),
        77..=86 => uuid_like(rng),
        _ => valid_name(rng),
    }
}
pub fn fuzz_keys(rng: &mut Rng) -> Vec<String> {
    const KEYS: [&str; 16] = [
        "Enter", "Escape", "Tab", "Up", "Down", "Left", "Right", "BSpace", "C-c", "C-d", "a", "Z",
        "7", " ", "é", "/",
    ];
    const BAD: [&str; 10] = [
        "F1", "C-z", "ab", "", "\n", "\x1b", "enter", "M-x", "C-\\", "\u{7f}",
    ];
    match rng.below(20) {
        0 => Vec::new(),
        // Over the 256 limit, or long with a refused key: long valid lists would press
        // hundreds of keys one tmux call at a time.
        1 => {
            let mut v: Vec<String> = (0..257 + rng.below(50))
                .map(|_| rng.pick(&KEYS).to_string())
                .collect();
            if rng.percent(50) {
                v.truncate(256);
                let at = rng.below(256);
                v[at] = "F1".into();
            }
            v
        }
        2..=5 => (0..1 + rng.below(3))
            .map(|_| {
                if rng.percent(50) {
                    rng.pick(&BAD).to_string()
                } else {
                    rng.pick(&KEYS).to_string()
                }
            })
            .collect(),
        6..=8 => (0..1 + rng.below(3)).map(|_| fuzz_string(rng)).collect(),
        _ => (0..1 + rng.below(4))
            .map(|_| rng.pick(&KEYS).to_string())
            .collect(),
    }
}

pub fn fuzz_u32(rng: &mut Rng) -> u32 {
    let (any, small) = (rng.next() as u32, rng.below(100) as u32);
    *rng.pick(&[
        0,
        1,
        5,
        50,
        255,
        256,
        257,
        9_999,
        10_000,
        10_001,
        65_536,
        i32::MAX as u32,
        u32::MAX - 1,
        u32::MAX,
        any,
        small,
    ])
}

/// A hook payload: well-formed events of every kind (and unknown ones), broken JSON, or junk.
pub fn fuzz_payload(rng: &mut Rng, w: &World) -> String {
    let text = |rng: &mut Rng| -> serde_json::Value {
        match rng.below(10) {
            0 => serde_json::Value::from(rng.next()),
            1 => serde_json::Value::Null,
            2 => serde_json::json!({ "nested": [fuzz_string(rng)] }),
            _ => serde_json::Value::from(fuzz_string(rng)),
        }
    };
    match rng.below(10) {
        0..=5 => {
            let event = if rng.percent(90) {
                if rng.below(12) == 0 {
                    "BrandNewEvent".to_owned()
                } else {
                    rng.pick(&HOOK_EVENTS).to_string()
                }
            } else {
                fuzz_string(rng)
            };
            let mut v = serde_json::json!({ "hook_event_name": event });
            for key in [
                "session_id",
                "transcript_path",
                "cwd",
                "tool_name",
                "prompt",
                "message",
                "notification_type",
                "source",
                "reason",
            ] {
                if rng.percent(40) {
                    v[key] = text(rng);
                }
            }
            if rng.percent(30) {
                v["tool_name"] = rng
                    .pick(&["Bash", "Edit", "AskUserQuestion", "Task"])
                    .to_string()
                    .into();
            }
            if rng.percent(30) {
                v["notification_type"] = rng
                    .pick(&["permission_prompt", "idle_prompt", "elicitation_dialog"])
                    .to_string()
                    .into();
            }
            if rng.percent(40) {
                v["tool_input"] = serde_json::json!({ "command": fuzz_string(rng), "n": 1 });
            }
            if rng.percent(10) && !w.keys.is_empty() {
                v["session_id"] = rng.pick(&w.keys).clone().into();
            }
            let json = v.to_string();
            if rng.percent(5) {
                let mut cut = rng.below(json.len());
                while !json.is_char_boundary(cut) {
                    cut -= 1;
                }
                json[..cut].to_owned()
            } else {
                json
            }
        }
        6 => rng
            .pick(&[
                "",
                "{}",
                "[1,2]",
                "null",
                "nope",
                "{\"hook_event_name\": 5}",
                "{\"hook_event_name\":\"\"}",
            ])
            .to_string(),
        7 => format!("{}1{}", "[".repeat(200 + rng.below(2000)), "]".repeat(200)),
        8 if rng.percent(5) => format!(
            "{{\"hook_event_name\":\"Stop\",\"x\":\"{}\"}}",
            "a".repeat(1024 * 1024)
        ),
        _ => fuzz_string(rng),
    }
}
