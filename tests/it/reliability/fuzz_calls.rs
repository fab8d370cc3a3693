//! The fuzzer's calls: a method of the contract with well-typed, mistyped, extra or missing
//! arguments, aimed at real or made-up objects, with keys, directories, names and pids drawn
//! from what the fuzzer knows of the daemon (`World`) and from `fuzz_strings`.

use std::collections::HashMap;

use trusty_mpm::cli::proxy::SessionRow;
use zbus::{ObjectPath, Variant};

use super::fuzz_strings::*;
use super::rng::Rng;
use super::support::{MANAGER_PATH, Method, SESSION_IFACE};
use crate::procs::descends_from;

/// Sessions beyond which the fuzzer stops creating more (StartSession gets bad directories).
pub const FUZZ_SESSION_CAP: usize = 12;

/// A D-Bus value the fuzzer sends.
#[derive(Debug, Clone)]
pub enum Val {
    S(String),
    B(bool),
    U(u32),
    I(i32),
    T(u64),
    Y(u8),
    D(f64),
    O(String),
    As(Vec<String>),
    Au(Vec<u32>),
    Dict(Vec<(String, Val)>),
    V(Box<Val>),
}

impl Val {
    pub fn into_variant(self) -> Variant<'static> {
        match self {
            Val::S(s) => Variant::from(s),
            Val::B(b) => Variant::from(b),
            Val::U(u) => Variant::from(u),
            Val::I(i) => Variant::from(i),
            Val::T(t) => Variant::from(t),
            Val::Y(y) => Variant::from(y),
            Val::D(d) => Variant::from(d),
            Val::O(o) => Variant::from(ObjectPath::try_from(o).expect("a valid object path")),
            Val::As(v) => Variant::new(v),
            Val::Au(v) => Variant::new(v),
            Val::Dict(entries) => {
                let map: HashMap<String, Variant<'static>> = entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_variant()))
                    .collect();
                Variant::new(map)
            }
            Val::V(inner) => Variant::Variant(Box::new(inner.into_variant())),
        }
    }

    pub fn signature(&self) -> &'static str {
        match self {
            Val::S(_) => "s",
            Val::B(_) => "b",
            Val::U(_) => "u",
            Val::I(_) => "i",
            Val::T(_) => "t",
            Val::Y(_) => "y",
            Val::D(_) => "d",
            Val::O(_) => "o",
            Val::As(_) => "as",
            Val::Au(_) => "au",
            Val::Dict(_) => "a{sv}",
            Val::V(_) => "v",
        }
    }
}

/// What the fuzzer knows of the daemon and the test's world, refreshed as it goes.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// Names and ids (both spellings) of the listed sessions.
    pub keys: Vec<String>,
    /// Their object paths.
    pub paths: Vec<String>,
    pub sessions: usize,
    /// Existing directories, one regular file.
    pub dirs: Vec<String>,
    pub file: String,
    /// tmux sessions on the test's server, for AdoptSession.
    pub tmux_names: Vec<String>,
    pub tmux_server: Option<u32>,
    pub tmux_socket: String,
    /// Processes the test owns (a decoy `sleep`), and the listed claude pids.
    pub decoy: u32,
    pub claude_pids: Vec<u32>,
    pub pid_max: u32,
}

impl World {
    pub fn refresh(&mut self, rows: &[SessionRow]) {
        self.keys.clear();
        self.paths.clear();
        self.claude_pids.clear();
        for r in rows {
            self.keys.push(r.1.clone());
            self.keys.push(r.0.clone());
            self.keys.push(r.0.replace('-', ""));
            self.paths.push(r.6.to_string());
            if r.5 != 0 {
                self.claude_pids.push(r.5);
            }
        }
        self.sessions = rows.len();
    }
}
pub fn fuzz_key(rng: &mut Rng, w: &World) -> String {
    if !w.keys.is_empty() && rng.percent(45) {
        return rng.pick(&w.keys).clone();
    }
    fuzz_string(rng)
}

pub fn fuzz_dir(rng: &mut Rng, w: &World) -> String {
    if w.sessions < FUZZ_SESSION_CAP && rng.percent(20) {
        return rng.pick(&w.dirs).clone();
    }
    match rng.below(8) {
        0 => "relative/dir".into(),
        1 => "/nonexistent/trusty-mpm-fuzz".into(),
        2 => w.file.clone(),
        3 => format!("{}/\x01ctl", rng.pick(&w.dirs)),
        4 => format!("{}/../../../../../../nope", rng.pick(&w.dirs)),
        5 => format!("/{}", huge(rng)),
        _ => fuzz_string(rng),
    }
}

pub fn fuzz_name(rng: &mut Rng, w: &World) -> String {
    match rng.below(10) {
        0 => String::new(),
        1 | 2 if !w.keys.is_empty() => rng.pick(&w.keys).clone(),
        3 => format!("fz-{}", rng.below(6)),
        4 => "x".repeat(64 + rng.below(2)),
        5 => format!("-{}", valid_name(rng)),
        6 | 7 => valid_name(rng),
        _ => fuzz_string(rng),
    }
}

pub fn fuzz_pid(rng: &mut Rng, w: &World) -> u32 {
    match rng.below(6) {
        0 => 0,
        1 => u32::MAX,
        2 => w.pid_max + rng.below(100_000) as u32,
        3 => w.decoy,
        // A listed claude pid, only while it still is a live process under the test's tmux
        // server: the daemon may signal whatever it is given.
        _ => w
            .claude_pids
            .get(rng.below(w.claude_pids.len().max(1)))
            .copied()
            .filter(|&p| w.tmux_server.is_some_and(|s| descends_from(p, s)))
            .unwrap_or(w.decoy),
    }
}
pub fn fuzz_options(rng: &mut Rng) -> Val {
    let mut entries = Vec::new();
    for _ in 0..rng.below(4) {
        let entry = match rng.below(9) {
            0 => (
                "args".to_owned(),
                Val::As((0..rng.below(4)).map(|_| fuzz_string(rng)).collect()),
            ),
            1 => ("args".to_owned(), Val::U(rng.next() as u32)),
            2 => ("args".to_owned(), Val::S(fuzz_string(rng))),
            3 => ("resume".to_owned(), Val::S(fuzz_string(rng))),
            4 => ("resume".to_owned(), Val::S(valid_name(rng))),
            5 => ("resume".to_owned(), Val::As(vec![fuzz_string(rng)])),
            6 => ("resume".to_owned(), Val::V(Box::new(Val::S("x".into())))),
            7 => (fuzz_string(rng), Val::S(fuzz_string(rng))),
            _ => (fuzz_string(rng), Val::B(rng.percent(50))),
        };
        entries.push(entry);
    }
    Val::Dict(entries)
}

/// What the hook relay adds: the pane (`%N`), `TMUX` (socket,pid,index) and its parent pid.
pub fn fuzz_context(rng: &mut Rng, w: &World) -> Val {
    let mut entries = Vec::new();
    if rng.percent(60) {
        let pane = match rng.below(4) {
            0 => fuzz_string(rng),
            n => format!("%{}", rng.below(4 * n)),
        };
        entries.push(("tmux_pane".to_owned(), Val::S(pane)));
    }
    if rng.percent(60) {
        let tmux = match rng.below(3) {
            0 => fuzz_string(rng),
            _ => format!(
                "{},{},0",
                w.tmux_socket,
                w.tmux_server.unwrap_or(rng.below(1000) as u32)
            ),
        };
        entries.push(("tmux".to_owned(), Val::S(tmux)));
    }
    if rng.percent(50) {
        let ppid = if rng.percent(80) {
            Val::U(fuzz_pid(rng, w))
        } else {
            Val::S(fuzz_string(rng))
        };
        entries.push(("ppid".to_owned(), ppid));
    }
    if rng.percent(20) {
        entries.push((fuzz_string(rng), Val::B(true)));
    }
    Val::Dict(entries)
}

/// A well-typed value for argument `name` of type `ty`.
pub fn fuzz_arg(rng: &mut Rng, w: &World, name: &str, ty: &str) -> Val {
    match (name, ty) {
        ("key", "s") => Val::S(fuzz_key(rng, w)),
        ("project_dir", "s") => Val::S(fuzz_dir(rng, w)),
        ("name", "s") => Val::S(fuzz_name(rng, w)),
        ("tmux_name", "s") => Val::S(if rng.percent(30) && !w.tmux_names.is_empty() {
            rng.pick(&w.tmux_names).clone()
        } else {
            fuzz_name(rng, w)
        }),
        ("compression", "s") => Val::S(match rng.below(10) {
            0..=5 => rng.pick(&["off", "trim", "summarise"]).to_string(),
            6 => rng
                .pick(&["summarize", "OFF", "Trim", "", "zip", "gzip", "off "])
                .to_string(),
            _ => fuzz_string(rng),
        }),
        ("pid", "u") => Val::U(fuzz_pid(rng, w)),
        ("lines" | "limit", "u") => Val::U(fuzz_u32(rng)),
        ("keys", "as") => Val::As(fuzz_keys(rng)),
        ("options", "a{sv}") => fuzz_options(rng),
        ("payload_json", "s") => Val::S(fuzz_payload(rng, w)),
        ("context", "a{sv}") => fuzz_context(rng, w),
        ("request_id", "s") => Val::S(if rng.percent(50) {
            uuid_like(rng).replace('-', "")
        } else {
            fuzz_string(rng)
        }),
        (_, "s") => Val::S(fuzz_string(rng)),
        (_, "b") => Val::B(rng.percent(50)),
        (_, "u") => Val::U(fuzz_u32(rng)),
        (_, "i") => {
            let any = rng.next() as i32;
            Val::I(*rng.pick(&[0, -1, 1, 2, i32::MIN, i32::MAX, any]))
        }
        (_, "t") => {
            let any = rng.next();
            Val::T(*rng.pick(&[0, 1, u64::MAX, any]))
        }
        (_, "as") => Val::As((0..rng.below(4)).map(|_| fuzz_string(rng)).collect()),
        (_, "a{sv}") => fuzz_options(rng),
        (name, ty) => panic!("the fuzzer has no values for {name} of type {ty}; extend fuzz_arg"),
    }
}

/// A value of a random type, for wrong signatures.
pub fn random_val(rng: &mut Rng, w: &World) -> Val {
    match rng.below(12) {
        0 => Val::S(fuzz_string(rng)),
        1 => Val::U(fuzz_u32(rng)),
        2 => Val::B(rng.percent(50)),
        3 => Val::I(rng.next() as i32),
        4 => Val::T(rng.next()),
        5 => Val::Y(rng.next() as u8),
        6 => Val::D(rng.next() as f64 / 3.0 - 1e18),
        7 => Val::O(
            w.paths
                .first()
                .cloned()
                .unwrap_or_else(|| MANAGER_PATH.to_owned()),
        ),
        8 => Val::As(vec![fuzz_string(rng)]),
        9 => Val::Au(vec![rng.next() as u32]),
        10 => fuzz_options(rng),
        _ => Val::V(Box::new(Val::S(fuzz_key(rng, w)))),
    }
}

/// One fuzz call: where it goes, what it sends, and which non-contract errors it may get.
pub struct FuzzCall {
    pub path: String,
    pub iface: String,
    pub member: String,
    pub args: Vec<Val>,
    /// The body's signature differs from the method's.
    pub wrong_signature: bool,
    /// The member does not exist.
    pub unknown_member: bool,
}

pub fn fuzz_call(rng: &mut Rng, w: &World, methods: &[Method]) -> FuzzCall {
    let m = rng.pick(methods);
    let on_session = m.iface == SESSION_IFACE;
    let path = if !on_session {
        MANAGER_PATH.to_owned()
    } else if !w.paths.is_empty() && rng.percent(80) {
        rng.pick(&w.paths).clone()
    } else {
        match rng.below(4) {
            0 => format!(
                "{MANAGER_PATH}/session/{:016x}{:016x}",
                rng.next(),
                rng.next()
            ),
            1 => format!("{MANAGER_PATH}/session"),
            2 => MANAGER_PATH.to_owned(),
            _ => "/".to_owned(),
        }
    };
    let mut call = FuzzCall {
        path,
        iface: m.iface.clone(),
        member: m.name.clone(),
        args: Vec::new(),
        wrong_signature: false,
        unknown_member: false,
    };
    let well_typed = |rng: &mut Rng| -> Vec<Val> {
        m.args.iter().map(|(n, t)| fuzz_arg(rng, w, n, t)).collect()
    };
    match rng.below(100) {
        0..=1 => {
            call.member = rng
                .pick(&[
                    "Frobnicate",
                    "listSessions",
                    "ListSession",
                    "Kill",
                    "Shutdown",
                    "Get",
                ])
                .to_string();
            call.unknown_member = true;
            call.args = well_typed(rng);
        }
        2..=21 => {
            call.args = match rng.below(5) {
                0 => Vec::new(),
                1 => {
                    let mut a = well_typed(rng);
                    a.push(random_val(rng, w));
                    a
                }
                2 => {
                    let mut a = well_typed(rng);
                    if a.pop().is_none() {
                        a.push(random_val(rng, w));
                    }
                    a
                }
                3 if !m.args.is_empty() => {
                    let mut a = well_typed(rng);
                    let at = rng.below(a.len());
                    a[at] = random_val(rng, w);
                    a
                }
                _ => (0..1 + rng.below(4)).map(|_| random_val(rng, w)).collect(),
            };
            let sig: String = call.args.iter().map(Val::signature).collect();
            call.wrong_signature = sig != m.signature();
        }
        _ => call.args = well_typed(rng),
    }
    // A graceful stop of a live claude may wait 8 s: stop known sessions with force only.
    if matches!(call.member.as_str(), "StopSession" | "Stop") && !call.wrong_signature {
        let known = match call.member.as_str() {
            "Stop" => w.paths.contains(&call.path),
            _ => matches!(&call.args[0], Val::S(k) if w.keys.contains(k)),
        };
        if let (true, Some(Val::B(force))) = (known, call.args.last_mut()) {
            *force = true;
        }
    }
    call
}

pub fn describe(call: &FuzzCall) -> String {
    let args: Vec<String> = call
        .args
        .iter()
        .map(|a| {
            let s = format!("{a:?}");
            match s.chars().count() {
                n if n > 120 => format!("{}…({n} chars)", s.chars().take(120).collect::<String>()),
                _ => s,
            }
        })
        .collect();
    format!(
        "{}.{}({}) at {}",
        call.iface,
        call.member,
        args.join(", "),
        call.path
    )
}
